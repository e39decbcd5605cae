"""Abstract register and stack state (the kernel's bpf_reg_state / bpf_func_state).

A register is NOT_INIT, a SCALAR (tnum plus unsigned and signed 64-bit
bounds, kept consistent as reg_bounds_sync does), or a pointer of one of the
kernel's types with a fixed offset ``off`` and a variable part (the same
scalar bounds, used for map values, stack and memory). Values are immutable:
changing a register builds a new RegState, so copying a state for a branch is
cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from . import tnum as tn
from .tnum import U32, U64, Tnum

NOT_INIT = "not_init"
SCALAR = "scalar"
PTR_TO_CTX = "ctx"
PTR_TO_STACK = "fp"
CONST_PTR_TO_MAP = "map_ptr"
PTR_TO_MAP_VALUE = "map_value"
PTR_TO_MAP_KEY = "map_key"
PTR_TO_MEM = "mem"
PTR_TO_FUNC = "func"  # a callback's subprogram (ld_imm64 src_reg=BPF_PSEUDO_FUNC)
POINTER_TYPES = (
    PTR_TO_CTX,
    PTR_TO_STACK,
    CONST_PTR_TO_MAP,
    PTR_TO_MAP_VALUE,
    PTR_TO_MAP_KEY,
    PTR_TO_MEM,
    PTR_TO_FUNC,
)

S64_MIN = -(1 << 63)
S64_MAX = (1 << 63) - 1
S32_MIN = -(1 << 31)
S32_MAX = (1 << 31) - 1


def to_s64(v: int) -> int:
    v &= U64
    return v - (1 << 64) if v >> 63 else v


@dataclass(frozen=True, slots=True)
class RegState:
    type: str = NOT_INIT
    var: Tnum = tn.UNKNOWN
    umin: int = 0
    umax: int = U64
    smin: int = S64_MIN
    smax: int = S64_MAX
    off: int = 0  # fixed offset of a pointer
    maybe_null: bool = False  # PTR_MAYBE_NULL (map_value_or_null, mem_or_null)
    id: int = 0  # shared by copies of one maybe-null pointer, for null-check propagation
    map: Any = None  # the map of map_ptr / map_value / map_key
    mem_size: int = 0  # size of PTR_TO_MEM
    frameno: int = 0  # frame of a stack pointer
    ref_obj_id: int = 0  # ringbuf reservations that must be submitted or discarded
    #: signed bounds of the low 32 bits (s32_min_value/s32_max_value), learnt from JMP32
    s32min: int = -(1 << 31)
    s32max: int = (1 << 31) - 1
    subprogno: int = 0  # the subprogram a PTR_TO_FUNC names

    # --- predicates -----------------------------------------------------------------
    @property
    def is_pointer(self) -> bool:
        return self.type in POINTER_TYPES

    @property
    def is_const(self) -> bool:
        return self.var.mask == 0

    @property
    def const(self) -> int:
        return self.var.value

    def type_name(self) -> str:
        """The kernel's reg_type_str: 'scalar', 'map_value_or_null', 'fp' ..."""
        if self.type == NOT_INIT:
            return "?"
        base = "ringbuf_mem" if self.type == PTR_TO_MEM and self.ref_obj_id else self.type
        name = base + ("_or_null" if self.maybe_null else "")
        return name

    def __str__(self) -> str:
        if self.type == NOT_INIT:
            return "?"
        if self.type == SCALAR:
            if self.is_const:
                return str(to_s64(self.var.value))
            return "scalar(" + self._bounds() + ")"
        if self.type == PTR_TO_STACK and self.is_const and not self.var.value:
            return f"fp{self.off}"
        parts = []
        if self.id:
            parts.append(f"id={self.id}")
        if self.off:
            parts.append(f"off={self.off}")
        if self.map is not None:
            ks = getattr(self.map, "key_size", "?")
            vs = getattr(self.map, "value_size", "?")
            parts.append(f"ks={ks},vs={vs}")
        if self.type == PTR_TO_MEM:
            parts.append(f"mem_size={self.mem_size}")
        if not self.is_const or self.var.value:
            parts.append(self._bounds())
        return f"{self.type_name()}(" + ",".join(p for p in parts if p) + ")"

    def _bounds(self) -> str:
        """Bounds the kernel's way: defaults left out, equal values joined (smax=umax=9)."""
        vals = []
        if self.smin != S64_MIN:
            vals.append(("smin", self.smin))
        if self.smax != S64_MAX:
            vals.append(("smax", self.smax))
        if self.umin:
            vals.append(("umin", self.umin))
        if self.umax != U64:
            vals.append(("umax", self.umax))
        out: list[str] = []
        done: set[str] = set()
        for name, v in vals:
            if name in done:
                continue
            same = [n for n, w in vals if w == v and n not in done]
            done.update(same)
            out.append("=".join(same) + f"={v}")
        if self.s32min != S32_MIN and (self.s32min != self.smin or self.umax > U32):
            out.append(f"smin32={self.s32min}")
        if self.s32max != S32_MAX and (self.s32max != self.smax or self.umax > U32):
            out.append(f"smax32={self.s32max}")
        if not self.is_const and self.var != tn.UNKNOWN:
            out.append(f"var_off={self.var}")
        return ",".join(out)


