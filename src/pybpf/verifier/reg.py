"""One register's abstract value (struct bpf_reg_state) and its bounds.

A register is NOT_INIT, a SCALAR_VALUE, or a pointer of one of the kernel's
types (``reg.type``, flags such as PTR_MAYBE_NULL or'ed in as in enum
bpf_type_flag) with a fixed offset ``off`` and a variable part. Scalars and the
variable part of pointers carry a tnum and four ranges (u64, s64, u32, s32)
that reg_bounds_sync() keeps consistent; the functions here are the kernel's
(kernel/bpf/verifier.c of Linux 6.18) one for one, so that the bounds, and the
log that prints them, come out the same.

Registers are mutable, as in the kernel: a state copy copies every register.
Field order follows the C struct, which matters where the kernel compares
registers with memcmp() up to a field (``regs_exact``, ``states_maybe_looping``).
"""

from __future__ import annotations

from typing import Any

from ..helpers.proto import TypeFlag
from . import tnum as tn
from .tnum import U32, U64, Tnum

# --- enum bpf_reg_type ------------------------------------------------------------------
NOT_INIT = 0
SCALAR_VALUE = 1
PTR_TO_CTX = 2
CONST_PTR_TO_MAP = 3
PTR_TO_MAP_VALUE = 4
PTR_TO_MAP_KEY = 5
PTR_TO_STACK = 6
PTR_TO_PACKET_META = 7
PTR_TO_PACKET = 8
PTR_TO_PACKET_END = 9
PTR_TO_FLOW_KEYS = 10
PTR_TO_SOCKET = 11
PTR_TO_SOCK_COMMON = 12
PTR_TO_TCP_SOCK = 13
PTR_TO_TP_BUFFER = 14
PTR_TO_XDP_SOCK = 15
PTR_TO_BTF_ID = 16
PTR_TO_MEM = 17
PTR_TO_ARENA = 18
PTR_TO_BUF = 19
PTR_TO_FUNC = 20
CONST_PTR_TO_DYNPTR = 21

PTR_MAYBE_NULL = int(TypeFlag.PTR_MAYBE_NULL)
PTR_UNTRUSTED = int(TypeFlag.PTR_UNTRUSTED)
MEM_RDONLY = int(TypeFlag.MEM_RDONLY)
MEM_RINGBUF = int(TypeFlag.MEM_RINGBUF)
BASE_MASK = 0xFF

#: the bits of ``id`` that link a scalar to another plus a constant ``off``
#: (rX = rY; rX += K, 64-bit or 32-bit arithmetic)
BPF_ADD_CONST64 = 1 << 31
BPF_ADD_CONST32 = 1 << 30
BPF_ADD_CONST = BPF_ADD_CONST64 | BPF_ADD_CONST32

S64_MIN = -(1 << 63)
S64_MAX = (1 << 63) - 1
S32_MIN = -(1 << 31)
S32_MAX = (1 << 31) - 1

_TYPE_NAMES = {
    NOT_INIT: "?",
    SCALAR_VALUE: "scalar",
    PTR_TO_CTX: "ctx",
    CONST_PTR_TO_MAP: "map_ptr",
    PTR_TO_MAP_VALUE: "map_value",
    PTR_TO_STACK: "fp",
    PTR_TO_PACKET: "pkt",
    PTR_TO_PACKET_META: "pkt_meta",
    PTR_TO_PACKET_END: "pkt_end",
    PTR_TO_FLOW_KEYS: "flow_keys",
    PTR_TO_SOCKET: "sock",
    PTR_TO_SOCK_COMMON: "sock_common",
    PTR_TO_TCP_SOCK: "tcp_sock",
    PTR_TO_TP_BUFFER: "tp_buffer",
    PTR_TO_XDP_SOCK: "xdp_sock",
    PTR_TO_BTF_ID: "ptr_",
    PTR_TO_MEM: "mem",
    PTR_TO_ARENA: "arena",
    PTR_TO_BUF: "buf",
    PTR_TO_FUNC: "func",
    PTR_TO_MAP_KEY: "map_key",
    CONST_PTR_TO_DYNPTR: "dynptr_ptr",
}


