/*
 * The seed article's sockex1 program written as struct bpf_insn initialisers
 * against the UAPI header (linux/bpf.h), compiled for the host: an encoding
 * of the 12 instructions that owes nothing to pybpf. Prints the bytes as hex.
 * Built by tests/test_macros.py (not a BPF program: not compiled for bpfel).
 */
#include <linux/bpf.h>
#include <stdio.h>

#define MAP_FD 3

static const struct bpf_insn prog[] = {
	{ .code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = BPF_REG_6, .src_reg = BPF_REG_1 },
	{ .code = BPF_LD | BPF_B | BPF_ABS, .imm = 14 + 9 },
	{ .code = BPF_STX | BPF_W | BPF_MEM, .dst_reg = BPF_REG_10, .src_reg = BPF_REG_0, .off = -4 },
	{ .code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = BPF_REG_2, .src_reg = BPF_REG_10 },
	{ .code = BPF_ALU64 | BPF_ADD | BPF_K, .dst_reg = BPF_REG_2, .imm = -4 },
	{ .code = BPF_LD | BPF_DW | BPF_IMM, .dst_reg = BPF_REG_1, .src_reg = BPF_PSEUDO_MAP_FD,
	  .imm = MAP_FD },
	{ .imm = 0 },
	{ .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_map_lookup_elem },
	{ .code = BPF_JMP | BPF_JEQ | BPF_K, .dst_reg = BPF_REG_0, .off = 2, .imm = 0 },
	{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_1, .imm = 1 },
	{ .code = BPF_STX | BPF_DW | BPF_ATOMIC, .dst_reg = BPF_REG_0, .src_reg = BPF_REG_1,
	  .imm = BPF_ADD },
	{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
	{ .code = BPF_JMP | BPF_EXIT },
};

int main(void)
{
	const unsigned char *p = (const unsigned char *)prog;

	for (size_t i = 0; i < sizeof(prog); i++)
		printf("%02x", p[i]);
	printf("\n");
	return 0;
}
