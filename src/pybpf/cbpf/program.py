"""A classic socket filter as a program: checked, converted, run in any engine.

``ClassicProgram(filter)`` does what the kernel does with SO_ATTACH_FILTER:
``bpf_check_classic`` (:mod:`pybpf.cbpf.check`), then ``bpf_convert_filter``
(:mod:`pybpf.cbpf.convert`); the converted eBPF is not given to the eBPF
verifier (the kernel does not verify converted classic programs either) and
runs in the engine chosen:

* ``"interp"`` / ``"jit"`` — the converted eBPF in pybpf's interpreter or JIT,
  with an ``struct __sk_buff`` context rendered from the sk_buff
  (:func:`pybpf.progtypes.render_sk_buff`) and the three kernel-internal
  calls of the converter (payload offset, netlink attributes, device type)
  provided by :mod:`pybpf.cbpf.ancillary`;
* ``"classic"`` — the classic instructions themselves (:class:`pybpf.cbpf.vm.ClassicVM`),
  the reference the others are tested against.

:meth:`ClassicProgram.run` is a packet socket's filter (the frame starts at
the MAC header, the return value keeps ``min(ret, len)`` bytes, 0 drops);
:meth:`ClassicProgram.test_run` mirrors BPF_PROG_TEST_RUN of the converted
program (the data starts at the network header, as
:meth:`pybpf.user.program.Program.test_run` explains). ``wire_len`` lets a
replayed capture say how long the packet was on the wire: BPF_LEN (and
``__sk_buff.len``) read it while loads are bounded by the captured bytes —
what libpcap's ``bpf_filter`` does with a capture's original length.

The kernel side: :meth:`ClassicProgram.kernel_program` loads the converted
eBPF with bpf() (a socket filter the kernel verifies; refused with the
reason when the program needs a kernel-internal call), and
:meth:`ClassicProgram.attach` puts the classic program itself on a real
socket with SO_ATTACH_FILTER (:mod:`pybpf.cbpf.kernel`).
"""

from __future__ import annotations

import errno as E
import os
import struct
import sys
import time
from collections.abc import Sequence
from typing import Any

from .. import uapi
from ..errors import BpfError, NotSupportedError
from ..helpers.proto import Helper, Proto
from ..isa import Insn
from ..net.skb import ETH_HLEN, SkBuff
from ..progtypes import SIZEOF_SK_BUFF, render_sk_buff
from . import ancillary
from .check import ClassicError, check_classic
from .convert import (
    FUNC_GET_PRANDOM_U32,
    FUNC_GET_SMP_PROCESSOR_ID,
    INTERNAL_CALLS,
    convert_filter,
    internal_call_id,
)
from .insn import (
    SKF_AD_HATYPE,
    SKF_AD_NLATTR,
    SKF_AD_NLATTR_NEST,
    SKF_AD_PAY_OFFSET,
    SockFilter,
    as_filters,
    encode,
)
from .vm import ClassicVM

__all__ = ["ENGINES", "ClassicProgram", "classic_helpers"]

#: how a ClassicProgram runs (see the module doc)
ENGINES = ("interp", "jit", "classic")
M32 = 0xFFFF_FFFF
_LEN = struct.Struct("<I")


def _internal_helper(ad: int, fn: Any) -> Helper:
    hid = internal_call_id(ad)
    return Helper(hid, INTERNAL_CALLS[hid], Proto(), fn)


def classic_helpers() -> dict[int, Helper]:
    """The calls a converted classic program makes: two public helpers, the internal ones."""
    from ..helpers import HELPERS

    return {
        FUNC_GET_PRANDOM_U32: HELPERS[FUNC_GET_PRANDOM_U32],
        FUNC_GET_SMP_PROCESSOR_ID: HELPERS[FUNC_GET_SMP_PROCESSOR_ID],
        internal_call_id(SKF_AD_PAY_OFFSET): _internal_helper(
            SKF_AD_PAY_OFFSET, lambda env, *_: ancillary.skb_get_poff(env.ctx)
        ),
        internal_call_id(SKF_AD_NLATTR): _internal_helper(
            SKF_AD_NLATTR,
            lambda env, r1, r2, r3, *_: ancillary.skb_get_nlattr(env.ctx, r2 & M32, r3 & M32),
        ),
        internal_call_id(SKF_AD_NLATTR_NEST): _internal_helper(
            SKF_AD_NLATTR_NEST,
            lambda env, r1, r2, r3, *_: ancillary.skb_get_nlattr_nest(env.ctx, r2 & M32, r3 & M32),
        ),
        internal_call_id(SKF_AD_HATYPE): _internal_helper(
            SKF_AD_HATYPE, lambda env, *_: ancillary.dev_type(env.ctx)
        ),
    }