_PREFIXES = (
    (MEM_RDONLY, "rdonly_"),
    (MEM_RINGBUF, "ringbuf_"),
    (int(TypeFlag.MEM_USER), "user_"),
    (int(TypeFlag.MEM_PERCPU), "percpu_"),
    (int(TypeFlag.MEM_RCU), "rcu_"),
    (int(TypeFlag.PTR_UNTRUSTED), "untrusted_"),
    (int(TypeFlag.PTR_TRUSTED), "trusted_"),
)


def reg_type_str(t: int) -> str:
    """reg_type_str() of kernel/bpf/log.c: ``map_value_or_null``, ``ringbuf_mem`` ..."""
    prefix = "".join(name for flag, name in _PREFIXES if t & flag)
    post = ""
    if t & PTR_MAYBE_NULL:
        post = "or_null_" if t & BASE_MASK == PTR_TO_BTF_ID else "_or_null"
    return prefix + _TYPE_NAMES.get(t & BASE_MASK, "?") + post


def s32(v: int) -> int:
    v &= U32
    return v - (1 << 32) if v & 0x80000000 else v


def s64(v: int) -> int:
    v &= U64
    return v - (1 << 64) if v >> 63 else v


class Reg:
    """struct bpf_reg_state (the fields a socket filter's verification uses)."""

    __slots__ = (
        "type",
        "off",
        "map",  # map_ptr: the map of map_ptr/map_value/map_key
        "map_uid",
        "range",  # packet pointers: verified range
        "mem_size",
        "subprogno",  # PTR_TO_FUNC: the callback's subprogram
        "var",
        "smin",
        "smax",
        "umin",
        "umax",
        "s32min",
        "s32max",
        "u32min",
        "u32max",
        "id",
        "ref_obj_id",
        "frameno",
        "subreg_def",
        "precise",
    )

    def __init__(self) -> None:
        self.type = NOT_INIT
        self.off = 0
        self.map: Any = None
        self.map_uid = 0
        self.range = 0
        self.mem_size = 0
        self.subprogno = 0
        self.var = tn.UNKNOWN
        self.smin = S64_MIN
        self.smax = S64_MAX
        self.umin = 0
        self.umax = U64
        self.s32min = S32_MIN
        self.s32max = S32_MAX
        self.u32min = 0
        self.u32max = U32
        self.id = 0
        self.ref_obj_id = 0
        self.frameno = 0
        self.subreg_def = 0
        self.precise = False

    def copy(self) -> Reg:
        n = Reg.__new__(Reg)
        n.type = self.type
        n.off = self.off
        n.map = self.map
        n.map_uid = self.map_uid
        n.range = self.range
        n.mem_size = self.mem_size
        n.subprogno = self.subprogno
        n.var = self.var
        n.smin = self.smin
        n.smax = self.smax
        n.umin = self.umin
        n.umax = self.umax
        n.s32min = self.s32min
        n.s32max = self.s32max
        n.u32min = self.u32min
        n.u32max = self.u32max
        n.id = self.id
        n.ref_obj_id = self.ref_obj_id
        n.frameno = self.frameno
        n.subreg_def = self.subreg_def
        n.precise = self.precise
        return n

    def assign(self, o: Reg) -> None:
        """copy_register_state(): ``*self = *o``."""
        self.type = o.type
        self.off = o.off
        self.map = o.map
        self.map_uid = o.map_uid
        self.range = o.range
        self.mem_size = o.mem_size
        self.subprogno = o.subprogno
        self.var = o.var
        self.smin = o.smin
        self.smax = o.smax
        self.umin = o.umin
        self.umax = o.umax
        self.s32min = o.s32min
        self.s32max = o.s32max
        self.u32min = o.u32min
        self.u32max = o.u32max
        self.id = o.id
        self.ref_obj_id = o.ref_obj_id
        self.frameno = o.frameno
        self.subreg_def = o.subreg_def
        self.precise = o.precise

    # memcmp(a, b, offsetof(..., field)) prefixes
    def head(self) -> tuple:
        """The fields before ``var_off``: type, off and the pointer union."""
        return (
            self.type,
            self.off,
            self.map,
            self.map_uid,
            self.range,
            self.mem_size,
            self.subprogno,
        )

    def upto_id(self) -> tuple:
        """The fields before ``id`` (regs_exact's memcmp)."""
        return self.head() + (
            self.var,
            self.smin,
            self.smax,
            self.umin,
            self.umax,
            self.s32min,
            self.s32max,
            self.u32min,
            self.u32max,
        )

    def upto_frameno(self) -> tuple:
        """The fields before ``frameno`` (states_maybe_looping's memcmp)."""
        return self.upto_id() + (self.id, self.ref_obj_id)

    @property
    def base(self) -> int:
        return self.type & BASE_MASK

    @property
    def is_scalar(self) -> bool:
        return self.type == SCALAR_VALUE

    @property
    def is_pointer(self) -> bool:
        """__is_pointer_value(false, reg): anything but a scalar."""
        return self.type != SCALAR_VALUE

    @property
    def maybe_null(self) -> bool:
        return bool(self.type & PTR_MAYBE_NULL)

    @property
    def is_const(self) -> bool:
        return self.var.mask == 0

    def __repr__(self) -> str:
        return f"Reg({reg_type_str(self.type)}, off={self.off}, var={self.var})"


