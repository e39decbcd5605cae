"""Plain-language explanations of the kernel verifier's error lines.

The kernel's messages are terse (``R0 invalid mem access 'map_value_or_null'``).
pybpf prints the kernel's line unchanged, so tools that grep kernel logs keep
working, and then one of these explanations, which says what the rule is and
what to change in the program. Patterns are matched against the error line in
order; the first match wins.
"""

from __future__ import annotations

import re

_RULES: list[tuple[str, str]] = [
    (
        r"R(\d+) invalid mem access '(map_value|ringbuf_mem|mem)_or_null'",
        "R{0} may be NULL here: the value returned by {helper} is NULL when {why}. Test it "
        "against 0 before dereferencing it (if (value) ...), on every path that reaches this "
        "instruction.",
    ),
    (
        r"R(\d+) invalid mem access 'scalar'",
        "R{0} holds a number, not a pointer the verifier knows, so it cannot be dereferenced. "
        "Load through a pointer to the stack, the context, a map value or ringbuf memory; a "
        "pointer turns into a number when it is stored and reloaded with a different size, "
        "changed with a bitwise operation, or released by a helper.",
    ),
    (
        r"R(\d+) invalid mem access '(\w+)'",
        "R{0} is a pointer of type '{1}', which programs may not dereference directly; pass it to "
        "the helpers that take it instead.",
    ),
    (
        r"R(\d+) !read_ok",
        "R{0} is read before anything was written to it on this path. Registers start "
        "uninitialised (except R1 = context and R10 = frame pointer), and every helper or "
        "function call clobbers R1-R5; set R{0} first, or keep values that must survive a call "
        "in R6-R9.",
    ),
    (
        r"frame pointer is read only",
        "R10 is the frame pointer and may not be written; copy it to another register (r2 = "
        "r10) and change the copy.",
    ),
    (
        r"invalid access to map value, value_size=(\d+) off=(-?\d+) size=(\d+)",
        "the access touches bytes {1}..{1}+{2} of a map value that is only {0} bytes long. "
        "Check the offset (and any index added to the pointer) against the value size before "
        "the access, e.g. if (idx < {0} - {2}) ...; the verifier uses the bounds it proved on "
        "every path.",
    ),
    (
        r"invalid access to memory, mem_size=(\d+) off=(-?\d+) size=(\d+)",
        "the access goes outside the {0} bytes reserved (e.g. by bpf_ringbuf_reserve); keep "
        "offset + size within the reserved size.",
    ),
    (
        r"R(\d+) (min|max) value is outside of the allowed memory range",
        "the {1}imum offset the verifier could prove for R{0} is out of bounds; bound the index "
        "with a comparison or a mask (&) before adding it to the pointer.",
    ),
    (
        r"R(\d+) unbounded memory access",
        "the offset added to R{0} has no upper bound the verifier can see; compare it against a "
        "constant (if (i < N)) or mask it (i &= N-1) first.",
    ),
    (
        r"min value is negative",
        "the index could be negative on some path; use an unsigned type or check it is >= 0 "
        "before using it as an offset.",
    ),
    (
        r"unbounded min value",
        "a value with no lower bound is added to a pointer; bound it from below (e.g. use an "
        "unsigned comparison, which bounds both ends) before the pointer arithmetic.",
    ),
    (
        r"invalid bpf_context access off=(-?\d+) size=(\d+)",
        "this program type may not access the context at offset {0} with size {1}: the field "
        "does not exist, is not readable/writable for this program type, the access size does "
        "not match the field, or a packet pointer (data, data_meta, data_end) is loaded with "
        "sign extension ((s32) casts: use (long) or (void *)(long) instead).",
    ),
    (
        r"(\S+) programs need CAP_BPF",
        "without CAP_BPF (or CAP_SYS_ADMIN) the kernel loads only socket filters and cgroup_skb "
        "programs; load {0} programs as root or with CAP_BPF and CAP_NET_ADMIN.",
    ),
    (
        r"dereference of modified ctx ptr",
        "the context pointer may only be used with its original value; use a constant offset "
        "in the load instruction itself (r0 = *(u32 *)(r1 + 16)) instead of adding to R1.",
    ),
    (
        r"invalid (read|write) stack R(\d+) off=(-?\d+) size=(\d+)",
        "the stack access is outside the 512-byte frame (offsets -512..-1 from R10).",
    ),
    (
        r"invalid read from stack",
        "the program reads stack bytes it never wrote on this path; unprivileged programs must "
        "initialise stack memory before reading it or passing it to a helper.",
    ),
    (
        r"misaligned stack access",
        "stack accesses must be aligned to their size (an 8-byte access at a multiple of 8).",
    ),
    (
        r"invalid size of register fill",
        "a pointer spilled to the stack must be reloaded with a full 8-byte load.",
    ),
    (
        r"invalid size of register spill",
        "pointers can only be stored to the stack with 8-byte stores.",
    ),
    (
        r"infinite loop detected at insn (\d+)",
        "the program can return to instruction {0} in exactly the same state, so it may never "
        "finish; make sure a loop variable changes and is compared against a bound.",
    ),
    (
        r"BPF program is too large",
        "exploring every path took more than 1,000,000 instructions: a loop may not terminate "
        "for some values, or has too many iterations; tighten the loop bound.",
    ),
    (r"back-edge from insn", "unprivileged programs may not contain loops; unroll the loop."),
    (r"unreachable insn (\d+)", "instruction {0} can never run; the kernel refuses dead code."),
    (r"jump out of range", "a jump lands outside the program or in another function."),
    (
        r"jump into the middle of ldimm64",
        "a jump targets the second half of a 16-byte ld_imm64 instruction.",
    ),
    (
        r"last insn is not an exit or jmp",
        "every function must end with an exit or jump, so execution cannot fall off its end.",
    ),
    (
        r"the call stack of (\d+) frames is too deep",
        "bpf-to-bpf calls may nest at most 8 frames deep.",
    ),
    (
        r"combined stack size of (\d+) calls is (\d+)",
        "the stack frames of the deepest call chain add up to {1} bytes, more than the 512 "
        "allowed; use less stack in the functions on that chain (e.g. a per-cpu array map as "
        "scratch space).",
    ),
    (
        r"R(\d+) leaks addr",
        "unprivileged programs may not store, pass or return kernel pointers where user space "
        "could see them.",
    ),
    (
        r"pointer comparison prohibited",
        "unprivileged programs may not compare pointers (other than a NULL check of a lookup "
        "result).",
    ),
    (
        r"pointer arithmetic .*prohibited|pointer .= pointer prohibited|bitwise operator",
        "this arithmetic is not allowed on this kind of pointer; only adding or subtracting "
        "bounded scalars to stack, map-value and memory pointers is.",
    ),
    (
        r"(\S+) pointer offset (-?\d+) is not allowed|value (-?\d+) makes (\S+) pointer be "
        r"out of bounds|math between (\S+) pointer and",
        "a pointer may never be moved 2^29 bytes or more (BPF_MAX_VAR_OFF), whatever it points "
        "to; bound the offset first.",
    ),
    (
        r"program of this type cannot use helper (\S+)",
        "{0} is not available to this program type (or needs CAP_BPF/CAP_PERFMON).",
    ),
    (r"invalid func unknown#(\d+)", "there is no helper function number {0}."),
    (
        r"cannot call GPL-restricted function",
        "this helper is only for programs with a GPL-compatible license; set the license "
        '(char _license[] SEC("license") = "GPL";) if the program may use it.',
    ),
    (
        r"Unreleased reference id=(\d+) alloc_insn=(\d+)",
        "the ringbuf record reserved at instruction {1} is not submitted or discarded on this "
        "path; call bpf_ringbuf_submit or bpf_ringbuf_discard on every path.",
    ),
    (r"div by zero", "division or modulo by the constant 0."),
    (r"invalid shift", "shift amounts must be below the operand width (64 or 32)."),
    (
        r"loading/calling other bpf or kernel functions are allowed for CAP_BPF",
        "bpf-to-bpf calls need CAP_BPF; inline the function (static __always_inline) for "
        "unprivileged loaders.",
    ),
    (
        r"LD_ABS is not allowed in subprogs without BTF",
        "packet loads with LD_ABS/LD_IND in a called function need BTF function info.",
    ),
    (
        r"R6 != pointer to skb",
        "LD_ABS/LD_IND read the packet through R6, which must hold the context pointer "
        "(r6 = r1) when they run.",
    ),
    (
        r"write into map forbidden",
        "the map was created with BPF_F_RDONLY_PROG: programs may only read it.",
    ),
    (
        r"is not pointing to valid bpf_map",
        "the ld_imm64 instruction names a map file descriptor that does not exist.",
    ),
    (
        r"expected=map_ptr",
        "the helper's map argument must be a map loaded with ld_imm64 (BPF_LD_MAP_FD).",
    ),
    (r"cannot pass map_type (\d+) into func", "the helper does not work with this map type."),
]