def make_engine(insns: Sequence[Insn], engine: str, *, budget: int | None = None) -> Any:
    """An Interpreter or JitEngine for a converted classic program (no eBPF verifier)."""
    from ..vm.interp import DEFAULT_BUDGET, Interpreter

    helpers = classic_helpers()
    if engine == "interp":
        return Interpreter(insns, helpers=helpers, budget=budget or DEFAULT_BUDGET)
    if engine == "jit":
        from ..vm.jit import JitEngine

        return JitEngine(insns, helpers=helpers, budget=budget or DEFAULT_BUDGET)
    raise BpfError(f"unknown engine {engine!r} (choose from {', '.join(ENGINES)})")


def _captured_skb(data: bytes) -> SkBuff:
    """A record's bytes as an sk_buff whose data (and MAC header) start at its first byte."""
    return SkBuff(
        head=bytearray(data),
        mac_off=0,
        network_off=min(ETH_HLEN, len(data)),
        protocol=int.from_bytes(data[12:14], "big") if len(data) >= ETH_HLEN else 0,
    )


class _Record:
    """A captured record as the interpreter's LD_ABS sees it: bytes from offset 0.

    Enough for programs that read only packet bytes and the length (what libpcap
    compiles); a load at a negative (SKF_NET_OFF/SKF_LL_OFF based) offset goes
    through a full sk_buff.
    """

    __slots__ = ("data", "n")

    def __init__(self, data: bytes):
        self.data = data
        self.n = len(data)

    def load_abs(self, off: int, size: int) -> int | None:
        off &= 0xFFFF_FFFF
        if off < 0x8000_0000:
            if off + size > self.n:
                return None
            return int.from_bytes(self.data[off : off + size], "big")
        return _captured_skb(self.data).load_abs(off, size)


def _ctx_reads(insns: Sequence[Insn]) -> set[int]:
    """The __sk_buff offsets a converted program loads (from R6, the context)."""
    from .convert import REG_CTX

    return {i.off for i in insns if i.code & 0x07 == 0x01 and i.src == REG_CTX}


def _runt_skb(data: bytes) -> SkBuff:
    """A frame shorter than an Ethernet header, as a packet socket holds it (no L3)."""
    return SkBuff(head=bytearray(data), mac_off=0, network_off=len(data))


