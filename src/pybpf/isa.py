"""The eBPF instruction set: one opcode table, the ``Insn`` value, wire encoding.

Everything that needs to know about instructions (assemblers, disassembler,
verifier, interpreter, JIT) asks this module; nothing re-derives classes or
sizes. Semantics and names follow RFC 9669 and Linux's include/uapi/linux/bpf.h
and bpf_common.h. Where the kernel and the RFC differ the kernel wins; the
differences are noted where they occur (``callx`` is in the RFC but the kernel
does not accept it; the decoder accepts it and the verifier refuses it).

An instruction is an 8-byte slot: ``code:8 dst:4 src:4 off:16 imm:32``,
little-endian. ``LDDW`` (``BPF_LD | BPF_IMM | BPF_DW``) takes two slots; here it
is a single ``Insn`` whose ``imm_hi`` holds the second slot's immediate. Jump
offsets and instruction indices always count slots, as the kernel does.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import InsnError

# --- instruction classes (bpf_common.h, bpf.h) -----------------------------------------
BPF_LD = 0x00
BPF_LDX = 0x01
BPF_ST = 0x02
BPF_STX = 0x03
BPF_ALU = 0x04
BPF_JMP = 0x05
BPF_JMP32 = 0x06
BPF_ALU64 = 0x07

# --- load/store sizes and modes ----------------------------------------------------------
BPF_W = 0x00
BPF_H = 0x08
BPF_B = 0x10
BPF_DW = 0x18

BPF_IMM = 0x00
BPF_ABS = 0x20
BPF_IND = 0x40
BPF_MEM = 0x60
BPF_MEMSX = 0x80
BPF_ATOMIC = 0xC0
BPF_XADD = 0xC0  # the 3.19-era name of BPF_ATOMIC with imm == BPF_ADD

# --- source operand --------------------------------------------------------------------
BPF_K = 0x00
BPF_X = 0x08
BPF_TO_LE = 0x00
BPF_TO_BE = 0x08
BPF_FROM_LE = BPF_TO_LE
BPF_FROM_BE = BPF_TO_BE

# --- ALU operations --------------------------------------------------------------------
BPF_ADD = 0x00
BPF_SUB = 0x10
BPF_MUL = 0x20
BPF_DIV = 0x30
BPF_OR = 0x40
BPF_AND = 0x50
BPF_LSH = 0x60
BPF_RSH = 0x70
BPF_NEG = 0x80
BPF_MOD = 0x90
BPF_XOR = 0xA0
BPF_MOV = 0xB0
BPF_ARSH = 0xC0
BPF_END = 0xD0

# --- jump operations -------------------------------------------------------------------
BPF_JA = 0x00
BPF_JEQ = 0x10
BPF_JGT = 0x20
BPF_JGE = 0x30
BPF_JSET = 0x40
BPF_JNE = 0x50
BPF_JSGT = 0x60
BPF_JSGE = 0x70
BPF_CALL = 0x80
BPF_EXIT = 0x90
BPF_JLT = 0xA0
BPF_JLE = 0xB0
BPF_JSLT = 0xC0
BPF_JSLE = 0xD0

# --- atomic operations (in imm of BPF_STX | BPF_ATOMIC) ----------------------------------
BPF_FETCH = 0x01
BPF_XCHG = 0xE0 | BPF_FETCH
BPF_CMPXCHG = 0xF0 | BPF_FETCH

# --- pseudo sources ----------------------------------------------------------------------
BPF_PSEUDO_MAP_FD = 1
BPF_PSEUDO_MAP_VALUE = 2
BPF_PSEUDO_BTF_ID = 3
BPF_PSEUDO_FUNC = 4
BPF_PSEUDO_MAP_IDX = 5
BPF_PSEUDO_MAP_IDX_VALUE = 6
BPF_PSEUDO_CALL = 1
BPF_PSEUDO_KFUNC_CALL = 2

# --- registers ---------------------------------------------------------------------------
BPF_REG_0, BPF_REG_1, BPF_REG_2, BPF_REG_3, BPF_REG_4, BPF_REG_5 = range(6)
BPF_REG_6, BPF_REG_7, BPF_REG_8, BPF_REG_9, BPF_REG_10 = range(6, 11)
BPF_REG_FP = BPF_REG_10
MAX_BPF_REG = 11
MAX_BPF_STACK = 512

INSN_SIZE = 8


def BPF_CLASS(code: int) -> int:
    return code & 0x07


def BPF_SIZE(code: int) -> int:
    return code & 0x18


def BPF_MODE(code: int) -> int:
    return code & 0xE0


def BPF_OP(code: int) -> int:
    return code & 0xF0


def BPF_SRC(code: int) -> int:
    return code & 0x08


SIZE_BYTES = {BPF_B: 1, BPF_H: 2, BPF_W: 4, BPF_DW: 8}
SIZE_SUFFIX = {BPF_B: "b", BPF_H: "h", BPF_W: "w", BPF_DW: "dw"}
SIZE_CTYPE = {BPF_B: "u8", BPF_H: "u16", BPF_W: "u32", BPF_DW: "u64"}

ALU_NAMES = {
    BPF_ADD: "add",
    BPF_SUB: "sub",
    BPF_MUL: "mul",
    BPF_DIV: "div",
    BPF_OR: "or",
    BPF_AND: "and",
    BPF_LSH: "lsh",
    BPF_RSH: "rsh",
    BPF_NEG: "neg",
    BPF_MOD: "mod",
    BPF_XOR: "xor",
    BPF_MOV: "mov",
    BPF_ARSH: "arsh",
    BPF_END: "end",
}
JMP_NAMES = {
    BPF_JA: "ja",
    BPF_JEQ: "jeq",
    BPF_JGT: "jgt",
    BPF_JGE: "jge",
    BPF_JSET: "jset",
    BPF_JNE: "jne",
    BPF_JSGT: "jsgt",
    BPF_JSGE: "jsge",
    BPF_CALL: "call",
    BPF_EXIT: "exit",
    BPF_JLT: "jlt",
    BPF_JLE: "jle",
    BPF_JSLT: "jslt",
    BPF_JSLE: "jsle",
}
#: conditional jumps only (JA, CALL, EXIT excluded)
JMP_CONDITIONS = tuple(op for op in JMP_NAMES if op not in (BPF_JA, BPF_CALL, BPF_EXIT))
ATOMIC_NAMES = {
    BPF_ADD: "add",
    BPF_OR: "or",
    BPF_AND: "and",
    BPF_XOR: "xor",
    BPF_ADD | BPF_FETCH: "fetch add",
    BPF_OR | BPF_FETCH: "fetch or",
    BPF_AND | BPF_FETCH: "fetch and",
    BPF_XOR | BPF_FETCH: "fetch xor",
    BPF_XCHG: "xchg",
    BPF_CMPXCHG: "cmpxchg",
}
#: the atomic operations the kernel accepts in imm (load-acquire/store-release aside)
ATOMIC_OPS = frozenset(ATOMIC_NAMES)


@dataclass(frozen=True)
class OpInfo:
    """What one opcode byte means. ``kind`` groups opcodes that execute alike.

    kinds: ``alu`` (incl. MOV/NEG), ``end`` (byte swaps), ``jcond``, ``ja``,
    ``call``, ``callx``, ``exit``, ``lddw``, ``ldabs``, ``ldind``, ``ldx``,
    ``ldxsx`` (sign-extending load), ``st``, ``stx``, ``atomic``.
    """

    code: int
    kind: str
    cls: int
    op: int  # ALU/JMP operation, or 0
    size: int  # access size in bytes for memory kinds, else 0
    is64: bool  # ALU64/JMP (64-bit operands) vs ALU/JMP32
    use_src_reg: bool  # BPF_X: operand from src register
    name: str  # bpf_conformance-style mnemonic: add, add32, ldxw, jeq32, lddw ...

    @property
    def slots(self) -> int:
        return 2 if self.kind == "lddw" else 1


def _build_opcode_table() -> dict[int, OpInfo]:
    table: dict[int, OpInfo] = {}

    def add(
        code: int,
        kind: str,
        cls: int,
        op: int = 0,
        size: int = 0,
        is64: bool = True,
        use_src: bool = False,
        name: str = "",
    ) -> None:
        assert code not in table, hex(code)
        table[code] = OpInfo(code, kind, cls, op, size, is64, use_src, name)

    for cls, is64 in ((BPF_ALU64, True), (BPF_ALU, False)):
        sfx = "" if is64 else "32"
        for op, name in ALU_NAMES.items():
            if op == BPF_END:
                continue
            for src in (BPF_K, BPF_X):
                if op == BPF_NEG and src == BPF_X:
                    continue
                add(cls | op | src, "alu", cls, op, 0, is64, src == BPF_X, name + sfx)
    # byte swaps: ALU|END|TO_LE/TO_BE ("le"/"be"), ALU64|END|TO_LE ("bswap", RFC 9669)
    add(BPF_ALU | BPF_END | BPF_TO_LE, "end", BPF_ALU, BPF_END, 0, False, False, "le")
    add(BPF_ALU | BPF_END | BPF_TO_BE, "end", BPF_ALU, BPF_END, 0, False, True, "be")
    add(BPF_ALU64 | BPF_END | BPF_TO_LE, "end", BPF_ALU64, BPF_END, 0, True, False, "bswap")

    for cls, is64 in ((BPF_JMP, True), (BPF_JMP32, False)):
        sfx = "" if is64 else "32"
        for op in JMP_CONDITIONS:
            for src in (BPF_K, BPF_X):
                add(cls | op | src, "jcond", cls, op, 0, is64, src == BPF_X, JMP_NAMES[op] + sfx)
    add(BPF_JMP | BPF_JA, "ja", BPF_JMP, BPF_JA, name="ja")
    add(BPF_JMP32 | BPF_JA, "ja", BPF_JMP32, BPF_JA, is64=False, name="ja32")
    add(BPF_JMP | BPF_CALL, "call", BPF_JMP, BPF_CALL, name="call")
    add(BPF_JMP | BPF_CALL | BPF_X, "callx", BPF_JMP, BPF_CALL, use_src=True, name="callx")
    add(BPF_JMP | BPF_EXIT, "exit", BPF_JMP, BPF_EXIT, name="exit")

    add(BPF_LD | BPF_IMM | BPF_DW, "lddw", BPF_LD, size=8, name="lddw")
    for sz in (BPF_W, BPF_H, BPF_B):
        n = SIZE_BYTES[sz]
        add(BPF_LD | BPF_ABS | sz, "ldabs", BPF_LD, size=n, name="ldabs" + SIZE_SUFFIX[sz])
        add(BPF_LD | BPF_IND | sz, "ldind", BPF_LD, size=n, name="ldind" + SIZE_SUFFIX[sz])
    for sz, n in SIZE_BYTES.items():
        s = SIZE_SUFFIX[sz]
        add(BPF_LDX | BPF_MEM | sz, "ldx", BPF_LDX, size=n, name="ldx" + s)
        add(BPF_ST | BPF_MEM | sz, "st", BPF_ST, size=n, name="st" + s)
        add(BPF_STX | BPF_MEM | sz, "stx", BPF_STX, size=n, use_src=True, name="stx" + s)
        if sz != BPF_DW:
            add(BPF_LDX | BPF_MEMSX | sz, "ldxsx", BPF_LDX, size=n, name="ldxs" + s)
    for sz in (BPF_W, BPF_DW):
        add(
            BPF_STX | BPF_ATOMIC | sz,
            "atomic",
            BPF_STX,
            size=SIZE_BYTES[sz],
            is64=sz == BPF_DW,
            use_src=True,
            name="atomic" + ("" if sz == BPF_DW else "32"),
        )
    return table


#: every opcode byte pybpf decodes, and what it means. The single source of truth.
OPCODES: dict[int, OpInfo] = _build_opcode_table()


def opinfo(code: int) -> OpInfo | None:
    return OPCODES.get(code)


def _s16(v: int) -> int:
    return ((v + 0x8000) & 0xFFFF) - 0x8000


def _s32(v: int) -> int:
    return ((v + 0x80000000) & 0xFFFFFFFF) - 0x80000000


@dataclass(frozen=True, slots=True)
class Insn:
    """One eBPF instruction as the kernel's ``struct bpf_insn`` holds it.

    ``off`` is signed 16-bit and ``imm`` signed 32-bit (values are normalised on
    construction, so ``imm=0xffffffff`` and ``imm=-1`` are the same instruction).
    For LDDW, ``imm_hi`` is the immediate of the second slot; ``imm64`` gives
    the whole constant. ``ref`` optionally names what a pseudo instruction
    points at (a map object, a symbol); it is not part of the encoding and does
    not take part in equality.
    """

    code: int
    dst: int = 0
    src: int = 0
    off: int = 0
    imm: int = 0
    imm_hi: int = 0
    ref: Any = field(default=None, compare=False, hash=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 <= self.code <= 0xFF:
            raise InsnError(f"opcode {self.code:#x} does not fit in 8 bits")
        if not 0 <= self.dst <= 0xF or not 0 <= self.src <= 0xF:
            raise InsnError(f"register field out of range (dst={self.dst}, src={self.src})")
        for name, lo, hi in (
            ("off", -0x8000, 0xFFFF),
            ("imm", -0x80000000, 0xFFFFFFFF),
            ("imm_hi", -0x80000000, 0xFFFFFFFF),
        ):
            v = getattr(self, name)
            if not isinstance(v, int) or not lo <= v <= hi:
                raise InsnError(f"{name}={v!r} does not fit in its field")
        object.__setattr__(self, "off", _s16(self.off))
        object.__setattr__(self, "imm", _s32(self.imm))
        object.__setattr__(self, "imm_hi", _s32(self.imm_hi))

    # --- views ----------------------------------------------------------------------------
    @property
    def info(self) -> OpInfo | None:
        return OPCODES.get(self.code)

    @property
    def cls(self) -> int:
        return self.code & 0x07

    @property
    def is_lddw(self) -> bool:
        return self.code == BPF_LD | BPF_IMM | BPF_DW

    @property
    def slots(self) -> int:
        """How many 8-byte slots the instruction takes (2 for LDDW)."""
        return 2 if self.is_lddw else 1

    @property
    def imm64(self) -> int:
        """LDDW's 64-bit constant (unsigned)."""
        return ((self.imm_hi & 0xFFFFFFFF) << 32) | (self.imm & 0xFFFFFFFF)

    @property
    def uimm(self) -> int:
        return self.imm & 0xFFFFFFFF

    def replace(self, **changes: Any) -> Insn:
        vals = {k: getattr(self, k) for k in ("code", "dst", "src", "off", "imm", "imm_hi", "ref")}
        vals.update(changes)
        return Insn(**vals)

    # --- wire format ----------------------------------------------------------------------
    def encode(self) -> bytes:
        first = _SLOT.pack(self.code, (self.src << 4) | self.dst, self.off, self.imm)
        if self.is_lddw:
            return first + _SLOT.pack(0, 0, 0, self.imm_hi)
        return first

    def check(self, index: int | None = None) -> None:
        """Raise InsnError if the encoding is malformed the way the kernel judges it."""
        msg = malformed(self)
        if msg:
            raise InsnError(msg, index=index)