# --- known / unknown (___mark_reg_known, __mark_reg_unknown ...) --------------------------
def _known(r: Reg, imm: int) -> None:
    imm &= U64
    r.var = Tnum(imm, 0)
    sv = s64(imm)
    r.smin = r.smax = sv
    r.umin = r.umax = imm
    lo = imm & U32
    r.s32min = r.s32max = s32(lo)
    r.u32min = r.u32max = lo


def _clear_head(r: Reg) -> None:
    r.off = 0
    r.map = None
    r.map_uid = 0
    r.range = 0
    r.mem_size = 0
    r.subprogno = 0


def mark_known(r: Reg, imm: int) -> None:
    """__mark_reg_known(): the offset and pointer union cleared, id and ref_obj_id too."""
    _clear_head(r)
    r.id = 0
    r.ref_obj_id = 0
    _known(r, imm)


def mark_known_zero(r: Reg) -> None:
    mark_known(r, 0)


def mark_const_zero(r: Reg, bpf_capable: bool) -> None:
    """__mark_reg_const_zero(): scalar 0 (precise for unprivileged loaders)."""
    mark_known(r, 0)
    r.type = SCALAR_VALUE
    r.precise = not bpf_capable


def mark32_known(r: Reg, imm: int) -> None:
    r.var = tn.const_subreg(r.var, imm)
    lo = imm & U32
    r.s32min = r.s32max = s32(lo)
    r.u32min = r.u32max = lo


def mark_unbounded(r: Reg) -> None:
    r.smin, r.smax, r.umin, r.umax = S64_MIN, S64_MAX, 0, U64
    r.s32min, r.s32max, r.u32min, r.u32max = S32_MIN, S32_MAX, 0, U32


def mark64_unbounded(r: Reg) -> None:
    r.smin, r.smax, r.umin, r.umax = S64_MIN, S64_MAX, 0, U64


def mark32_unbounded(r: Reg) -> None:
    r.s32min, r.s32max, r.u32min, r.u32max = S32_MIN, S32_MAX, 0, U32


def _unknown(r: Reg, reg_type: int, precise: bool) -> None:
    r.type = reg_type
    r.off = 0
    r.map = None
    r.map_uid = 0
    r.range = 0
    r.mem_size = 0
    r.subprogno = 0
    r.id = 0
    r.ref_obj_id = 0
    r.var = tn.UNKNOWN
    r.frameno = 0
    r.precise = precise
    r.smin, r.smax, r.umin, r.umax = S64_MIN, S64_MAX, 0, U64
    r.s32min, r.s32max, r.u32min, r.u32max = S32_MIN, S32_MAX, 0, U32


