"""What the VM asks of the objects it runs with, and what helpers see of a run.

The execution core (:mod:`pybpf.vm.engine`) and its back ends know no map,
socket-buffer or helper class. Like Linux, where a map type supplies its own
inline lookup (``map_gen_lookup`` in struct bpf_map_ops) and the JIT knows no
map, the objects a program touches offer what the VM needs through the small
interfaces below:

* :class:`HelperImpl` — an entry of a helper table: ``fn(env, r1..r5) -> r0``.
  An implementation that is exactly the kernel's helper may say so with a
  ``native`` attribute on ``fn`` (the helper's kernel name, e.g.
  ``"ktime_get_ns"``): a native back end may then run its own version of that
  helper instead of calling ``fn``, with the same results.
* :class:`PacketContext` — the program's context when it is a socket buffer:
  ``load_abs`` is LD_ABS/LD_IND; ``packet_head`` (optional) hands out the linear
  head, so that a native back end reads LD_ABS offsets that fall inside it
  directly (the answer must be what ``load_abs`` would give).
* :class:`NativeMap` — a map with a native form (the maps/VM contract,
  src/pybpf/maps/bpf_map.h): ``native`` is the address of its ``struct
  pybpf_map`` (whose ``elem_size`` is the inline array lookup) and ``storage``
  the one buffer every value pointer lies in.
* :class:`ProgArray` — a BPF_MAP_TYPE_PROG_ARRAY: ``get_prog(index)``.

The control-flow signals a helper may raise (:class:`TailCall`,
:class:`ProgramExit`) and :class:`RunEnv`, the helper's view of the running
program, live here too, so helper implementations depend on this module only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..errors import VmError

if TYPE_CHECKING:
    from .memory import Memory

__all__ = [
    "HelperImpl",
    "NativeMap",
    "PacketContext",
    "ProgArray",
    "ProgramExit",
    "RunEnv",
    "SubprogRef",
    "TailCall",
    "native_name",
]

M64 = (1 << 64) - 1


class HelperImpl(Protocol):
    """One entry of the helper table a program runs with (pybpf.helpers.Helper is one)."""

    id: int
    name: str
    fn: Callable[..., int]


def native_name(helper: Any) -> str | None:
    """The kernel helper name ``helper.fn`` declares it implements exactly, or None."""
    name = getattr(getattr(helper, "fn", None), "native", None)
    return name if isinstance(name, str) else None


@runtime_checkable
class PacketContext(Protocol):
    """A socket-buffer context (pybpf.net.skb.SkBuff is one).

    ``load_abs(off, size)``: LD_ABS/LD_IND of ``size`` bytes at the kernel's
    ``int`` offset ``off``, big-endian, None when out of bounds (the program then
    ends returning 0, as bpf_skb_load_helper_* in net/core/filter.c).
    """

    def load_abs(self, off: int, size: int) -> int | None: ...


class LinearHead(Protocol):
    """Optional part of a PacketContext: ``packet_head() -> (head, data_off)``.

    ``head[data_off:]`` is the packet's linear data from ``skb->data``; an LD_ABS
    at an offset ``off >= 0`` with ``data_off + off + size <= len(head)`` reads
    ``head[data_off + off : ...]`` big-endian — exactly what ``load_abs`` returns
    for it. Every other offset goes to ``load_abs``. ``head`` must be a bytearray
    (its address is handed to native code for the run).
    """

    def packet_head(self) -> tuple[bytearray, int] | None: ...


class NativeMap(Protocol):
    """A map with a native form (src/pybpf/maps/bpf_map.h): see the module doc."""

    native: int
    storage: Any


@runtime_checkable
class ProgArray(Protocol):
    """BPF_MAP_TYPE_PROG_ARRAY: the program in slot ``index`` (None when empty)."""

    max_entries: int

    def get_prog(self, index: int) -> Any: ...


class TailCall(Exception):  # noqa: N818 - control flow, not an error
    """Raised by the bpf_tail_call helper: continue in ``prog`` with the same context.

    ``prog`` is a Program (anything with ``.insns``) or a sequence of Insn;
    ``None`` means the prog_array slot is empty, so the call falls through to
    the next instruction as the kernel's does (R0 unchanged).
    """

    def __init__(self, prog: Any) -> None:
        super().__init__(prog)
        self.prog = prog


class ProgramExit(Exception):  # noqa: N818 - control flow, not an error
    """Raised by a helper to end the whole program at once with R0 = ``value``."""

    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.value = value


class SubprogRef:
    """What ``BPF_LD_IMM64`` with BPF_PSEUDO_FUNC loads: a callback's first slot in
    one loaded instruction sequence (``code``, the engine's image of it)."""

    __slots__ = ("pc", "code")

    def __init__(self, pc: int, code: Any) -> None:
        self.pc = pc
        self.code = code

    def __repr__(self) -> str:
        return f"<SubprogRef pc {self.pc}>"


class _Calls(Protocol):
    def call_subprog(self, env: RunEnv, ref: Any, args: Sequence[int]) -> int: ...


class RunEnv:
    """What a helper sees of the running program.

    ``mem`` the Memory, ``ctx`` the program context object (skb model) or None,
    ``trace`` lines printed by bpf_trace_printk, ``prog`` the running Program
    (changes on a tail call), ``cpu`` the simulated cpu, ``interp`` the engine
    running the program, ``ctx_ptr`` the address passed in R1, ``pc`` the slot
    of the helper call being made (for the helper's own error messages),
    ``regs`` R0..R10 as they are at the call (read-only).
    """

    __slots__ = (
        "mem",
        "ctx",
        "trace",
        "prog",
        "cpu",
        "interp",
        "ctx_ptr",
        "regs",
        "pc",
        "binding",
    )

    def __init__(
        self,
        mem: Memory,
        ctx: Any = None,
        trace: list[str] | None = None,
        prog: Any = None,
        cpu: int = 0,
        interp: Any = None,
    ) -> None:
        self.mem = mem
        self.ctx = ctx
        self.trace = trace if trace is not None else []
        self.prog = prog
        self.cpu = cpu
        self.interp = interp
        self.ctx_ptr = 0
        self.regs: Sequence[int] = ()
        self.pc = 0
        #: the engine's bound program this env belongs to (what a callback re-enters)
        self.binding: Any = None

    def call_subprog(self, ref: Any, *args: int) -> int:
        """Call the BPF subprogram ``ref`` (a SubprogRef or the address an LDDW
        BPF_PSEUDO_FUNC loaded) with R1..R5 = ``args`` and return its R0.

        What a helper with a callback argument (bpf_loop, bpf_for_each_map_elem,
        ...) does in the kernel: the callback runs in a new frame of the same
        program, counts against the call depth and the run's instruction budget.
        """
        engine: _Calls | None = self.interp
        if engine is None:
            raise VmError("a callback needs the interpreter running the program", pc=self.pc)
        return engine.call_subprog(self, ref, args)
