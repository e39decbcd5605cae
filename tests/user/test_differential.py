"""Differential checks: pybpf's user-space backend against the running kernel.

a. Verdicts: every example (examples/*.c compiled, the macro module) and every
   program of tests/verifier_corpus.py is loaded in both backends; pybpf's
   verifier and the kernel's must agree on accepted/refused.
b. Execution: every accepted socket filter runs on every frame of the
   Ethernet captures in tests/data/pcaps, in three kernel ways, each against
   the user backend's model of the same skb, with fresh maps per way:
     test_run  BPF_PROG_TEST_RUN as is (the skb starts at the network header)
               vs ``Program.test_run`` (which models exactly that);
     run       ``KernelProgram.run`` (the frame presented from the MAC header,
               see KernelProgram.frame_mode) vs ``Program.run``;
     socket    a real AF_PACKET socket on a veth pair in a private netns
               (KernelProgram.run_frame: bytes delivered = min(ret, len)) vs
               ``Program.run`` on the skb the receive path builds (one VLAN tag
               untagged, pkt_type against the veth's address).
   Return values per frame and the final maps must match. Programs calling a
   helper whose result is not reproducible (time, random numbers, cpu,
   socket cookie) are run in both but their return values are not compared.
c. Map operation sequences (hypothesis) through the Collection objects
   (``pybpf.maps.create_map(spec)`` vs ``KernelMap.from_spec(spec)``), reusing
   tests/test_maps_kernel.py's operation machinery.

Totals are collected in ``STATS`` and printed by ``test_zz_summary`` (``-s``).
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import require_bpf
from pybpf import uapi
from pybpf.errors import BpfError, KernelError, MapError, NotSupportedError, VerifierError
from pybpf.progtypes import sk_filter_result
from support import verifier_corpus as vc

pytestmark = pytest.mark.kernel

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"
EXAMPLES = ["sockex1_kern.c", "sockex2_kern.c", "sockex3_btf_kern.c", "sockex1_macros.py"]
NONDETERMINISTIC = {
    uapi.BPF_FUNC_ktime_get_ns,
    uapi.BPF_FUNC_get_prandom_u32,
    uapi.BPF_FUNC_get_smp_processor_id,
    uapi.BPF_FUNC_get_numa_node_id,
    uapi.BPF_FUNC_get_socket_cookie,
    uapi.BPF_FUNC_get_socket_uid,
    uapi.BPF_FUNC_jiffies64,
    uapi.BPF_FUNC_ktime_get_boot_ns,
    uapi.BPF_FUNC_ktime_get_coarse_ns,
    uapi.BPF_FUNC_ktime_get_tai_ns,
}
STATS: Counter[str] = Counter()
DIFFS: list[str] = []


from support.paths import PCAPS  # noqa: E402


def ethernet_frames() -> list[tuple[str, bytes]]:
    """(capture:index, frame) for every frame of every Ethernet capture."""
    from pybpf.net.capture import open_capture

    out = []
    for path in sorted(PCAPS.glob("*.pcap*")):
        try:
            reader = open_capture(path)
            pkts = list(reader.iter_packets(strict=False, mode="ethernet"))
        except BpfError:
            continue
        for i, p in enumerate(pkts):
            if p.linktype == 1:
                out.append((f"{path.name}:{i}", bytes(p.data)))
    return out


FRAMES = ethernet_frames()


# ----------------------------------------------------------------------------- subjects
class Subject:
    """One program in both backends, with its maps; ``fresh()`` reloads both."""

    def __init__(self, name: str, kind: str, payload: object):
        self.name, self.kind, self.payload = name, kind, payload

    def load(self, backend: str):
        """(program, {name: map}, closer)."""
        import pybpf

        if self.kind == "example":
            # verdicts are test_same_verdict's business: here the program just has to run
            coll = pybpf.load(EXAMPLES_DIR / str(self.payload), backend=backend, verify=False)
            return coll.program(), coll.maps, coll.close
        case: vc.Case = self.payload  # type: ignore[assignment]
        maps = corpus_maps(backend)
        fds = {k: m.fd for k, m in maps.items()}
        insns = case.build(fds)
        if backend == "kernel":
            from pybpf.kernel import KernelProgram

            prog = KernelProgram(insns, case.prog_type, case.license, name=case.name[:15])
        else:
            from pybpf.user.program import Program

            prog = Program(insns, case.prog_type, case.license, name=case.name)

        def close() -> None:
            if backend == "kernel":
                prog.close()
            for m in maps.values():
                m.close()

        return prog, maps, close

    def insns(self) -> list:
        prog, _maps, close = self.load("user")
        try:
            return list(prog.insns)
        finally:
            close()


def corpus_maps(backend: str) -> dict:
    if backend == "kernel":
        from pybpf.kernel import KernelMap

        try:
            return {
                n: KernelMap(t, ks, vs, me, fl, name=n)
                for n, (t, ks, vs, me, fl) in vc.MAPS.items()
            }
        except NotSupportedError as e:  # probed: this kernel lacks the map type
            pytest.skip(str(e))
    from pybpf.maps import Map

    return {n: Map(t, ks, vs, me, fl, name=n) for n, (t, ks, vs, me, fl) in vc.MAPS.items()}


def subjects() -> list[Subject]:
    out = [Subject(e, "example", e) for e in EXAMPLES]
    out += [Subject(c.name, "case", c) for c in vc.ALL_CASES]
    return out


SUBJECTS = subjects()


# ----------------------------------------------------------------------------- a. verdicts
def user_verdict(s: Subject) -> tuple[bool, str]:
    import pybpf

    try:
        if s.kind == "example":
            pybpf.load(EXAMPLES_DIR / str(s.payload), backend="user", verify=True)
        else:
            prog, _m, close = s.load("user")
            try:
                prog.verify(privileged=True)
            finally:
                close()
        return True, ""
    except VerifierError as e:
        return False, f"{errno.errorcode.get(e.errno, e.errno)}: {e.message}"
    except BpfError as e:  # refused before the verifier ran (a bad map fd: EBADF ...)
        return False, f"{errno.errorcode.get(e.errno, e.errno)}: {e}"


def kernel_verdict(s: Subject) -> tuple[bool, str]:
    try:
        _prog, _m, close = s.load("kernel")
        close()
        return True, ""
    except KernelError as e:
        if e.errno in (errno.EPERM,) and not e.log:
            pytest.skip(f"the kernel refused bpf(): {e}")
        lines = [
            ln
            for ln in e.log.splitlines()
            if ln.strip() and not ln.startswith(("processed ", "verification time"))
        ]
        return False, f"{errno.errorcode.get(e.errno, e.errno)}: {lines[-1] if lines else e}"


@pytest.mark.parametrize("subject", [vc.param(s.name, s) for s in SUBJECTS])
def test_same_verdict(subject: Subject) -> None:
    require_bpf()
    k_ok, k_why = kernel_verdict(subject)
    u_ok, u_why = user_verdict(subject)
    STATS["verdicts compared"] += 1
    STATS["verdicts agree"] += k_ok == u_ok
    STATS["accepted by kernel"] += k_ok
    if not k_ok and not u_ok:
        STATS["refusals with the same errno"] += k_why.split(":")[0] == u_why.split(":")[0]
    if k_ok != u_ok:
        DIFFS.append(f"verdict {subject.name}: kernel {k_ok} ({k_why}) pybpf {u_ok} ({u_why})")
    assert k_ok == u_ok, (
        f"kernel {'accepts' if k_ok else 'refuses: ' + k_why}; "
        f"pybpf {'accepts' if u_ok else 'refuses: ' + u_why}"
    )


# ----------------------------------------------------------------------------- b. execution
def map_state(maps: dict) -> dict:
    """Comparable contents: arrays/hashes by key, queues/stacks drained; ringbufs skipped."""
    out = {}
    for name, m in sorted(maps.items()):
        t = m.type
        if t in (uapi.BPF_MAP_TYPE_QUEUE, uapi.BPF_MAP_TYPE_STACK):
            vals = []
            while True:
                try:
                    v = m.pop()
                except MapError:
                    break
                if v is None:
                    break
                vals.append(bytes(v))
            out[name] = vals
        elif t in (uapi.BPF_MAP_TYPE_RINGBUF, uapi.BPF_MAP_TYPE_PROG_ARRAY):
            continue
        else:
            out[name] = sorted((bytes(k), bytes(v)) for k, v in m.items())
    return out


def calls(insns: list) -> set[int]:
    return {i.imm for i in insns if i.code == 0x85 and i.src == 0}


def outcome(fn, *args, **kw):
    try:
        return fn(*args, **kw)
    except BpfError as e:
        return f"error {errno.errorcode.get(e.errno, e.errno)}"


def untagged_len(frame: bytes) -> int:
    """Frame length after the receive path's skb_vlan_untag (one outer tag)."""
    if len(frame) >= 18 and frame[12:14] in (b"\x81\x00", b"\x88\xa8"):
        return len(frame) - 4
    return len(frame)


