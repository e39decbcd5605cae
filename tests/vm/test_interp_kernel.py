"""The interpreter against the kernel: the same programs run in pybpf and BPF_PROG_TEST_RUN.

Each program is loaded as a SOCKET_FILTER; the kernel reports R0 truncated to
32 bits, so every 64-bit result is checked twice (low half, then high half
shifted down). A mismatch names the program.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pybpf import isa, uapi
from pybpf.errors import KernelError
from pybpf.isa import Insn
from pybpf.kernel import syscall
from pybpf.vm.interp import Interpreter

pytestmark = [pytest.mark.kernel, pytest.mark.usefixtures("bpf_kernel")]

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1
ETH = bytes(range(14))  # test_run pulls the Ethernet header off socket-filter input
PACKET = bytes((i * 37 + 11) & 0xFF for i in range(60))


# --- instruction builders (kernel macro shapes) --------------------------------------------


def alu(cls: int, op: int, dst: int, *, src: int | None = None, imm: int = 0, off: int = 0) -> Insn:
    if src is None:
        return Insn(cls | op | isa.BPF_K, dst, 0, off, imm)
    return Insn(cls | op | isa.BPF_X, dst, src, off, 0)


def lddw(dst: int, value: int) -> Insn:
    value &= M64
    return Insn(isa.BPF_LD | isa.BPF_IMM | isa.BPF_DW, dst, 0, 0, value & M32, value >> 32)


def mov64(dst: int, imm: int) -> Insn:
    return Insn(isa.BPF_ALU64 | isa.BPF_MOV | isa.BPF_K, dst, 0, 0, imm)


EXIT = Insn(isa.BPF_JMP | isa.BPF_EXIT)
RSH32_R0 = Insn(isa.BPF_ALU64 | isa.BPF_RSH | isa.BPF_K, 0, 0, 0, 32)


class _Skb:
    """The smallest socket-buffer model LD_ABS needs: big-endian loads, None past the end."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def load_abs(self, off: int, size: int) -> int | None:
        if off < 0 or off + size > len(self.data):
            return None
        return int.from_bytes(self.data[off : off + size], "big")


def in_kernel(insns: list[Insn], data: bytes = ETH + PACKET) -> int:
    fd = syscall.prog_load(uapi.BPF_PROG_TYPE_SOCKET_FILTER, insns, name="pybpf_cmp")
    try:
        return syscall.prog_test_run(fd, data).retval & M32
    finally:
        syscall.close(fd)


def in_pybpf(insns: list[Insn], data: bytes = ETH + PACKET) -> int:
    return Interpreter(insns).run(ctx=_Skb(data[14:]), r1=0) & M32


def both_halves(body: list[Insn]) -> list[list[Insn]]:
    """Programs returning the low and the high 32 bits of R0 after ``body``."""
    return [body + [EXIT], body + [RSH32_R0, EXIT]]


def compare(programs: list[tuple[str, list[Insn]]]) -> None:
    bad = []
    for name, insns in programs:
        try:
            k = in_kernel(insns)
        except KernelError as e:
            bad.append(f"{name}: kernel refused: {e}")
            continue
        p = in_pybpf(insns)
        if k != p:
            bad.append(f"{name}: kernel {k:#x} pybpf {p:#x}")
    assert not bad, "\n".join(bad[:20]) + f"\n({len(bad)} of {len(programs)} differ)"


# --- ALU ---------------------------------------------------------------------------------------

