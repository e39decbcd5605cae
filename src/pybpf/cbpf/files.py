"""Is this program file classic BPF? What ``pybpf run``, ``verify`` and ``disasm`` ask first.

eBPF inputs are ELF objects, C files and macro modules (``.o``, ``.c``,
``.py``) and raw eBPF instructions; anything else is read as a classic
program in one of the forms of :mod:`pybpf.cbpf.forms`. Raw bytes are
ambiguous (both instruction sets use 8-byte records): they are classic when
every record's code is a classic opcode — an eBPF program always has an
instruction whose 16-bit "code" is not (its ``exit`` is 0x0095; register
fields fill the high byte).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import BpfError
from .forms import detect_form, read_classic
from .insn import BPF_RET, CLASSIC_CODES, SOCK_FILTER_SIZE, SockFilter, decode

__all__ = ["classic_file", "classic_listing", "looks_classic", "verify_classic"]

_EBPF_SUFFIXES = (".o", ".c", ".py", ".h")
#: RET | X: not accepted by the kernel, but classic (bpf_asm writes it)
_CODES = CLASSIC_CODES | {BPF_RET | 0x08}


def looks_classic(prog: list[SockFilter]) -> bool:
    """Every instruction has a classic opcode (raw bytes are then classic, not eBPF)."""
    return bool(prog) and all(f.code in _CODES for f in prog)


def classic_file(path: str | os.PathLike[str]) -> list[SockFilter] | None:
    """The classic program ``path`` holds, or None when it is an eBPF input.

    Text that is not eBPF is read as classic, so a mistake in it is reported
    (BpfError naming the file and line) rather than passed on as "not an object".
    """
    p = Path(path)
    if p.suffix.lower() in _EBPF_SUFFIXES:
        return None
    try:
        data = p.read_bytes()
    except OSError as e:
        raise BpfError(f"{p}: cannot read: {e.strerror or e}") from None
    if data[:4] == b"\x7fELF" or not data:
        return None
    if detect_form(data) == "raw":
        if len(data) % SOCK_FILTER_SIZE:
            return None
        prog = decode(data)
        return prog if looks_classic(prog) else None
    return read_classic(p) if data.strip() else None


def verify_classic(prog: list[SockFilter], name: str) -> tuple[bool, str]:
    """``pybpf verify`` of a classic program: the kernel's bpf_check_classic verdict."""
    from .check import ClassicError, check_classic
    from .convert import convert_filter

    try:
        check_classic(prog)
    except ClassicError as e:
        where = f" at insn {e.index}" if e.index is not None else ""
        return False, f"{name}: refused{where}: {e.message} (the kernel says EINVAL)"
    n = len(convert_filter(prog))
    return True, (
        f"{name}: accepted by bpf_check_classic ({len(prog)} classic insns; "
        f"bpf_convert_filter makes {n} eBPF insns)"
    )


def classic_listing(prog: list[SockFilter], *, ebpf: bool = False, hex: bool = False) -> str:
    """``pybpf disasm`` of a classic program: tcpdump -d's listing, or the converted eBPF."""
    from .printer import image

    if not ebpf:
        return image(prog)
    from ..asm.disasm import listing
    from .check import check_classic
    from .convert import convert_filter

    check_classic(prog)
    return str(listing(convert_filter(prog), hex=hex))
