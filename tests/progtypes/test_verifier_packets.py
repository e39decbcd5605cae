"""pybpf's verifier on packet pointers against the kernel's: the same verdict, the same reason.

Each case is a small XDP, tc or cgroup_skb program (llvm-objdump syntax) about
PTR_TO_PACKET / PACKET_END / PACKET_META: the ranges comparisons give
(find_good_pkt_pointers, every comparison form), variable offsets, metadata,
writes where a program type may not write, pointers forgotten after a helper that
changes the packet (in registers and spilled on the stack), helpers that may or
may not take packet memory, pointer arithmetic on data_end, return ranges per
attach type. Each is loaded into the kernel and into pybpf's verifier; the verdicts
must agree and a refusal's message must be the kernel's. The examples must verify
with the kernel's statistics line.
"""

from __future__ import annotations

import re

import pytest

from conftest import require_bpf
from pybpf import uapi
from pybpf.asm.text import assemble
from pybpf.errors import KernelError, VerifierError
from pybpf.isa import BPF_PSEUDO_MAP_FD
from pybpf.kernel import syscall as sc
from pybpf.verifier.check import Verifier
from support.paths import EXAMPLES
from support.verifier_corpus.run import error_line

pytestmark = pytest.mark.kernel

XDP, CLS, CG = uapi.BPF_PROG_TYPE_XDP, uapi.BPF_PROG_TYPE_SCHED_CLS, uapi.BPF_PROG_TYPE_CGROUP_SKB
EGRESS = uapi.BPF_CGROUP_INET_EGRESS
#: where each type's data and data_end are
PTRS = {XDP: (0, 4), CLS: (76, 80), CG: (76, 80)}

LOAD = """
r2 = *(u32 *)(r1 + {data})
r3 = *(u32 *)(r1 + {end})
"""

