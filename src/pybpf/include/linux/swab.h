/* <linux/swab.h>: byte swapping, for eBPF programs.
 * Written for pybpf from the ABI (include/uapi/linux/swab.h): the same names,
 * each a constant expression for constant arguments (usable in case labels and
 * initializers) and the compiler's bswap builtin otherwise. */
#ifndef _LINUX_SWAB_H
#define _LINUX_SWAB_H

#include <linux/types.h>
#include <linux/stddef.h>
#include <asm/bitsperlong.h>
#include <asm/swab.h>

/* byte-by-byte forms: constant expressions */
#define ___constant_swab16(x) ((__u16)(					\
	(((__u16)(x) & (__u16)0x00ffU) << 8) |				\
	(((__u16)(x) & (__u16)0xff00U) >> 8)))
#define ___constant_swab32(x) ((__u32)(					\
	(((__u32)(x) & (__u32)0x000000ffUL) << 24) |			\
	(((__u32)(x) & (__u32)0x0000ff00UL) << 8) |			\
	(((__u32)(x) & (__u32)0x00ff0000UL) >> 8) |			\
	(((__u32)(x) & (__u32)0xff000000UL) >> 24)))
#define ___constant_swab64(x) ((__u64)(					\
	((__u64)___constant_swab32((__u32)((__u64)(x) & 0xffffffffULL)) << 32) | \
	(__u64)___constant_swab32((__u32)((__u64)(x) >> 32))))
/* swap the two 16-bit halves / the bytes inside each half */
#define ___constant_swahw32(x) ((__u32)(				\
	(((__u32)(x) & (__u32)0x0000ffffUL) << 16) |			\
	(((__u32)(x) & (__u32)0xffff0000UL) >> 16)))
#define ___constant_swahb32(x) ((__u32)(				\
	(((__u32)(x) & (__u32)0x00ff00ffUL) << 8) |			\
	(((__u32)(x) & (__u32)0xff00ff00UL) >> 8)))

static __inline__ __u16 __fswab16(__u16 val) { return __builtin_bswap16(val); }
static __inline__ __u32 __fswab32(__u32 val) { return __builtin_bswap32(val); }
static __inline__ __u64 __fswab64(__u64 val) { return __builtin_bswap64(val); }
static __inline__ __u32 __fswahw32(__u32 val) { return ___constant_swahw32(val); }
static __inline__ __u32 __fswahb32(__u32 val) { return ___constant_swahb32(val); }

#define __swab16(x) (__u16)(__builtin_constant_p(x) ? ___constant_swab16(x) : __fswab16(x))
#define __swab32(x) (__u32)(__builtin_constant_p(x) ? ___constant_swab32(x) : __fswab32(x))
#define __swab64(x) (__u64)(__builtin_constant_p(x) ? ___constant_swab64(x) : __fswab64(x))
#define __swahw32(x) (__builtin_constant_p((__u32)(x)) ? ___constant_swahw32(x) : __fswahw32(x))
#define __swahb32(x) (__builtin_constant_p((__u32)(x)) ? ___constant_swahb32(x) : __fswahb32(x))

static __always_inline unsigned long __swab(const unsigned long y)
{
	return __swab64(y);	/* long is 64 bits in eBPF */
}

/* through a pointer, and in place */
static __always_inline __u16 __swab16p(const __u16 *p) { return __swab16(*p); }
static __always_inline __u32 __swab32p(const __u32 *p) { return __swab32(*p); }
static __always_inline __u64 __swab64p(const __u64 *p) { return __swab64(*p); }
static __inline__ __u32 __swahw32p(const __u32 *p) { return __swahw32(*p); }
static __inline__ __u32 __swahb32p(const __u32 *p) { return __swahb32(*p); }
static __inline__ void __swab16s(__u16 *p) { *p = __swab16p(p); }
static __always_inline void __swab32s(__u32 *p) { *p = __swab32p(p); }
static __always_inline void __swab64s(__u64 *p) { *p = __swab64p(p); }
static __inline__ void __swahw32s(__u32 *p) { *p = __swahw32p(p); }
static __inline__ void __swahb32s(__u32 *p) { *p = __swahb32p(p); }

#endif