_SLOT = struct.Struct("<BBhi")


def malformed(insn: Insn) -> str | None:
    """The kernel's complaint about a malformed encoding, or None if well formed.

    Mirrors the reserved-field checks of kernel/bpf/verifier.c (check_alu_op,
    do_check, check_ld_imm ...) and the opcode table; messages use the kernel's
    wording ("unknown opcode", "BPF_ALU uses reserved fields" ...).
    """
    info = OPCODES.get(insn.code)
    if info is None:
        return f"unknown opcode {insn.code:02x}"
    k = info.kind
    if insn.dst > 10:
        return f"R{insn.dst} is invalid"
    if insn.src > 10:
        return f"R{insn.src} is invalid"
    cname = "BPF_ALU" if info.cls in (BPF_ALU, BPF_ALU64) else None
    if k == "alu":
        op = info.op
        if op == BPF_NEG:
            if insn.src or insn.off or insn.imm:
                return "BPF_NEG uses reserved fields"
        elif op == BPF_MOV:
            if info.use_src_reg:
                allowed = (0, 8, 16, 32) if info.is64 else (0, 8, 16)
                if insn.imm or insn.off not in allowed:
                    return "BPF_MOV uses reserved fields"
            elif insn.src or insn.off:
                return "BPF_MOV uses reserved fields"
        else:
            if info.use_src_reg and insn.imm:
                return f"{cname} uses reserved fields"
            if not info.use_src_reg and insn.src:
                return f"{cname} uses reserved fields"
            if insn.off not in (0, 1) or (insn.off == 1 and op not in (BPF_DIV, BPF_MOD)):
                return f"{cname} uses reserved fields"
    elif k == "end":
        if insn.src or insn.off or insn.imm not in (16, 32, 64):
            return "BPF_END uses reserved fields"
    elif k == "jcond":
        if info.use_src_reg and insn.imm:
            return "BPF_JMP/JMP32 uses reserved fields"
        if not info.use_src_reg and insn.src:
            return "BPF_JMP/JMP32 uses reserved fields"
    elif k == "ja":
        if insn.src or insn.dst or (info.is64 and insn.imm) or (not info.is64 and insn.off):
            return "BPF_JA uses reserved fields"
    elif k == "call":
        if (
            insn.dst
            or insn.src not in (0, BPF_PSEUDO_CALL, BPF_PSEUDO_KFUNC_CALL)
            or (insn.src != BPF_PSEUDO_KFUNC_CALL and insn.off)
        ):
            return "BPF_CALL uses reserved fields"
    elif k == "callx":
        # RFC 9669: the register holding the helper id is in dst (llvm) ; conformance uses dst
        if insn.src or insn.off or insn.imm:
            return "BPF_CALL uses reserved fields"
    elif k == "exit":
        # Linux checks src, dst and imm of an exit but ignores its offset (do_check)
        if insn.src or insn.dst or insn.imm:
            return "BPF_EXIT uses reserved fields"
    elif k == "lddw":
        if insn.off:
            return "BPF_LD_IMM64 uses reserved fields"
        if insn.src > BPF_PSEUDO_MAP_IDX_VALUE:
            return "unrecognized bpf_ld_imm64 insn"
    elif k in ("ldabs", "ldind"):
        if insn.dst or insn.off or (k == "ldabs" and insn.src):
            return "BPF_LD_[ABS|IND] uses reserved fields"
    elif k in ("ldx", "ldxsx"):
        if insn.imm:
            return "BPF_LDX uses reserved fields"
    elif k == "st":
        if insn.src:
            return "BPF_ST uses reserved fields"
    elif k == "stx":
        if insn.imm:
            return "BPF_STX uses reserved fields"
    elif k == "atomic":
        if insn.imm not in ATOMIC_OPS:
            return f"BPF_ATOMIC uses invalid atomic opcode {insn.uimm:02x}"
    return None