EDGE = [
    0,
    1,
    2,
    7,
    0xFF,
    0x7FFF_FFFF,
    0x8000_0000,
    0xFFFF_FFFF,
    0x1_0000_0000,
    0x7FFF_FFFF_FFFF_FFFF,
    0x8000_0000_0000_0000,
    M64,
    M64 - 6,
    0xDEAD_BEEF_CAFE_BABE,
]
IMMS = [0, 1, -1, 3, -7, 31, 32, 63, 0x7FFF_FFFF, -0x8000_0000]
BINOPS = {
    "add": isa.BPF_ADD,
    "sub": isa.BPF_SUB,
    "mul": isa.BPF_MUL,
    "div": isa.BPF_DIV,
    "mod": isa.BPF_MOD,
    "or": isa.BPF_OR,
    "and": isa.BPF_AND,
    "xor": isa.BPF_XOR,
    "lsh": isa.BPF_LSH,
    "rsh": isa.BPF_RSH,
    "arsh": isa.BPF_ARSH,
    "mov": isa.BPF_MOV,
}
SHIFTS = {isa.BPF_LSH, isa.BPF_RSH, isa.BPF_ARSH}


def _imm_ok(op: int, imm: int, is64: bool, off: int) -> bool:
    """What the verifier accepts as a constant operand (no /0, shifts in range)."""
    if op in (isa.BPF_DIV, isa.BPF_MOD) and imm == 0:
        return False
    if op in SHIFTS and not 0 <= imm < (64 if is64 else 32):
        return False
    return True


@pytest.mark.parametrize("opname", sorted(BINOPS))
@pytest.mark.parametrize("cls", [isa.BPF_ALU64, isa.BPF_ALU], ids=["alu64", "alu32"])
def test_alu_reg_edges(opname: str, cls: int) -> None:
    op = BINOPS[opname]
    progs = []
    vals = EDGE if op not in SHIFTS else EDGE[:8]
    srcs = EDGE if op not in SHIFTS else [0, 1, 5, 31, 32, 63, 0x45, M64]
    for a in vals:
        for b in srcs[::2] if op not in SHIFTS else srcs:
            body = [lddw(0, a), lddw(1, b), alu(cls, op, 0, src=1)]
            for i, p in enumerate(both_halves(body)):
                progs.append((f"{opname} {a:#x},{b:#x} half{i}", p))
    compare(progs)


@pytest.mark.parametrize("opname", sorted(BINOPS))
@pytest.mark.parametrize("cls", [isa.BPF_ALU64, isa.BPF_ALU], ids=["alu64", "alu32"])
def test_alu_imm_edges(opname: str, cls: int) -> None:
    op = BINOPS[opname]
    progs = []
    for a in EDGE[::2]:
        for imm in IMMS:
            if not _imm_ok(op, imm, cls == isa.BPF_ALU64, 0):
                continue
            body = [lddw(0, a), alu(cls, op, 0, imm=imm)]
            for i, p in enumerate(both_halves(body)):
                progs.append((f"{opname} {a:#x},{imm} half{i}", p))
    compare(progs)


@pytest.mark.parametrize("opname", ["sdiv", "smod"])
@pytest.mark.parametrize("cls", [isa.BPF_ALU64, isa.BPF_ALU], ids=["alu64", "alu32"])
def test_signed_div_mod(opname: str, cls: int) -> None:
    op = isa.BPF_DIV if opname == "sdiv" else isa.BPF_MOD
    vals = [
        0,
        1,
        7,
        M64 - 6,
        0x8000_0000,
        0x8000_0000_0000_0000,
        M64,
        0x7FFF_FFFF,
        0xFFFF_FFFF,
        0xFFFF_FFFF_8000_0000,
    ]
    progs = []
    for a in vals:
        for b in vals + [3, M64 - 2]:
            body = [lddw(0, a), lddw(1, b), alu(cls, op, 0, src=1, off=1)]
            for i, p in enumerate(both_halves(body)):
                progs.append((f"{opname} {a:#x},{b:#x} half{i}", p))
        for imm in (1, -1, 3, -3, -0x8000_0000):
            body = [lddw(0, a), alu(cls, op, 0, imm=imm, off=1)]
            progs.append((f"{opname} {a:#x},imm {imm}", body + [EXIT]))
    compare(progs)