#: name -> (program types, source; {data} and {end} are the type's offsets)
CASES: dict[str, tuple[tuple[int, ...], str]] = {
    "read_after_check": (
        (XDP, CLS, CG),
        LOAD
        + """
r4 = r2
r4 += 14
if r4 > r3 goto out
r0 = *(u8 *)(r2 + 13)
r0 = *(u16 *)(r2 + 12)
r0 = *(u32 *)(r2 + 8)
r0 = *(u64 *)(r2 + 0)
out:
r0 = 1
exit
""",
    ),
    "read_past_the_range": (
        (XDP, CLS, CG),
        LOAD
        + """
r4 = r2
r4 += 14
if r4 > r3 goto out
r0 = *(u8 *)(r2 + 14)
out:
r0 = 1
exit
""",
    ),
    "read_without_check": (
        (XDP, CLS, CG),
        LOAD
        + """
r0 = *(u8 *)(r2 + 0)
r0 = 1
exit
""",
    ),
    "check_ge_swapped": (
        (XDP, CLS),
        LOAD
        + """
r4 = r2
r4 += 20
if r3 >= r4 goto ok
r0 = 1
exit
ok:
r0 = *(u32 *)(r2 + 16)
r0 = 1
exit
""",
    ),
    "check_lt": (
        (XDP, CLS),
        LOAD
        + """
r4 = r2
r4 += 8
if r4 < r3 goto ok
r0 = 1
exit
ok:
r0 = *(u64 *)(r2 + 0)
r0 = 1
exit
""",
    ),
    "check_lt_one_short": (
        (XDP, CLS),
        LOAD
        + """
r4 = r2
r4 += 8
if r4 < r3 goto ok
r0 = 1
exit
ok:
r0 = *(u8 *)(r2 + 8)
r0 = 1
exit
""",
    ),
    "check_le_swapped": (
        (XDP, CLS),
        LOAD
        + """
r4 = r2
r4 += 8
if r3 <= r4 goto out
r0 = *(u64 *)(r2 + 0)
out:
r0 = 1
exit
""",
    ),
    "variable_offset_masked": (
        (XDP, CLS),
        LOAD
        + """
r4 = r2
r4 += 15
if r4 > r3 goto out
r5 = *(u8 *)(r2 + 14)
r5 &= 15
r5 <<= 2
r2 += r5
r4 = r2
r4 += 4
if r4 > r3 goto out
r0 = *(u32 *)(r2 + 0)
out:
r0 = 1
exit
""",
    ),
    "variable_offset_unbounded": (
        (XDP, CLS),
        LOAD
        + """
r4 = r2
r4 += 15
if r4 > r3 goto out
r5 = *(u8 *)(r2 + 14)
r5 <<= 8
r2 += r5
r4 = r2
r4 += 4
if r4 > r3 goto out
r0 = *(u32 *)(r2 + 0)
out:
r0 = 1
exit
""",
    ),
    "write_packet": (
        (XDP, CLS, CG),
        LOAD
        + """
r4 = r2
r4 += 2
if r4 > r3 goto out
*(u16 *)(r2 + 0) = 7
out:
r0 = 1
exit
""",
    ),
    "pkt_end_arithmetic": (
        (XDP, CLS),
        LOAD
        + """
r3 += 1
r0 = 1
exit
""",
    ),
    "pkt_pointer_negative": (
        (XDP, CLS),
        LOAD
        + """
r4 = r2
r4 += 8
if r4 > r3 goto out
r0 = *(u8 *)(r2 - 1)
out:
r0 = 1
exit
""",
    ),
    "meta_checked": (
        (XDP, CLS),
        """
r4 = *(u32 *)(r1 + {meta})
r2 = *(u32 *)(r1 + {data})
r5 = r4
r5 += 4
if r5 > r2 goto out
r0 = *(u32 *)(r4 + 0)
out:
r0 = 1
exit
""",
    ),
    "meta_unchecked": (
        (XDP, CLS),
        """
r4 = *(u32 *)(r1 + {meta})
r0 = *(u8 *)(r4 + 0)
r0 = 1
exit
""",
    ),
    "meta_in_cgroup": (
        (CG,),
        """
r4 = *(u32 *)(r1 + 140)
r0 = 1
exit
""",
    ),
    "stale_after_adjust_head": (
        (XDP,),
        LOAD
        + """
r6 = r1
r4 = r2
r4 += 14
if r4 > r3 goto out
r7 = r2
r1 = r6
r2 = 4
call 44
r0 = *(u8 *)(r7 + 0)
out:
r0 = 1
exit
""",
    ),
    "reloaded_after_adjust_head": (
        (XDP,),
        """
r6 = r1
r2 = 4
call 44
r2 = *(u32 *)(r6 + 0)
r3 = *(u32 *)(r6 + 4)
r4 = r2
r4 += 1
if r4 > r3 goto out
r0 = *(u8 *)(r2 + 0)
out:
r0 = 2
exit
""",
    ),
    "spilled_then_stale": (
        (CLS,),
        LOAD
        + """
r6 = r1
r4 = r2
r4 += 14
if r4 > r3 goto out
*(u64 *)(r10 - 8) = r2
r1 = r6
call 39
r7 = *(u64 *)(r10 - 8)
r0 = *(u8 *)(r7 + 0)
out:
r0 = 0
exit
""",
    ),
    "spilled_and_kept": (
        (CLS,),
        LOAD
        + """
r6 = r1
r4 = r2
r4 += 14
if r4 > r3 goto out
*(u64 *)(r10 - 8) = r2
r1 = r6
call 34
r7 = *(u64 *)(r10 - 8)
r0 = *(u8 *)(r7 + 13)
out:
r0 = 0
exit
""",
    ),
    "packet_key_for_lookup": (
        (XDP, CLS),
        LOAD
        + """
r4 = r2
r4 += 4
if r4 > r3 goto out
r1 = 0x7ead ll
call 1
out:
r0 = 1
exit
""",
    ),
    "packet_to_trace_printk": (
        (XDP, CLS),
        LOAD
        + """
r4 = r2
r4 += 4
if r4 > r3 goto out
r1 = r2
r2 = 4
call 6
out:
r0 = 1
exit
""",
    ),
    "packet_to_csum_diff": (
        (XDP, CLS),
        LOAD
        + """
r4 = r2
r4 += 20
if r4 > r3 goto out
r1 = 0
r3 = r2
r2 = 0
r4 = 20
r5 = 0
call 28
out:
r0 = 1
exit
""",
    ),
    "csum_diff_past_range": (
        (XDP,),
        LOAD
        + """
r4 = r2
r4 += 16
if r4 > r3 goto out
r1 = 0
r3 = r2
r2 = 0
r4 = 20
r5 = 0
call 28
out:
r0 = 1
exit
""",
    ),
    "return_two": (
        (CG,),
        """
r0 = 2
exit
""",
    ),
    "egress_ifindex": (
        (XDP,),
        """
r0 = *(u32 *)(r1 + 20)
r0 = 2
exit
""",
    ),
    "ld_abs_in_xdp": (
        (XDP,),
        """
r6 = r1
r0 = *(u8 *)skb[12]
r0 = 2
exit
""",
    ),
    "compare_pkt_pointers_32bit": (
        (XDP,),
        LOAD
        + """
r4 = r2
r4 += 8
if w4 > w3 goto out
r0 = *(u64 *)(r2 + 0)
out:
r0 = 2
exit
""",
    ),
}


