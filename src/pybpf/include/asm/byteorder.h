/* <asm/byteorder.h> (pybpf): eBPF as pybpf compiles it (bpfel) is little-endian. */
#ifndef _ASM_X86_BYTEORDER_H
#define _ASM_X86_BYTEORDER_H
#include <linux/byteorder/little_endian.h>
#endif
