"""Which registers and stack slots may still be read (Linux 6.18's two liveness analyses).

Registers: compute_live_registers(), a backward data-flow pass over the whole
program before the walk (``Live regs before insn`` at log level 2). A register
not live before an instruction takes no part in comparing states there.

Stack slots: kernel/bpf/liveness.c. The walk reports, per call chain and
instruction, the slots an instruction may read and the slots it surely
writes; when a path ends the marks are propagated backwards through the
subprogram (``live_before``), and states kept for pruning forget the slots
no instruction after them reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..helpers.table import HELPERS
from ..isa import (
    BPF_ABS,
    BPF_ATOMIC,
    BPF_CALL,
    BPF_CMPXCHG,
    BPF_END,
    BPF_EXIT,
    BPF_FETCH,
    BPF_IMM,
    BPF_IND,
    BPF_JA,
    BPF_JMP,
    BPF_JMP32,
    BPF_K,
    BPF_MEM,
    BPF_MEMSX,
    BPF_MOV,
    BPF_ST,
    BPF_STX,
    Insn,
)
from ..uapi import FUNC_NAMES
from .cfg import containing_subprog, subprog_end
from .env import Env
from .log import fmt_stack_mask, insn_text
from .state import VerifierState

_ALL = 0xFFFF


def _use_def(insn: Insn, allowed: frozenset[int] = frozenset()) -> tuple[int, int]:
    """compute_insn_live_regs(): (registers read, registers written) as bit masks.

    ``allowed``: the helpers the program type may call; another helper has no
    prototype here (get_helper_proto fails), so all of R1..R5 count as read."""
    cls, op, mode = insn.code & 0x07, insn.code & 0xF0, insn.code & 0xE0
    src, dst = 1 << insn.src, 1 << insn.dst
    if cls == 0:  # LD
        if mode == BPF_IMM and insn.code & 0x18 == 0x18:
            return 0, dst
        if mode in (BPF_ABS, BPF_IND):
            return _ALL, 0
        return _ALL, 0
    if cls == 1:  # LDX
        if mode in (BPF_MEM, BPF_MEMSX):
            return src, dst
        return _ALL, 0
    if cls == 2:  # ST
        return (dst, 0) if mode == BPF_MEM else (_ALL, 0)
    if cls == 3:  # STX
        if mode == BPF_MEM:
            return dst | src, 0
        if mode == BPF_ATOMIC:
            if insn.imm == BPF_CMPXCHG:
                return 1 | dst | src, 1
            return dst | src, (src if insn.imm & BPF_FETCH else 0)
        return _ALL, 0
    if cls in (4, 7):  # ALU, ALU64
        if op == BPF_END:
            return dst, dst
        if op == BPF_MOV:
            return (0 if insn.code & 0x08 == BPF_K else src), dst
        return (dst if insn.code & 0x08 == BPF_K else dst | src), dst
    # JMP, JMP32
    if op == BPF_JA:
        return 0, 0
    if op == BPF_EXIT:
        return 1, 0
    if op == BPF_CALL:
        defs = 0b111111
        use = defs & ~1
        if insn.src == 0:  # get_call_summary(): a helper's declared arguments
            h = HELPERS.get(insn.imm) if insn.imm in allowed else None
            if h is not None:
                nargs = 0
                for a in h.proto.args:
                    if a == 0:  # ARG_DONTCARE
                        break
                    nargs += 1
                use = ((1 << (nargs + 1)) - 1) & ~1
        return use, defs
    return (dst if insn.code & 0x08 == BPF_K else dst | src), 0


def compute_live_registers(env: Env) -> None:
    """live_regs_before for every instruction; the level-2 listing of the program."""
    insns = env.insns
    n = len(insns)
    use = [0] * n
    dfn = [0] * n
    for i, insn in enumerate(insns):
        if insn is not None:
            use[i], dfn[i] = _use_def(insn, env.prog.helpers)
        else:  # the second slot of an LD_IMM64: class LD, mode IMM, size W
            use[i], dfn[i] = _ALL, 0
    live_in = [0] * n
    live_out = [0] * n
    succ = env.succ
    order = env.postorder
    changed = True
    while changed:
        changed = False
        for i in order:
            out = 0
            for s in succ[i]:
                out |= live_in[s]
            new_in = (out & ~dfn[i]) | use[i]
            if out != live_out[i] or new_in != live_in[i]:
                live_in[i] = new_in
                live_out[i] = out
                changed = True
    for i in range(n):
        env.aux[i].live_regs_before = live_in[i]
    if env.log.level >= 2:
        env.verbose("Live regs before insn:\n")
        i = 0
        while i < n:
            insn = insns[i]
            scc = env.aux[i].scc
            head = f"{scc:3d} " if scc else "    "
            regs = "".join(str(j) if (live_in[i] >> j) & 1 else "." for j in range(10))
            text = insn_text(insn, FUNC_NAMES, env.allow_ptr_leaks) if insn is not None else ""
            env.verbose(f"{head}{i:3d}: {regs} {text}\n")
            i += 2 if insn is not None and insn.is_lddw else 1


# --- stack slots (kernel/bpf/liveness.c) ---------------------------------------------------
@dataclass
class _Masks:
    may_read: int = 0
    must_write: int = 0
    must_write_acc: int = 0
    live_before: int = 0


@dataclass
class _Instance:
    """One call chain's view of a subprogram: masks per frame and instruction."""

    callchain: tuple[int, ...]  # call sites of the outer frames, then the subprogram start
    sp_starts: tuple[int, ...]
    insn_cnt: int
    frames: dict[int, list[_Masks]] = field(default_factory=dict)
    must_write_set: list[bool] = field(default_factory=list)
    updated: bool = False
    must_write_dropped: bool = False

    @property
    def curframe(self) -> int:
        return len(self.callchain) - 1

    @property
    def start(self) -> int:
        return self.sp_starts[-1]

    def masks(self, frame: int, insn_idx: int) -> _Masks | None:
        arr = self.frames.get(frame)
        return None if arr is None else arr[insn_idx - self.start]

    def alloc(self, frame: int, insn_idx: int) -> _Masks:
        arr = self.frames.get(frame)
        if arr is None:
            arr = self.frames[frame] = [_Masks() for _ in range(self.insn_cnt)]
        return arr[insn_idx - self.start]

    def fmt(self) -> str:
        return "(" + ",".join(str(c) for c in self.callchain) + ")"