@pytest.mark.parametrize("cls", [isa.BPF_ALU64, isa.BPF_ALU], ids=["alu64", "alu32"])
def test_neg_and_movsx(cls: int) -> None:
    progs = []
    for a in EDGE:
        progs += [
            (f"neg {a:#x} half{i}", p)
            for i, p in enumerate(both_halves([lddw(0, a), alu(cls, isa.BPF_NEG, 0)]))
        ]
        for bits in (8, 16, 32) if cls == isa.BPF_ALU64 else (8, 16):
            body = [lddw(1, a), alu(cls, isa.BPF_MOV, 0, src=1, off=bits)]
            progs += [(f"movsx{bits} {a:#x} half{i}", p) for i, p in enumerate(both_halves(body))]
    compare(progs)


def test_byte_swaps() -> None:
    progs = []
    for a in (0x0102_0304_0506_0708, 0xFEDC_BA98_7654_3210, 0x80, M64):
        for code, name in (
            (isa.BPF_ALU | isa.BPF_END | isa.BPF_TO_LE, "le"),
            (isa.BPF_ALU | isa.BPF_END | isa.BPF_TO_BE, "be"),
            (isa.BPF_ALU64 | isa.BPF_END | isa.BPF_TO_LE, "bswap"),
        ):
            for width in (16, 32, 64):
                body = [lddw(0, a), Insn(code, 0, 0, 0, width)]
                progs += [
                    (f"{name}{width} {a:#x} half{i}", p) for i, p in enumerate(both_halves(body))
                ]
    compare(progs)


# --- jumps -------------------------------------------------------------------------------------

JVALS = [0, 1, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0x1_0000_0001, 0x8000_0000_0000_0000, M64]


@pytest.mark.parametrize("cls", [isa.BPF_JMP, isa.BPF_JMP32], ids=["jmp", "jmp32"])
def test_conditional_jumps(cls: int) -> None:
    progs = []
    for op in isa.JMP_CONDITIONS:
        name = isa.JMP_NAMES[op]
        for a in JVALS:
            for b in JVALS[::3]:
                # r0 = 1; if a OP b goto +1; r0 = 2; exit
                body = [
                    lddw(1, a),
                    lddw(2, b),
                    mov64(0, 1),
                    Insn(cls | op | isa.BPF_X, 1, 2, 1, 0),
                    mov64(0, 2),
                    EXIT,
                ]
                progs.append((f"{name}{cls} {a:#x},{b:#x}", body))
            for imm in (0, 1, -1, 0x7FFF_FFFF, -0x8000_0000):
                body = [
                    lddw(1, a),
                    mov64(0, 1),
                    Insn(cls | op | isa.BPF_K, 1, 0, 1, imm),
                    mov64(0, 2),
                    EXIT,
                ]
                progs.append((f"{name}{cls} {a:#x},imm {imm}", body))
    compare(progs)


def test_ja_gotol_and_loop() -> None:
    ja = Insn(isa.BPF_JMP | isa.BPF_JA, 0, 0, 1, 0)
    gotol = Insn(isa.BPF_JMP32 | isa.BPF_JA, 0, 0, 0, 1)
    # a bounded loop: r0 = sum(0..99) with a backward jump
    loop = [
        mov64(0, 0),
        mov64(1, 0),
        alu(isa.BPF_ALU64, isa.BPF_ADD, 0, src=1),
        alu(isa.BPF_ALU64, isa.BPF_ADD, 1, imm=1),
        Insn(isa.BPF_JMP | isa.BPF_JLT | isa.BPF_K, 1, 0, -3, 100),
        EXIT,
    ]
    # the conditional keeps the skipped insn reachable (the verifier refuses dead code)
    never = Insn(isa.BPF_JMP | isa.BPF_JEQ | isa.BPF_K, 0, 0, 1, 5)
    compare(
        [
            ("ja", [mov64(0, 1), never, ja, mov64(0, 2), EXIT]),
            ("gotol", [mov64(0, 1), never, gotol, mov64(0, 2), EXIT]),
            ("loop", loop),
        ]
    )


