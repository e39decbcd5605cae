/* <asm/swab.h> (pybpf): no architecture byte swaps.
 * <linux/swab.h> uses the compiler's __builtin_bswap*, which the BPF backend
 * turns into its own endianness instructions. */
#ifndef _ASM_X86_SWAB_H
#define _ASM_X86_SWAB_H
#include <linux/types.h>
#endif