def mark_unknown_imprecise(r: Reg) -> None:
    """__mark_reg_unknown_imprecise() (subreg_def is left as it was)."""
    _unknown(r, SCALAR_VALUE, False)


def mark_unknown(r: Reg, bpf_capable: bool) -> None:
    """__mark_reg_unknown(): imprecise for CAP_BPF loaders, precise for the rest."""
    _unknown(r, SCALAR_VALUE, not bpf_capable)


def mark_not_init(r: Reg, bpf_capable: bool) -> None:
    _unknown(r, NOT_INIT, not bpf_capable)


def unknown_scalar(bpf_capable: bool) -> Reg:
    r = Reg()
    mark_unknown(r, bpf_capable)
    return r


def const_scalar(imm: int, bpf_capable: bool = True) -> Reg:
    r = Reg()
    r.type = SCALAR_VALUE
    mark_known(r, imm)
    return r


# --- bounds (reg_bounds_sync and its parts) -------------------------------------------------
def update_reg32_bounds(r: Reg) -> None:
    v, m = r.var.value & U32, r.var.mask & U32
    smin = v | (m & 0x80000000)
    if smin >> 31:
        smin -= 1 << 32
    smax = v | (m & 0x7FFFFFFF)
    if smax >> 31:
        smax -= 1 << 32
    if smin > r.s32min:
        r.s32min = smin
    if smax < r.s32max:
        r.s32max = smax
    if v > r.u32min:
        r.u32min = v
    if (v | m) < r.u32max:
        r.u32max = v | m


def update_reg64_bounds(r: Reg) -> None:
    """__update_reg64_bounds(): the bounds the tnum allows; a single common value is known."""
    v, m = r.var
    smin = v | (m & (1 << 63))
    if smin >> 63:
        smin -= 1 << 64
    smax = v | (m & S64_MAX)
    if smax >> 63:
        smax -= 1 << 64
    if smin > r.smin:
        r.smin = smin
    if smax < r.smax:
        r.smax = smax
    if v > r.umin:
        r.umin = v
    tmax = v | m
    if tmax < r.umax:
        r.umax = tmax
    if m == 0:
        return
    umin, umax = r.umin, r.umax
    nxt = tn.step(r.var, umin)
    umin_in = (umin & ~m) == v
    if umin_in and nxt > umax:
        _set_known(r, umin)
    elif not umin_in and nxt == tmax:
        _set_known(r, tmax)
    elif not umin_in and nxt <= umax and tn.step(r.var, nxt) > umax:
        _set_known(r, nxt)


def _set_known(r: Reg, imm: int) -> None:
    """___mark_reg_known(): the value and every bound, nothing else."""
    r.var = Tnum(imm, 0)
    r.smin = r.smax = s64(imm)
    r.umin = r.umax = imm
    lo = imm & U32
    r.s32min = r.s32max = s32(lo)
    r.u32min = r.u32max = lo


def update_reg_bounds(r: Reg) -> None:
    update_reg32_bounds(r)
    update_reg64_bounds(r)


