"""The user-space ``Program``: instructions plus a program type, run in pybpf's interpreter.

``Program(insns, prog_type=BPF_PROG_TYPE_SOCKET_FILTER, license="GPL")`` is the
user-space counterpart of a loaded program fd. Its two entry points mirror the
kernel's:

* :meth:`Program.run` is what a packet socket does for each packet
  (``sk_filter_trim_cap`` in net/core/filter.c): the frame starts at the MAC
  header, ``skb->sk`` is the receiving socket, and the u32 return value means
  0 = drop, N = keep ``min(N, len)`` bytes.
* :meth:`Program.test_run` mirrors ``BPF_PROG_TEST_RUN``
  (``bpf_prog_test_run_skb`` in net/bpf/test_run.c). **For socket filters the
  kernel runs ``eth_type_trans`` first, which pulls the 14-byte Ethernet
  header: the program's offset 0 (``skb->data``, LD_ABS 0) is the network
  header, not the MAC header**, and the MAC header is reachable only through
  the ``SKF_LL_OFF`` base. The device is loopback (ifindex 1, MAC all zeros,
  so unicast frames get ``pkt_type`` PACKET_OTHERHOST). ``data_out`` has the
  Ethernet header zeroed, as the kernel pushes back 14 zero bytes.

XDP, tc and cgroup_skb programs hold pointers into the packet; they run on a
packet buffer of their own (:mod:`pybpf.user.direct`): :meth:`Program.run_packet`
runs one Ethernet frame as BPF_PROG_TEST_RUN presents it and reports the action
and the packet as the program left it; ``run`` returns the action, ``test_run``
is BPF_PROG_TEST_RUN for these types too (data_in/out, ctx_in/out, repeat).

Maps named by ``BPF_LD_MAP_FD`` resolve through the instruction's ``ref``
(what the asm helpers attach), then the ``maps`` argument (a mapping fd ->
Map, or a list indexed by ``BPF_PSEUDO_MAP_IDX``), then the fd table of the
program's backend (:class:`pybpf.user.state.UserState`; the process's default
state for a program made on its own). A Program gets an fd in that table, so
it can be stored in a PROG_ARRAY for tail calls.
"""

from __future__ import annotations

import errno as E
import time
from collections.abc import Mapping, Sequence
from typing import Any

from .. import isa, uapi
from ..api import TestRunResult
from ..errors import BpfError, InsnError, NotSupportedError
from ..helpers import helpers_for
from ..isa import Insn
from ..net.skb import ETH_HLEN, SkBuff, Sock
from ..progtypes import (
    SIZEOF_SK_BUFF,
    get_prog_type,
    render_sk_buff,
    writeback_sk_buff,
)
from ..verifier.helper_rules import check_helper_calls, license_is_gpl_compatible
from .skbctx import (
    ctx_to_skb,
    device_exists,
    skb_to_ctx,
    test_run_ctx,
    test_run_data,
)
from .state import UserState, default_state

__all__ = ["ENGINES", "Program", "TestRunResult"]


#: how a Program runs: pybpf's interpreter, or the llvmlite JIT (verified programs only)
ENGINES = ("interp", "jit")