# --- memory ------------------------------------------------------------------------------------


def _stx(size: int, dst: int, src: int, off: int) -> Insn:
    return Insn(isa.BPF_STX | isa.BPF_MEM | size, dst, src, off, 0)


def _ldx(size: int, dst: int, src: int, off: int, sx: bool = False) -> Insn:
    return Insn(isa.BPF_LDX | (isa.BPF_MEMSX if sx else isa.BPF_MEM) | size, dst, src, off, 0)


def test_stack_loads_stores() -> None:
    progs = []
    pattern = 0x8192_A3B4_C5D6_E7F8
    sizes = [isa.BPF_B, isa.BPF_H, isa.BPF_W, isa.BPF_DW]
    for ssz in sizes:
        for lsz in sizes:
            for off in (0, 1, 2, 4):
                n = isa.SIZE_BYTES[lsz]
                if off + n > 8 or off % n:  # the verifier wants aligned stack access
                    continue
                # zero a slot, store `pattern` with one size, load with another
                body = [
                    mov64(3, 0),
                    _stx(isa.BPF_DW, 10, 3, -8),
                    lddw(2, pattern),
                    _stx(ssz, 10, 2, -8),
                    _ldx(lsz, 0, 10, -8 + off),
                ]
                progs += [
                    (f"st{ssz}/ld{lsz}+{off} half{i}", p) for i, p in enumerate(both_halves(body))
                ]
                if lsz != isa.BPF_DW:
                    body = body[:-1] + [_ldx(lsz, 0, 10, -8 + off, sx=True)]
                    progs += [
                        (f"st{ssz}/ldsx{lsz}+{off} half{i}", p)
                        for i, p in enumerate(both_halves(body))
                    ]
    # BPF_ST (immediate stores) of each size
    for sz in sizes:
        body = [
            lddw(3, M64),
            _stx(isa.BPF_DW, 10, 3, -16),
            Insn(isa.BPF_ST | isa.BPF_MEM | sz, 10, 0, -16, -0x1235_6789),
            _ldx(isa.BPF_DW, 0, 10, -16),
        ]
        progs += [(f"st imm {sz} half{i}", p) for i, p in enumerate(both_halves(body))]
    compare(progs)


ATOMIC_OPS = [isa.BPF_ADD, isa.BPF_OR, isa.BPF_AND, isa.BPF_XOR]


@pytest.mark.parametrize("size", [isa.BPF_W, isa.BPF_DW], ids=["w", "dw"])
def test_stack_atomics(size: int) -> None:
    progs = []
    init, operand = 0xF0F0_1234_8765_FFFF, 0x0FF0_0001_8000_0003
    ops = ATOMIC_OPS + [op | isa.BPF_FETCH for op in ATOMIC_OPS] + [isa.BPF_XCHG]
    for op in ops:
        body = [
            lddw(1, init),
            _stx(isa.BPF_DW, 10, 1, -8),
            lddw(2, operand),
            Insn(isa.BPF_STX | isa.BPF_ATOMIC | size, 10, 2, -8, op),
        ]
        mem = body + [_ldx(isa.BPF_DW, 0, 10, -8)]
        fetched = body + [alu(isa.BPF_ALU64, isa.BPF_MOV, 0, src=2)]
        progs += [(f"atomic {op:#x} mem half{i}", p) for i, p in enumerate(both_halves(mem))]
        progs += [(f"atomic {op:#x} src half{i}", p) for i, p in enumerate(both_halves(fetched))]
    for r0 in (init, init & M32, 5):
        body = [
            lddw(1, init),
            _stx(isa.BPF_DW, 10, 1, -8),
            lddw(2, operand),
            lddw(0, r0),
            Insn(isa.BPF_STX | isa.BPF_ATOMIC | size, 10, 2, -8, isa.BPF_CMPXCHG),
        ]
        progs += [(f"cmpxchg r0={r0:#x} r0 half{i}", p) for i, p in enumerate(both_halves(body))]
        memp = body + [_ldx(isa.BPF_DW, 0, 10, -8)]
        progs += [(f"cmpxchg r0={r0:#x} mem half{i}", p) for i, p in enumerate(both_halves(memp))]
    compare(progs)