def reg32_deduce_bounds(r: Reg) -> None:
    """__reg32_deduce_bounds(): the 32-bit ranges from the 64-bit ones and each other."""
    umin, umax, smin, smax = r.umin, r.umax, r.smin & U64, r.smax & U64
    u32min, u32max, s32min, s32max = r.u32min, r.u32max, r.s32min, r.s32max
    if (umin >> 32) == (umax >> 32):
        lo, hi = umin & U32, umax & U32
        if lo > u32min:
            u32min = lo
        if hi < u32max:
            u32max = hi
        slo = lo - (1 << 32) if lo >> 31 else lo
        shi = hi - (1 << 32) if hi >> 31 else hi
        if slo <= shi:
            if slo > s32min:
                s32min = slo
            if shi < s32max:
                s32max = shi
    if (smin >> 32) == (smax >> 32):
        lo, hi = smin & U32, smax & U32
        if lo <= hi:
            if lo > u32min:
                u32min = lo
            if hi < u32max:
                u32max = hi
        slo = lo - (1 << 32) if lo >> 31 else lo
        shi = hi - (1 << 32) if hi >> 31 else hi
        if slo <= shi:
            if slo > s32min:
                s32min = slo
            if shi < s32max:
                s32max = shi
    for a, b in ((umin, umax), (smin, smax)):
        if ((a >> 32) + 1) & U32 == (b >> 32) & U32 and (a >> 31) & 1 and not (b >> 31) & 1:
            slo = (a & U32) - (1 << 32)
            shi = b & U32
            if slo > s32min:
                s32min = slo
            if shi < s32max:
                s32max = shi
    slo = u32min - (1 << 32) if u32min >> 31 else u32min
    shi = u32max - (1 << 32) if u32max >> 31 else u32max
    if slo <= shi:
        if slo > s32min:
            s32min = slo
        if shi < s32max:
            s32max = shi
    lo, hi = s32min & U32, s32max & U32
    if lo <= hi:
        if lo > u32min:
            u32min = lo
        if hi < u32max:
            u32max = hi
    elif u32max < lo:
        s32min = u32min - (1 << 32) if u32min >> 31 else u32min
        if hi < u32max:
            u32max = hi
    elif hi < u32min:
        s32max = u32max - (1 << 32) if u32max >> 31 else u32max
        if lo > u32min:
            u32min = lo
    r.u32min, r.u32max, r.s32min, r.s32max = u32min, u32max, s32min, s32max


def reg64_deduce_bounds(r: Reg) -> None:
    """__reg64_deduce_bounds()."""
    umin, umax, smin, smax = r.umin, r.umax, r.smin, r.smax
    su_lo = umin - (1 << 64) if umin >> 63 else umin
    su_hi = umax - (1 << 64) if umax >> 63 else umax
    if su_lo <= su_hi:
        if su_lo > smin:
            smin = su_lo
        if su_hi < smax:
            smax = su_hi
    lo, hi = smin & U64, smax & U64
    if lo <= hi:
        if lo > umin:
            umin = lo
        if hi < umax:
            umax = hi
    elif umax < lo:
        smin = su_lo
        if hi < umax:
            umax = hi
    elif hi < umin:
        smax = su_hi
        if lo > umin:
            umin = lo
    r.umin, r.umax, r.smin, r.smax = umin, umax, smin, smax


def reg_deduce_mixed_bounds(r: Reg) -> None:
    """__reg_deduce_mixed_bounds(): the 64-bit ranges from the 32-bit ones."""
    hi = U64 ^ U32
    umin, umax, smin, smax = r.umin, r.umax, r.smin, r.smax
    u32min, u32max, s32min, s32max = r.u32min, r.u32max, r.s32min, r.s32max
    # the u32 range, then the s32 range when it does not cross the sign boundary, each
    # placed in the 64-bit bounds' upper half
    ranges = [(u32min, u32max)]
    lo, up = s32min & U32, s32max & U32
    if lo <= up:
        ranges.append((lo, up))
    for lo, up in ranges:
        x = (umin & hi) | lo
        if x > umin:
            umin = x
        x = (umax & hi) | up
        if x < umax:
            umax = x
        x = ((smin & hi) | lo) & U64
        if x >> 63:
            x -= 1 << 64
        if x > smin:
            smin = x
        x = ((smax & hi) | up) & U64
        if x >> 63:
            x -= 1 << 64
        if x < smax:
            smax = x
    r.umin, r.umax, r.smin, r.smax = umin, umax, smin, smax
    if s32min >= 0 and smin >= S32_MIN and smax <= S32_MAX:
        r.smin = s32min
        r.smax = s32max
        r.umin = s32min & U64
        r.umax = s32max & U64
        r.var = tn.intersect(r.var, tn.trange(s32min & U64, s32max & U64))


