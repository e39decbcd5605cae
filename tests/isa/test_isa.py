"""Instruction encoding: decode(encode(x)) == x for every valid instruction, and the
decoder's refusals (unknown opcode, bad register, reserved fields, broken LDDW)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf.errors import BpfError, InsnError
from pybpf.isa import (
    OPCODES,
    Insn,
    decode,
    encode,
)
from support.strategies import REG, S16, S32, SETTINGS, valid_insns  # noqa: F401

programs = st.lists(valid_insns(), min_size=1, max_size=20)


@SETTINGS
@given(programs)
def test_decode_encode_roundtrip(prog: list[Insn]) -> None:
    data = encode(prog)
    assert len(data) == 8 * sum(i.slots for i in prog)
    assert decode(data) == prog
    assert encode(decode(data)) == data


@pytest.mark.parametrize("code", sorted(OPCODES), ids=lambda c: f"{c:#04x}")
def test_every_opcode_roundtrips(code: int) -> None:
    @settings(max_examples=15, deadline=None)
    @given(valid_insns(code))
    def check(insn: Insn) -> None:
        assert decode(insn.encode()) == [insn]

    check()


@SETTINGS
@given(st.binary(min_size=0, max_size=96))
def test_random_bytes_raise_only_pybpf_errors(data: bytes) -> None:
    for check in (True, False):
        try:
            insns = decode(data, check=check)
        except BpfError:
            continue
        # whatever decodes re-encodes to the same bytes
        assert encode(insns) == data


def _slot(code: int, regs: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, regs, off, imm)


EXIT = _slot(0x95)
MOV0 = _slot(0xB7)


@pytest.mark.parametrize("code", [c for c in range(256) if c not in OPCODES][:40])
def test_unknown_opcode_names_index(code: int) -> None:
    with pytest.raises(InsnError) as e:
        decode(MOV0 + MOV0 + _slot(code) + EXIT)
    assert e.value.index == 2
    assert "unknown opcode" in str(e.value) and "insn 2" in str(e.value)


@pytest.mark.parametrize("reg", range(11, 16))
@pytest.mark.parametrize("field", ["dst", "src"])
def test_bad_register(reg: int, field: str) -> None:
    regs = reg if field == "dst" else reg << 4
    with pytest.raises(InsnError) as e:
        decode(MOV0 + _slot(0xBF, regs) + EXIT)  # r = r
    assert e.value.index == 1
    assert f"R{reg} is invalid" in str(e.value)


@pytest.mark.parametrize(
    "raw,msg",
    [
        (_slot(0x07, 0x10, 0, 1), "BPF_ALU uses reserved fields"),  # add K with src
        (_slot(0x0F, 0x10, 0, 5), "BPF_ALU uses reserved fields"),  # add X with imm
        (_slot(0x07, 0, 2, 1), "BPF_ALU uses reserved fields"),  # off on add
        (_slot(0x87, 0, 0, 1), "BPF_NEG uses reserved fields"),
        (_slot(0xB7, 0x10, 0, 1), "BPF_MOV uses reserved fields"),
        (_slot(0xBF, 0x10, 7, 0), "BPF_MOV uses reserved fields"),  # movsx width 7
        (_slot(0xDC, 0, 0, 8), "BPF_END uses reserved fields"),
        (_slot(0x15, 0x10, 1, 0), "BPF_JMP/JMP32 uses reserved fields"),
        (_slot(0x05, 0x01, 1, 0), "BPF_JA uses reserved fields"),
        (_slot(0x85, 0x01, 0, 1), "BPF_CALL uses reserved fields"),
        (_slot(0x95, 0, 0, 1), "BPF_EXIT uses reserved fields"),
        (_slot(0x30, 0x01, 0, 1), "BPF_LD_[ABS|IND] uses reserved fields"),
        (_slot(0x61, 0x21, 0, 1), "BPF_LDX uses reserved fields"),
        (_slot(0x62, 0x2A, 0, 1), "BPF_ST uses reserved fields"),
        (_slot(0x63, 0x2A, 0, 1), "BPF_STX uses reserved fields"),
        (_slot(0xDB, 0x21, 0, 0x20), "BPF_ATOMIC uses invalid atomic opcode"),
    ],
)
def test_reserved_fields(raw: bytes, msg: str) -> None:
    with pytest.raises(InsnError) as e:
        decode(MOV0 + raw + EXIT)
    assert e.value.index == 1
    assert msg in str(e.value)
    # without checking, the same bytes decode and re-encode unchanged
    assert encode(decode(MOV0 + raw + EXIT, check=False)) == MOV0 + raw + EXIT


def test_truncated_lddw() -> None:
    with pytest.raises(InsnError) as e:
        decode(MOV0 + _slot(0x18, 0x01, 0, 5))
    assert e.value.index == 1
    assert "truncated" in str(e.value)


@pytest.mark.parametrize("second", [_slot(0x95), _slot(0, 0x01), _slot(0, 0, 1)])
def test_bad_lddw_second_slot(second: bytes) -> None:
    with pytest.raises(InsnError) as e:
        decode(MOV0 + _slot(0x18, 0x01, 0, 5) + second + EXIT)
    assert e.value.index == 2
    assert "second slot" in str(e.value)


def test_length_not_multiple_of_8() -> None:
    with pytest.raises(InsnError) as e:
        decode(MOV0 + EXIT + b"\x95\0\0")
    assert e.value.index == 2


def test_lddw_is_one_insn_of_two_slots() -> None:
    insn = Insn(0x18, 1, 0, 0, -2, -1)
    assert insn.slots == 2 and insn.imm64 == (1 << 64) - 2
    data = encode([insn, Insn(0x95)])
    assert len(data) == 24
    assert decode(data) == [insn, Insn(0x95)]
