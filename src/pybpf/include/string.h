/* <string.h> for eBPF programs: the memory functions, as the compiler's builtins.
 * There is no C library to call. pybpf compiles freestanding, where clang does
 * not take memcpy() for its builtin, so each is spelled __builtin_*: with a
 * constant size clang expands it into loads and stores, as the kernel's own
 * BPF programs expect. pybpf's own header. */
#ifndef __PYBPF_STRING_H
#define __PYBPF_STRING_H

#define memcpy(dst, src, n)	__builtin_memcpy((dst), (src), (n))
#define memmove(dst, src, n)	__builtin_memmove((dst), (src), (n))
#define memset(s, c, n)		__builtin_memset((s), (c), (n))
#define memcmp(a, b, n)		__builtin_memcmp((a), (b), (n))

#endif