def test_ld_abs_ind() -> None:
    progs = []
    for sz in (isa.BPF_B, isa.BPF_H, isa.BPF_W):
        for off in (0, 1, 23, 57, 58, 59, 60, 1000):
            progs.append(
                (
                    f"ldabs {sz} {off}",
                    [
                        Insn(isa.BPF_ALU64 | isa.BPF_MOV | isa.BPF_X, 6, 1),
                        Insn(isa.BPF_LD | isa.BPF_ABS | sz, 0, 0, 0, off),
                        EXIT,
                    ],
                )
            )
        for base, imm in ((10, 3), (50, 8), (0, 58), (0xFFFF_FFFF, 2), (4, -2)):
            progs.append(
                (
                    f"ldind {sz} {base}+{imm}",
                    [
                        Insn(isa.BPF_ALU64 | isa.BPF_MOV | isa.BPF_X, 6, 1),
                        lddw(2, base),
                        Insn(isa.BPF_LD | isa.BPF_IND | sz, 0, 2, 0, imm),
                        EXIT,
                    ],
                )
            )
    compare(progs)


def test_local_calls() -> None:
    call = Insn(isa.BPF_JMP | isa.BPF_CALL, 0, isa.BPF_PSEUDO_CALL, 0, 2)
    prog = [
        mov64(6, 40),
        mov64(1, 2),
        call,
        alu(isa.BPF_ALU64, isa.BPF_ADD, 0, src=6),
        EXIT,
        # subprogram: r0 = r1 * 3; writes its own stack and r6
        mov64(6, 9),
        _stx(isa.BPF_DW, 10, 6, -8),
        alu(isa.BPF_ALU64, isa.BPF_MOV, 0, src=1),
        alu(isa.BPF_ALU64, isa.BPF_MUL, 0, imm=3),
        EXIT,
    ]
    compare([("local call", prog)])


# --- random straight-line ALU programs -----------------------------------------------------

_ALU_CHOICES = sorted(BINOPS.values()) + [isa.BPF_NEG]


@st.composite
def alu_program(draw: st.DrawFn) -> list[Insn]:
    body = [lddw(r, draw(st.integers(0, M64))) for r in range(4)]
    for _ in range(draw(st.integers(1, 16))):
        cls = draw(st.sampled_from([isa.BPF_ALU64, isa.BPF_ALU]))
        op = draw(st.sampled_from(_ALU_CHOICES))
        dst = draw(st.integers(0, 3))
        if op == isa.BPF_NEG:
            body.append(Insn(cls | op, dst))
            continue
        signed = op in (isa.BPF_DIV, isa.BPF_MOD) and draw(st.booleans())
        if draw(st.booleans()):
            body.append(alu(cls, op, dst, src=draw(st.integers(0, 3)), off=int(signed)))
        else:
            imm = draw(st.integers(-(1 << 31), (1 << 31) - 1))
            if op in SHIFTS:
                imm &= 63 if cls == isa.BPF_ALU64 else 31
            if op in (isa.BPF_DIV, isa.BPF_MOD) and imm == 0:
                imm = 1
            body.append(alu(cls, op, dst, imm=imm, off=int(signed)))
    # fold all four registers into r0 so that every result is observed
    for r in (1, 2, 3):
        body.append(alu(isa.BPF_ALU64, isa.BPF_MUL, 0, imm=31))
        body.append(alu(isa.BPF_ALU64, isa.BPF_XOR, 0, src=r))
    return body


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(alu_program())
def test_random_alu_programs_match_kernel(body: list[Insn]) -> None:
    compare([(f"random half{i}", p) for i, p in enumerate(both_halves(body))])


