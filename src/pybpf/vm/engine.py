"""The execution core: one run loop, whatever back end executes the instructions.

An :class:`Engine` is a program ready to run many times. It owns everything
that is not an instruction's semantics, once, for every back end:

* the run (:meth:`Engine.run`): the stack region and its frames, R1..R5 and
  R10, the instruction budget, the context handed to helpers (:class:`RunEnv`);
* tail calls: a helper raising :class:`TailCall` either falls through (an empty
  prog_array slot, or the MAX_TAIL_CALL_CNT limit reached; R0 unchanged) or
  leaves the program, which continues in the target with the same context and
  a fresh frame (kernel/bpf/core.c, the tail-call limit of bpf_tail_call);
* callbacks (bpf_loop, bpf_for_each_map_elem, timers: :meth:`call_subprog`,
  :meth:`run_subprog`): a subprogram run in a new frame of the running program,
  sharing its budget;
* the per-memory constants: helper implementations and what pseudo LDDWs load
  (map handles, map value addresses, callback references);
* the helper calls themselves (:meth:`Binding.call_helper`), LD_ABS/LD_IND's
  slow path and the wording of every run-time error.

A back end (:mod:`pybpf.vm.interp`, :mod:`pybpf.vm.jit`) translates a
:class:`~pybpf.vm.blocks.BlockProgram` once (``compile``) and binds the code to
one memory (``bind``), giving a *machine*: something that runs from a slot at
a call depth until that depth's EXIT (``enter``), keeps local-call frames and
counts instructions against the budget, and otherwise lets whatever a helper
raised propagate.

The stack: frames of 512 bytes (frame 0 at the top of an 8-frame region),
each zeroed when it is entered — at the start of a run, by a local call, by a
callback, by a tail call — so that every engine gives a program reading
uninitialised stack (which a privileged loader may) the same zeros.
"""

from __future__ import annotations

import errno as _errno
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Protocol, TypeVar

from .. import isa
from ..errors import BpfError, NotSupportedError, VmError
from ..isa import Insn
from .api import ProgramExit, RunEnv, SubprogRef, TailCall
from .blocks import (
    MAP_HANDLE_LDDW,
    MAX_CALL_FRAMES,
    MAX_TAIL_CALL_CNT,
    STACK_REGION_SIZE,
    STACK_SIZE,
    BlockProgram,
    Const,
    Fault,
)
from .memory import Memory, Region

__all__ = [
    "DEFAULT_BUDGET",
    "Binding",
    "Engine",
    "HelperTable",
    "Image",
    "MapResolver",
    "locate",
    "resolve_lddw_map",
]

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1
#: executed-instruction budget of one run unless the caller sets another
DEFAULT_BUDGET = 10_000_000
_ZERO_FRAME = bytes(STACK_SIZE)

E = TypeVar("E", bound=BpfError)
HelperTable = Mapping[int, Any]
MapResolver = Callable[[int], Any] | Mapping[int, Any] | None


class TailCallOut(Exception):  # noqa: N818 - control flow, not an error
    """A tail call the core takes: the machine leaves the program (raised by call_helper)."""

    def __init__(self, prog: Any) -> None:
        super().__init__(prog)
        self.prog = prog


def subprog_tail_call(pc: int, depth: int) -> NotSupportedError:
    """The refusal of a tail call made below the program's own frame (every engine's)."""
    return NotSupportedError(
        f"pc {pc}: a tail call from a BPF-to-BPF subprogram (call depth {depth}) is not "
        "modelled by pybpf's engines; the kernel runs it only with its JIT, the target "
        "replacing the subprogram's frame"
    )


class Machine(Protocol):
    """A back end's code bound to one memory (see module doc)."""

    steps: int
    budget: int

    def enter(self, pc: int, depth: int) -> None: ...

    def get_regs(self) -> list[int]: ...

    def set_regs(self, regs: Sequence[int]) -> None: ...

    def depth(self) -> int: ...

    def sync(self) -> None: ...

    def set_ctx(self, ctx: Any) -> None: ...


class Backend(Protocol):
    def compile(self, blocks: BlockProgram) -> Any: ...

    def bind(self, code: Any, binding: Binding) -> Machine: ...


