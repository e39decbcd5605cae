"""Helper prototypes in the kernel's own vocabulary (struct bpf_func_proto, include/linux/bpf.h).

A prototype is a return type and up to five argument types, each a base type
(``enum bpf_arg_type`` / ``enum bpf_return_type``) optionally or-ed with type flags
(``enum bpf_type_flag``): ``ARG_PTR_TO_MEM | MEM_RDONLY``. The verifier checks calls
against these; the helper table pairs each with its implementation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum, IntFlag


class TypeFlag(IntFlag):
    """enum bpf_type_flag: modifiers or-ed into argument and return types."""

    PTR_MAYBE_NULL = 1 << 8
    MEM_RDONLY = 1 << 9
    MEM_RINGBUF = 1 << 10
    MEM_USER = 1 << 11
    MEM_PERCPU = 1 << 12
    OBJ_RELEASE = 1 << 13
    PTR_UNTRUSTED = 1 << 14
    MEM_UNINIT = 1 << 15
    DYNPTR_TYPE_LOCAL = 1 << 16
    DYNPTR_TYPE_RINGBUF = 1 << 17
    MEM_FIXED_SIZE = 1 << 18
    MEM_ALLOC = 1 << 19
    PTR_TRUSTED = 1 << 20
    MEM_RCU = 1 << 21
    MEM_ALIGNED = 1 << 22
    MEM_WRITE = 1 << 23


PTR_MAYBE_NULL = TypeFlag.PTR_MAYBE_NULL
MEM_RDONLY = TypeFlag.MEM_RDONLY
MEM_RINGBUF = TypeFlag.MEM_RINGBUF
OBJ_RELEASE = TypeFlag.OBJ_RELEASE
MEM_UNINIT = TypeFlag.MEM_UNINIT
MEM_FIXED_SIZE = TypeFlag.MEM_FIXED_SIZE
MEM_ALIGNED = TypeFlag.MEM_ALIGNED
MEM_WRITE = TypeFlag.MEM_WRITE
PTR_TRUSTED = TypeFlag.PTR_TRUSTED
DYNPTR_TYPE_LOCAL = TypeFlag.DYNPTR_TYPE_LOCAL
DYNPTR_TYPE_RINGBUF = TypeFlag.DYNPTR_TYPE_RINGBUF
_BASE_MASK = 0xFF


class ArgType(IntEnum):
    """enum bpf_arg_type base types (a prototype's argument is one of these | flags)."""

    ARG_DONTCARE = 0
    ARG_CONST_MAP_PTR = 1
    ARG_PTR_TO_MAP_KEY = 2
    ARG_PTR_TO_MAP_VALUE = 3
    ARG_PTR_TO_MEM = 4
    ARG_PTR_TO_ARENA = 5
    ARG_CONST_SIZE = 6
    ARG_CONST_SIZE_OR_ZERO = 7
    ARG_PTR_TO_CTX = 8
    ARG_ANYTHING = 9
    ARG_PTR_TO_SPIN_LOCK = 10
    ARG_PTR_TO_SOCK_COMMON = 11
    ARG_PTR_TO_SOCKET = 12
    ARG_PTR_TO_BTF_ID = 13
    ARG_PTR_TO_RINGBUF_MEM = 14
    ARG_CONST_ALLOC_SIZE_OR_ZERO = 15
    ARG_PTR_TO_BTF_ID_SOCK_COMMON = 16
    ARG_PTR_TO_PERCPU_BTF_ID = 17
    ARG_PTR_TO_FUNC = 18
    ARG_PTR_TO_STACK = 19
    ARG_PTR_TO_CONST_STR = 20
    ARG_PTR_TO_TIMER = 21
    ARG_KPTR_XCHG_DEST = 22
    ARG_PTR_TO_DYNPTR = 23


class RetType(IntEnum):
    """enum bpf_return_type base types."""

    RET_INTEGER = 0
    RET_VOID = 1
    RET_PTR_TO_MAP_VALUE = 2
    RET_PTR_TO_SOCKET = 3
    RET_PTR_TO_TCP_SOCK = 4
    RET_PTR_TO_SOCK_COMMON = 5
    RET_PTR_TO_MEM = 6
    RET_PTR_TO_MEM_OR_BTF_ID = 7
    RET_PTR_TO_BTF_ID = 8


A = ArgType
R = RetType
# the composite names include/linux/bpf.h defines
ARG_PTR_TO_MAP_VALUE_OR_NULL = A.ARG_PTR_TO_MAP_VALUE | PTR_MAYBE_NULL
ARG_PTR_TO_MEM_OR_NULL = A.ARG_PTR_TO_MEM | PTR_MAYBE_NULL
ARG_PTR_TO_CTX_OR_NULL = A.ARG_PTR_TO_CTX | PTR_MAYBE_NULL
ARG_PTR_TO_STACK_OR_NULL = A.ARG_PTR_TO_STACK | PTR_MAYBE_NULL
ARG_PTR_TO_BTF_ID_OR_NULL = A.ARG_PTR_TO_BTF_ID | PTR_MAYBE_NULL
ARG_PTR_TO_UNINIT_MEM = A.ARG_PTR_TO_MEM | MEM_WRITE | MEM_UNINIT
ARG_PTR_TO_FIXED_SIZE_MEM = A.ARG_PTR_TO_MEM | MEM_FIXED_SIZE
RET_PTR_TO_MAP_VALUE_OR_NULL = R.RET_PTR_TO_MAP_VALUE | PTR_MAYBE_NULL
RET_PTR_TO_MEM_OR_NULL = R.RET_PTR_TO_MEM | PTR_MAYBE_NULL
RET_PTR_TO_RINGBUF_MEM_OR_NULL = R.RET_PTR_TO_MEM | MEM_RINGBUF | PTR_MAYBE_NULL
RET_PTR_TO_BTF_ID_OR_NULL = R.RET_PTR_TO_BTF_ID | PTR_MAYBE_NULL
RET_PTR_TO_DYNPTR_MEM_OR_NULL = R.RET_PTR_TO_MEM | PTR_MAYBE_NULL


def base_type(t: int) -> int:
    """The base type of an argument or return type (flags stripped)."""
    return t & _BASE_MASK


def _type_name(t: int, enum: type[IntEnum]) -> str:
    parts = [enum(base_type(t)).name]
    parts += [f.name for f in TypeFlag if t & f and f.name]
    return "|".join(parts)


def arg_type_name(t: int) -> str:
    """``"ARG_PTR_TO_MEM|MEM_RDONLY"`` for an argument type."""
    return _type_name(t, ArgType)


def ret_type_name(t: int) -> str:
    return _type_name(t, RetType)


@dataclass(frozen=True)
class Proto:
    """struct bpf_func_proto: what the verifier checks a call against.

    ``arg_size`` gives the byte size of MEM_FIXED_SIZE arguments (index -> size);
    ``btf`` names the kernel type of BTF-id arguments/returns, for messages.
    ``pkt_access``: memory arguments may point into the packet (the kernel's
    flag of the same name); ``changes_pkt_data``: the helper may move or resize
    the packet, so the verifier forgets every packet pointer after the call
    (bpf_helper_changes_pkt_data, net/core/filter.c).
    """

    ret: int = R.RET_INTEGER
    args: tuple[int, ...] = ()
    gpl_only: bool = False
    might_sleep: bool = False
    arg_size: tuple[tuple[int, int], ...] = ()
    btf: str = ""
    pkt_access: bool = False
    changes_pkt_data: bool = False

    def arg(self, i: int) -> int:
        """The type of argument ``i`` (0-based), ARG_DONTCARE past the last."""
        return self.args[i] if i < len(self.args) else A.ARG_DONTCARE

    @property
    def nargs(self) -> int:
        return len(self.args)

    def describe(self) -> str:
        args = ", ".join(arg_type_name(a) for a in self.args) or "void"
        return f"{ret_type_name(self.ret)} ({args})"


HelperFn = Callable[..., int]


@dataclass(frozen=True)
class Helper:
    """One helper: kernel id and name, prototype, implementation."""

    id: int
    name: str
    proto: Proto
    fn: HelperFn = field(compare=False, repr=False)
    implemented: bool = True
    #: why an unimplemented helper is refused (empty when implemented)
    reason: str = ""

    @property
    def kernel_name(self) -> str:
        return f"bpf_{self.name}"
