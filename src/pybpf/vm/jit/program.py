"""``JitProgram``: a user-space :class:`pybpf.user.program.Program`, verified, run as native code.

It stands in for the Program: ``run``, ``run_skb`` and ``test_run`` go through
the JIT, every other attribute (``name``, ``maps``, ``insns``, ``fd`` ...) is
the wrapped Program's.

``JitProgram(prog).run(frame)`` returns what ``prog.run(frame)`` returns — the
u32 a packet socket applies (0 drops, N keeps min(N, len) bytes) — and leaves
the program's maps in the same state, because both read and write the same
map storage. The program is verified first (DESIGN: the JIT runs only
verified programs); ``verify=False`` is for tests that JIT what the
verifier would refuse (the native code still checks every memory access).

The context is set up as Program.run_skb does (net/core/filter.c semantics
are in pybpf.progtypes): the skb is rendered into a ``struct __sk_buff``
image, mapped first in a fresh Memory (with the context's narrow-load table)
so that addresses match the interpreter's, and cb[] (and, for tc, the
writable fields) are copied back afterwards.

``Program(engine="jit")`` does all of this itself; JitProgram remains for the
callers that still wrap a Program.
"""

from __future__ import annotations

from typing import Any

from ...errors import NotSupportedError
from ..engine import DEFAULT_BUDGET
from ..memory import Memory

__all__ = ["JitProgram"]

M32 = (1 << 32) - 1


class JitProgram:
    """Native-code twin of a Program (see module doc)."""

    def __init__(self, program: Any, *, verify: bool = True, budget: int | None = None) -> None:
        from .machine import JitEngine

        self.program = program
        if verify:
            program.verify()
        interp = getattr(program, "_interp", None)
        budget = int(budget or getattr(interp, "budget", None) or DEFAULT_BUDGET)
        self.engine = JitEngine(
            program.insns,
            helpers=program.helpers,
            maps=getattr(program, "_resolve_map", None),
            budget=budget,
            prog=program,
        )
        self._mem: Memory | None = None
        self._ctx_image: bytearray | None = None
        self._ctx_region: Any = None

    @property
    def compile_seconds(self) -> float:
        return self.engine.compile_seconds

    @property
    def trace(self) -> list[str]:
        """What bpf_trace_printk printed during the last run."""
        return self.engine.trace

    @property
    def steps(self) -> int:
        return self.engine.steps

    def _memory(self) -> Memory:
        if self._mem is None:
            from ...progtypes import _NARROW, SIZEOF_SK_BUFF

            narrow = bytearray(SIZEOF_SK_BUFF // 4)
            for off, (_src, tsize) in _NARROW.items():
                narrow[off // 4] = tsize
            mem = Memory()
            self._ctx_image = bytearray(SIZEOF_SK_BUFF)
            self._ctx_region = mem.add_region(
                self._ctx_image, name="ctx (__sk_buff)", narrow=narrow
            )
            self._mem = mem
        return self._mem

    def run_skb(self, skb: Any, *, cpu: int = 0) -> int:
        """Run once with ``skb`` as the context; returns the u32 return value."""
        from ...progtypes import render_sk_buff, writeback_sk_buff

        prog = self.program
        if prog.type_info.ctx_fields is None:
            raise NotSupportedError(f"running {prog.type_info.name} programs is not supported")
        mem = self._memory()
        del self.engine.trace[:]
        image = self._ctx_image
        assert image is not None
        render_sk_buff(skb, image)
        ret = self.engine.run(mem=mem, ctx=skb, r1=self._ctx_region.base, cpu=cpu)
        writeback_sk_buff(skb, image, prog.prog_type)
        return ret & M32

    def run(self, data_or_skb: Any, *, cpu: int = 0, **skb_args: Any) -> int:
        """As :meth:`pybpf.user.program.Program.run`: a frame from the MAC header, or an SkBuff."""
        from ...net.skb import SkBuff

        if isinstance(data_or_skb, SkBuff):
            skb = data_or_skb
            skb.cb[:] = bytes(len(skb.cb))
        else:
            skb_args.setdefault("sk", self.program.sock)
            skb = SkBuff.from_frame(data_or_skb, **skb_args)
        return self.run_skb(skb, cpu=cpu)

    def test_run(
        self,
        data: bytes | bytearray | memoryview,
        repeat: int = 1,
        ctx_in: bytes | None = None,
        *,
        cpu: int = 0,
    ) -> Any:
        """BPF_PROG_TEST_RUN exactly as :meth:`pybpf.user.program.Program.test_run` models it,
        with the program run by the JIT (that method runs everything through run_skb)."""
        return type(self.program).test_run(self, data, repeat, ctx_in, cpu=cpu)

    def __getattr__(self, name: str) -> Any:
        """Everything else (name, maps, insns, fd, sock, prog_type ...) is the Program's."""
        if name == "program":  # not set yet (during __init__)
            raise AttributeError(name)
        return getattr(self.program, name)

    def __repr__(self) -> str:
        return f"<JitProgram {self.program!r}>"