class Program:
    """An eBPF program of one type, run by pybpf's interpreter or JIT (see module doc)."""

    def __init__(
        self,
        insns: Sequence[Insn] | bytes | bytearray,
        prog_type: int = uapi.BPF_PROG_TYPE_SOCKET_FILTER,
        license: str = "GPL",
        name: str = "",
        maps: Mapping[Any, Any] | Sequence[Any] | None = None,
        *,
        verify: bool = False,
        budget: int | None = None,
        engine: str = "interp",
        line_info: Sequence[Any] = (),
        func_info: Sequence[Any] = (),
        state: UserState | None = None,
        expected_attach_type: int = 0,
        btf: Any = None,
    ):
        #: the backend's runtime state: fd table, clocks and timers, trace pipe, cookies
        self.state = state if state is not None else default_state()
        #: the object's BTF (what func_info names), given to the verifier as the kernel gets it
        self.btf = btf
        self.fd = -1
        given: list[Any]
        if isinstance(insns, bytes | bytearray | memoryview):
            given = isa.decode(insns)
        elif isinstance(insns, str) or not isinstance(insns, Sequence):
            raise InsnError(
                f"a program is a list of instructions or their bytes, not {type(insns).__name__}"
            )
        else:
            given = list(insns)
        for i, insn in enumerate(given):
            if not isinstance(insn, Insn):
                raise InsnError(
                    f"instruction {i} is {type(insn).__name__} {insn!r:.40}, not an Insn "
                    "(build one with pybpf.asm.macros or pybpf.assemble)",
                    index=i,
                )
        self._maps_arg = maps
        self.insns: list[Insn] = self._relocate(given)
        if not self.insns:
            raise BpfError("a program needs at least one instruction", errno=E.EINVAL)
        self.prog_type = prog_type
        #: where the program is meant to attach (cgroup_skb egress, an XDP devmap ...)
        self.expected_attach_type = expected_attach_type
        self.type_info = get_prog_type(prog_type)
        self.license = license
        self.name = name
        self.helpers = helpers_for(prog_type)
        self.line_info = list(line_info)
        self.func_info = list(func_info)
        check_helper_calls(self.insns, prog_type, license)
        if engine not in ENGINES:
            raise BpfError(f"unknown engine {engine!r} (choose from {', '.join(ENGINES)})")
        self.engine = engine
        #: the verifier's result (statistics, log) when the program was verified
        self.verification: Any = None
        if verify or engine == "jit":  # the JIT runs verified programs only (docs/design.md)
            self.verification = self.verify()
        from ..vm.interp import DEFAULT_BUDGET, Interpreter

        engine_cls: Any = Interpreter
        if engine == "jit":
            from ..vm.jit import JitEngine

            engine_cls = JitEngine
        self._interp = engine_cls(
            self.insns,
            helpers=self.helpers,
            maps=self._resolve_map,
            budget=budget or DEFAULT_BUDGET,
            prog=self,
        )
        self._mem: Any = None
        self._ctx_image = bytearray(SIZEOF_SK_BUFF)
        self._ctx_region: Any = None
        self._area: Any = None
        self._runner: Any = None
        self.sock = Sock(cookie=self.state.next_cookie())
        self.state.fds.install(self)

    @classmethod
    def from_spec(cls, spec: Any, maps: Mapping[str, Any], **kw: Any) -> Program:
        """A Program from a :class:`pybpf.spec.types.ProgramSpec`; ``maps`` maps names to Maps."""
        kw.setdefault("expected_attach_type", spec.expected_attach_type)
        kw.setdefault("btf", getattr(spec.btf, "btf", None))
        return cls(spec.insns, spec.prog_type, spec.license, spec.name, maps, **kw)

    # --- load-time checks ----------------------------------------------------------------
    def _relocate(self, insns: list[Insn]) -> list[Insn]:
        """Point LDDWs that name a map by :class:`pybpf.spec.types.MapRef` at the Map itself."""
        out = []
        for i, insn in enumerate(insns):
            ref = insn.ref
            if (
                insn.is_lddw
                and ref is not None
                and hasattr(ref, "value_offset")
                and not hasattr(ref, "storage")
            ):
                maps = self._maps_arg
                m = maps.get(ref.name) if isinstance(maps, Mapping) else None
                if m is None:
                    raise BpfError(
                        f"insn {i}: program refers to map {ref.name!r}, which was not given",
                        errno=E.EBADF,
                    )
                if ref.value_offset is None:
                    insn = insn.replace(ref=m)
                else:
                    insn = insn.replace(
                        ref=m, src=isa.BPF_PSEUDO_MAP_VALUE, imm_hi=ref.value_offset
                    )
            out.append(insn)
        return out

    @property
    def gpl_compatible(self) -> bool:
        return license_is_gpl_compatible(self.license)

    def verify(
        self,
        *,
        log_level: int = 0,
        line_info: Any = None,
        privileged: bool = True,
        func_info: Any = None,
    ) -> Any:
        """Run pybpf's verifier on the program (raises VerifierError when refused).

        Line and function info default to the program's own (from its object file),
        so refusals name the C source line.
        """
        from ..verifier.check import Verifier

        def resolve(insn: Insn) -> Any:
            return insn.ref if insn.ref is not None else self._resolve_map(insn.imm)

        return Verifier(
            self.insns,
            prog_type=self.prog_type,
            map_resolver=resolve,
            license=self.license,
            log_level=log_level,
            line_info=self.line_info if line_info is None else line_info,
            privileged=privileged,
            func_info=self.func_info if func_info is None else func_info,
            expected_attach_type=self.expected_attach_type,
            btf=self.btf,
        ).verify()

    def _resolve_map(self, key: int) -> Any:
        m = self._maps_arg
        if isinstance(m, Mapping):
            if key in m:
                return m[key]
        elif m is not None and 0 <= key < len(m):
            return m[key]
        from ..maps.base import map_by_fd

        return map_by_fd(key, self.state.fds)

    @property
    def maps(self) -> list[Any]:
        """The maps the program's BPF_LD_MAP_FD instructions name, in order of appearance."""
        out: list[Any] = []
        for _, insn in isa.iter_slots(self.insns):
            if insn.is_lddw and insn.src in (
                isa.BPF_PSEUDO_MAP_FD,
                isa.BPF_PSEUDO_MAP_VALUE,
                isa.BPF_PSEUDO_MAP_IDX,
                isa.BPF_PSEUDO_MAP_IDX_VALUE,
            ):
                m = insn.ref if insn.ref is not None else self._resolve_map(insn.imm)
                if all(m is not x for x in out):
                    out.append(m)
        return out

    # --- running -------------------------------------------------------------------------
    def _memory(self) -> Any:
        if self._mem is None:
            from ..vm.memory import Memory

            self._mem = Memory()
            if self.direct_packet_access:
                from .direct import PacketArea

                self._area = PacketArea(self._mem, self.prog_type, self.sock)
                self._ctx_region = self._area.ctx
                self._ctx_image = self._area.image
            else:
                self._ctx_region = self._mem.add_region(
                    self._ctx_image, name="ctx (__sk_buff)", narrow=_ctx_narrow()
                )
        return self._mem

    @staticmethod
    def device_exists(ifindex: int) -> bool:
        """Whether ``ifindex`` names a device (bpf_clone_redirect's lookup): this network
        namespace's devices, as a test run in the kernel sees them."""
        return device_exists(ifindex)

    @property
    def direct_packet_access(self) -> bool:
        """Whether the program holds pointers into the packet (XDP, tc, cgroup_skb)."""
        return bool(self.type_info.pointers)

    def packet_area(self) -> Any:
        """The packet buffer and context of a program with direct packet access
        (:class:`pybpf.user.direct.PacketArea`), made on first use."""
        self._memory()
        if self._area is None:
            raise NotSupportedError(f"{self.type_info.name} programs have no packet area")
        return self._area

    def _engine_run(self, ctx: Any, ctx_ptr: int, cpu: int) -> int:
        """One run of the engine on the packet model ``ctx`` (context at ``ctx_ptr``)."""
        del self._interp.trace[:]
        runner = self.packet_runner()
        if runner is not None:  # the JIT, natively
            runner.cpu = cpu
            return runner.run_direct(1)[0]
        return int(self._interp.run(mem=self._memory(), ctx=ctx, r1=ctx_ptr, cpu=cpu))

    def run_packet(self, frame: bytes | bytearray | memoryview, *, cpu: int = 0, **kw: Any) -> Any:
        """Run once on an Ethernet ``frame`` presented as BPF_PROG_TEST_RUN presents it
        (XDP, tc and cgroup_skb programs): the action and the packet as the program
        left it (:class:`pybpf.net.outcome.PacketOutcome`). XDP takes
        ``ingress_ifindex`` and ``rx_queue_index``, the others ``ifindex``."""
        if not self.direct_packet_access:
            raise NotSupportedError(
                f"run_packet is for XDP, tc and cgroup_skb programs; a {self.type_info.name} "
                "program runs with run()"
            )
        from .direct import run_packet

        return run_packet(self, bytes(frame), cpu=cpu, **kw)

    def packet_runner(self) -> Any:
        """The JIT's native packet runner (:class:`pybpf.vm.batch.PacketRunner`): runs,
        test runs and captures with the per-packet loop in C; None with the interpreter."""
        if self._runner is None and self.engine == "jit" and self.type_info.ctx_fields:
            from ..vm.batch import PacketRunner

            mem = self._memory()
            self._runner = PacketRunner(
                self._interp,
                mem,
                self._ctx_region,
                prog_type=self.prog_type,
                ctx_factory=None if self.direct_packet_access else self._skb_of,
                rng=self.state.rng,
                area=self._area,
            )
        return self._runner

    def _skb_of(self, data: bytes, meta: Any) -> SkBuff:
        """The SkBuff of a packet the native runner presented (for a helper run in Python)."""
        skb = SkBuff(
            head=bytearray(data),
            mac_off=meta.mac_off,
            network_off=meta.net_off,
            protocol=meta.protocol,
            pkt_type=meta.pkt_type,
            ifindex=meta.ifindex,
            sk=self.sock,
        )
        if meta.vlan_present:
            skb.vlan_present, skb.vlan_tci, skb.vlan_proto = 1, meta.vlan_tci, meta.vlan_proto
        return skb

    def run_skb(self, skb: SkBuff, *, cpu: int = 0) -> int:
        """Run once with ``skb`` as the context; returns the u32 return value."""
        if self.direct_packet_access:
            raise NotSupportedError(
                f"{self.type_info.name} programs run on their own packet buffer: "
                "use run() or run_packet() with the frame"
            )
        if self.type_info.ctx_fields is None:
            raise NotSupportedError(f"running {self.type_info.name} programs is not supported")
        mem = self._memory()
        del self._interp.trace[:]
        runner = self.packet_runner()
        if runner is not None and not skb.frags:  # the JIT, natively
            runner.cpu = cpu
            return int(runner.test_run(skb, 1)[0])
        render_sk_buff(skb, self._ctx_image)
        ret = self._interp.run(mem=mem, ctx=skb, r1=self._ctx_region.base, cpu=cpu)
        writeback_sk_buff(skb, self._ctx_image, self.prog_type)
        return ret & 0xFFFF_FFFF

    def advance_time(self, ns: int) -> int:
        """Move the simulated clocks on by ``ns`` and fire this program's due bpf_timers.

        Timers armed with bpf_timer_start run their callback when the simulated
        clock passes their expiry (pybpf.helpers.timers); returns how many fired.
        """
        from ..helpers import timers

        return timers.advance_time(ns, prog=self)

    def close(self) -> None:
        """Release the program's fd (as close(prog_fd) does); it can still run."""
        self.state.fds.close(self)

    def __enter__(self) -> Program:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def trace(self) -> list[str]:
        """What bpf_trace_printk printed during the last run (all runs: pybpf.helpers.trace)."""
        return self._interp.trace

    def run(
        self, data_or_skb: bytes | bytearray | memoryview | SkBuff, *, cpu: int = 0, **skb_args: Any
    ) -> int:
        """Run as a packet socket's filter on a frame starting at the MAC header.

        ``data_or_skb`` is the frame (an :class:`SkBuff` is built with
        ``SkBuff.from_frame(data, **skb_args)``, ``skb->sk`` = this program's
        socket) or a ready SkBuff. As af_packet's run_filter() does
        (``bpf_prog_run_clear_cb``), ``cb[]`` is zeroed before the program runs.
        Returns the u32 return value: 0 drops, N keeps ``min(N, len)`` bytes (see
        :func:`pybpf.progtypes.sk_filter_result`). :meth:`run_skb` runs on an skb
        as it is.
        """
        if self.direct_packet_access:  # XDP, tc, cgroup_skb: the action
            frame = data_or_skb.frame() if isinstance(data_or_skb, SkBuff) else data_or_skb
            return int(self.run_packet(frame, cpu=cpu, **skb_args).retval)
        if isinstance(data_or_skb, SkBuff):
            skb = data_or_skb
            skb.cb[:] = bytes(len(skb.cb))
        else:
            runner = self._runner or self.packet_runner()
            if runner is not None and not skb_args and len(data_or_skb) >= ETH_HLEN:
                # what SkBuff.from_frame(frame) builds, built natively: the JIT's fast path
                del self._interp.trace[:]
                runner.cpu = cpu
                return int(runner.run_eth(bytes(data_or_skb)))
            skb_args.setdefault("sk", self.sock)
            skb = SkBuff.from_frame(data_or_skb, **skb_args)
        return self.run_skb(skb, cpu=cpu)

    def test_run(
        self,
        data: bytes | bytearray | memoryview,
        repeat: int = 1,
        ctx_in: bytes | None = None,
        *,
        cpu: int = 0,
    ) -> TestRunResult:
        """BPF_PROG_TEST_RUN for an __sk_buff program (see the module doc on the MAC header).

        ``ctx_in`` is an optional ``struct __sk_buff`` image: only mark, priority,
        ingress_ifindex, ifindex, cb, tstamp, wire_len, gso_segs, gso_size and
        hwtstamp may be non-zero (EINVAL otherwise), as in convert___skb_to_skb.
        The program runs ``repeat`` times on the same skb (so cb[] written by one
        run is seen by the next, as in bpf_test_run); retval is the last run's. Like Linux 6.18, an IPv4 (IPv6) frame too short for a
        20 (40) byte network header is refused with EINVAL.
        """
        if self.type_info.ctx_fields is None:
            raise NotSupportedError(f"test_run of {self.type_info.name} programs is not supported")
        if self.direct_packet_access:
            from .direct import test_run

            return test_run(self, bytes(data), repeat, ctx_in, cpu=cpu)
        data = test_run_data(data)
        ctx, ifindex = test_run_ctx(ctx_in)
        # tc programs see the frame from the MAC header (is_l2 in bpf_prog_test_run_skb)
        is_l2 = self.prog_type in (uapi.BPF_PROG_TYPE_SCHED_CLS, uapi.BPF_PROG_TYPE_SCHED_ACT)
        repeat = max(repeat, 1)
        retval = 0
        skb = SkBuff.for_test_run(data, sk=Sock(cookie=self.state.next_cookie(), uid=0))
        if is_l2:
            skb.push(ETH_HLEN)
        skb.ifindex = ifindex
        if ctx is not None:
            ctx_to_skb(ctx, skb)
        runner = self.packet_runner()
        if runner is not None:  # the JIT: the repeat loop runs natively and times itself
            self._memory()
            del self._interp.trace[:]
            runner.cpu = cpu
            retval, duration = runner.test_run(skb, repeat)
        else:
            t0 = time.perf_counter_ns()
            for _ in range(repeat):  # bpf_test_run: the same skb every time, cb[] carries over
                retval = self.run_skb(skb, cpu=cpu)
            duration = (time.perf_counter_ns() - t0) // repeat
        data_out = skb.tobytes() if is_l2 else bytes(ETH_HLEN) + skb.tobytes()
        ctx_out = b""
        if ctx is not None:
            ctx_out = bytes(skb_to_ctx(skb, ctx))
        return TestRunResult(retval, duration, data_out, ctx_out)

    def __repr__(self) -> str:
        t = uapi.PROG_TYPE_NAMES.get(self.prog_type, str(self.prog_type))
        return f"<Program {self.name or '(anonymous)'} {t} {len(self.insns)} insns fd={self.fd}>"


def _ctx_narrow() -> bytes:
    """The __sk_buff's narrow-load table for the VM (pybpf.vm.memory.narrow_load): per
    4-byte word, the size of the sk_buff member the kernel's rewrite loads there."""
    from ..progtypes import _NARROW

    table = bytearray(SIZEOF_SK_BUFF // 4)
    for off, (_src, tsize) in _NARROW.items():
        table[off // 4] = tsize
    return bytes(table)
