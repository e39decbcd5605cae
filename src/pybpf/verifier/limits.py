"""Limits and small tables the verifier's checks share (include/linux/bpf_verifier.h)."""

MAX_CALL_FRAMES = 8
BPF_MAX_VAR_OFF = 1 << 29
CALLER_SAVED = (1, 2, 3, 4, 5)