@contextlib.contextmanager
def loaded(s: Subject):
    up, um, uclose = s.load("user")
    try:
        kp, km, kclose = s.load("kernel")
    except KernelError:
        uclose()
        raise
    try:
        yield up, um, kp, km
    finally:
        kclose()
        uclose()


@pytest.fixture(scope="module")
def rig():
    require_bpf()
    from pybpf.kernel.netns import VethRig

    try:
        r = VethRig()
    except (KernelError, NotSupportedError) as e:
        if e.errno in (errno.EPERM, errno.ENOENT):
            pytest.skip(f"cannot create a network namespace with a veth pair here: {e}")
        raise
    yield r
    r.close()


RUN_SUBJECTS = [
    s
    for s in SUBJECTS
    if s.kind == "example"
    or (s.payload.priv and s.payload.prog_type == uapi.BPF_PROG_TYPE_SOCKET_FILTER)
]


@pytest.mark.parametrize("way", ["test_run", "run", "socket"])
@pytest.mark.parametrize("subject", RUN_SUBJECTS, ids=lambda s: s.name)
def test_same_results_on_captures(subject: Subject, way: str, rig) -> None:
    require_bpf()
    assert FRAMES, "no Ethernet frames found in tests/data/pcaps"
    try:
        ctx = loaded(subject)
        up, um, kp, km = ctx.__enter__()
    except KernelError:
        # nothing to run: the kernel refuses it (the corpus marks it accepted on some other
        # kernel); test_same_verdict reports the verdicts
        STATS[f"{way}: programs refused by this kernel, not run"] += 1
        return
    try:
        compare_ret = not (calls(list(kp.insns)) & NONDETERMINISTIC) and not (
            subject.kind == "case" and subject.payload.unreproducible
        )
        if way == "run" and kp.frame_mode() == "socket":
            # mixes skb->data and SKF_*_OFF addressing: only the socket way is faithful
            STATS["run: programs needing the socket path, not run"] += 1
            return
        diffs = []
        for where, frame in FRAMES:
            if way == "test_run":
                k = outcome(lambda f: kp.test_run(f).retval, frame)
                u = outcome(lambda f: up.test_run(f).retval, frame)
            elif way == "run":
                if len(frame) + 14 > 3600:  # larger than a test-run skb may be (E2BIG)
                    STATS["run: frames too large for test-run"] += 1
                    continue
                k = outcome(kp.run, frame)
                # the same skb: test-run's loopback device has no broadcast address
                u = outcome(up.run, frame, dev_broadcast=bytes(6))
            else:
                k = outcome(kp.run_frame, frame, rig)
                if k is None:
                    STATS["socket: frames dropped by the receive path"] += 1
                    continue
                ret = outcome(
                    up.run, frame, untag_vlan=True, dev_addr=rig.rx_mac, ifindex=rig.rx_ifindex
                )
                u = ret if isinstance(ret, str) else sk_filter_result(ret, untagged_len(frame))
            STATS[f"{way}: frames x programs run"] += 1
            if not compare_ret:
                STATS[f"{way}: return values not comparable (random/time/address)"] += 1
                continue
            STATS[f"{way}: return values compared"] += 1
            if k == u:
                STATS[f"{way}: return values agree"] += 1
            else:
                diffs.append(f"{where}: kernel {k} pybpf {u}")
        ks, us = map_state(km), map_state(um)
        STATS[f"{way}: final map sets compared"] += 1
        STATS[f"{way}: final map sets agree"] += ks == us
        if ks != us:
            diffs.append(f"final maps differ: kernel {ks} pybpf {us}"[:2000])
        for d in diffs:
            DIFFS.append(f"{way} {subject.name} {d}")
        assert not diffs, f"{len(diffs)} differences, first: " + "; ".join(diffs[:5])
    finally:
        ctx.__exit__(None, None, None)