class Image:
    """One instruction sequence loaded in an engine: its blocks and the back end's code.

    ``insns`` are the engine's own (their ``ref`` name this program's maps); the
    code may be shared with equal programs, so constants are bound from these.
    """

    __slots__ = ("insns", "own", "blocks", "code", "prog")

    def __init__(self, insns: list[Insn], blocks: BlockProgram, code: Any, prog: Any) -> None:
        self.insns = insns
        self.own: dict[int, Insn] = dict(isa.iter_slots(insns))
        self.blocks = blocks
        self.code = code
        self.prog = prog


class _Run:
    """The run under way: its budget and how many tail calls it has made."""

    __slots__ = ("budget", "tail_calls")

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.tail_calls = 0


class _LiveRegs(Sequence[int]):
    """``RunEnv.regs``: R0..R10 as the machine holds them (at a helper call: the call's)."""

    __slots__ = ("_get",)

    def __init__(self, get: Callable[[], list[int]]) -> None:
        self._get = get

    def __len__(self) -> int:
        return isa.MAX_BPF_REG

    def __getitem__(self, i: Any) -> Any:
        return self._get()[i]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    def __repr__(self) -> str:
        return repr(self._get())


def resolve_lddw_map(maps: Any, insn: Insn, pc: int) -> Any:
    """The map an LDDW names: its ``ref`` object, or its fd/index looked up in ``maps``
    (a callable or a mapping)."""
    if insn.ref is not None:
        return insn.ref
    what = "fd" if insn.src in (isa.BPF_PSEUDO_MAP_FD, isa.BPF_PSEUDO_MAP_VALUE) else "index"
    m = None
    try:
        if callable(maps):
            m = maps(insn.imm)
        elif maps is not None:
            m = maps.get(insn.imm)
    except (KeyError, IndexError, LookupError):
        m = None
    if m is None:
        raise VmError(
            f"LDDW refers to map {what} {insn.imm}, which the program was not given",
            pc=pc,
            errno=_errno.EBADF,
        )
    return m


def locate(err: E, *, pc: int | None = None, packet: int | None = None) -> E:
    """Add where a run-time error happened to it: the slot, and the packet of a batch."""
    if pc is not None and isinstance(err, VmError) and err.pc is None:
        err.pc = pc
        err.where = f"pc {pc}" + (f", {err.where}" if err.where else "")
    if packet is not None:
        err.packet = packet  # type: ignore[attr-defined]
        err.where = f"packet {packet}" + (f", {err.where}" if err.where else "")
    err.args = (f"{err.where}: {err.message}" if err.where else err.message,)
    return err


def map_region(mem: Memory, m: Any) -> Region | None:
    """The region of a map's storage in ``mem`` (mapped on first use), None without one."""
    storage = getattr(m, "storage", None)
    if storage is None or not isinstance(storage, bytearray | memoryview | bytes):
        return None
    return mem.region_for(storage, name=f"map {getattr(m, 'name', '')}".strip())