def _source(src: str, prog_type: int, hash_fd: int) -> list:
    """The case for ``prog_type``; ``r1 = 0x7ead ll`` becomes a reference to the map."""
    data, end = PTRS[prog_type]
    meta = {XDP: 8, CLS: 140, CG: 140}[prog_type]
    insns = assemble(src.format(data=data, end=end, meta=meta))
    return [
        i.replace(src=BPF_PSEUDO_MAP_FD, imm=hash_fd) if i.is_lddw and i.imm == 0x7EAD else i
        for i in insns
    ]


def _params() -> list:
    out = []
    for name, (types, _src) in CASES.items():
        for t in types:
            out.append(pytest.param(name, t, 0, id=f"{name}-{uapi.PROG_TYPE_NAMES[t]}"))
            if t == CG and name == "return_two":
                out.append(pytest.param(name, t, EGRESS, id=f"{name}-cgroup_skb-egress"))
    return out


@pytest.mark.parametrize(("name", "prog_type", "attach"), _params())
def test_verdict_and_reason_agree(name, prog_type, attach):
    require_bpf()
    from pybpf.kernel.maps import KernelMap
    from pybpf.maps import Map

    km, um = KernelMap(uapi.BPF_MAP_TYPE_HASH, 4, 8, 4), Map(uapi.BPF_MAP_TYPE_HASH, 4, 8, 4)
    src = CASES[name][1]
    try:
        try:
            r = sc.prog_load_result(
                prog_type, _source(src, prog_type, km.fd), "GPL", 1, 1 << 20, "", attach, 0
            )
            sc.close(r.fd)
            kernel = (True, "")
        except KernelError as e:
            kernel = (False, error_line(e.log))
        try:
            Verifier(
                _source(src, prog_type, um.fd),
                prog_type=prog_type,
                expected_attach_type=attach,
                map_resolver=lambda insn: um,
            ).verify()
            mine = (True, "")
        except VerifierError as e:
            mine = (False, e.message)
    finally:
        km.close()
        um.close()
    assert mine[0] == kernel[0], (name, kernel, mine)
    if not kernel[0]:
        assert mine[1] in kernel[1].split(" | "), (name, kernel[1], mine[1])


def test_the_corpus_covers_both_verdicts():
    """Not every case accepted, not every case refused: the corpus can tell."""
    require_bpf()
    from pybpf.kernel.maps import KernelMap

    km = KernelMap(uapi.BPF_MAP_TYPE_HASH, 4, 8, 4)
    seen = set()
    for _name, (types, src) in CASES.items():
        t = types[0]
        try:
            r = sc.prog_load_result(t, _source(src, t, km.fd), "GPL", 0, 0, "", 0, 0)
            sc.close(r.fd)
            seen.add(True)
        except KernelError:
            seen.add(False)
    km.close()
    assert seen == {True, False}


@pytest.mark.parametrize("name", ["xdp_firewall", "tc_vlan", "cgroup_skb_bytes"])
def test_examples_verify_as_in_the_kernel(name):
    """The examples pass both verifiers with the same statistics line and the same log."""
    require_bpf()
    import pybpf
    from pybpf.spec.cc import compile_c

    obj = compile_c(EXAMPLES / f"{name}_kern.c")
    k = pybpf.load(obj, backend="kernel", log_level=1)
    u = pybpf.load(obj, log_level=1)
    prog = next(iter(k.programs))
    klog = k.verifier[prog]
    klog = klog if isinstance(klog, str) else klog.log
    ulog = u.verifier[prog].log
    stat = re.compile(r"^processed .*$", re.M)
    assert stat.findall(ulog) == stat.findall(klog)
    assert ulog == klog
    k.close()
    u.close()