# ----------------------------------------------------------------------------- c. map sequences
from support.mappair import SETTINGS, Pair, kv_ops, pinned_cpu0, run_kv  # noqa: E402


class CollectionPair(Pair):
    """test_maps_kernel's Pair with the kernel side a KernelMap and both built from one
    MapSpec, as pybpf.load builds them (KernelMap.from_spec / maps.create_map)."""

    def __init__(self, mtype, key_size, value_size, max_entries, flags=0, cpu=0):
        from pybpf.kernel import KernelMap
        from pybpf.maps import create_map
        from pybpf.spec.types import MapSpec

        spec = MapSpec("diff", mtype, key_size, value_size, max_entries, flags)
        self.km = KernelMap.from_spec(spec)
        self.fd = self.km.fd
        self.m = create_map(spec)
        self.m.cpu = cpu
        self.ks = key_size
        self.progs: dict = {}
        self.prog_updated = False
        self.uvs = self.m.user_value_size

    def close(self):
        for fd in self.progs.values():
            os.close(fd)
        self.km.close()
        self.m.close()

    def k_update(self, key, value, flags):
        self.km.update(key, value, flags)

    def k_lookup(self, key):
        return self.km.lookup(key)

    def k_delete(self, key):
        self.km.delete(key)

    def k_next(self, key):
        return self.km.next_key(key)

    def k_lad(self, key):
        try:
            return self.km.lookup_and_delete(key)
        except MapError as e:
            if e.errno == errno.ENOENT:
                return None
            raise

    def k_keys(self):
        return self.km.keys()


