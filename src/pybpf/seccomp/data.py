"""``struct seccomp_data``: what a seccomp filter reads, and the architectures it names.

include/uapi/linux/seccomp.h::

    struct seccomp_data {
        int   nr;                    /* offset 0  */
        __u32 arch;                  /* offset 4: AUDIT_ARCH_* */
        __u64 instruction_pointer;   /* offset 8  */
        __u64 args[6];               /* offset 16 + 8 * i */
    };

A filter loads it 32 bits at a time (``ld [k]``, k a multiple of 4 below 64),
in the host's byte order (kernel/seccomp.c populate_seccomp_data: "Endianness
is explicitly ignored"): on little-endian x86_64 and aarch64 the low half of
``args[i]`` is at ``16 + 8i`` and the high half at ``20 + 8i``.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..errors import BpfError

__all__ = [
    "AUDIT_ARCH",
    "AUDIT_ARCH_AARCH64",
    "AUDIT_ARCH_ARM",
    "AUDIT_ARCH_I386",
    "AUDIT_ARCH_X86_64",
    "SECCOMP_DATA_SIZE",
    "X32_SYSCALL_BIT",
    "SeccompData",
    "arch_name",
    "arch_value",
    "field_name",
]

AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_I386 = 0x40000003
AUDIT_ARCH_AARCH64 = 0xC00000B7
AUDIT_ARCH_ARM = 0x40000028
#: x32 system calls run with the x86_64 audit arch and this bit in nr (__X32_SYSCALL_BIT)
X32_SYSCALL_BIT = 0x40000000

#: architecture name -> AUDIT_ARCH_* value
AUDIT_ARCH: dict[str, int] = {
    "x86_64": AUDIT_ARCH_X86_64,
    "i386": AUDIT_ARCH_I386,
    "aarch64": AUDIT_ARCH_AARCH64,
    "arm": AUDIT_ARCH_ARM,
}
_ALIASES = {"amd64": "x86_64", "x86": "i386", "i686": "i386", "arm64": "aarch64", "x32": "x86_64"}

SECCOMP_DATA_SIZE = 64
_LAYOUT = "iIQ6Q"


def arch_value(name: str) -> int:
    """AUDIT_ARCH_* of an architecture name (x86_64, i386, aarch64, arm; amd64/x86/arm64 too)."""
    key = name.lower()
    key = _ALIASES.get(key, key)
    if key in AUDIT_ARCH:
        return AUDIT_ARCH[key]
    try:
        return int(name, 0) & 0xFFFF_FFFF
    except ValueError:
        raise BpfError(
            f"unknown architecture {name!r} (choose from {', '.join(AUDIT_ARCH)})"
        ) from None


def arch_name(value: int) -> str | None:
    """The architecture an AUDIT_ARCH_* value names, or None."""
    for n, v in AUDIT_ARCH.items():
        if v == value:
            return n
    return None


def field_name(k: int) -> str:
    """What the 32-bit word at offset ``k`` of struct seccomp_data is (little-endian host)."""
    if k == 0:
        return "sys_number"
    if k == 4:
        return "arch"
    if k == 8:
        return "instruction_pointer"
    if k == 12:
        return "instruction_pointer >> 32"
    if 16 <= k < 64 and k % 4 == 0:
        i, hi = divmod(k - 16, 8)
        return f"args[{i}]" + (" >> 32" if hi else "")
    return f"data[{k}]"


@dataclass(frozen=True)
class SeccompData:
    """One system call as the filter sees it; ``args`` are 64-bit values (any int, masked)."""

    nr: int
    arch: int = AUDIT_ARCH_X86_64
    instruction_pointer: int = 0
    args: tuple[int, ...] = field(default=(0, 0, 0, 0, 0, 0))

    def __post_init__(self) -> None:
        args = tuple(int(a) & 0xFFFF_FFFF_FFFF_FFFF for a in self.args)
        if len(args) > 6:
            raise BpfError(f"a system call has at most 6 arguments, not {len(args)}")
        object.__setattr__(self, "args", args + (0,) * (6 - len(args)))
        nr = int(self.nr) & 0xFFFF_FFFF
        object.__setattr__(self, "nr", nr - (1 << 32) if nr & 0x8000_0000 else nr)
        object.__setattr__(self, "arch", int(self.arch) & 0xFFFF_FFFF)
        object.__setattr__(
            self, "instruction_pointer", int(self.instruction_pointer) & 0xFFFF_FFFF_FFFF_FFFF
        )

    def pack(self, byteorder: str = sys.byteorder) -> bytes:
        """The 64 bytes the kernel fills in (populate_seccomp_data)."""
        order = "<" if byteorder == "little" else ">"
        return struct.pack(
            order + _LAYOUT, self.nr, self.arch, self.instruction_pointer, *self.args
        )

    def words(self, byteorder: str = sys.byteorder) -> tuple[int, ...]:
        """The 16 u32 words a filter's ``ld [4*i]`` reads."""
        order = "<" if byteorder == "little" else ">"
        return struct.unpack(order + "16I", self.pack(byteorder))

    @classmethod
    def of(
        cls, nr: int, args: Sequence[int] = (), *, arch: int = AUDIT_ARCH_X86_64, ip: int = 0
    ) -> SeccompData:
        return cls(nr, arch, ip, tuple(args))
