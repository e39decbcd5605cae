"""A JIT-compiled program run natively over many packets: Python is paid per batch.

:class:`PacketRunner` runs a :class:`~pybpf.vm.jit.JitEngine`'s program on
packets as a socket filter, with the per-packet loop in C
(src/pybpf/vm/native): the context (the ``struct __sk_buff`` image, LD_ABS and
LD_IND, the packet's bytes) is built natively, helpers run natively
(bpf_map_lookup/update/delete_elem through the maps' own C ops, tail calls,
skb_load_bytes, ktime_get_ns, get_prandom_u32, get_smp_processor_id), and a rare
helper calls back into Python with the same context a per-packet run gives it.

* :meth:`PacketRunner.run_capture` — every record of a pcap or pcapng file, read
  from an mmap and presented as a packet socket sees it
  (:mod:`pybpf.net.linktype` presentation modes, VLAN untagging); returns the
  socket's counts (:class:`BatchResult`), per-packet verdicts on request, and
  the capture's damage if any;
* :meth:`PacketRunner.run_frames` — frames given as buffers, with the skb fields
  of each;
* :meth:`PacketRunner.run_packet` — one linear skb (what ``Program.run`` needs,
  at a fixed cost of one native call);
* :meth:`PacketRunner.test_run` — BPF_PROG_TEST_RUN's repeat loop on one skb,
  the mean duration per run measured natively.

XDP, tc and cgroup_skb programs run natively too (``area``: the program's packet
buffer and model, pybpf.user.direct): :meth:`PacketRunner.run_direct` runs on the
packet the model holds (test_run's loop), :func:`pybpf.vm.actions.run_capture`
over a capture, counting return values and redirect targets and handing the
packets that leave to a sink (``pybpf run --write-pcap``); the common packet
helpers run in C (native/packet.c), the others in Python on the same packet.

The runner shares the program's memory (``mem``) and context region with the
per-packet path, so addresses, maps and errors are those of every other
engine: a fault names the packet's index, the pc and the address. Results are
exactly the interpreter's; tests/vm/test_batch.py proves it differentially.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import random
import struct
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from .. import uapi
from ..errors import BpfError, CaptureError, NotSupportedError, VmError
from .api import ProgArray, native_name
from .blocks import STACK_SIZE
from .engine import Binding, Engine, locate, map_region
from .jit import JitEngine
from .jit.machine import NativeMachine
from .jit.pins import BufferPin
from .memory import HANDLE_BASE, HANDLE_STRIDE, Memory, Region
from .native import (
    VmCounts,
    VmDriver,
    VmFrameMeta,
    VmHandle,
    VmImage,
    VmMt,
    VmPkt,
    VmProgArray,
    VmSkb,
    lib,
)

__all__ = ["BatchResult", "FrameMeta", "PacketRunner", "MAX_RECORD"]

M32 = (1 << 32) - 1
#: longer records than this are damage (pybpf.net.capture.MAX_RECORD)
MAX_RECORD = 256 * 1024 * 1024
#: packets run per native call when reading a capture
CHUNK = 1 << 16
_MODES = {"ethernet": 0, "device": 1, "raw": 2}
#: what a program's context is (vm.h KIND_*)
KIND_SOCKET, KIND_XDP, KIND_SKB = 0, 1, 2

_PCAP_MAGICS = {0xA1B2C3D4: (False, False), 0xA1B23C4D: (True, False), 0xA1B2CD34: (False, True)}


#: the skb fields of a linear frame (a ctypes structure: handed to C as it is)
FrameMeta = VmFrameMeta


@dataclass
class BatchResult:
    """What a run over many packets did, counted as a packet socket counts.

    ``packets`` the program ran on (= received), ``accepted`` (verdict not 0),
    ``dropped`` (verdict 0), ``delivered_bytes`` (sum of min(len, verdict));
    ``records`` read from a capture (a socket bound to a device skips others'),
    ``linktypes`` how many of each link type; ``verdicts`` the u32 of each packet
    when asked; ``damage`` the capture's CaptureError when it ended early (every
    packet before it was run).
    """

    packets: int = 0
    accepted: int = 0
    dropped: int = 0
    delivered_bytes: int = 0
    records: int = 0
    verdicts: array | None = None  # type: ignore[type-arg]
    damage: CaptureError | None = None
    #: records read per link type (a capture's)
    linktypes: dict[int, int] = field(default_factory=dict)

    def add(self, c: VmCounts) -> None:
        self.packets += c.received
        self.accepted += c.accepted
        self.dropped += c.dropped
        self.delivered_bytes += c.delivered_bytes


class _LazyContext:
    """``env.ctx`` of a Python helper called from a native run: the real context object,
    built (by the runner's ``ctx_factory``) only when a helper looks at it."""

    __slots__ = ("_runner", "_obj", "_serial")

    def __init__(self, runner: PacketRunner) -> None:
        self._runner = runner
        self._obj: Any = None
        self._serial = -1

    def __getattr__(self, name: str) -> Any:
        runner = self._runner
        serial = runner.driver.env.serial
        if self._obj is None or self._serial != serial:
            self._obj = runner._context_now()
            self._serial = serial
        return getattr(self._obj, name)


class PacketRunner:
    """One JitEngine's program run natively on packets (see module doc).

    ``mem`` and ``ctx_region`` are the memory and the ``__sk_buff`` region the
    program runs with per packet; ``ctx_factory(data, meta)`` builds the context
    object (an SkBuff) a Python helper may ask for; ``cpu`` the simulated cpu;
    ``rng`` the random.Random behind bpf_get_prandom_u32 (the program's
    backend's).
    """

    def __init__(
        self,
        engine: Engine,
        mem: Memory,
        ctx_region: Region,
        *,
        prog_type: int = uapi.BPF_PROG_TYPE_SOCKET_FILTER,
        ctx_factory: Callable[[bytes, FrameMeta], Any] | None = None,
        rng: random.Random | None = None,
        cpu: int = 0,
        area: Any = None,
    ) -> None:
        if not isinstance(engine, JitEngine):
            raise NotSupportedError("native packet runs need the JIT (JitEngine)")
        self.so = lib()
        self.engine = engine
        self.mem = mem
        self.ctx_region = ctx_region
        self.prog_type = prog_type
        self.ctx_factory = ctx_factory
        self.rng = rng
        self.cpu = cpu
        self.driver = VmDriver()
        self._mt = VmMt()
        self._ldabs = self.so.vm_ld_abs_fn() or 0
        self._native_fns: dict[str, int] = {}
        #: the runner's own bindings (one per image), always set up for native runs
        self._bound: dict[int, tuple[VmImage, Binding, Any]] = {}
        self._main: Binding | None = None
        self._handles: Any = None
        self._keep: list[Any] = []
        self._handle_maps: list[tuple[int, Any]] = []
        self._cpu_maps: list[tuple[int, Any]] = []
        self._arrays: list[Any] = []
        self._slots: tuple[Any, ...] = ()
        self._key: Any = None
        self._lazy: Any = _LazyContext(self)
        self._dref = ctypes.byref(self.driver)
        self._run_frame = self.so.vm_run_frame
        self._run_eth = self.so.vm_run_eth_frame
        #: the packet buffer and model of an XDP, tc or cgroup_skb program (user.direct)
        self.area = area
        self.kind = KIND_SOCKET
        if area is not None:
            self._adopt(area)
            self._lazy = area.model  # the live model: helpers see (and change) it directly

    def _adopt(self, area: Any) -> None:
        """From now on the area's packet model keeps its state in the driver's structures,
        so that the native code and a Python helper see the same packet."""
        env = self.driver.env
        model = area.model
        ctypes.memmove(ctypes.addressof(env.pkt), ctypes.addressof(model.pkt), ctypes.sizeof(VmPkt))
        model.pkt = env.pkt
        skb = getattr(model, "skb", None)
        if skb is not None:
            ctypes.memmove(ctypes.addressof(env.skb), ctypes.addressof(skb), ctypes.sizeof(VmSkb))
            model.skb = env.skb
        self.kind = KIND_XDP if self.prog_type == uapi.BPF_PROG_TYPE_XDP else KIND_SKB

    # --- setting up native runs -----------------------------------------------------------
    def _native(self, name: str | None) -> int:
        if name is None:
            return 0
        fn = self._native_fns.get(name)
        if fn is None:
            fn = self._native_fns[name] = self.so.vm_native_helper(name.encode()) or 0
        return fn

    def _binding(self, image: Any) -> tuple[VmImage, Binding]:
        """The runner's binding of ``image`` in its memory: its machine runs natively only
        (Engine.run keeps binding its own), helpers native where they can be."""
        hit = self._bound.get(id(image))
        if hit is not None and hit[1].image is image:
            return hit[0], hit[1]
        b = Binding(self.engine, image, self.mem)
        machine = b.machine
        assert isinstance(machine, NativeMachine)
        helpers = self.engine.helpers
        calls = (ctypes.c_void_p * max(len(b.consts), 1))()
        for i, c in enumerate(image.blocks.consts):
            if c.kind == "helper":
                h = helpers.get(image.own[c.pc].imm)
                calls[i] = self._native(native_name(h)) or machine.py_helper
        machine.native_mode(ctypes.addressof(self.driver.env), calls, self._ldabs)
        env = b.env
        env.ctx, env.cpu, env.ctx_ptr = self._lazy, self.cpu, self.ctx_region.base
        env.prog = self.engine.prog if image is self.engine._main else image.prog
        img = VmImage(
            ctypes.cast(machine.code.fn, ctypes.c_void_p).value,
            machine.rt_addr,
            _frame_bytes(env.prog),
        )
        self._bound[id(image)] = (img, b, calls)
        return img, b

    def _prog_arrays(self) -> tuple[Any, ...]:
        """What the prog arrays the handles name hold now (their slots' programs)."""
        return tuple(
            tuple(id(pa.get_prog(i)) for i in range(pa.max_entries)) for pa in self._arrays
        )

    def _ensure(self) -> None:
        """Bring the native set-up up to date with the memory, its maps and prog arrays."""
        mem = self.mem
        key = (mem.generation, mem.handle_count)
        if key != self._key or (self._arrays and self._prog_arrays() != self._slots):
            engine = self.engine
            _img, main = self._binding(engine._main)
            self._main = main
            self._handles_table()  # may bind tail-call targets (mapping their regions)
            d = self.driver
            d.main = self._bound[id(engine._main)][0]
            d.ctx_bpf = self.ctx_region.base
            d.stack_top = main.top
            d.prog_type = self.prog_type
            d.kind = self.kind
            # verified, of a type that may write cb[] only (sk_filter_is_valid_access): what
            # it writes to the __sk_buff is what the writeback and the next render keep
            d.cb_only = int(
                self.prog_type in _CB_ONLY_TYPES
                and all(_verified(b.env.prog) for _i, b, _c in self._bound.values())
            )
            mview = main.machine
            assert isinstance(mview, NativeMachine)
            for _img2, b, _calls in self._bound.values():
                b.refresh()
            d.env.ctx = mview.view.host(self.ctx_region)
            self._key = (mem.generation, mem.handle_count)
            self._slots = self._prog_arrays()
        for k, m in self._cpu_maps:  # Map.cpu of the other maps, as their ops get it
            self._handles[k].cpu = int(getattr(m, "cpu", 0) or 0) & M32

    def _handles_table(self) -> None:
        """What each handle in the memory stands for natively: maps, prog arrays.

        A map whose elements may hold bpf_timers keeps its update and delete in
        Python (they free the timers of an element they replace): every map, when
        one of the programs calls a timer helper.
        """
        engine, mem = self.engine, self.mem
        objs = mem.objects()
        table = (VmHandle * max(len(objs), 1))()
        keep: list[Any] = [table]
        maps: list[tuple[int, Any]] = []
        for h, obj in objs:  # prog arrays first: they bind the tail-call targets
            k = (h - HANDLE_BASE) // HANDLE_STRIDE - 1
            if 0 <= k < len(objs) and isinstance(obj, ProgArray) and hasattr(obj, "get_prog"):
                slots = (ctypes.POINTER(VmImage) * max(obj.max_entries, 1))()
                for i in range(obj.max_entries):
                    prog = obj.get_prog(i)
                    if prog is not None:
                        img, _b = self._binding(engine._tail_image(prog))
                        slots[i] = ctypes.pointer(img)
                pa = VmProgArray(obj.max_entries, 0, ctypes.cast(slots, ctypes.c_void_p))
                keep += [slots, pa]
                table[k].progs = ctypes.addressof(pa)
        helpers = engine.helpers
        timers = any(
            str(getattr(helpers.get(b.image.own[c.pc].imm), "name", "")).startswith("timer_")
            for _img, b, _calls in self._bound.values()
            for c in b.image.blocks.consts
            if c.kind == "helper"
        )
        has_timers = _timer_maps()
        env = self._main.env if self._main is not None else None
        for h, obj in objs:
            k = (h - HANDLE_BASE) // HANDLE_STRIDE - 1
            native = getattr(obj, "native", 0)
            if not 0 <= k < len(objs) or not isinstance(native, int) or not native:
                continue
            region = map_region(mem, obj)
            if region is None or timers or has_timers(obj, env):
                continue
            e = table[k]
            e.map = native
            e.storage_base = region.base
            e.percpu = 1 if getattr(obj, "percpu", False) else 0
            maps.append((k, obj))
        self._handles = table
        self._keep = keep
        self._handle_maps = maps
        self._cpu_maps = [(k, m) for k, m in maps if not table[k].percpu]
        self._arrays = [o for _h, o in objs if isinstance(o, ProgArray) and hasattr(o, "get_prog")]
        d_env = self.driver.env
        d_env.handles = ctypes.addressof(table)
        d_env.nhandles = len(objs)

    def _prepare(self, ctx: Any, *, native_rng: bool, writeback: bool) -> None:
        self._ensure()
        d = self.driver
        if ctx is not self._lazy:
            for _img, b, _calls in self._bound.values():
                b.env.ctx = ctx
        d.budget = self.engine.budget
        d.writeback = 1 if writeback else 0
        d.failed_image = None
        d.env.cpu = self.cpu & M32
        d.env.touched = 0
        d.env.rng = None
        if native_rng:
            words = self._rng().getstate()[1]
            self._mt.mt[:] = words[:624]
            self._mt.index = words[624]
            d.env.rng = ctypes.addressof(self._mt)

    def _rng(self) -> random.Random:
        if self.rng is not None:
            return self.rng
        rng = getattr(getattr(self.engine.prog, "state", None), "rng", None)
        if isinstance(rng, random.Random):
            return rng
        from ..helpers.time import default_rng

        return default_rng()

    def _finish(self, ctx: Any = None) -> None:
        d = self.driver
        if ctx is not None and ctx is not self._lazy:
            for _img, b, _calls in self._bound.values():
                b.env.ctx = self._lazy
        if d.env.rng:
            rng = self._rng()
            version, _words, gauss = rng.getstate()
            rng.setstate((version, (*self._mt.mt, self._mt.index), gauss))
            d.env.rng = None
        touched = d.env.touched
        if touched:
            for k, m in self._handle_maps:
                if touched >> k & 1:
                    m.cpu = self.cpu % max(int(getattr(m, "ncpus", 1) or 1), 1)
        self.engine.steps = int(d.steps)

    def _fail(self, rc: int, packet: int | None) -> BaseException:
        """The error of a packet that failed (from the image it failed in)."""
        d = self.driver
        addr = d.failed_image or 0
        if addr == ctypes.addressof(d) + VmDriver.main.offset:
            addr = ctypes.addressof(self._bound[id(self.engine._main)][0])
        machine = next(
            (b.machine for img, b, _c in self._bound.values() if ctypes.addressof(img) == addr),
            None,
        )
        if not isinstance(machine, NativeMachine):
            return VmError(f"native run failed with status {rc}")
        try:
            machine.raise_exit(rc)
        except BpfError as e:
            return locate(e, packet=packet) if packet is not None else e
        except BaseException as e:  # noqa: BLE001 - a helper's own exception, as raised
            return e
        return VmError(f"native run failed with status {rc}")

    def _context_now(self) -> Any:
        """The context object of the packet under way, for a Python helper."""
        if self.area is not None:  # the live packet model over the driver's state
            return self.area.model
        skb = self.driver.env.skb
        if self.ctx_factory is None:
            raise NotSupportedError("this helper needs the packet's context object")
        data = ctypes.string_at(skb.head, skb.head_len) if skb.head_len else b""
        meta = FrameMeta(
            skb.mac_off,
            skb.net_off,
            skb.protocol,
            skb.pkt_type,
            skb.ifindex,
            skb.vlan_present,
            skb.vlan_tci,
            skb.vlan_proto,
        )
        return self.ctx_factory(data, meta)

    # --- one packet ---------------------------------------------------------------------
    def run_packet(self, frame: bytes | bytearray, meta: FrameMeta) -> int:
        """Run once on ``frame`` (a linear skb with ``meta``'s fields); the u32 verdict."""
        d = self.driver
        self._prepare(self._lazy, native_rng=False, writeback=False)
        try:
            rc = self._run_frame(self._dref, frame, len(frame), ctypes.byref(meta))
        finally:
            self._finish()
        if rc:
            raise self._fail(rc, None)
        return int(d.r0 & M32)

    def run_eth(self, frame: bytes, ifindex: int = 1) -> int:
        """Run once on an Ethernet ``frame`` from its MAC header, as a receiving device
        builds the skb (pybpf.net.skb.SkBuff.from_frame's defaults: eth_type_trans with
        an all-zero device address); the u32 verdict."""
        d = self.driver
        self._prepare(self._lazy, native_rng=False, writeback=False)
        try:
            rc = self._run_eth(self._dref, frame, len(frame), ifindex)
        finally:
            self._finish()
        if rc:
            if rc < 0:
                raise NotSupportedError(f"a frame of {len(frame)} bytes has no Ethernet header")
            raise self._fail(rc, None)
        return int(d.r0 & M32)

    def test_run(self, skb: Any, repeat: int = 1) -> tuple[int, int]:
        """BPF_PROG_TEST_RUN's loop on ``skb`` (a linear pybpf.net.skb.SkBuff): the last
        run's u32 and the mean ns per run. What the program wrote to the __sk_buff (cb,
        and for tc the writable fields) is copied back into ``skb``."""
        if getattr(skb, "frags", None):
            raise NotSupportedError("native test runs take a linear skb")
        head = skb.head
        pin = BufferPin(head) if len(head) else None
        d = self.driver
        self._prepare(skb, native_rng=repeat > 1, writeback=True)
        try:
            _fill_skb(d.env.skb, skb, pin.addr if pin else 0)
            dur = ctypes.c_uint64()
            rc = self.so.vm_test_run(ctypes.byref(d), max(repeat, 1), ctypes.byref(dur))
        finally:
            self._finish(skb)
            if pin is not None:
                pin.release()
        _copy_back(d.env.skb, skb)
        if rc:
            raise self._fail(rc, None)
        return int(d.r0 & M32), int(dur.value)

    # --- XDP, tc and cgroup_skb: the packet the area's model holds ----------------------
    def run_direct(self, repeat: int = 1) -> tuple[int, int]:
        """Run ``repeat`` times on the packet the area's model holds (loaded from Python),
        as BPF_PROG_TEST_RUN's loop does: the last u32 and the mean ns per run. What the
        program wrote to its context goes back into the model after each run."""
        d = self.driver
        self._prepare(self._lazy, native_rng=repeat > 1, writeback=True)
        try:
            dur = ctypes.c_uint64()
            rc = self.so.vm_test_run(ctypes.byref(d), max(repeat, 1), ctypes.byref(dur))
        finally:
            self._finish()
        if rc:
            raise self._fail(rc, None)
        return int(d.r0 & M32), int(dur.value)

    # --- many frames --------------------------------------------------------------------
    def run_frames(
        self,
        frames: Sequence[bytes | bytearray | memoryview],
        metas: Sequence[FrameMeta] | FrameMeta,
        *,
        verdicts: bool = False,
    ) -> BatchResult:
        """Run on each frame (``metas``: one FrameMeta per frame, or one for all)."""
        n = len(frames)
        res = BatchResult(verdicts=array("I") if verdicts else None)
        if not n:
            return res
        buf = b"".join(frames)
        offs = array("Q", [0])
        offs.extend(accumulate(map(len, frames)))
        one = isinstance(metas, VmFrameMeta)
        meta_arr: Any = ctypes.byref(metas) if isinstance(metas, VmFrameMeta) else None
        if meta_arr is None:
            meta_arr = (VmFrameMeta * n)(*metas)
        out = (ctypes.c_uint32 * n)() if verdicts else None
        counts = VmCounts()
        d = self.driver
        self._prepare(self._lazy, native_rng=True, writeback=False)
        try:
            rc = self.so.vm_run_frames(
                ctypes.byref(d),
                buf,
                offs.buffer_info()[0],
                meta_arr,
                1 if one else 0,
                n,
                out,
                ctypes.byref(counts),
            )
        finally:
            self._finish()
        res.add(counts)
        res.records = res.packets
        if out is not None and res.verdicts is not None:
            res.verdicts.extend(out[: counts.packets])
        if rc:
            err = self._fail(rc, counts.packets)
            err.batch = res  # type: ignore[attr-defined]
            raise err
        return res

    # --- a capture ----------------------------------------------------------------------
    def run_capture(
        self,
        path: str | os.PathLike[str],
        *,
        mode: str = "ethernet",
        vlan_untag: bool = False,
        ifindex: int = 0,
        verdicts: bool = False,
        chunk: int = CHUNK,
        progress: Callable[[int, int, int], None] | None = None,
    ) -> BatchResult:
        """Run on every packet of a pcap or pcapng file, as a PacketSocket bound to
        ``ifindex`` (0: any) sees it, presented as ``mode`` says (see pybpf.net.linktype).

        Damage ends the run with every earlier packet run (``damage``); a file that is
        not a capture raises CaptureError. ``progress(bytes_read, file_size, packets)`` is
        called after each chunk of packets.
        """
        if mode not in _MODES:
            raise ValueError(f"presentation mode must be one of {tuple(_MODES)}, not {mode!r}")
        with _MappedCapture(path) as cap:
            c = cap.c
            c.mode = _MODES[mode]
            c.vlan_untag = 1 if vlan_untag else 0
            c.sock_ifindex = ifindex & M32
            res = BatchResult(verdicts=array("I") if verdicts else None)
            out = (ctypes.c_uint32 * chunk)() if verdicts else None
            d = self.driver
            while True:
                counts = VmCounts()
                self._prepare(self._lazy, native_rng=True, writeback=False)
                try:
                    rc = self.so.vm_run_capture(
                        ctypes.byref(d), cap.ptr, chunk, out, ctypes.byref(counts)
                    )
                finally:
                    self._finish()
                res.add(counts)
                if out is not None and res.verdicts is not None:
                    res.verdicts.extend(out[: counts.packets])
                res.records = int(c.records)
                if rc:
                    err = self._fail(rc, res.packets)
                    err.batch = res  # type: ignore[attr-defined]
                    raise err
                if progress is not None:
                    progress(int(c.pos), int(c.size), res.packets)
                if counts.packets < chunk:
                    break
            res.linktypes = {int(c.lt_ids[i]): int(c.lt_counts[i]) for i in range(c.nlt)}
            if c.failed:
                res.damage = CaptureError(
                    c.err.decode("utf-8", "replace"), offset=int(c.err_offset), path=cap.path
                )
            return res


#: program types whose verified programs write no __sk_buff field but cb[]
_CB_ONLY_TYPES = frozenset({uapi.BPF_PROG_TYPE_SOCKET_FILTER, uapi.BPF_PROG_TYPE_CGROUP_SKB})


def _verified(prog: Any) -> bool:
    """Whether ``prog`` carries pybpf's verifier's result (it was verified)."""
    return getattr(getattr(prog, "verification", None), "stats", None) is not None


def _frame_bytes(prog: Any) -> int:
    """Bytes of frame 0 a program can touch: the stack depth pybpf's verifier found for
    its main function (``prog.verification.stats.stack_depth[0]``), else the whole
    frame. Only those are zeroed when the frame is entered: a verified program cannot
    tell the difference from zeroing all 512."""
    depth = getattr(
        getattr(getattr(prog, "verification", None), "stats", None), "stack_depth", None
    )
    if isinstance(depth, list) and depth and isinstance(depth[0], int) and 0 <= depth[0] <= 512:
        return (depth[0] + 7) & ~7
    return STACK_SIZE


def _timer_maps() -> Callable[[Any, Any], bool]:
    """Whether a map holds bpf_timers (its update and delete must run in Python)."""
    from ..helpers.timers import has_timers

    return has_timers


_SKB_U32 = (
    "pkt_type mark queue_mapping protocol vlan_present vlan_tci vlan_proto priority "
    "ingress_ifindex ifindex tc_index hash tc_classid napi_id wire_len gso_segs gso_size"
).split()


def _fill_skb(out: Any, skb: Any, head_addr: int) -> None:
    """The native struct vm_skb of a linear pybpf.net.skb.SkBuff."""
    out.head = head_addr
    out.head_len = len(skb.head)
    out.data_off = skb.data_off
    out.mac_off = skb.mac_off
    out.net_off = skb.network_off
    for name in _SKB_U32:
        setattr(out, name, int(getattr(skb, name)) & M32)
    out.tstamp = skb.tstamp & ((1 << 64) - 1)
    out.hwtstamp = skb.hwtstamp & ((1 << 64) - 1)
    ctypes.memmove(out.cb, bytes(skb.cb[:20]).ljust(20, b"\0"), 20)


def _copy_back(native: Any, skb: Any) -> None:
    """What a program may have written to the __sk_buff, back into the SkBuff."""
    skb.cb[:20] = bytes(native.cb)
    for name in ("mark", "queue_mapping", "priority", "tc_index", "tc_classid"):
        setattr(skb, name, int(getattr(native, name)))
    skb.tstamp = int(native.tstamp)


class _MappedCapture:
    """A capture file mapped read-only, its format read (the pcap header here, the
    pcapng blocks natively), as the C scanner takes it."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.so = lib()
        self._file = open(self.path, "rb")  # noqa: SIM115 - closed in close()
        size = os.fstat(self._file.fileno()).st_size
        self._mm: mmap.mmap | None = None
        self._pin: BufferPin | None = None
        self.ptr = self.so.vm_capture_new()
        self.c = self.ptr.contents
        try:
            head = self._file.read(4)
            self._open(head, size)
        except BaseException:
            self.close()
            raise

    def _open(self, head: bytes, size: int) -> None:
        c = self.c
        if not head:
            raise CaptureError("empty file: no capture header", offset=0, path=self.path)
        if len(head) < 4:
            raise CaptureError(
                f"file of {len(head)} bytes is too short for a capture header",
                offset=0,
                path=self.path,
            )
        self._mm = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        self._pin = BufferPin(self._mm)
        c.buf = self._pin.addr
        c.size = size
        if head == b"\x0a\x0d\x0d\x0a":
            c.format = 2
            c.pos = 0
            return
        for big in (False, True):
            magic = int.from_bytes(head, "big" if big else "little")
            if magic in _PCAP_MAGICS:
                break
        else:
            raise CaptureError(
                f"not a pcap or pcapng capture (magic {head.hex()})", offset=0, path=self.path
            )
        nano, kuz = _PCAP_MAGICS[magic]
        if size < 24:
            raise CaptureError(
                f"truncated pcap file header: needs 24 bytes, only {size} left",
                offset=0,
                path=self.path,
            )
        order = ">" if big else "<"
        major, minor, _zone, _sig, snaplen, ltfield = struct.unpack_from(
            order + "HHiIII", self._mm, 4
        )
        if major != 2:
            raise CaptureError(
                f"unsupported pcap version {major}.{minor} (expected 2.x)", offset=4, path=self.path
            )
        c.format = 1
        c.big = 1 if big else 0
        c.kuz = 1 if kuz else 0
        c.nano = 1 if nano else 0
        c.linktype = ltfield & 0xFFFF
        c.limit = snaplen if 0 < snaplen <= MAX_RECORD else MAX_RECORD
        c.pos = 24

    def scan(self, max_packets: int = 4096) -> Iterable[tuple[bytes, tuple[int, ...]]]:
        """The presented packets, without a program (what differential tests compare):
        (frame, (protocol, pkt_type, hatype, mac_len, ifindex, vlan_present, vlan_tci,
        vlan_proto)) each."""
        desc = (ctypes.c_uint64 * (10 * max_packets))()
        cap = 1 << 22
        out = ctypes.create_string_buffer(cap)
        used = ctypes.c_uint64()
        while True:
            n = self.so.vm_capture_scan(self.ptr, max_packets, desc, out, cap, ctypes.byref(used))
            raw = out.raw
            for i in range(n):
                e = desc[10 * i : 10 * i + 10]
                yield raw[e[0] : e[0] + e[1]], tuple(e[2:])
            if n:
                continue
            if not self.so.vm_capture_pending(self.ptr):
                return
            cap *= 4  # the next packet is larger than the buffer
            out = ctypes.create_string_buffer(cap)

    def close(self) -> None:
        if self._pin is not None:
            self._pin.release()
            self._pin = None
        if self._mm is not None:
            self._mm.close()
            self._mm = None
        if self.ptr:
            self.so.vm_capture_free(self.ptr)
            self.ptr = None  # type: ignore[assignment]
        self._file.close()

    def __enter__(self) -> _MappedCapture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