MAP_KINDS = {
    "hash": (uapi.BPF_MAP_TYPE_HASH, 4, 8, 6, uapi.BPF_F_ZERO_SEED),
    "array": (uapi.BPF_MAP_TYPE_ARRAY, 4, 8, 6, 0),
    "lru_hash": (uapi.BPF_MAP_TYPE_LRU_HASH, 4, 8, 4, uapi.BPF_F_ZERO_SEED),
    "percpu_hash": (uapi.BPF_MAP_TYPE_PERCPU_HASH, 4, 4, 5, uapi.BPF_F_ZERO_SEED),
}


@pytest.mark.skipif(Pair is None, reason="tests/test_maps_kernel.py is not importable")
@pytest.mark.parametrize("kind", list(MAP_KINDS))
def test_collection_map_sequences(kind: str) -> None:
    require_bpf()
    mtype, ks, vs, me, fl = MAP_KINDS[kind]
    keys = [i.to_bytes(4, "little") for i in (0, 1, 2, 5, 7, 1000)]

    @SETTINGS
    @given(ops=kv_ops(len(keys), prog_updates=True, prog_lookups=True))
    def run(ops):
        with pinned_cpu0() as cpu:
            pair = CollectionPair(mtype, ks, vs, me, fl, cpu)
            try:
                run_kv(pair, keys, ops, with_lad=kind != "array")
                STATS["map sequences compared"] += 1
            finally:
                pair.close()

    run()


@pytest.mark.skipif(Pair is None, reason="tests/test_maps_kernel.py is not importable")
@given(values=st.lists(st.integers(0, 2**32 - 1), max_size=12))
@SETTINGS if Pair is not None else (lambda f: f)
def test_collection_typed_views(values: list[int]) -> None:
    """Typed views read both backends the same way (struct formats)."""
    require_bpf()
    import pybpf

    u = pybpf.load(EXAMPLES_DIR / "sockex1_macros.py", backend="user")
    k = pybpf.load(EXAMPLES_DIR / "sockex1_macros.py", backend="kernel")
    try:
        tu, tk = u.maps["my_map"].typed("I", "Q"), k.maps["my_map"].typed("I", "Q")
        for i, v in enumerate(values):
            tu[i * 7 % 256] = v
            tk[i * 7 % 256] = v
        assert sorted(tu.items()) == sorted(tk.items())
        for view in (tu, tk):  # past the end of the array: ENOENT in both -> KeyError
            with pytest.raises(KeyError):
                view[300]
    finally:
        k.close()


def test_zz_summary() -> None:
    """Print what was compared (pytest -s)."""
    print("\n== differential summary ==")
    for k, v in sorted(STATS.items()):
        print(f"  {k}: {v}")
    for d in DIFFS[:40]:
        print("  DIFF", d[:300])
