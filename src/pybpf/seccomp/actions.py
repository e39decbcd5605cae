"""SECCOMP_RET_* actions, their data, and the kernel's choice among stacked filters.

A seccomp filter returns a u32: the action in the high 16 bits
(``SECCOMP_RET_ACTION_FULL``), data in the low 16 (``SECCOMP_RET_DATA``) —
the errno of ERRNO, the ``si_errno`` of TRAP's SIGSYS, the event message of
TRACE (include/uapi/linux/seccomp.h).

Every filter a thread has installed runs on each system call, newest first,
and the result whose action is lowest *as a signed 32-bit number* wins; on a
tie the first seen (the newest filter) wins (``seccomp_run_filters`` in
kernel/seccomp.c: ``ACTION_ONLY(cur) < ACTION_ONLY(ret)``, starting from
ALLOW). So KILL_PROCESS (0x80000000, negative) beats everything, then
KILL_THREAD (0), TRAP, ERRNO, USER_NOTIF, TRACE, LOG, ALLOW. An action value
the kernel does not know is handled as KILL_PROCESS (``__seccomp_filter``'s
``default:``); ERRNO's data is capped at MAX_ERRNO (4095).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import BpfError

__all__ = [
    "ACTIONS",
    "Action",
    "MAX_ERRNO",
    "SECCOMP_RET_ACTION",
    "SECCOMP_RET_ACTION_FULL",
    "SECCOMP_RET_ALLOW",
    "SECCOMP_RET_DATA",
    "SECCOMP_RET_ERRNO",
    "SECCOMP_RET_KILL_PROCESS",
    "SECCOMP_RET_KILL_THREAD",
    "SECCOMP_RET_LOG",
    "SECCOMP_RET_TRACE",
    "SECCOMP_RET_TRAP",
    "SECCOMP_RET_USER_NOTIF",
    "action_only",
    "parse_action",
    "precedence",
]

SECCOMP_RET_KILL_PROCESS = 0x8000_0000
SECCOMP_RET_KILL_THREAD = 0x0000_0000
SECCOMP_RET_KILL = SECCOMP_RET_KILL_THREAD
SECCOMP_RET_TRAP = 0x0003_0000
SECCOMP_RET_ERRNO = 0x0005_0000
SECCOMP_RET_USER_NOTIF = 0x7FC0_0000
SECCOMP_RET_TRACE = 0x7FF0_0000
SECCOMP_RET_LOG = 0x7FFC_0000
SECCOMP_RET_ALLOW = 0x7FFF_0000
SECCOMP_RET_ACTION_FULL = 0xFFFF_0000
SECCOMP_RET_ACTION = 0x7FFF_0000
SECCOMP_RET_DATA = 0x0000_FFFF
#: include/linux/err.h
MAX_ERRNO = 4095

#: action value -> name, in the kernel's precedence order (strongest first)
ACTIONS: dict[int, str] = {
    SECCOMP_RET_KILL_PROCESS: "KILL_PROCESS",
    SECCOMP_RET_KILL_THREAD: "KILL_THREAD",
    SECCOMP_RET_TRAP: "TRAP",
    SECCOMP_RET_ERRNO: "ERRNO",
    SECCOMP_RET_USER_NOTIF: "USER_NOTIF",
    SECCOMP_RET_TRACE: "TRACE",
    SECCOMP_RET_LOG: "LOG",
    SECCOMP_RET_ALLOW: "ALLOW",
}
_BY_NAME = {v: k for k, v in ACTIONS.items()} | {"KILL": SECCOMP_RET_KILL_THREAD}
#: actions whose data means something (printed as NAME(data))
_WITH_DATA = frozenset({SECCOMP_RET_TRAP, SECCOMP_RET_ERRNO, SECCOMP_RET_TRACE})


def action_only(ret: int) -> int:
    """``ACTION_ONLY(ret)``: the action bits as a signed 32-bit number (kernel/seccomp.c)."""
    v = ret & SECCOMP_RET_ACTION_FULL
    return v - (1 << 32) if v & 0x8000_0000 else v


@dataclass(frozen=True)
class Action:
    """A filter's return value, read as the kernel reads it."""

    ret: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "ret", self.ret & 0xFFFF_FFFF)

    @property
    def action(self) -> int:
        return self.ret & SECCOMP_RET_ACTION_FULL

    @property
    def data(self) -> int:
        return self.ret & SECCOMP_RET_DATA

    @property
    def known(self) -> bool:
        return self.action in ACTIONS

    @property
    def name(self) -> str:
        """ALLOW, ERRNO, KILL_PROCESS ...; an unknown action is named by its value."""
        return ACTIONS.get(self.action, f"UNKNOWN({self.action:#010x})")

    @property
    def effective(self) -> str:
        """What the kernel does: the action's name, KILL_PROCESS for an unknown one."""
        return self.name if self.known else "KILL_PROCESS"

    @property
    def errno(self) -> int:
        """For ERRNO: the errno the system call fails with (data, capped at MAX_ERRNO)."""
        return min(self.data, MAX_ERRNO)

    def __str__(self) -> str:
        if self.action in _WITH_DATA:
            return f"{self.name}({self.data})"
        return self.name

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"action": self.name, "data": self.data}
        if not self.known:
            out["effective"] = self.effective
        return out


def precedence(results: Iterable[int]) -> Action:
    """The result the kernel acts on, given each filter's result **newest first**."""
    best = SECCOMP_RET_ALLOW
    for r in results:
        if action_only(r) < action_only(best):
            best = r & 0xFFFF_FFFF
    return Action(best)


_ACTION_TEXT = re.compile(r"^\s*([A-Za-z_]+)\s*(?:\(\s*([^)]*)\s*\))?\s*$")


def parse_action(text: str) -> int:
    """``ALLOW``, ``ERRNO(1)``, ``TRAP``, ``TRACE(7)``, ``KILL_PROCESS``, ``LOG``,
    ``USER_NOTIF``, ``KILL`` (= KILL_THREAD), or a number: the u32 return value."""
    s = text.strip()
    try:
        return int(s, 0) & 0xFFFF_FFFF
    except ValueError:
        pass
    m = _ACTION_TEXT.match(s)
    if m is None:
        raise BpfError(f"cannot read the seccomp action {text!r}")
    name = m.group(1).upper()
    if name.startswith("SECCOMP_RET_"):
        name = name[len("SECCOMP_RET_") :]
    if name not in _BY_NAME:
        known = ", ".join([*ACTIONS.values(), "KILL"])
        raise BpfError(f"unknown seccomp action {m.group(1)!r} (known: {known})")
    value = _BY_NAME[name]
    if m.group(2) is not None and m.group(2) != "":
        try:
            data = int(m.group(2), 0)
        except ValueError:
            raise BpfError(f"the data of {text.strip()!r} is not a number") from None
        if not 0 <= data <= SECCOMP_RET_DATA:
            raise BpfError(f"the data of {text.strip()!r} does not fit in 16 bits")
        value |= data
    return value
