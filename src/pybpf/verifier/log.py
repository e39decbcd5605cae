"""The verifier log as Linux 6.18 writes it (kernel/bpf/log.c, print_bpf_insn).

The log is a text buffer the checks append to; like the kernel's it can be
rewound to an earlier position (a finished path is dropped at level 1, the
newline of an instruction line is taken back to append its state). Level 0
logs nothing, level 1 the instruction trail of the failing path with the
registers each instruction changed, level 2 every path and the full state at
each branch, precision backtracking and liveness.

The register and stack printers here are print_reg_state() and
print_verifier_state(): ``R1=ctx() R2=fp-4 R0=map_value_or_null(id=1,map=m,
ks=4,vs=8) fp-8=mmmm????``, numbers in decimal up to 0xffff and in hex above.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..asm.printer import KERNEL, format_insn
from ..isa import Insn
from . import reg as R
from .reg import Reg
from .state import (
    BPF_REG_SIZE,
    SLOT_CHARS,
    STACK_DYNPTR,
    STACK_INVALID,
    STACK_ITER,
    STACK_SPILL,
    FuncState,
    VerifierState,
)
from .tnum import U32, U64, tnum_str

#: BPF_LOG_ALIGNMENT / BPF_LOG_MIN_ALIGNMENT (kernel/bpf/log.c)
BPF_LOG_ALIGNMENT = 40
BPF_LOG_MIN_ALIGNMENT = 8


class VerifierLog:
    """A rewindable text buffer (struct bpf_verifier_log)."""

    def __init__(self, level: int = 0):
        self.level = level
        self._parts: list[str] = []
        self.end_pos = 0
        #: at level 0, what the current instruction logged (the refusal's lines)
        self.pending: list[str] = []

    def verbose(self, text: str) -> None:
        """Append ``text`` (the kernel's verbose()); at level 0 keep only this insn's lines."""
        if self.level:
            self._parts.append(text)
            self.end_pos += len(text)
        else:
            self.pending.append(text)

    def reset(self, pos: int) -> None:
        """bpf_vlog_reset(): drop everything after ``pos``."""
        if pos >= self.end_pos:
            return
        text = "".join(self._parts)[:pos]
        self._parts = [text] if text else []
        self.end_pos = pos

    @property
    def text(self) -> str:
        return "".join(self._parts)

    @property
    def lines(self) -> list[str]:
        return self.text.splitlines()


def vlog_alignment(pos: int) -> int:
    """vlog_alignment(): the pad after an instruction of ``pos`` characters (with newline)."""
    width = max(pos + BPF_LOG_MIN_ALIGNMENT // 2, BPF_LOG_ALIGNMENT)
    return (
        (width + BPF_LOG_MIN_ALIGNMENT - 1) // BPF_LOG_MIN_ALIGNMENT * BPF_LOG_MIN_ALIGNMENT
        - pos
        - 1
    )


def insn_text(insn: Insn, helper_names: Mapping[int, str], allow_ptr_leaks: bool) -> str:
    """verbose_insn(): the instruction as print_bpf_insn() prints it."""
    return format_insn(
        insn, dialect=KERNEL, helper_names=helper_names, allow_ptr_leaks=allow_ptr_leaks
    )


# --- numbers (verbose_unum / verbose_snum) -----------------------------------------------
def unum(v: int) -> str:
    v &= U64
    return str(v) if v <= 0xFFFF else f"{v:#x}"


def snum(v: int) -> str:
    v = R.s64(v)
    return str(v) if -0x8000 <= v <= 0x7FFF else f"{v & U64:#x}"


def _scalar_ranges(r: Reg) -> list[str]:
    """print_scalar_ranges(): equal neighbours joined (``smin=umin=0``)."""

    def s32v(v: int) -> int:
        return v if -0x8000 <= v <= 0x7FFF else v & U32

    names = ("smin", "smax", "umin", "umax", "smin32", "smax32", "umin32", "umax32")
    vals = [
        r.smin & U64,
        r.smax & U64,
        r.umin,
        r.umax,
        s32v(r.s32min) & U64,
        s32v(r.s32max) & U64,
        r.u32min,
        r.u32max,
    ]
    omit = [
        r.smin == R.S64_MIN,
        r.smax == R.S64_MAX,
        r.umin == 0,
        r.umax == U64,
        r.s32min == R.S32_MIN,
        r.s32max == R.S32_MAX,
        r.u32min == 0,
        r.u32max == U32,
    ]
    out = []
    for i in range(8):
        if omit[i]:
            continue
        signed = names[i][0] == "s"
        neg1 = signed and R.s64(vals[i]) < 0
        text = names[i] + "="
        for j in range(i + 2, 8, 2):
            if omit[j] or vals[j] != vals[i]:
                continue
            if (names[j][0] == "s" and R.s64(vals[j]) < 0) != neg1:
                continue
            omit[j] = True
            text += names[j] + "="
        text += snum(vals[i]) if signed else unum(vals[i])
        out.append(text)
    return out


def reg_str(r: Reg, frameno: int) -> str:
    """print_reg_state()."""
    t = r.type
    p = "P" if t == R.SCALAR_VALUE and r.precise else ""
    if t == R.SCALAR_VALUE and r.var.mask == 0:
        return p + snum(r.var.value)
    text = p + R.reg_type_str(t)
    if t & R.BASE_MASK == R.PTR_TO_BTF_ID and isinstance(r.map, str):
        text += r.map
    if t == R.PTR_TO_STACK:
        if frameno != r.frameno:
            text += f"[{r.frameno}]"
        if r.var.mask == 0:
            return text + snum(r.var.value + r.off)
    attrs: list[str] = []
    head = ""
    if r.id:
        head = f"id={r.id & ~R.BPF_ADD_CONST}"
    if r.id & R.BPF_ADD_CONST:
        head += f"{R.s32(r.off):+d}"
    if head:
        attrs.append(head)
    if r.ref_obj_id:
        attrs.append(f"ref_obj_id={r.ref_obj_id}")
    base = t & R.BASE_MASK
    if base in (R.CONST_PTR_TO_MAP, R.PTR_TO_MAP_KEY, R.PTR_TO_MAP_VALUE) and r.map is not None:
        name = getattr(r.map, "name", "") or ""
        if name:
            attrs.append(f"map={name[:15]}")
        attrs.append(f"ks={r.map.key_size},vs={r.map.value_size}")
    if t != R.SCALAR_VALUE and r.off:
        attrs.append("off=" + snum(r.off))
    if base in (R.PTR_TO_PACKET, R.PTR_TO_PACKET_META):
        attrs.append("r=" + unum(r.range))
    if base == R.PTR_TO_MEM:
        attrs.append("sz=" + unum(r.mem_size))
    if r.var.mask == 0:
        if r.var.value:
            attrs.append("imm=" + snum(r.var.value))
    else:
        attrs.extend(_scalar_ranges(r))
        if r.var != (0, U64):
            attrs.append("var_off=" + tnum_str(r.var))
    return text + "(" + ",".join(attrs) + ")"


def state_str(
    st: VerifierState,
    frameno: int,
    print_all: bool,
    scratched_regs: int = 0,
    scratched_stack: int = 0,
) -> str:
    """print_verifier_state(): `` R0=... fp-8=...`` (with a leading space) and a newline."""
    f: FuncState = st.frame[frameno]
    out = []
    if f.frameno:
        out.append(f" frame{f.frameno}:")
    for i, r in enumerate(f.regs):
        if r.type == R.NOT_INIT:
            continue
        if not print_all and not (scratched_regs >> i) & 1:
            continue
        out.append(f" R{i}=" + reg_str(r, f.frameno))
    for i, slot in enumerate(f.stack):
        if not print_all and not (scratched_stack >> i) & 1:
            continue
        types = slot.types
        if all(t == STACK_INVALID for t in types):
            continue
        chars = "".join(SLOT_CHARS[t] for t in types)
        last = types[BPF_REG_SIZE - 1]
        fp = (-i - 1) * BPF_REG_SIZE
        if last == STACK_SPILL:
            j = 0
            while j < BPF_REG_SIZE and types[j] != STACK_SPILL:
                j += 1
            out.append(f" fp{fp}={chars[:j]}" + reg_str(slot.spilled, f.frameno))
        elif last in (STACK_DYNPTR, STACK_ITER):
            continue
        else:
            out.append(f" fp{fp}={chars}")
    if st.refs and st.refs[0].id:
        out.append(f" refs={st.refs[0].id}" + "".join(f",{r.id}" for r in st.refs[1:] if r.id))
    if f.in_callback_fn:
        out.append(" cb")
    return "".join(out) + "\n"


def fmt_reg_mask(mask: int) -> str:
    """fmt_reg_mask(): ``r0,r2,r4``."""
    return ",".join(f"r{i}" for i in range(32) if (mask >> i) & 1)


def fmt_stack_mask(mask: int) -> str:
    """bpf_fmt_stack_mask(): ``-8,-24``."""
    return ",".join(str(-(i + 1) * 8) for i in range(64) if (mask >> i) & 1)
