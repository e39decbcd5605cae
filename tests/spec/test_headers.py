"""pybpf's own C headers (src/pybpf/include) agree with the kernel's and libbpf's.

The headers are written from the ABI, never copied; these tests prove the ABI
is right by asking the compiler, not by reading text (tests/spec/header_probe.py):
every macro, enumerator, struct, union, enum and typedef that ``#include <H>``
gives with the reference headers must exist in pybpf's, every integer constant
with the same value, size and signedness, every struct, union and enum with the
same size and member offsets, every helper with the same id and prototype. The
references:

* the host's installed headers (linux-libc-dev, libbpf-dev: Linux 6.1 and
  libbpf 1.1 on Debian 12);
* the uapi and libbpf headers of the kernel source .ci/fetch-kernel-samples
  fetched (Linux 6.12), with libbpf's bpf_helper_defs.h generated from that
  bpf.h's documented prototypes as libbpf's build does;
* the running kernel's own BTF (Linux 6.18): exact layouts and enumerator values.

pybpf's headers follow the newest kernel, so against an older reference a
*MAX* sentinel may be larger and an extensible struct may have grown (the
older members where they were); both are reported, not failed. Each test skips,
saying why, when its reference is absent.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import header_probe as hp
import kernel_corpus
import pytest

from pybpf import isa, uapi
from pybpf.spec import headergen, sections
from pybpf.spec.btf import BTF
from pybpf.spec.cc import BASE_FLAGS, INCLUDE_DIR, compile_c, compiler_command, shipped_headers
from pybpf.spec.elf import load_object
from pybpf.spec.helper_decls import DECLS

#: the headers libbpf-style programs include (issue 17)
HEADERS = [
    "linux/bpf.h",
    "linux/types.h",
    "linux/if_ether.h",
    "linux/if_packet.h",
    "linux/ip.h",
    "linux/ipv6.h",
    "linux/icmp.h",
    "linux/icmpv6.h",
    "linux/tcp.h",
    "linux/udp.h",
    "linux/in.h",
    "linux/in6.h",
    "linux/pkt_cls.h",
    "linux/if_vlan.h",
    "linux/seccomp.h",
    "linux/filter.h",
    "linux/if_tunnel.h",
    "linux/mpls.h",
    "linux/errno.h",
    "bpf/bpf_helpers.h",
    "bpf/bpf_endian.h",
    "bpf/bpf_helper_defs.h",
]

#: what the kernel changed incompatibly since an older reference, and the kernel version
CHANGED = {
    "struct tcphdr": "Linux 6.17 took the first reserved bit for AccECN's `ae` flag",
    "TCP_RESERVED_BITS": "Linux 6.17 took the first reserved bit for AccECN (TCP_FLAG_AE)",
}
#: types the kernel defines differently inside itself (not uapi) than a header may
KERNEL_INTERNAL = {
    "struct sockaddr": "the kernel's own (include/linux/socket.h) has a flexible sa_data; "
    "<linux/if.h> takes the C library's 14-byte one",
}

MINE = hp.HeaderSet("pybpf", (INCLUDE_DIR,))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("headers")


def _check(diff: hp.Diff) -> None:
    problems = {k: v for k, v in diff.problems.items() if k not in CHANGED}
    assert not problems, "\n".join(f"{k}: {v}" for k, v in problems.items())
    assert diff.checked > 0


# ---- the references ------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("header", HEADERS)
def test_agrees_with_the_installed_headers(header, workdir):
    ref = hp.system_set()
    if ref is None:
        pytest.skip("no kernel uapi headers installed (apt-get install linux-libc-dev libbpf-dev)")
    if header.startswith("bpf/") and not (Path("/usr/include") / header).is_file():
        pytest.skip(f"/usr/include/{header} is not installed (apt-get install libbpf-dev)")
    _check(hp.compare(ref, MINE, header, workdir))


@pytest.mark.slow
@pytest.mark.parametrize("header", HEADERS)
def test_agrees_with_the_kernel_source_headers(header, workdir):
    ref = hp.source_tree_set(kernel_corpus.CORPUS)
    if ref is None:
        pytest.skip(kernel_corpus.MISSING)
    _check(hp.compare(ref, MINE, header, workdir))


@pytest.mark.parametrize("header", [h for h in HEADERS if h.startswith("linux/")])
def test_agrees_with_the_running_kernels_btf(header, workdir):
    """Every uapi struct, union and enum the kernel has: the same layout, the same values."""
    if not hp.VMLINUX.exists():
        pytest.skip("/sys/kernel/btf/vmlinux is not here: no BTF of the running kernel")
    kernel = BTF.parse(hp.VMLINUX.read_bytes())
    n = hp.names(MINE, header, workdir)
    want = [f"struct {x}" for x in n.structs] + [f"union {x}" for x in n.unions]
    want += [f"enum {x}" for x in n.enums] + sorted(n.typedefs)
    theirs = {k: v for k, v in hp.btf_layouts(kernel, want).items() if k not in KERNEL_INTERNAL}
    ours = hp.layouts(MINE, hp.includes(header), {k: k for k in theirs}, workdir)
    bad = {k: hp._layout_diff(theirs[k], ours[k]) for k in theirs if ours.get(k) != theirs[k]}
    assert not bad, "\n".join(f"{k}: {v}" for k, v in bad.items())
    known = hp.btf_enumerators(kernel)
    mine = {e: e for e in n.enumerators if e in known}
    values = hp.evaluate(MINE, hp.includes(header), mine, workdir)
    wrong = {
        e: (values.get(e), known[e].value)
        for e in mine
        if values.get(e, None) is None or values[e].value != known[e].value
    }
    assert not wrong, wrong
    # every enumerator of an enum the header shares with the kernel is in the header
    missing = []
    for t in kernel.types:
        if t.kind in (6, 19) and t.name and f"enum {t.name}" in theirs:
            missing += [name for name, _v in t.enums if name not in n.enumerators]
    assert not missing, missing
    if not theirs and not mine:
        pytest.skip(f"the running kernel's BTF has none of <{header}>'s types or enumerators")


# ---- one source of truth -------------------------------------------------------------------


def test_generated_regions_are_up_to_date():
    assert headergen.stale() == [], "run python -m pybpf.spec.headergen"


def test_constants_are_pybpf_s_own(workdir):
    """The values the headers give are the ones pybpf itself uses (uapi.py, isa.py, sections.py)."""
    tables = {
        k: v
        for mod in (uapi, isa)
        for k, v in vars(mod).items()
        if re.fullmatch(r"(BPF|SKF|SO|PACKET)_[A-Z0-9_a-z]+", k) and isinstance(v, int)
    }
    attach = {
        k: v for k, v in vars(sections).items() if k.startswith("BPF_") and isinstance(v, int)
    }
    tables.update(attach)
    heads = ["linux/bpf.h", "linux/filter.h", "linux/if_packet.h"]
    values = hp.evaluate(MINE, heads, {k: k for k in tables}, workdir)
    disagree = {k: (values[k].value, tables[k]) for k in values if values[k].value != tables[k]}
    assert not disagree, disagree
    assert len(values) > 300


def test_helper_declarations_match_pybpf_s_helper_table():
    """Every helper pybpf implements is declared with every argument the kernel checks.

    (A declaration may have more: bpf_get_cgroup_classid's socket-filter variant
    ignores the skb the declaration passes.)"""
    from pybpf.helpers.table import HELPERS

    assert set(DECLS) == {n for i, n in uapi.FUNC_NAMES.items() if i}
    for fid, h in HELPERS.items():
        params = DECLS[uapi.FUNC_NAMES[fid]][1]
        n = 0 if params == "void" else params.count(",") + 1
        if params.endswith("..."):
            n -= 1  # bpf_trace_printk: the format's arguments go in r3..r5
            assert len(h.proto.args) >= n
        else:
            assert len(h.proto.args) <= n, (uapi.FUNC_NAMES[fid], params, h.proto.args)


# ---- the include search --------------------------------------------------------------------


@pytest.mark.parametrize("header", shipped_headers())
def test_every_header_compiles_alone(header, tmp_path):
    src = tmp_path / "one.c"
    pre = "".join(f"#include <{h}>\n" for h in hp.PRELUDE.get(header, ()))
    src.write_text(f"{pre}#include <{header}>\nint __pybpf_probe;\n")
    compile_c(src, tmp_path / "one.o", use_cache=False)


def test_include_search_is_pybpf_s_headers_and_the_compiler_s_only(tmp_path):
    """No system directory is searched, even on a machine that has kernel headers."""
    src = tmp_path / "v.c"
    src.write_text("int x;\n")
    res = subprocess.run(
        [
            *compiler_command(),
            *BASE_FLAGS,
            "-I",
            str(INCLUDE_DIR),
            "-v",
            "-c",
            str(src),
            "-o",
            str(tmp_path / "v.o"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    text = res.stderr
    search = text[text.index("<...> search starts here:") : text.index("End of search list.")]
    dirs = [ln.strip() for ln in search.splitlines()[1:] if ln.strip()]
    assert Path(dirs[0]) == INCLUDE_DIR
    assert len(dirs) == 2 and dirs[1].endswith(("lib/include", "/include")), dirs
    assert not any(d.startswith("/usr") for d in dirs), dirs


def test_system_headers_are_not_found_even_when_installed(tmp_path):
    if not Path("/usr/include/linux/netlink.h").exists():
        pytest.skip("/usr/include/linux/netlink.h is not installed, nothing to hide")
    src = tmp_path / "n.c"
    src.write_text("#include <linux/netlink.h>\nint x;\n")
    from pybpf.errors import CompileError

    with pytest.raises(CompileError, match="is not among the headers pybpf ships"):
        compile_c(src, use_cache=False)


# ---- the comparison can fail ---------------------------------------------------------------


def test_the_comparison_finds_what_is_wrong(tmp_path, workdir):
    """A header set with one wrong value, one wrong layout and one missing macro is caught."""
    bad = tmp_path / "bad"
    for h in INCLUDE_DIR.rglob("*.h"):
        dst = bad / h.relative_to(INCLUDE_DIR)
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(h.read_text())
    p = bad / "linux" / "if_ether.h"
    text = p.read_text()
    text = text.replace("#define ETH_P_IP\t0x0800", "#define ETH_P_IP\t0x0801")
    text = text.replace("#define ETH_P_ARP\t0x0806\n", "")
    text = text.replace(
        "\t__be16\t\th_proto;\n} __attribute__((packed));", "\t__be32\t\th_proto;\n};"
    )
    p.write_text(text)
    d = hp.compare(MINE, hp.HeaderSet("bad", (bad,)), "linux/if_ether.h", workdir)
    assert set(d.problems) == {"ETH_P_IP", "ETH_P_ARP", "struct ethhdr"}, d.problems
    assert "0x801" in d.problems["ETH_P_IP"] and "0x800" in d.problems["ETH_P_IP"]


# ---- libbpf's macros compile to the same code --------------------------------------------


MACROS = r"""
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct iphdr);
	__uint(max_entries, 64);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} hosts SEC(".maps");
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, int (void *));
} jumps SEC(".maps");
SEC("socket") int prog(struct __sk_buff *skb)
{
	__u32 key = bpf_ntohl(skb->remote_ip4) ^ bpf_htons(ETH_P_IP);
	struct iphdr *ip = bpf_map_lookup_elem(&hosts, &key);
	bpf_printk("%d %d", key, skb->len);
	bpf_printk("%d %d %d %d", key, skb->len, skb->protocol, skb->mark);
	bpf_tail_call_static(skb, &jumps, 2);
	barrier_var(key);
	return ip ? ip->ttl + bpf_htonl(key) + __bpf_constant_ntohs(0x1234) : 0;
}
char _license[] SEC("license") = "GPL";
"""


def test_libbpf_macros_compile_to_the_same_object_as_libbpf_s(tmp_path):
    """SEC, __uint/__type/__array, bpf_printk, bpf_tail_call_static, bpf_htons ... as libbpf."""
    ref = hp.system_set()
    if ref is None or not Path("/usr/include/bpf/bpf_helpers.h").is_file():
        pytest.skip("libbpf's headers are not installed (apt-get install libbpf-dev)")
    src = tmp_path / "m.c"
    src.write_text(MACROS)
    objs = {}
    for hs in (ref, MINE):
        obj = tmp_path / f"m-{hs.name}.o"
        res = subprocess.run(
            [
                *compiler_command(),
                "-target",
                "bpfel-freestanding",
                "-g",
                "-O2",
                "-mcpu=v3",
                *hs.flags(),
                "-c",
                str(src),
                "-o",
                str(obj),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert res.returncode == 0, res.stderr
        objs[hs.name] = load_object(obj)
    a, b = objs["system"], objs["pybpf"]
    assert [i.encode() for i in a.programs["prog"].insns] == [
        i.encode() for i in b.programs["prog"].insns
    ]
    for name in ("hosts", "jumps"):
        ma, mb = a.maps[name], b.maps[name]
        assert (ma.type, ma.key_size, ma.value_size, ma.max_entries, ma.flags) == (
            mb.type,
            mb.key_size,
            mb.value_size,
            mb.max_entries,
            mb.flags,
        )
    assert b.maps["hosts"].value_size == 20