NOT_INIT_REG = RegState()
UNKNOWN_SCALAR = RegState(SCALAR)


def scalar_const(v: int) -> RegState:
    v &= U64
    lo = v & U32
    s32 = lo - (1 << 32) if lo >> 31 else lo
    return RegState(SCALAR, tn.const(v), v, v, to_s64(v), to_s64(v), s32min=s32, s32max=s32)


def scalar_range(umin: int, umax: int) -> RegState:
    return sync(RegState(SCALAR, tn.trange(umin, umax), umin, umax))


def sync(r: RegState) -> RegState:
    """reg_bounds_sync: make tnum, unsigned and signed bounds agree."""
    var, umin, umax, smin, smax = r.var, r.umin, r.umax, r.smin, r.smax
    s32min, s32max = r.s32min, r.s32max
    for _ in range(2):
        if umax <= U32 and umin <= umax:
            # a zero-extended value: its signed 32-bit view and its u64 range agree
            if umax <= S32_MAX:
                s32min, s32max = max(s32min, umin), min(s32max, umax)
            elif umin > S32_MAX:
                s32min, s32max = max(s32min, umin - (1 << 32)), min(s32max, umax - (1 << 32))
            if s32min >= 0:
                umin, umax = max(umin, s32min), min(umax, s32max)
            elif s32max < 0:
                umin, umax = max(umin, s32min + (1 << 32)), min(umax, s32max + (1 << 32))
        # bounds from the tnum
        umin = max(umin, var.value)
        umax = min(umax, var.value | var.mask)
        smin = max(smin, tn.smin(var))
        smax = min(smax, tn.smax(var))
        # deduce across signedness
        if smin >= 0 or smax < 0:
            lo = max(smin & U64, umin)
            hi = min(smax & U64, umax)
            umin, umax = lo, hi
            smin, smax = to_s64(lo), to_s64(hi)
        elif umax <= S64_MAX:
            smin = umin
            smax = min(smax, umax)
            umax = smax
        elif umin > S64_MAX:
            lo = max(smin & U64, umin)
            smin = to_s64(lo)
            umin = lo
            smax = to_s64(umax)
        var = tn.intersect(var, tn.trange(umin, umax)) if umin <= umax else var
    return replace(
        r, var=var, umin=umin, umax=umax, smin=smin, smax=smax, s32min=s32min, s32max=s32max
    )


def bounds_empty(r: RegState) -> bool:
    return r.umin > r.umax or r.smin > r.smax or r.s32min > r.s32max


# --- 32-bit views ---------------------------------------------------------------------------
def sub32(r: RegState) -> RegState:
    """The low 32 bits of a scalar as a zero-extended 64-bit scalar."""
    if r.umax - r.umin <= U32 and (r.umin >> 32) == (r.umax >> 32):
        lo, hi = r.umin & U32, r.umax & U32
        if lo <= hi:
            return sync(
                RegState(SCALAR, tn.subreg(r.var), lo, hi, s32min=r.s32min, s32max=r.s32max)
            )
    return sync(RegState(SCALAR, tn.subreg(r.var), 0, U32, s32min=r.s32min, s32max=r.s32max))


def zext32(r: RegState) -> RegState:
    """Truncate a computed 32-bit result to its low 32 bits, zero-extended."""
    if r.umax <= U32:
        return r
    return sub32(r)


# --- scalar ALU (adjust_scalar_min_max_vals) ------------------------------------------------
def _full(var: Tnum) -> RegState:
    return sync(RegState(SCALAR, var))


def alu(op: str, a: RegState, b: RegState, bits: int) -> RegState:
    """Abstract result of ``a op b`` on scalars at width ``bits`` (64 or 32, zero-extended)."""
    if bits == 32:
        a, b = sub32(a), sub32(b)
    width_max = U64 if bits == 64 else U32
    if op in ("div", "mod") or (
        op in ("lsh", "rsh", "arsh") and (not b.is_const or b.umax >= bits)
    ):
        # is_safe_to_compute_dst_reg_range says no: the kernel marks the whole 64-bit
        # register unknown, without zero-extending 32-bit results
        return UNKNOWN_SCALAR
    if a.is_const and b.is_const and op in _CONCRETE and op not in ("div", "mod"):
        v = _CONCRETE[op](a.const, b.const, bits)
        return scalar_const(v & width_max)
    r = _alu64(op, a, b, bits)
    if bits == 32:
        r = zext32(sync(replace(r, var=tn.cast(r.var, 4))) if r.umax > U32 else r)
    return r