def encode(insns: Iterable[Insn]) -> bytes:
    """Concatenate instructions into the kernel's wire format."""
    return b"".join(i.encode() for i in insns)


def decode(data: bytes | bytearray | memoryview, *, check: bool = True) -> list[Insn]:
    """Decode wire-format bytes into instructions.

    Raises InsnError naming the slot index for a length that is not a multiple
    of 8, a truncated LDDW, a bad second LDDW slot, and (with ``check``) any
    malformed encoding.
    """
    mv = memoryview(data).cast("B")
    n = len(mv)
    if n % INSN_SIZE:
        raise InsnError(
            f"program length {n} is not a multiple of {INSN_SIZE} bytes",
            index=n // INSN_SIZE,
        )
    out: list[Insn] = []
    i = 0
    nslots = n // INSN_SIZE
    while i < nslots:
        code, regs, off, imm = _SLOT.unpack_from(mv, i * INSN_SIZE)
        dst, src = regs & 0xF, regs >> 4
        if code == BPF_LD | BPF_IMM | BPF_DW:
            if i + 1 >= nslots:
                raise InsnError("invalid bpf_ld_imm64 insn: truncated (no second slot)", index=i)
            c2, r2, o2, imm_hi = _SLOT.unpack_from(mv, (i + 1) * INSN_SIZE)
            if c2 or r2 or o2:
                raise InsnError(
                    "invalid bpf_ld_imm64 insn: second slot uses reserved fields", index=i + 1
                )
            insn = Insn(code, dst, src, off, imm, imm_hi)
            step = 2
        else:
            insn = Insn(code, dst, src, off, imm)
            step = 1
        if check:
            insn.check(i)
        out.append(insn)
        i += step
    return out