class Binding:
    """One image bound to one memory: constants, the helpers' RunEnv, the machine."""

    def __init__(self, engine: Engine, image: Image, mem: Memory) -> None:
        self.engine = engine
        self.image = image
        self.mem = mem
        stack = mem.stack
        if stack is None or mem.region_at(stack.base) is not stack:
            stack = mem.stack = mem.add_region(bytearray(STACK_REGION_SIZE), name="stack")
        self.stack: Region = stack
        #: R10 of frame 0
        self.top = stack.base + STACK_REGION_SIZE
        self.env = RunEnv(mem, trace=engine.trace, prog=engine.prog, interp=engine)
        self.env.binding = self
        #: per constant of the image: a helper's fn, or the value an LDDW loads
        self.consts: list[Any] = [engine.resolve_const(c, image, mem) for c in image.blocks.consts]
        self.generation = mem.generation
        self.machine: Machine = engine.backend.bind(image.code, self)
        self.env.regs = _LiveRegs(self.machine.get_regs)

    @property
    def regs(self) -> list[int]:
        """R0..R10 as the last run left them."""
        return self.machine.get_regs()

    # --- what machines call -------------------------------------------------------------
    def call_helper(self, fn: Callable[..., int], r0: int, *args: int) -> int:
        """Call a helper: its R0, or R0 unchanged for a tail call that falls through.

        A tail call the core takes leaves the machine as TailCallOut.
        """
        try:
            return fn(self.env, *args) & M64
        except VmError as e:
            if e.pc is None:  # a bad pointer passed to the helper: name the call's slot
                locate(e, pc=self.env.pc)
            raise
        except TailCall as e:
            state = self.engine._state
            if e.prog is None or state is None or state.tail_calls >= MAX_TAIL_CALL_CNT:
                return r0
            if self.machine.depth():
                raise subprog_tail_call(self.env.pc, self.machine.depth()) from None
            raise TailCallOut(e.prog) from None
        finally:
            self.refresh()  # a helper may have mapped or unmapped memory

    def refresh(self) -> None:
        """Tell the machine when the memory's regions changed."""
        if self.mem.generation != self.generation:
            self.generation = self.mem.generation
            self.machine.sync()

    def callx(self, hid: int, r0: int, *args: int) -> int:
        """``call %reg``: the helper whose id the register holds."""
        h = self.engine.helpers.get(hid) if hid <= M32 else None
        if h is None:
            raise VmError(f"callx to unknown helper {hid}", pc=self.env.pc, errno=_errno.EINVAL)
        return self.call_helper(h.fn, r0, *args)

    def ld_abs(self, off: int, size: int, pc: int) -> int:
        """LD_ABS/LD_IND through the context (``off`` as the kernel's int)."""
        load = getattr(self.env.ctx, "load_abs", None)
        if load is None:
            raise VmError("LD_ABS/LD_IND needs a socket buffer context (ctx.load_abs)", pc=pc)
        v = load(off, size)
        if v is None:
            raise ProgramExit(0)
        return int(v) & M64

    def over_budget(self, pc: int) -> None:
        state = self.engine._state
        budget = state.budget if state is not None else self.engine.budget
        raise VmError(
            f"instruction budget exhausted ({budget} instructions executed; "
            "raise budget= for longer runs)",
            pc=pc,
            errno=_errno.E2BIG,
        )

    def fail(self, fault: Fault, pc: int, r10: int) -> None:
        """Raise the error of an instruction that faults whenever it runs."""
        if fault.kind.startswith("stack-"):
            from ..errors import MemoryAccessError

            msg, addr = fault.stack_message(r10)
            raise MemoryAccessError(msg, pc=pc, addr=addr, size=fault.size)
        raise VmError(fault.message, pc=pc, errno=fault.errno or None)

    def zero_frame(self, r10: int) -> None:
        """Zero the 512-byte frame whose R10 is ``r10`` (a frame is zeroed when entered)."""
        end = r10 - self.stack.base
        self.stack.buf[end - STACK_SIZE : end] = _ZERO_FRAME

    def begin(self, ctx: Any, cpu: int, prog: Any, ctx_ptr: int) -> None:
        env = self.env
        env.ctx, env.cpu, env.prog, env.ctx_ptr = ctx, cpu, prog, ctx_ptr
        self.refresh()
        self.machine.set_ctx(ctx)


