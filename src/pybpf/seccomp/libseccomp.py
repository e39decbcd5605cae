"""Policies from rules, compiled by the real libseccomp (through ctypes).

libseccomp turns "allow read; return EPERM for close(5); kill anything else"
into a BPF program (its rule compiler: argument comparisons on 64-bit values
split into 32-bit halves, architecture checks, x32 handling). pybpf does not
reimplement it; :class:`Policy` drives the library::

    p = Policy("KILL_PROCESS")
    p.add("ALLOW", "read")
    p.add("ERRNO(1)", "close", Arg(0) == 5)
    p.add("ALLOW", "lseek", Arg(1) > 1 << 40)
    raw = p.export()      # struct sock_filter bytes (seccomp_export_bpf)

A comparison is ``Arg(i) OP value`` with ``== != < <= > >=`` or
``Arg(i).masked(mask) == value`` (SCMP_CMP_MASKED_EQ). :func:`parse_rules`
reads the same from text, one rule per line::

    default KILL_PROCESS
    arch x86_64               # optional; default: the native architecture
    ALLOW read
    ERRNO(1) close arg0 == 5
    ALLOW lseek arg1 > 0x10000000000
    ALLOW ioctl arg1 & 0xff == 0x54

libseccomp is a system library (Debian: libseccomp2; Fedora: libseccomp);
NotSupportedError names the package when it is missing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno as E
import os
import re
import tempfile
from dataclasses import dataclass
from functools import cache

from ..errors import AsmError, BpfError, NotSupportedError
from .actions import parse_action
from .data import arch_value

__all__ = ["Arg", "Cmp", "Policy", "libseccomp", "parse_rules"]

INSTALL_HINT = (
    "libseccomp is not installed: install the libseccomp2 package "
    "(Debian/Ubuntu: apt-get install libseccomp2; Fedora: dnf install libseccomp)"
)

# enum scmp_compare (seccomp.h)
SCMP_CMP_NE, SCMP_CMP_LT, SCMP_CMP_LE, SCMP_CMP_EQ = 1, 2, 3, 4
SCMP_CMP_GE, SCMP_CMP_GT, SCMP_CMP_MASKED_EQ = 5, 6, 7
#: enum scmp_filter_attr: the action for a foreign architecture
SCMP_FLTATR_ACT_BADARCH = 2
_OPS = {"==": SCMP_CMP_EQ, "!=": SCMP_CMP_NE, "<": SCMP_CMP_LT, "<=": SCMP_CMP_LE,
        ">": SCMP_CMP_GT, ">=": SCMP_CMP_GE}  # fmt: skip


class _ArgCmp(ctypes.Structure):
    """struct scmp_arg_cmp."""

    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


@cache
def libseccomp() -> ctypes.CDLL:
    """The loaded libseccomp (NotSupportedError naming the package when absent)."""
    for name in (ctypes.util.find_library("seccomp"), "libseccomp.so.2", "libseccomp.so"):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name, use_errno=True)
        except OSError:
            continue
        lib.seccomp_init.restype = ctypes.c_void_p
        lib.seccomp_init.argtypes = [ctypes.c_uint32]
        lib.seccomp_release.argtypes = [ctypes.c_void_p]
        lib.seccomp_rule_add_array.restype = ctypes.c_int
        lib.seccomp_rule_add_array.argtypes = [
            ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint, ctypes.POINTER(_ArgCmp)
        ]  # fmt: skip
        lib.seccomp_rule_add_exact_array.restype = ctypes.c_int
        lib.seccomp_rule_add_exact_array.argtypes = lib.seccomp_rule_add_array.argtypes
        lib.seccomp_export_bpf.restype = ctypes.c_int
        lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.seccomp_arch_add.restype = ctypes.c_int
        lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        lib.seccomp_arch_remove.restype = ctypes.c_int
        lib.seccomp_arch_remove.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        lib.seccomp_arch_native.restype = ctypes.c_uint32
        lib.seccomp_attr_set.restype = ctypes.c_int
        lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
        lib.seccomp_syscall_resolve_name_arch.restype = ctypes.c_int
        lib.seccomp_syscall_resolve_name_arch.argtypes = [ctypes.c_uint32, ctypes.c_char_p]
        lib.seccomp_syscall_resolve_num_arch.restype = ctypes.c_void_p
        lib.seccomp_syscall_resolve_num_arch.argtypes = [ctypes.c_uint32, ctypes.c_int]
        lib.seccomp_version.restype = ctypes.c_void_p
        return lib
    raise NotSupportedError(INSTALL_HINT, errno=E.ENOENT)


def libseccomp_version() -> str:
    """``major.minor.micro`` of the loaded libseccomp."""
    ver = ctypes.cast(libseccomp().seccomp_version(), ctypes.POINTER(ctypes.c_uint * 3))
    a, b, c = ver.contents
    return f"{a}.{b}.{c}"


@dataclass(frozen=True)
class Cmp:
    """One argument comparison (struct scmp_arg_cmp)."""

    arg: int
    op: int
    a: int
    b: int = 0

    def struct(self) -> _ArgCmp:
        return _ArgCmp(self.arg, self.op, self.a & (2**64 - 1), self.b & (2**64 - 1))


@dataclass(frozen=True)
class Arg:
    """``Arg(i)``: argument i (0..5) of the system call, to compare with a 64-bit value."""

    index: int
    mask: int | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.index <= 5:
            raise BpfError(f"argument index {self.index} is not 0..5")

    def masked(self, mask: int) -> Arg:
        return Arg(self.index, mask)

    def _cmp(self, op: int, v: int) -> Cmp:
        if self.mask is not None:
            if op != SCMP_CMP_EQ:
                raise BpfError("a masked argument compares with == only (SCMP_CMP_MASKED_EQ)")
            return Cmp(self.index, SCMP_CMP_MASKED_EQ, self.mask, v)
        return Cmp(self.index, op, v)

    def __eq__(self, v: object) -> Cmp:  # type: ignore[override]
        return self._cmp(SCMP_CMP_EQ, int(v))  # type: ignore[call-overload]

    def __ne__(self, v: object) -> Cmp:  # type: ignore[override]
        return self._cmp(SCMP_CMP_NE, int(v))  # type: ignore[call-overload]

    def __lt__(self, v: int) -> Cmp:
        return self._cmp(SCMP_CMP_LT, v)

    def __le__(self, v: int) -> Cmp:
        return self._cmp(SCMP_CMP_LE, v)

    def __gt__(self, v: int) -> Cmp:
        return self._cmp(SCMP_CMP_GT, v)

    def __ge__(self, v: int) -> Cmp:
        return self._cmp(SCMP_CMP_GE, v)

    __hash__ = object.__hash__


def _lib_error(what: str, rc: int) -> BpfError:
    num = -rc if rc < 0 else E.EINVAL
    return BpfError(f"libseccomp: {what}: {os.strerror(num)}", errno=num)


class Policy:
    """A libseccomp filter context (``seccomp_init``) with rules added in order.

    ``default`` is the action for system calls no rule matches; ``arches``
    the architectures the policy accepts (default: the native one); a call of
    another architecture gets ``bad_arch`` (libseccomp's default: KILL_THREAD).
    """

    def __init__(
        self,
        default: str | int = "KILL_PROCESS",
        *,
        arches: list[str] | None = None,
        bad_arch: str | int | None = None,
    ):
        lib = libseccomp()
        self._default = parse_action(default) if isinstance(default, str) else default
        ctx = lib.seccomp_init(self._default)
        if not ctx:
            raise BpfError(f"libseccomp refused the default action {default!r}", errno=E.EINVAL)
        self._ctx: int | None = ctx
        self.rules: list[tuple[int, str | int, tuple[Cmp, ...]]] = []
        self.arches = list(arches or [])
        if arches:
            native = lib.seccomp_arch_native()
            tokens = [arch_value(a) for a in arches]
            for t in tokens:
                if t != native:
                    rc = lib.seccomp_arch_add(ctx, t)
                    if rc:
                        raise _lib_error(f"adding architecture {t:#x}", rc)
            if native not in tokens:
                rc = lib.seccomp_arch_remove(ctx, native)
                if rc:
                    raise _lib_error("removing the native architecture", rc)
        if bad_arch is not None:
            act = parse_action(bad_arch) if isinstance(bad_arch, str) else bad_arch
            rc = lib.seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, act)
            if rc:
                raise _lib_error("setting the bad-architecture action", rc)

    def _need(self) -> int:
        if self._ctx is None:
            raise BpfError("this libseccomp policy was released")
        return self._ctx

    def resolve(self, syscall: str | int) -> int:
        """libseccomp's number for a system call (its pseudo-numbers for multiplexed ones)."""
        if isinstance(syscall, int):
            return syscall
        try:
            return int(syscall, 0)
        except ValueError:
            pass
        arch = arch_value(self.arches[0]) if self.arches else 0
        nr = int(libseccomp().seccomp_syscall_resolve_name_arch(arch, syscall.encode()))
        if nr == -10101:  # __NR_SCMP_ERROR
            raise BpfError(f"libseccomp does not know the system call {syscall!r}")
        return nr

    def add(self, action: str | int, syscall: str | int, *cmps: Cmp) -> None:
        """seccomp_rule_add_array: ``action`` when ``syscall`` matches every comparison."""
        act = parse_action(action) if isinstance(action, str) else action
        nr = self.resolve(syscall)
        arr = (_ArgCmp * max(len(cmps), 1))(*[c.struct() for c in cmps])
        rc = libseccomp().seccomp_rule_add_array(self._need(), act, nr, len(cmps), arr)
        if rc:
            raise _lib_error(f"adding the rule {action} {syscall}", rc)
        self.rules.append((act, syscall, tuple(cmps)))

    def export(self) -> bytes:
        """seccomp_export_bpf: the policy as raw ``struct sock_filter`` bytes."""
        with tempfile.TemporaryFile() as fh:
            rc = libseccomp().seccomp_export_bpf(self._need(), fh.fileno())
            if rc:
                raise _lib_error("exporting the BPF program", rc)
            fh.seek(0)
            return fh.read()

    def release(self) -> None:
        if self._ctx is not None:
            libseccomp().seccomp_release(self._ctx)
            self._ctx = None

    def __enter__(self) -> Policy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:
        try:
            self.release()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


_CMP_TEXT = re.compile(r"^arg([0-5])\s*(?:&\s*(\S+)\s*)?(==|!=|<=|>=|<|>)\s*(\S+)$")


def _int(text: str, line: int) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise AsmError(f"{text!r} is not a number", line=line) from None


def parse_rules(text: str) -> Policy:
    """A :class:`Policy` from rule text (see the module doc); errors name the line."""
    default: str | None = None
    arches: list[str] = []
    bad_arch: str | None = None
    rules: list[tuple[int, str, str, list[Cmp]]] = []
    for no, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split(None, 1)
        head = words[0].lower()
        rest = words[1].strip() if len(words) > 1 else ""
        if head == "default":
            default = rest
            continue
        if head == "arch":
            arches += rest.split()
            continue
        if head == "badarch":
            bad_arch = rest
            continue
        parts = line.split(None, 2)
        if len(parts) < 2:
            raise AsmError("a rule is: ACTION SYSCALL [argN OP VALUE, ...]", line=no, text=raw)
        action, syscall = parts[0], parts[1]
        cmps: list[Cmp] = []
        if len(parts) == 3:
            for c in re.split(r"\s*(?:,|\band\b)\s*", parts[2]):
                m = _CMP_TEXT.match(c.strip())
                if m is None:
                    raise AsmError(f"cannot read the comparison {c.strip()!r}", line=no, text=raw)
                arg = Arg(int(m.group(1)))
                if m.group(2) is not None:
                    arg = arg.masked(_int(m.group(2), no))
                value = _int(m.group(4), no)
                try:
                    cmps.append(arg._cmp(_OPS[m.group(3)], value))
                except BpfError as e:
                    raise AsmError(e.message, line=no, text=raw) from None
        rules.append((no, action, syscall, cmps))
    if default is None:
        raise AsmError("the rules need a 'default ACTION' line", line=1)
    try:
        policy = Policy(default, arches=arches or None, bad_arch=bad_arch)
    except BpfError as e:
        raise AsmError(e.message) from None
    for no, action, syscall, cmps in rules:
        try:
            policy.add(action, syscall, *cmps)
        except BpfError as e:
            raise AsmError(e.message, line=no) from None
    return policy
