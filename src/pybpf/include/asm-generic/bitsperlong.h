/* <asm-generic/bitsperlong.h> (pybpf): the width of long, from the compiler. */
#ifndef __ASM_GENERIC_BITS_PER_LONG
#define __ASM_GENERIC_BITS_PER_LONG
#ifndef __BITS_PER_LONG
#define __BITS_PER_LONG (__CHAR_BIT__ * __SIZEOF_LONG__)
#endif
#ifndef __BITS_PER_LONG_LONG
#define __BITS_PER_LONG_LONG 64
#endif
#endif
