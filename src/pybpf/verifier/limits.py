"""Limits and small tables the verifier's checks share (include/linux/bpf_verifier.h)."""

MAX_CALL_FRAMES = 8
BPF_MAX_VAR_OFF = 1 << 29
ALU_OPS = {
    0x00: "add",
    0x10: "sub",
    0x20: "mul",
    0x30: "div",
    0x40: "or",
    0x50: "and",
    0x60: "lsh",
    0x70: "rsh",
    0x90: "mod",
    0xA0: "xor",
    0xC0: "arsh",
}
CALLER_SAVED = (1, 2, 3, 4, 5)
