/* <asm/bitsperlong.h> (pybpf): eBPF is a 64-bit target.
 *
 * The x86 header tests __x86_64__, which a compiler targeting BPF does not
 * define, and so claims 32; eBPF's long is 64 bits on every host. */
#ifndef __ASM_X86_BITSPERLONG_H
#define __ASM_X86_BITSPERLONG_H
#define __BITS_PER_LONG 64
#include <asm-generic/bitsperlong.h>
#endif