class StackLiveness:
    """struct bpf_liveness: the per-call-chain instances and the write accumulator."""

    def __init__(self, env: Env):
        self.env = env
        self.instances: dict[tuple[int, ...], _Instance] = {}
        self.cur: _Instance | None = None
        self.write_acc = [0] * 8
        self.write_insn_idx = 0
        self.query: list[_Instance] = []
        self.query_insn = 0
        self.succ = env.succ
        self.ld_abs = frozenset(
            i
            for i, insn in enumerate(env.insns)
            if insn is not None and insn.code & 0x07 == 0 and insn.code & 0xE0 in (BPF_ABS, BPF_IND)
        )
        #: instructions that may write the stack (stores, calls) or leave a frame (exits):
        #: the others never change the write marks, so do_check skips their reset and commit
        self.writes = [
            insn is not None
            and (
                insn.code & 0x07 in (BPF_ST, BPF_STX)
                or (
                    insn.code & 0x07 in (BPF_JMP, BPF_JMP32)
                    and insn.code & 0xF0 in (BPF_CALL, BPF_EXIT)
                )
            )
            for insn in env.insns
        ]

    # call chains
    def _chain(self, st: VerifierState, frameno: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        env = self.env
        starts = tuple(env.subprogs[st.frame[i].subprogno].start for i in range(frameno + 1))
        sites = tuple(st.frame[i + 1].callsite for i in range(frameno)) + (starts[frameno],)
        return sites, starts

    def _lookup(self, sites: tuple[int, ...], starts: tuple[int, ...]) -> _Instance:
        inst = self.instances.get(sites)
        if inst is None:
            k = containing_subprog(self.env, starts[-1])
            cnt = subprog_end(self.env, k) - self.env.subprogs[k].start
            inst = _Instance(sites, starts, cnt, must_write_set=[False] * cnt)
            self.instances[sites] = inst
        return inst

    def lookup(self, st: VerifierState, frameno: int) -> _Instance:
        return self._lookup(*self._chain(st, frameno))

    def reset_callchain(self) -> None:
        self.cur = None

    def _ensure_cur(self) -> _Instance:
        if self.cur is None:
            st = self.env.cur_state
            self.cur = self.lookup(st, st.curframe)
        return self.cur

    # marks
    @staticmethod
    def _mark_read(inst: _Instance, frame: int, insn_idx: int, mask: int) -> None:
        m = inst.alloc(frame, insn_idx)
        new = m.may_read | mask
        if new != m.may_read and (new | m.live_before) != m.live_before:
            inst.updated = True
        m.may_read = new

    def mark_read(self, frame: int, insn_idx: int, mask: int) -> None:
        """bpf_mark_stack_read()."""
        self._mark_read(self._ensure_cur(), frame, insn_idx, mask)

    def reset_write_marks(self, insn_idx: int) -> None:
        """bpf_reset_stack_write_marks()."""
        inst = self._ensure_cur()
        self.write_insn_idx = insn_idx
        for i in range(inst.curframe + 1):
            self.write_acc[i] = 0

    def mark_write(self, frame: int, mask: int) -> None:
        """bpf_mark_stack_write()."""
        self.write_acc[frame] |= mask

    def _commit(self, inst: _Instance | None) -> None:
        if inst is None:
            return
        idx = self.write_insn_idx - inst.start
        for frame in range(inst.curframe + 1):
            mask = self.write_acc[frame]
            if mask == 0 and not inst.must_write_set[idx]:
                continue
            m = inst.alloc(frame, self.write_insn_idx)
            old = m.must_write
            if inst.must_write_set[idx]:
                mask &= old
            if old != mask:
                m.must_write = mask
                inst.updated = True
            if old & ~mask:
                inst.must_write_dropped = True
        inst.must_write_set[idx] = True
        self.write_insn_idx = 0

    def commit_write_marks(self) -> None:
        """bpf_commit_stack_write_marks()."""
        self._commit(self.cur)

    # propagation
    def _log_change(
        self, inst: _Instance, pfx: str, frame: int, idx: int, old: int, new: int
    ) -> None:
        changed = old ^ new
        if not changed:
            return
        text = f"{inst.fmt()} frame {frame} insn {idx} "
        if new & changed:
            text += f"+{pfx} {fmt_stack_mask(new & changed)} "
        if ~new & changed:
            text += f"-{pfx} {fmt_stack_mask(~new & changed & ((1 << 64) - 1))}"
        self.env.verbose(text + "\n")

    def _update_instance(self, inst: _Instance) -> None:
        """update_instance(): iterate live_before/must_write_acc to a fixed point (postorder)."""
        env = self.env
        if inst.must_write_dropped:
            for arr in inst.frames.values():
                for m in arr:
                    m.must_write_acc = 0
        k = containing_subprog(env, inst.start)
        po_start = env.subprogs[k].postorder_start
        po_end = (
            env.subprogs[k + 1].postorder_start if k + 1 < len(env.subprogs) else len(env.postorder)
        )
        order = env.postorder[po_start:po_end]
        start = inst.start
        succ = self.succ
        aux = env.aux
        log2 = env.log.level >= 2
        all_ones = (1 << 64) - 1
        ld_abs = self.ld_abs
        cnt = 0
        changed = True
        while changed:
            cnt += 1
            changed = False
            for frame in sorted(inst.frames):
                arr = inst.frames[frame]
                for idx in order:
                    ss = succ[idx]
                    if not ss:
                        continue
                    m = arr[idx - start]
                    after = 0
                    # LD_ABS/LD_IND may end the program: nothing after them is surely written
                    acc = 0 if idx in ld_abs else all_ones
                    for x in ss:
                        sm = arr[x - start]
                        after |= sm.live_before
                        acc &= sm.must_write_acc
                    acc |= m.must_write
                    before = (after & ~m.must_write) | m.may_read
                    if before == m.live_before and acc == m.must_write_acc:
                        continue
                    if log2 and (
                        m.may_read or m.must_write or idx == start or aux[idx].prune_point
                    ):
                        self._log_change(inst, "live", frame, idx, m.live_before, before)
                        self._log_change(inst, "written", frame, idx, m.must_write_acc, acc)
                    m.live_before = before
                    m.must_write_acc = acc
                    changed = True
        if log2:
            env.verbose(f"{inst.fmt()} live stack update done in {cnt} iterations\n")
        if inst.curframe > 0:
            self._propagate_to_outer(inst)

    def _propagate_to_outer(self, inst: _Instance) -> None:
        sites = inst.callchain[:-1]
        starts = inst.sp_starts[:-1]
        outer_sites = sites[:-1] + (starts[-1],)
        outer = self._lookup(outer_sites, starts)
        callsite = inst.callchain[inst.curframe - 1]
        self.write_insn_idx = callsite
        for i in range(outer.curframe + 1):
            self.write_acc[i] = 0
        for frame in range(inst.curframe):
            m = inst.masks(frame, inst.start)
            if m is None:
                continue
            self.mark_write(frame, m.must_write_acc)
            self._mark_read(outer, frame, callsite, m.live_before)
        self._commit(outer)

    def update(self) -> None:
        """bpf_update_live_stack(): propagate the marks of every frame of the current state."""
        self.reset_callchain()
        st = self.env.cur_state
        for frame in range(st.curframe, -1, -1):
            inst = self.lookup(st, frame)
            if inst.updated:
                self._update_instance(inst)
                inst.updated = False
                inst.must_write_dropped = False

    # queries
    def query_init(self, st: VerifierState) -> None:
        """bpf_live_stack_query_init()."""
        self.query = [self.lookup(st, f) for f in range(st.curframe + 1)]
        self.query_insn = st.insn_idx

    def slot_alive(self, frameno: int, spi: int) -> bool:
        """bpf_stack_slot_alive()."""
        q = self.query
        cur = q[-1]
        if _live_before(cur, self.query_insn, frameno, spi):
            return True
        for i in range(frameno, len(q) - 1):
            callsite = cur.callchain[i]
            inst = q[i]
            at = callsite if self.env.aux[callsite].calls_callback else callsite + 1
            if _live_before(inst, at, frameno, spi):
                return True
        return False


def _live_before(inst: _Instance, insn_idx: int, frameno: int, spi: int) -> bool:
    m = inst.masks(frameno, insn_idx)
    return m is not None and bool((m.live_before >> spi) & 1)