_SIZES = [isa.BPF_B, isa.BPF_H, isa.BPF_W, isa.BPF_DW]
_ATOMIC_IMMS = ATOMIC_OPS + [op | isa.BPF_FETCH for op in ATOMIC_OPS] + [isa.BPF_XCHG]


@st.composite
def mixed_program(draw: st.DrawFn) -> list[Insn]:
    """Registers r0-r4 and a 64-byte stack area, all initialised; then random ALU, stack
    loads/stores/atomics and forward jumps; finally everything folded into r0."""
    body = [lddw(r, draw(st.integers(0, M64))) for r in range(5)]
    for slot in range(8):
        body.append(_stx(isa.BPF_DW, 10, slot % 5, -8 * (slot + 1)))
    ops: list[list[Insn]] = []
    for _ in range(draw(st.integers(1, 14))):
        kind = draw(st.sampled_from(["alu", "ld", "st", "atomic", "jmp"]))
        r = draw(st.integers(0, 4))
        r2 = draw(st.integers(0, 4))
        if kind == "alu":
            cls = draw(st.sampled_from([isa.BPF_ALU64, isa.BPF_ALU]))
            op = draw(
                st.sampled_from(
                    [
                        isa.BPF_ADD,
                        isa.BPF_SUB,
                        isa.BPF_MUL,
                        isa.BPF_XOR,
                        isa.BPF_OR,
                        isa.BPF_AND,
                        isa.BPF_RSH,
                        isa.BPF_ARSH,
                    ]
                )
            )
            ops.append([alu(cls, op, r, src=r2)])
        elif kind in ("ld", "st"):
            size = draw(st.sampled_from(_SIZES))
            n = isa.SIZE_BYTES[size]
            off = -n * draw(st.integers(1, 64 // n))
            if kind == "ld":
                sx = size != isa.BPF_DW and draw(st.booleans())
                ops.append([_ldx(size, r, 10, off, sx)])
            else:
                ops.append([_stx(size, 10, r, off)])
        elif kind == "atomic":
            size = draw(st.sampled_from([isa.BPF_W, isa.BPF_DW]))
            n = isa.SIZE_BYTES[size]
            off = -n * draw(st.integers(1, 64 // n))
            imm = draw(st.sampled_from(_ATOMIC_IMMS + [isa.BPF_CMPXCHG]))
            ops.append([Insn(isa.BPF_STX | isa.BPF_ATOMIC | size, 10, r, off, imm)])
        else:
            cls = draw(st.sampled_from([isa.BPF_JMP, isa.BPF_JMP32]))
            op = draw(st.sampled_from(list(isa.JMP_CONDITIONS)))
            ops.append([Insn(cls | op | isa.BPF_X, r, r2, 0, 0)])  # offset fixed below
    flat: list[Insn] = []
    for i, group in enumerate(ops):
        insn = group[0]
        if isa.OPCODES[insn.code].kind == "jcond":
            remaining = sum(len(g) for g in ops[i + 1 :])
            insn = insn.replace(off=draw(st.integers(0, remaining)))
        flat.append(insn)
    body += flat
    for r in (1, 2, 3, 4):
        body.append(alu(isa.BPF_ALU64, isa.BPF_MUL, 0, imm=31))
        body.append(alu(isa.BPF_ALU64, isa.BPF_XOR, 0, src=r))
    for slot in range(8):
        body.append(_ldx(isa.BPF_DW, 1, 10, -8 * (slot + 1)))
        body.append(alu(isa.BPF_ALU64, isa.BPF_MUL, 0, imm=31))
        body.append(alu(isa.BPF_ALU64, isa.BPF_XOR, 0, src=1))
    return body


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mixed_program())
def test_random_stack_and_jump_programs_match_kernel(body: list[Insn]) -> None:
    compare([(f"mixed half{i}", p) for i, p in enumerate(both_halves(body))])