def slot_indices(insns: Sequence[Insn]) -> list[int]:
    """The slot index of each instruction (LDDW advances by two)."""
    out, pc = [], 0
    for insn in insns:
        out.append(pc)
        pc += insn.slots
    return out


def iter_slots(insns: Sequence[Insn]) -> Iterator[tuple[int, Insn]]:
    """(slot index, instruction) pairs, as the kernel numbers instructions."""
    pc = 0
    for insn in insns:
        yield pc, insn
        pc += insn.slots


def count_slots(insns: Iterable[Insn]) -> int:
    return sum(i.slots for i in insns)


def jump_target(pc: int, insn: Insn) -> int:
    """Absolute slot a jump or local call at slot ``pc`` goes to.

    JMP32|JA (``gotol``) takes its offset from imm; everything else from off.
    Local calls (``call`` with src = BPF_PSEUDO_CALL) take it from imm.
    """
    info = OPCODES[insn.code]
    if info.kind == "ja" and not info.is64:
        return pc + 1 + insn.imm
    if info.kind == "call":
        return pc + 1 + insn.imm
    return pc + 1 + insn.off


def is_local_call(insn: Insn) -> bool:
    return insn.code == BPF_JMP | BPF_CALL and insn.src == BPF_PSEUDO_CALL


def is_helper_call(insn: Insn) -> bool:
    return insn.code == BPF_JMP | BPF_CALL and insn.src == 0
