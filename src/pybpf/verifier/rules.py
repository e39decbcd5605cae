"""What the verifier needs to know from outside the instruction stream.

The kernel asks the program type (bpf_verifier_ops) whether a context access
is valid and which helpers exist, and asks each helper's bpf_func_proto for
argument and return types. pybpf keeps those tables in ``progtypes`` and
``helpers``; this module is the narrow face the verifier sees, so that the
walk in ``check`` does not depend on how those tables are stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

# argument kinds (enum bpf_arg_type, the flags the verifier cares about folded in)
ARG_DONTCARE = "dontcare"
ARG_ANYTHING = "anything"
ARG_CONST_MAP_PTR = "const_map_ptr"
ARG_PTR_TO_MAP_KEY = "ptr_to_map_key"
ARG_PTR_TO_MAP_VALUE = "ptr_to_map_value"
ARG_PTR_TO_UNINIT_MAP_VALUE = "ptr_to_uninit_map_value"
ARG_PTR_TO_MEM = "ptr_to_mem"  # readable memory, size in the next argument
ARG_PTR_TO_UNINIT_MEM = "ptr_to_uninit_mem"  # writable memory, size in the next argument
ARG_PTR_TO_MEM_OR_NULL = "ptr_to_mem_or_null"
ARG_CONST_SIZE = "const_size"
ARG_CONST_SIZE_OR_ZERO = "const_size_or_zero"
ARG_PTR_TO_CTX = "ptr_to_ctx"
ARG_PTR_TO_ALLOC_MEM = "ptr_to_alloc_mem"  # ringbuf record to submit/discard (releases it)
ARG_CONST_ALLOC_SIZE_OR_ZERO = "const_alloc_size_or_zero"
ARG_PTR_TO_LONG = "ptr_to_long"  # strtol result (writable 8 bytes)
ARG_PTR_TO_CONST_STR = "ptr_to_const_str"
ARG_PTR_TO_FUNC = "ptr_to_func"  # a callback (ld_imm64 src_reg=BPF_PSEUDO_FUNC)
ARG_PTR_TO_STACK_OR_NULL = "ptr_to_stack_or_null"  # a callback's context
ARG_UNSUPPORTED = "unsupported"


RET_INTEGER = "integer"
RET_VOID = "void"
RET_PTR_TO_MAP_VALUE_OR_NULL = "map_value_or_null"
RET_PTR_TO_MEM_OR_NULL = "mem_or_null"  # ringbuf_reserve: size from the const size argument


@dataclass(frozen=True)
class HelperProto:
    """The parts of a bpf_func_proto the verifier checks."""

    id: int
    name: str
    args: tuple[str, ...] = ()
    ret: str = RET_INTEGER
    gpl_only: bool = False
    #: map types this helper accepts in its map argument (empty: any)
    map_types: frozenset[int] = field(default_factory=frozenset)
    #: privileged loaders only (bpf_base_func_proto's CAP_BPF / perfmon helpers)
    needs_cap: bool = False


@dataclass(frozen=True)
class CtxAccess:
    """Verdict on one context access: allowed, and what a read yields."""

    ok: bool
    #: register type of the loaded value: "scalar" (bounded by size) or a pointer type
    result: str = "scalar"


class ProgTypeRules(Protocol):
    """What a program type tells the verifier (the kernel's bpf_verifier_ops)."""

    name: str

    def ctx_access(self, off: int, size: int, write: bool) -> CtxAccess: ...

    def helper(self, func_id: int, *, privileged: bool) -> HelperProto | None: ...

    @property
    def may_ld_abs(self) -> bool: ...

    @property
    def ctx_size(self) -> int: ...


def lookup_rules(prog_type: int) -> Any:
    """The rules object for a program type, from pybpf.progtypes."""
    from .. import progtypes

    return progtypes.verifier_rules(prog_type)