class Engine:
    """A program ready to run many times (translated once, bound per Memory).

    ``helpers`` maps helper ids to Helper objects (``.fn(env, r1..r5) -> int``);
    ``maps`` resolves the fd/index of BPF_LD_MAP_FD / BPF_PSEUDO_MAP_IDX (a
    callable or a mapping; an instruction's ``ref`` wins); ``budget`` caps the
    executed instructions of one run (callbacks included); ``prog`` is what
    helpers see as ``env.prog``. Subclasses name their back end.
    """

    backend: ClassVar[Backend]
    #: bindings kept per engine (the oldest is forgotten)
    MAX_BINDINGS = 8

    def __init__(
        self,
        insns: Sequence[Insn] | bytes | bytearray,
        *,
        helpers: HelperTable | None = None,
        maps: MapResolver = None,
        budget: int = DEFAULT_BUDGET,
        prog: Any = None,
    ) -> None:
        if isinstance(insns, bytes | bytearray | memoryview):
            insns = isa.decode(insns)
        self.helpers: HelperTable = helpers if helpers is not None else {}
        self.maps = maps
        self.budget = budget
        self.prog = prog
        #: what bpf_trace_printk printed (helpers append to it)
        self.trace: list[str] = []
        #: instructions executed by the last run (callbacks included)
        self.steps = 0
        self._main = self._image(list(insns), prog)
        self._tails: dict[int, tuple[Any, Image]] = {}
        #: (image, memory) -> Binding
        self._instances: OrderedDict[tuple[int, int], Binding] = OrderedDict()
        self._last: Binding | None = None
        self._state: _Run | None = None

    @property
    def insns(self) -> list[Insn]:
        return self._main.insns

    @property
    def code(self) -> Any:
        """The back end's translation of the program."""
        return self._main.code

    @property
    def regs(self) -> list[int]:
        """R0..R10 as the last run left them."""
        b = self._last
        return b.regs if b is not None else [0] * isa.MAX_BPF_REG

    @property
    def env(self) -> RunEnv | None:
        """The helpers' view of the last run (None before the first)."""
        return self._last.env if self._last is not None else None

    # --- images and bindings ---------------------------------------------------------------
    def _image(self, insns: list[Insn], prog: Any) -> Image:
        blocks, code = self.translate(insns)
        return Image(insns, blocks, code, prog)

    def translate(self, insns: list[Insn]) -> tuple[BlockProgram, Any]:
        """The blocks and back-end code of ``insns`` (back ends may cache equal programs)."""
        blocks = BlockProgram(insns)
        return blocks, self.backend.compile(blocks)

    def _tail_image(self, prog: Any) -> Image:
        hit = self._tails.get(id(prog))
        if hit is not None and hit[0] is prog:
            return hit[1]
        image = self._image(list(getattr(prog, "insns", prog)), prog)
        self._tails[id(prog)] = (prog, image)
        return image

    def _bind(self, image: Image, mem: Memory) -> Binding:
        key = (id(image), id(mem))
        b = self._instances.get(key)
        if b is not None and b.mem is mem and b.image is image:
            return b
        b = Binding(self, image, mem)
        self._instances[key] = b
        if len(self._instances) > self.MAX_BINDINGS:
            self._instances.popitem(last=False)
        return b

    def resolve_const(self, c: Const, image: Image, mem: Memory) -> Any:
        """What a helper call site calls, or what a pseudo LDDW loads, in ``mem``."""
        insn = image.own[c.pc]
        if c.kind == "helper":
            h = self.helpers.get(insn.imm)
            if h is not None:
                return h.fn
            hid, pc = insn.imm, c.pc

            def unknown(*_a: Any) -> int:
                raise VmError(f"call to unknown helper {hid}", pc=pc, errno=_errno.EINVAL)

            return unknown
        if insn.src == isa.BPF_PSEUDO_FUNC:
            return mem.handle(SubprogRef(c.pc + 1 + insn.imm, image))
        m = resolve_lddw_map(self.maps, insn, c.pc)
        region = map_region(mem, m)
        if insn.src in MAP_HANDLE_LDDW:
            return mem.handle(m)
        if region is None:
            raise VmError(
                f"map {getattr(m, 'name', m)!r} has no storage for a direct value address",
                pc=c.pc,
            )
        return region.base + (insn.imm_hi & M32)

    # --- the run -----------------------------------------------------------------------------
    def run(
        self,
        *,
        mem: Memory | None = None,
        ctx: Any = None,
        r1: int | None = None,
        r2: int = 0,
        r3: int = 0,
        r4: int = 0,
        r5: int = 0,
        cpu: int = 0,
        budget: int | None = None,
    ) -> int:
        """Run the program once; returns R0 (u64).

        R1 is ``r1`` if given, else 0; R10 points to the top of a zeroed 512-byte
        frame. Errors: VmError (budget, bad jump, unknown helper, call depth),
        MemoryAccessError (bad load/store), with the pc.
        """
        if mem is None:
            mem = Memory()
        budget = self.budget if budget is None else budget
        b = self._last
        if b is None or b.mem is not mem or b.image is not self._main:
            b = self._last = self._bind(self._main, mem)
        state = self._state = _Run(budget)
        ctx_ptr = (r1 or 0) & M64
        b.begin(ctx, cpu, self.prog, ctx_ptr)
        b.zero_frame(b.top)
        m = b.machine
        m.steps, m.budget = 0, budget
        m.set_regs([0, ctx_ptr, r2 & M64, r3 & M64, r4 & M64, r5 & M64, 0, 0, 0, 0, b.top])
        try:
            while True:
                try:
                    m.enter(0, 0)
                    return m.get_regs()[0]
                except ProgramExit as e:
                    return e.value & M64
                except TailCallOut as t:
                    if t.prog is None or m.depth():  # the native tail-call helper, in a subprogram
                        raise subprog_tail_call(b.env.pc, m.depth()) from None
                    state.tail_calls += 1
                    nb = self._bind(self._tail_image(t.prog), mem)
                    nb.begin(ctx, cpu, t.prog, ctx_ptr)
                    regs = m.get_regs()
                    regs[1], regs[10] = ctx_ptr, nb.top
                    nb.zero_frame(nb.top)
                    nm = nb.machine
                    nm.steps, nm.budget = m.steps, budget
                    nm.set_regs(regs)
                    b, m = nb, nm
        finally:
            self.steps = m.steps
            self._state = None

    # --- callbacks (bpf_loop, for_each_map_elem, timers) ------------------------------------
    def _subprog_ref(self, mem: Memory, ref: Any, pc: int) -> SubprogRef:
        if isinstance(ref, int):
            ref = mem.object_at(ref, pc)
        if not isinstance(ref, SubprogRef):
            raise VmError(f"callback argument {ref!r} is not a BPF subprogram", pc=pc)
        return ref

    def _binding_of(self, env: RunEnv) -> Binding | None:
        b = env.binding
        return b if isinstance(b, Binding) and b.engine is self else None

    def call_subprog(self, env: RunEnv, ref: Any, args: Sequence[int]) -> int:
        """RunEnv.call_subprog: run a callback in a new frame of the running program."""
        pc0 = env.pc
        b = self._binding_of(env)
        if b is None:
            raise VmError("call_subprog: no program is running in this environment", pc=pc0)
        ref = self._subprog_ref(env.mem, ref, pc0)
        if ref.code is not b.image:
            raise VmError(f"callback at slot {ref.pc} belongs to another program", pc=pc0)
        b.refresh()  # the helper may have mapped memory (a key for the callback, say)
        m = b.machine
        depth = m.depth()
        if depth >= MAX_CALL_FRAMES - 1:
            raise VmError(
                f"callback at slot {ref.pc} exceeds the {MAX_CALL_FRAMES}-frame call depth "
                "limit (MAX_CALL_FRAMES)",
                pc=pc0,
                errno=_errno.E2BIG,
            )
        saved = m.get_regs()
        r10 = saved[10] - STACK_SIZE
        b.zero_frame(r10)
        a = [(args[i] if i < len(args) else 0) & M64 for i in range(5)]
        m.set_regs([saved[0], *a, *saved[6:10], r10])
        try:
            m.enter(ref.pc, depth + 1)
            return m.get_regs()[0]
        except TailCallOut:
            raise VmError(
                "tail call from a callback is not supported (the kernel's verifier refuses it)",
                pc=env.pc,
            ) from None
        finally:
            m.set_regs(saved)

    def run_subprog(
        self,
        ref: Any,
        args: Sequence[int] = (),
        *,
        mem: Memory,
        ctx: Any = None,
        cpu: int = 0,
        budget: int | None = None,
    ) -> int:
        """Run the subprogram ``ref`` on its own, as the kernel runs a timer callback
        (bpf_timer_cb in kernel/bpf/helpers.c): R1..R5 = ``args``, a fresh frame,
        no program around it. ``mem`` must be the Memory the program ran in (its
        map and stack regions). Returns R0.
        """
        ref = self._subprog_ref(mem, ref, 0)
        image = ref.code
        if image is not self._main and all(t[1] is not image for t in self._tails.values()):
            raise VmError(f"callback at slot {ref.pc} belongs to another program", pc=0)
        b = self._bind(image, mem)
        b.begin(ctx, cpu, b.env.prog, 0)
        budget = self.budget if budget is None else budget
        saved_state, self._state = self._state, _Run(budget)
        m = b.machine
        saved_regs = m.get_regs()
        saved_steps = (m.steps, m.budget)
        b.zero_frame(b.top)
        a = [(args[i] if i < len(args) else 0) & M64 for i in range(5)]
        m.steps, m.budget = 0, budget
        m.set_regs([0, *a, 0, 0, 0, 0, b.top])
        try:
            m.enter(ref.pc, 0)
            return m.get_regs()[0]
        except ProgramExit as e:
            return e.value & M64
        except TailCallOut:
            raise VmError("tail call from a callback is not supported", pc=b.env.pc) from None
        finally:
            self.steps = m.steps
            self._state = saved_state
            if saved_state is not None:  # a timer fired from inside a run: give it back
                m.set_regs(saved_regs)
                m.steps, m.budget = saved_steps