def reg_deduce_bounds(r: Reg) -> None:
    reg32_deduce_bounds(r)
    reg64_deduce_bounds(r)
    reg_deduce_mixed_bounds(r)


def reg_bound_offset(r: Reg) -> None:
    """__reg_bound_offset(): learn bits of the tnum from the unsigned ranges."""
    var64 = tn.intersect(r.var, tn.trange(r.umin, r.umax))
    var32 = tn.intersect(tn.subreg(var64), tn.trange(r.u32min, r.u32max))
    r.var = tn.or_(tn.clear_subreg(var64), var32)


def reg_bounds_sync(r: Reg) -> None:
    v, m = r.var
    if m == 0:
        # a constant inside its ranges: every bound is the constant (what the steps give)
        sv = v - (1 << 64) if v >> 63 else v
        v32 = v & U32
        sv32 = v32 - (1 << 32) if v32 >> 31 else v32
        if (
            r.umin <= v <= r.umax
            and r.smin <= sv <= r.smax
            and r.u32min <= v32 <= r.u32max
            and r.s32min <= sv32 <= r.s32max
        ):
            r.umin = r.umax = v
            r.smin = r.smax = sv
            r.u32min = r.u32max = v32
            r.s32min = r.s32max = sv32
            return
    update_reg_bounds(r)
    # three rounds as the kernel does; a round that changes nothing changes nothing again
    for _ in range(3):
        before = (r.umin, r.umax, r.smin, r.smax, r.u32min, r.u32max, r.s32min, r.s32max, r.var)
        reg_deduce_bounds(r)
        if before == (
            r.umin,
            r.umax,
            r.smin,
            r.smax,
            r.u32min,
            r.u32max,
            r.s32min,
            r.s32max,
            r.var,
        ):
            break
    reg_bound_offset(r)
    update_reg_bounds(r)


def bounds_violation(r: Reg) -> str | None:
    """reg_bounds_sanity_check(): what is inconsistent, or None."""
    if r.umin > r.umax or r.smin > r.smax or r.u32min > r.u32max or r.s32min > r.s32max:
        return "range bounds violation"
    if r.var.mask == 0:
        u = r.var.value
        if r.umin != u or r.umax != u or r.smin != s64(u) or r.smax != s64(u):
            return "const tnum out of sync with range bounds"
    if r.var.mask & U32 == 0:
        u = r.var.value & U32
        if r.u32min != u or r.u32max != u or r.s32min != s32(u) or r.s32max != s32(u):
            return "const subreg tnum out of sync with range bounds"
    return None


def invariants_message(r: Reg, ctx: str, msg: str) -> str:
    return (
        f"REG INVARIANTS VIOLATION ({ctx}): {msg} u64=[{r.umin:#x}, {r.umax:#x}] "
        f"s64=[{r.smin & U64:#x}, {r.smax & U64:#x}] u32=[{r.u32min:#x}, {r.u32max:#x}] "
        f"s32=[{r.s32min & U32:#x}, {r.s32max & U32:#x}] "
        f"var_off=({r.var.value:#x}, {r.var.mask:#x})"
    )


def assign_32_into_64(r: Reg) -> None:
    """__reg_assign_32_into_64()."""
    r.umin = r.u32min
    r.umax = r.u32max
    if 0 <= r.s32min <= S32_MAX and 0 <= r.s32max <= S32_MAX:
        r.smin = r.s32min
        r.smax = r.s32max
    else:
        r.smin = 0
        r.smax = U32


def zext_32_to_64(r: Reg) -> None:
    r.var = tn.subreg(r.var)
    assign_32_into_64(r)


def coerce_reg_to_size(r: Reg, size: int) -> None:
    """coerce_reg_to_size(): truncate to ``size`` (< 8) bytes, zero-extended."""
    r.var = tn.cast(r.var, size)
    mask = (1 << (size * 8)) - 1
    if (r.umin & ~mask) == (r.umax & ~mask):
        r.umin &= mask
        r.umax &= mask
    else:
        r.umin = 0
        r.umax = mask
    r.smin = r.umin
    r.smax = r.umax
    if size < 4:
        mark32_unbounded(r)
    reg_bounds_sync(r)


