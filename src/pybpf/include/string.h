/* <string.h> for eBPF programs: the memory functions clang expands inline.
 * There is no C library to call; with a constant size clang turns these into
 * loads and stores (as it does __builtin_memcpy and friends), which is how the
 * kernel's BPF programs use them. pybpf's own header. */
#ifndef __PYBPF_STRING_H
#define __PYBPF_STRING_H

#ifndef __SIZE_TYPE__
#define __SIZE_TYPE__ unsigned long
#endif

void *memcpy(void *dst, const void *src, __SIZE_TYPE__ n);
void *memmove(void *dst, const void *src, __SIZE_TYPE__ n);
void *memset(void *s, int c, __SIZE_TYPE__ n);
int memcmp(const void *a, const void *b, __SIZE_TYPE__ n);

#endif