def _alu64(op: str, a: RegState, b: RegState, bits: int) -> RegState:
    lim = U64 if bits == 64 else U32
    if op == "add":
        var = tn.add(a.var, b.var)
        if a.umax + b.umax <= lim:
            return sync(
                RegState(
                    SCALAR, var if bits == 64 else tn.cast(var, 4), a.umin + b.umin, a.umax + b.umax
                )
            )
        return _full(var if bits == 64 else tn.cast(var, 4))
    if op == "sub":
        var = tn.sub(a.var, b.var)
        if bits == 32:
            var = tn.cast(var, 4)
        if a.umin >= b.umax:
            return sync(RegState(SCALAR, var, a.umin - b.umax, a.umax - b.umin))
        if bits == 64:
            lo, hi = a.smin - b.smax, a.smax - b.smin
            if S64_MIN <= lo and hi <= S64_MAX:
                return sync(RegState(SCALAR, var, smin=lo, smax=hi))
        return _full(var)
    if op == "mul":
        var = tn.mul(a.var, b.var)
        if bits == 32:
            var = tn.cast(var, 4)
        if a.umax * b.umax <= lim:
            return sync(RegState(SCALAR, var, a.umin * b.umin, a.umax * b.umax))
        return _full(var)
    if op == "and":
        var = tn.and_(a.var, b.var)
        return sync(RegState(SCALAR, var, var.value, min(a.umax, b.umax)))
    if op == "or":
        var = tn.or_(a.var, b.var)
        return sync(RegState(SCALAR, var, max(a.umin, b.umin), var.value | var.mask))
    if op == "xor":
        return _full(tn.xor(a.var, b.var))
    if op in ("lsh", "rsh", "arsh"):
        if not b.is_const:
            return _full(tn.UNKNOWN if bits == 64 else tn.cast(tn.UNKNOWN, 4))
        s = b.const & (bits - 1)
        if op == "lsh":
            var = tn.lshift(a.var, s)
            if bits == 32:
                var = tn.cast(var, 4)
            if (a.umax << s) <= lim:
                return sync(RegState(SCALAR, var, a.umin << s, a.umax << s))
            return _full(var)
        if op == "rsh":
            return sync(RegState(SCALAR, tn.rshift(a.var, s), a.umin >> s, a.umax >> s))
        if bits == 64:
            return sync(
                RegState(SCALAR, tn.arshift(a.var, s, 64), smin=a.smin >> s, smax=a.smax >> s)
            )
        return _full(tn.arshift(a.var, s, 32))
    # div, mod, and everything not modelled: any value of the width
    return _full(tn.UNKNOWN if bits == 64 else tn.cast(tn.UNKNOWN, 4))


def _sdiv(a: int, b: int, bits: int) -> int:
    m = (1 << bits) - 1
    sa = a - (1 << bits) if a >> (bits - 1) else a
    sb = b - (1 << bits) if b >> (bits - 1) else b
    if sb == 0:
        return 0
    q = abs(sa) // abs(sb)
    return (q if (sa < 0) == (sb < 0) else -q) & m


_CONCRETE = {
    "add": lambda a, b, w: a + b,
    "sub": lambda a, b, w: a - b,
    "mul": lambda a, b, w: a * b,
    "div": lambda a, b, w: a // b if b else 0,
    "mod": lambda a, b, w: a % b if b else a,
    "or": lambda a, b, w: a | b,
    "and": lambda a, b, w: a & b,
    "xor": lambda a, b, w: a ^ b,
    "lsh": lambda a, b, w: a << (b & (w - 1)),
    "rsh": lambda a, b, w: a >> (b & (w - 1)),
    "arsh": lambda a, b, w: (a - (1 << w) if a >> (w - 1) else a) >> (b & (w - 1)),
}


# --- stack ----------------------------------------------------------------------------------
STACK_INVALID = "?"
STACK_MISC = "m"
STACK_ZERO = "0"
STACK_SPILL = "r"


@dataclass(frozen=True, slots=True)
class StackSlot:
    """One 8-byte stack slot: per-byte kinds, and the spilled register when kinds are all 'r'."""

    kinds: str = STACK_INVALID * 8
    spilled: RegState | None = None

    def __str__(self) -> str:
        if self.spilled is not None and self.kinds == STACK_SPILL * 8:
            return str(self.spilled)
        return self.kinds


EMPTY_SLOT = StackSlot()


@dataclass
class Frame:
    """One call frame: registers and a 512-byte stack (slot 0 is fp-8)."""

    regs: list[RegState]
    stack: dict[int, StackSlot]
    callsite: int = -1
    subprog: int = 0
    depth: int = 0  # deepest stack byte used, for the combined-stack check
    #: a callback run by a helper (bpf_loop, for_each_map_elem): exit returns to the call
    in_callback: bool = False
    #: callback bodies explored from this frame's current helper call (callback_depth)
    callback_depth: int = 0

    def copy(self) -> Frame:
        return Frame(
            list(self.regs),
            dict(self.stack),
            self.callsite,
            self.subprog,
            self.depth,
            self.in_callback,
            self.callback_depth,
        )