def _sext(v: int, size: int) -> int:
    bits = size * 8
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


_SMIN = {1: -(1 << 7), 2: -(1 << 15), 4: S32_MIN}
_SMAX = {1: (1 << 7) - 1, 2: (1 << 15) - 1, 4: S32_MAX}


def _set_sext64_default(r: Reg, size: int) -> None:
    r.smin = r.s32min = _SMIN[size]
    r.smax = r.s32max = _SMAX[size]
    r.umin = r.u32min = 0
    r.umax = U64
    r.u32max = U32
    r.var = tn.UNKNOWN


def coerce_reg_to_size_sx(r: Reg, size: int) -> None:
    """coerce_reg_to_size_sx(): sign-extend the low ``size`` bytes to 64 bits."""
    bits = size * 8
    if r.var.mask == 0:
        v = _sext(r.var.value, size) & U64
        r.var = Tnum(v, 0)
        r.smin = r.smax = s64(v)
        r.umin = r.umax = v
        r.s32min = r.s32max = s32(v)
        r.u32min = r.u32max = v & U32
        return
    if ((r.smax & U64) >> bits) != ((r.smin & U64) >> bits):
        _set_sext64_default(r, size)
        return
    a, b = _sext(r.smax, size), _sext(r.smin, size)
    hi, lo = max(a, b), min(a, b)
    if (hi >= 0) == (lo >= 0):
        r.s32min = s32(lo)
        r.smin = lo
        r.s32max = s32(hi)
        r.smax = hi
        r.u32min = lo & U32
        r.umin = lo & U64
        r.u32max = hi & U32
        r.umax = hi & U64
        r.var = tn.trange(lo & U64, hi & U64)
        return
    _set_sext64_default(r, size)


def coerce_subreg_to_size_sx(r: Reg, size: int) -> None:
    """coerce_subreg_to_size_sx(): sign-extend the low ``size`` bytes to 32 bits."""
    bits = size * 8
    if r.var.mask == 0:
        v = _sext(r.var.value & U32, size) & U64
        r.var = Tnum(v, 0)
        r.s32min = r.s32max = s32(v)
        r.u32min = r.u32max = v & U32
        return
    if ((r.s32max & U32) >> bits) != ((r.s32min & U32) >> bits):
        r.s32min = _SMIN[size]
        r.s32max = _SMAX[size]
        r.u32min, r.u32max = 0, U32
        r.var = tn.subreg(tn.UNKNOWN)
        return
    a, b = _sext(r.s32max, size), _sext(r.s32min, size)
    hi, lo = max(a, b), min(a, b)
    if (lo >= 0) == (hi >= 0):
        r.s32min, r.s32max = lo, hi
        r.u32min, r.u32max = lo & U32, hi & U32
        r.var = tn.subreg(tn.trange(lo & U64, hi & U64))
        return
    r.s32min = _SMIN[size]
    r.s32max = _SMAX[size]
    r.u32min, r.u32max = 0, U32
    r.var = tn.subreg(tn.UNKNOWN)


def reg_width(r: Reg) -> int:
    """get_reg_width(): bits needed for umax."""
    return r.umax.bit_length()


def is_const32(r: Reg) -> bool:
    return r.var.mask & U32 == 0


def reg_is_const(r: Reg, subreg32: bool) -> bool:
    """is_reg_const()."""
    if r.type != SCALAR_VALUE:
        return False
    return (r.var.mask & U32 if subreg32 else r.var.mask) == 0


def reg_const_value(r: Reg, subreg32: bool) -> int:
    return r.var.value & U32 if subreg32 else r.var.value


def register_is_null(r: Reg) -> bool:
    return r.type == SCALAR_VALUE and r.var.mask == 0 and r.var.value == 0
