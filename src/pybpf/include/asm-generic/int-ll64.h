/* <asm-generic/int-ll64.h>: the fixed-width integer types of the kernel ABI.
 * Part of pybpf's headers for eBPF programs, written from the ABI
 * (include/uapi/asm-generic/int-ll64.h): char 8, short 16, int 32, long long 64 bits. */
#ifndef _ASM_GENERIC_INT_LL64_H
#define _ASM_GENERIC_INT_LL64_H

#include <asm/bitsperlong.h>

#ifndef __ASSEMBLY__
typedef signed char		__s8;
typedef unsigned char		__u8;
typedef signed short		__s16;
typedef unsigned short		__u16;
typedef signed int		__s32;
typedef unsigned int		__u32;
__extension__ typedef signed long long	__s64;
__extension__ typedef unsigned long long __u64;
#endif

#endif