class ClassicProgram:
    """A classic socket filter, checked like the kernel and run in ``engine`` (module doc).

    ``prog`` is a list of :class:`SockFilter` (or ``(code, jt, jf, k)`` tuples)
    or raw ``struct sock_filter`` bytes. Raises
    :class:`pybpf.cbpf.check.ClassicError` (EINVAL) when the kernel would
    refuse the program; with ``kernel_checks=False`` only what makes a program
    unrunnable is refused (libpcap's user-space view, see
    :func:`pybpf.cbpf.check.check_classic`) and :attr:`kernel_refusal` says why
    the kernel would refuse it.
    """

    prog_type = uapi.BPF_PROG_TYPE_SOCKET_FILTER
    #: a user-space program has no kernel fd (pybpf.api.Program)
    fd = -1

    def __init__(
        self,
        prog: Sequence[SockFilter] | Sequence[tuple[int, int, int, int]] | bytes | bytearray,
        *,
        engine: str = "interp",
        name: str = "",
        budget: int | None = None,
        kernel_checks: bool = True,
    ):
        if isinstance(prog, (bytes, bytearray, memoryview)):
            from .insn import decode

            filt = decode(prog)
        else:
            filt = as_filters(prog)
        check_classic(filt, kernel=kernel_checks)
        #: why the kernel would refuse the program ("" when it accepts it)
        self.kernel_refusal = ""
        if not kernel_checks:
            try:
                check_classic(filt)
            except ClassicError as e:
                self.kernel_refusal = str(e)
        if engine not in ENGINES:
            raise BpfError(f"unknown engine {engine!r} (choose from {', '.join(ENGINES)})")
        self.filter: list[SockFilter] = filt
        self.name = name
        self.engine = engine
        #: the eBPF the kernel runs for this filter (pybpf.cbpf.convert)
        self.insns: list[Insn] = convert_filter(filt)
        self._vm: ClassicVM | None = None
        self._engine: Any = None
        if engine == "classic":
            self._vm = ClassicVM(filt)
        else:
            self._engine = make_engine(self.insns, engine, budget=budget)
            from ..vm.memory import Memory

            self._mem = Memory()
            self._image = bytearray(SIZEOF_SK_BUFF)
            self._ctx = self._mem.add_region(self._image, name="ctx (__sk_buff)")
        reads = _ctx_reads(self.insns)
        #: the converted program reads sk_buff fields besides len (render them per packet)
        self._needs_skb_fields = bool(reads - {0})
        #: ... or makes a call (helpers look at the sk_buff)
        self._calls = any(i.code == 0x85 for i in self.insns)

    # --- running -----------------------------------------------------------------------
    def run_skb(self, skb: SkBuff, *, cpu: int = 0, wire_len: int | None = None) -> int:
        """Run once on ``skb`` as it is; returns the u32 result.

        ``wire_len`` (a replayed capture's original length) is what BPF_LEN reads
        instead of ``skb.len``.
        """
        length = skb.len if wire_len is None else wire_len
        vm = self._vm
        if vm is not None:

            def anc(ad: int, a: int, x: int) -> int:
                return ancillary.value(skb, ad, a, x, cpu)

            return vm.run(skb.load_abs, length, anc)
        if self._needs_skb_fields:
            render_sk_buff(skb, self._image)
        _LEN.pack_into(self._image, 0, length & M32)
        return int(self._engine.run(mem=self._mem, ctx=skb, r1=self._ctx.base, cpu=cpu)) & M32

    def run(
        self,
        data_or_skb: bytes | bytearray | memoryview | SkBuff,
        *,
        cpu: int = 0,
        wire_len: int | None = None,
        **skb_args: Any,
    ) -> int:
        """Run as a packet socket's filter on a frame that starts at the MAC header.

        ``skb_args`` go to :meth:`SkBuff.from_frame` (protocol, pkt_type, ifindex,
        mark ...). Returns the u32 result: 0 drops, N keeps ``min(N, len)`` bytes.
        """
        if isinstance(data_or_skb, SkBuff):
            skb = data_or_skb
        else:
            data = bytes(data_or_skb)
            if len(data) < ETH_HLEN and skb_args.get("l2", True):
                skb = _runt_skb(data)
            else:
                skb = SkBuff.from_frame(data, **skb_args)
        return self.run_skb(skb, cpu=cpu, wire_len=wire_len)

    def run_captured(self, data: bytes, wire_len: int | None = None) -> int:
        """Run on a captured record as libpcap's bpf_filter sees it (tcpdump -r).

        Loads read ``data`` from offset 0 (the record's first byte, whatever the
        link type) and fail past its end; BPF_LEN reads ``wire_len``, the length
        on the wire (default ``len(data)``).
        """
        n = len(data)
        wire = n if wire_len is None else wire_len
        vm = self._vm
        if vm is not None and vm.packet_only:
            frombytes = int.from_bytes

            def load(off: int, size: int) -> int | None:
                if 0 <= off <= n - size:
                    return frombytes(data[off : off + size], "big")
                if off >= 0:
                    return None
                return _captured_skb(data).load_abs(off, size)

            return vm.run(load, wire)
        if (
            vm is None
            and self.engine == "interp"
            and not self._needs_skb_fields
            and not self._calls
        ):
            _LEN.pack_into(self._image, 0, wire & M32)
            ret = self._engine.run(mem=self._mem, ctx=_Record(data), r1=self._ctx.base)
            return int(ret) & M32
        return self.run_skb(_captured_skb(data), wire_len=wire)

    def test_run(
        self, data: bytes | bytearray | memoryview, repeat: int = 1, ctx_in: bytes | None = None
    ) -> Any:
        """BPF_PROG_TEST_RUN of the converted program (data from the network header on).

        Returns a :class:`pybpf.api.TestRunResult`; refuses what the kernel
        refuses (EINVAL: fewer than 14 bytes, more than a page, an IPv4 or IPv6
        EtherType with too few bytes for its header). ``ctx_in`` (an
        ``__sk_buff`` to start from) is not modelled for classic programs.
        """
        from ..api import TestRunResult
        from ..user.skbctx import test_run_data

        if ctx_in is not None:
            raise NotSupportedError(
                "test_run with ctx_in is not modelled for classic programs", errno=E.EOPNOTSUPP
            )
        data = test_run_data(data)
        skb = SkBuff.for_test_run(data)
        retval = 0
        t0 = time.perf_counter_ns()
        for _ in range(max(repeat, 1)):
            retval = self.run_skb(skb)
        duration = (time.perf_counter_ns() - t0) // max(repeat, 1)
        return TestRunResult(retval, duration, bytes(ETH_HLEN) + skb.tobytes())

    # --- the kernel --------------------------------------------------------------------
    def encode(self, byteorder: str = sys.byteorder) -> bytes:
        """The ``struct sock_filter`` array SO_ATTACH_FILTER takes."""
        return encode(self.filter, byteorder)

    def kernel_program(self, **kw: Any) -> Any:
        """The converted eBPF loaded into the running kernel (a KernelProgram); see
        :func:`pybpf.cbpf.kernel.load_converted`."""
        from .kernel import load_converted

        return load_converted(self.insns, **kw)

    def attach(self, sock: Any) -> None:
        """setsockopt(SO_ATTACH_FILTER) on a real socket (or fd): the kernel checks and runs it."""
        from .kernel import attach_filter

        attach_filter(sock, self.filter)

    def close(self) -> None:
        """Nothing to release (pybpf.api.Program): the program lives in this process."""

    def __len__(self) -> int:
        return len(self.filter)

    def __repr__(self) -> str:
        return (
            f"<ClassicProgram {self.name or '(anonymous)'} {len(self.filter)} classic insns, "
            f"{len(self.insns)} eBPF insns, engine={self.engine}>"
        )


def load_classic(path: str | os.PathLike[str], **kw: Any) -> ClassicProgram:
    """A ClassicProgram from a file in any form :func:`pybpf.cbpf.forms.read_classic` reads."""
    from .forms import read_classic

    kw.setdefault("name", os.path.basename(os.fspath(path)))
    return ClassicProgram(read_classic(path), **kw)
