"""What the classic BPF tests share: real frames, random programs, tcpdump."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from hypothesis import strategies as st

from pybpf.cbpf.insn import (
    ANCILLARY,
    BPF_A,
    BPF_LEN,
    BPF_MISC,
    BPF_MSH,
    BPF_RET,
    BPF_TAX,
    BPF_TXA,
    SockFilter,
)
from pybpf.errors import BpfError
from pybpf.isa import (
    BPF_ABS,
    BPF_ADD,
    BPF_ALU,
    BPF_AND,
    BPF_B,
    BPF_DIV,
    BPF_H,
    BPF_IMM,
    BPF_IND,
    BPF_JA,
    BPF_JEQ,
    BPF_JGE,
    BPF_JGT,
    BPF_JMP,
    BPF_JSET,
    BPF_K,
    BPF_LD,
    BPF_LDX,
    BPF_LSH,
    BPF_MEM,
    BPF_MOD,
    BPF_MUL,
    BPF_NEG,
    BPF_OR,
    BPF_RSH,
    BPF_ST,
    BPF_STX,
    BPF_SUB,
    BPF_W,
    BPF_X,
    BPF_XOR,
)
from support.paths import PCAPS

TCPDUMP = shutil.which("tcpdump")

#: filter expressions across the kinds the issue names: protocols, hosts, nets, ports, port
#: ranges, byte tests, tcpflags, VLAN, length, boolean combinations
EXPRESSIONS = [
    "ip",
    "ip6",
    "arp or rarp",
    "tcp",
    "udp",
    "icmp or icmp6",
    "sctp",
    "ip proto gre",
    "ip proto 47 or ip proto 50",
    "host 10.0.0.1",
    "src host 192.168.1.1 or dst host 10.10.10.10",
    "net 192.168.0.0/16",
    "src net 10.0.0.0/8 and dst port 53",
    "tcp port 80",
    "udp and port 53",
    "port 123 or port 69",
    "portrange 1024-65535",
    "tcp dst portrange 1-1023",
    "ip[8] < 64",
    "ip[2:2] > 576 and not tcp",
    "ip[6:2] & 0x1fff != 0",
    "ip and (ip[0] & 0xf) > 5",
    "udp[8:2] = 0x1234 or tcp[20] = 0x16",
    "ether[0] & 1 = 1",
    "ether broadcast",
    "ether multicast",
    "ether proto 0x88cc",
    "tcp[tcpflags] & tcp-syn != 0",
    "tcp[tcpflags] & (tcp-syn|tcp-fin) != 0 and not src port 22",
    "tcp[13] = 18",
    "icmp[icmptype] = icmp-echo",
    "vlan",
    "vlan and ip",
    "vlan 100",
    "mpls",
    "pppoes",
    "greater 200",
    "less 100",
    "len >= 1000",
    "ip6 and tcp port 443",
    "not (tcp or udp)",
    "(tcp or udp) and not (port 53 or port 80)",
]


def tcpdump_program(expr: str, flag: str = "-ddd", linktype: str = "EN10MB") -> str:
    out = subprocess.run(
        [TCPDUMP, "-y", linktype, flag, expr], capture_output=True, text=True, check=True
    )
    return out.stdout


def tcpdump_count(path: Path, expr: str) -> int | None:
    """What ``tcpdump -r path --count expr`` counts (None when tcpdump cannot read it)."""
    out = subprocess.run(
        [TCPDUMP, "-r", str(path), "--count", expr], capture_output=True, text=True
    )
    m = re.search(r"(\d+) packets?", out.stdout + out.stderr)
    return None if m is None else int(m.group(1))


def ethernet_frames() -> list[tuple[str, bytes]]:
    """(capture:index, frame) for every Ethernet frame in tests/data/pcaps."""
    from pybpf.net.capture import open_capture

    out = []
    for path in sorted(PCAPS.glob("*.pcap*")):
        try:
            with open_capture(path) as reader:
                pkts = list(reader.iter_packets(strict=False, mode="ethernet"))
        except BpfError:
            continue
        for i, p in enumerate(pkts):
            if p.linktype == 1:
                out.append((f"{path.name}:{i}", bytes(p.data)))
    return out


# --- random classic programs ------------------------------------------------------------
_ALU_OPS = (BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_MOD, BPF_AND, BPF_OR, BPF_XOR, BPF_LSH,
            BPF_RSH)  # fmt: skip
_JMP_OPS = (BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET)
_SIZES = (BPF_W, BPF_H, BPF_B)
#: packet offsets worth trying: the frame's headers, its end, past it, the header bases
_OFFSETS = st.one_of(
    st.integers(0, 80),
    st.integers(0, 2000),
    st.sampled_from([0xFFF00000, 0xFFF00000 + 9, 0xFFE00000, 0xFFE00000 + 12, 0x7FFFFFFF]),
)
_K = st.one_of(
    st.integers(0, 0xFFFF_FFFF),
    st.integers(0, 64),
    st.sampled_from([0, 1, 2, 0x800, 0x86DD, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF]),
)


@st.composite
def classic_programs(
    draw, *, ancillary: bool = True, size: int = 24, dead_code: bool = True
) -> list[SockFilter]:
    """Programs the kernel accepts: forward jumps, scratch written before read, a final RET.

    Every loop-free shape the checker allows can come out: loads of every kind
    (packet, indirect, MSH, length, scratch, ancillary), every ALU op (no
    constant zero divisor, no constant shift of 32 or more), conditional and
    unconditional jumps, RET K and RET A. ``dead_code=False`` leaves out what
    makes instructions unreachable (a RET before the end, BPF_JA), which the
    eBPF verifier would refuse in the converted program.
    """
    n = draw(st.integers(2, size))
    prog: list[SockFilter] = []
    # scratch words written on every path, tracked as check_load_and_stores() does
    masks = [0xFFFF] * (n + 1)
    written = 0
    for i in range(n - 1):
        written &= masks[i]
        left = n - 1 - i  # instructions after this one
        kind = draw(
            st.sampled_from(
                ["alu", "alu", "ld", "ld", "ldx", "jmp", "jmp", "st", "misc"]
                + (["ja", "ret"] if dead_code else [])
                + (["anc"] if ancillary else [])
            )
        )
        if kind == "alu":
            op = draw(st.sampled_from(_ALU_OPS + (BPF_NEG,)))
            if op == BPF_NEG:
                prog.append(SockFilter(BPF_ALU | BPF_NEG))
                continue
            if draw(st.booleans()):
                prog.append(SockFilter(BPF_ALU | op | BPF_X))
                continue
            k = draw(_K)
            if op in (BPF_DIV, BPF_MOD):
                k = k or 1
            if op in (BPF_LSH, BPF_RSH):
                k %= 32
            prog.append(SockFilter(BPF_ALU | op | BPF_K, 0, 0, k))
        elif kind == "ld":
            mode = draw(st.sampled_from(["abs", "ind", "len", "imm", "mem"]))
            size_ = draw(st.sampled_from(_SIZES))
            if mode == "abs":
                prog.append(SockFilter(BPF_LD | size_ | BPF_ABS, 0, 0, draw(_OFFSETS)))
            elif mode == "ind":
                prog.append(SockFilter(BPF_LD | size_ | BPF_IND, 0, 0, draw(_OFFSETS)))
            elif mode == "len":
                prog.append(SockFilter(BPF_LD | BPF_W | BPF_LEN))
            elif mode == "imm":
                prog.append(SockFilter(BPF_LD | BPF_IMM, 0, 0, draw(_K)))
            elif written:
                k = draw(st.sampled_from([j for j in range(16) if written >> j & 1]))
                prog.append(SockFilter(BPF_LD | BPF_MEM, 0, 0, k))
            else:
                prog.append(SockFilter(BPF_LD | BPF_IMM, 0, 0, draw(_K)))
        elif kind == "ldx":
            mode = draw(st.sampled_from(["msh", "len", "imm", "mem"]))
            if mode == "msh":
                prog.append(SockFilter(BPF_LDX | BPF_MSH | BPF_B, 0, 0, draw(_OFFSETS)))
            elif mode == "len":
                prog.append(SockFilter(BPF_LDX | BPF_W | BPF_LEN))
            elif mode == "mem" and written:
                k = draw(st.sampled_from([j for j in range(16) if written >> j & 1]))
                prog.append(SockFilter(BPF_LDX | BPF_MEM, 0, 0, k))
            else:
                prog.append(SockFilter(BPF_LDX | BPF_IMM, 0, 0, draw(st.integers(0, 100))))
        elif kind == "st":
            k = draw(st.integers(0, 15))
            prog.append(SockFilter(draw(st.sampled_from([BPF_ST, BPF_STX])), 0, 0, k))
            written |= 1 << k
        elif kind == "misc":
            prog.append(SockFilter(BPF_MISC | draw(st.sampled_from([BPF_TAX, BPF_TXA]))))
        elif kind == "anc":
            a = draw(st.sampled_from(sorted(ANCILLARY)))
            prog.append(SockFilter(BPF_LD | draw(st.sampled_from(_SIZES)) | BPF_ABS, 0, 0,
                                   ANCILLARY[a].k))  # fmt: skip
        elif kind == "ret":
            if draw(st.booleans()):
                prog.append(SockFilter(BPF_RET | BPF_A))
            else:
                prog.append(SockFilter(BPF_RET | BPF_K, 0, 0, draw(_K)))
        elif kind == "ja":
            k = draw(st.integers(0, left - 1))
            prog.append(SockFilter(BPF_JMP | BPF_JA, 0, 0, k))
            masks[i + 1 + k] &= written
            written = 0xFFFF
        else:
            op = draw(st.sampled_from(_JMP_OPS))
            src = draw(st.sampled_from([BPF_K, BPF_X]))
            jt = draw(st.integers(0, min(left - 1, 255)))
            jf = draw(st.integers(0, min(left - 1, 255)))
            if not dead_code and jt and jf:  # one branch must fall through to the next insn
                jt = 0
            prog.append(SockFilter(BPF_JMP | op | src, jt, jf, 0 if src else draw(_K)))
            masks[i + 1 + jt] &= written
            masks[i + 1 + jf] &= written
            written = 0xFFFF
    if draw(st.booleans()):
        prog.append(SockFilter(BPF_RET | BPF_A))
    else:
        prog.append(SockFilter(BPF_RET | BPF_K, 0, 0, draw(_K)))
    return prog


@st.composite
def any_sock_filters(draw, size: int = 12) -> list[SockFilter]:
    """Arbitrary (mostly invalid) programs: any code, jt, jf, k."""
    n = draw(st.integers(1, size))
    codes = st.one_of(
        st.integers(0, 0xFFFF),
        st.sampled_from([0x06, 0x16, 0x15, 0x25, 0x35, 0x45, 0x05, 0x20, 0x28, 0x30, 0x34, 0x94,
                         0x64, 0x74, 0x60, 0x61, 0x02, 0x03, 0xB1, 0x80, 0x0E]),
    )  # fmt: skip
    ks = st.one_of(
        st.integers(0, 0xFFFF_FFFF),
        st.integers(0, 40),
        st.sampled_from([0xFFFFF000 + i for i in range(0, 68, 4)] + [0xFFFFF001, 0xFFFFFFFF]),
    )
    return [
        SockFilter(draw(codes), draw(st.integers(0, n)), draw(st.integers(0, n)), draw(ks))
        for _ in range(n)
    ]