_RULES += [
    (
        r"uses reserved fields",
        "an instruction sets fields its opcode does not use (e.g. a source register for an "
        "immediate operation); those fields must be zero.",
    ),
    (
        r"BPF_ATOMIC stores into R(\d+) ctx is not allowed",
        "atomic operations cannot target the context; use them on the stack or a map value.",
    ),
    (
        r"must have zero offset when passed to release func",
        "bpf_ringbuf_submit/discard need the pointer bpf_ringbuf_reserve returned, not one moved "
        "by pointer arithmetic; keep the original in a register.",
    ),
    (
        r"tried to subtract pointer from scalar",
        "scalar - pointer has no meaning; subtract a scalar from the pointer instead.",
    ),
    (
        r"R(\d+) type=(\S+) expected=(.+)",
        "argument R{0} of the helper has type '{1}' but the helper's prototype needs one of: {2}.",
    ),
    (
        r"variable stack access prohibited for !root",
        "unprivileged programs may only access the stack at constant offsets.",
    ),
    (
        r"partial copy of pointer",
        "a 32-bit move of a pointer would leak half of a kernel address to an unprivileged "
        "program.",
    ),
    (r"R(\d+) is invalid", "eBPF has registers R0-R10 only."),
    (
        r"is not a known constant",
        "this helper argument (e.g. the size given to bpf_ringbuf_reserve) must be a constant the "
        "verifier knows.",
    ),
    (
        r"invalid zero-sized read",
        "the size argument may be 0 on some path but the helper needs at least one byte; check "
        "it is > 0 first.",
    ),
    (
        r"attempt to corrupt spilled pointer on stack",
        "part of an 8-byte stack slot holding a saved pointer is overwritten; unprivileged "
        "programs must overwrite the whole slot.",
    ),
    (r"call to invalid destination", "a bpf-to-bpf call jumps outside the program."),
    (
        r"cannot return stack pointer to the caller",
        "a function returns a pointer into its own stack frame, which is gone after the "
        "return; copy the data into the caller's stack instead.",
    ),
    (
        r"invalid access to map value pointer, value_size=(\d+) off=(\d+)",
        "direct access to a map's value (global data) needs a single-element array map and an "
        "offset below value_size ({0}).",
    ),
    (
        r"invalid indirect access to stack R(\d+) off=(-?\d+) size=(\d+)",
        "the helper would access {2} bytes from offset {1} of the stack, which runs past the "
        "frame (offsets -512..-1 from R10); point R{0} lower or pass a smaller size.",
    ),
    (
        r"no direct value access support for this map type",
        "only array maps (as used for global variables) allow direct value access.",
    ),
    (
        r"only read from bpf_map is supported",
        "a program may read fields of struct bpf_map through a map pointer, never write them.",
    ),
    (
        r"program of (\d+) insns exceeds the limit of (\d+)",
        "unprivileged programs may have at most {1} instructions.",
    ),
    (
        r"subtraction from stack pointer prohibited",
        "the kernel never lets a program subtract from a stack pointer; add a negative "
        "constant instead (r1 += -8).",
    ),
    (
        r"sign-extension part of pointer",
        "sign-extending part of a pointer would leak kernel address bits to an unprivileged "
        "program.",
    ),
    (
        r"misaligned (\w+ )?access off",
        "the access is not aligned to its size; stack accesses and atomic operations must be "
        "aligned (an 8-byte access at a multiple of 8), for every value the offset can take.",
    ),
    (
        r"variable (\w+) access var_off=(\(.*?\)) disallowed",
        "the {0} pointer has a variable offset {1}; context fields must be accessed at constant "
        "offsets from the unmodified pointer.",
    ),
    (
        r"has unknown scalar with mixed signed bounds",
        "for unprivileged programs the value added to a pointer must be known to be all >= 0 "
        "or all < 0 (Spectre v1 masking); bound it with an unsigned comparison first.",
    ),
    (
        r"has pointer with unsupported alu operation",
        "unprivileged programs may add registers only to stack and map-value pointers.",
    ),
    (
        r"pointer arithmetic goes out of range|pointer arithmetic of map value goes out of range",
        "for unprivileged programs a pointer moved by arithmetic must stay inside its stack "
        "frame or map value.",
    ),
    (r"unknown opcode", "the opcode byte is not an eBPF instruction this kernel knows."),
    (
        r"missing btf func_info",
        "a callback (ld_imm64 of a function) needs BTF func_info describing the program's "
        "functions; compile from C with BTF (pybpf cc) instead of raw instructions.",
    ),
    (
        r"At callback return the register R0",
        "a bpf_loop / bpf_for_each_map_elem callback must return 0 (continue) or 1 (stop); "
        "bound its return value to that range.",
    ),
    (
        r"write to change key",
        "bpf_for_each_map_elem passes the key read-only; copy it to the stack to modify it.",
    ),
    (
        r"callback function not allowed for map",
        "bpf_for_each_map_elem only walks hash and array maps (and their percpu/LRU kinds).",
    ),
    (
        r"invalid (?:variable-offset )?(?:write to|read from) stack R(\d+)",
        "the access is outside the 512-byte stack frame: stack offsets go from -512 to -1 "
        "below R10, and an access must fit entirely in that range.",
    ),
    (
        r"only read from (\w+) is supported",
        "a program may read the fields of a map's kernel struct {0} through a map pointer, "
        "never write them; use map helpers to change the map.",
    ),
    (
        r"'struct (\w+)' access is allowed only to CAP_PERFMON and CAP_SYS_ADMIN",
        "reading the kernel's struct {0} through a map pointer needs CAP_PERFMON; an "
        "unprivileged loader may only pass the map pointer to helpers.",
    ),
    (
        r"R(\d+) is (\w+) invalid negative access: off=(-?\d+)",
        "a map pointer may only be read at offsets from 0 into struct {1}; offset {2} is "
        "before it.",
    ),
    (
        r"would lead to reference leak",
        "a reference (such as a ringbuf record from bpf_ringbuf_reserve) is still held; "
        "submit or discard it on every path before the program exits or tail-calls.",
    ),
    (
        r"expected prog array map for tail call",
        "bpf_tail_call's second argument must be a BPF_MAP_TYPE_PROG_ARRAY map.",
    ),
    (
        r"invalid atomic operand size",
        "atomic read-modify-write instructions work on 4- or 8-byte words only.",
    ),
    (
        r"read from map forbidden",
        "the map was created with BPF_F_WRONLY_PROG: programs may write its values but not "
        "read them (not even through a helper).",
    ),
    (
        r"unrecognized bpf_ld_imm64 insn",
        "this 64-bit immediate load has an unknown src_reg form, or a map-fd form whose "
        "second immediate is not 0.",
    ),
    (
        r"same insn cannot be used with different pointers",
        "one load or store is reached with different kinds of pointers on different paths "
        "(e.g. the context on one, the stack on another); the kernel rewrites context "
        "accesses per instruction, so give each kind its own instruction.",
    ),
    (
        r"leaking pointer from stack off (-?\d+)",
        "the stack slot at {0} holds a pointer; an unprivileged program may not read it as a "
        "number (e.g. with an atomic fetch).",
    ),
    (
        r"tail_call abusing map_ptr",
        "for an unprivileged loader one bpf_tail_call instruction must always use the same "
        "prog array; use one call per map.",
    ),
    (
        r"R0 not a scalar value",
        "a callback must return a number, not a pointer or an uninitialised register.",
    ),
]


def explain(message: str) -> str | None:
    """A plain-language explanation of a kernel verifier error line, or None."""
    for pattern, text in _RULES:
        m = re.search(pattern, message)
        if m is None:
            continue
        groups = list(m.groups())
        extra = {"helper": "bpf_map_lookup_elem", "why": "the key is not in the map"}
        if "ringbuf_mem" in message or "'mem_or_null'" in message:
            extra = {"helper": "bpf_ringbuf_reserve", "why": "the ring buffer is full"}
        try:
            return text.format(*groups, **extra)
        except (IndexError, KeyError):
            return text
    return None
