/* <bpf/bpf_helpers.h>: what libbpf-style eBPF programs build on -- SEC(), the
 * BTF map definition macros (__uint, __type, __array, __ulong), every helper
 * (bpf_helper_defs.h), bpf_printk() and friends, and the usual attributes.
 *
 * Written for pybpf from libbpf's documented interface (the names and what
 * they expand to, as libbpf and the kernel interpret them); pybpf's ELF loader
 * reads what these macros produce exactly as libbpf does. */
#ifndef __BPF_HELPERS__
#define __BPF_HELPERS__

#include "bpf_helper_defs.h"

/* ---- BTF-defined maps (SEC(".maps")) ----
 * Every attribute of a map is carried by the BTF type of a member:
 * __uint(name, N) is a pointer to an array of N ints, __type(name, T) a
 * pointer to T, __array(name, T) an array of pointers to T (prog arrays,
 * maps of maps), __ulong(name, N) an enum whose one value is N (64 bits). */
#define __uint(name, val)	int (*name)[val]
#define __type(name, val)	typeof(val) *name
#define __array(name, val)	typeof(val) *name[]
#define __ulong(name, val)	enum { ___bpf_concat(__unique_value, __COUNTER__) = val } name

/* ---- placement and attributes ---- */

/* The ELF section decides what an object is: a program type, ".maps",
 * "license" ...; `used` keeps the compiler from dropping it. */
#define SEC(name)								\
	_Pragma("GCC diagnostic push")						\
	_Pragma("GCC diagnostic ignored \"-Wignored-attributes\"")		\
	__attribute__((section(name), used))					\
	_Pragma("GCC diagnostic pop")

#undef __always_inline
#define __always_inline	inline __attribute__((always_inline))
#ifndef __noinline
#define __noinline	__attribute__((noinline))
#endif
#ifndef __weak
#define __weak		__attribute__((weak))
#endif
#define __hidden	__attribute__((visibility("hidden")))

#ifndef NULL
#define NULL ((void *)0)
#endif

#ifndef KERNEL_VERSION
#define KERNEL_VERSION(a, b, c) (((a) << 16) + ((b) << 8) + ((c) > 255 ? 255 : (c)))
#endif

#undef offsetof
#define offsetof(type, member)	((unsigned long)&((type *)0)->member)

#undef container_of
#define container_of(ptr, type, member)					\
	({								\
		void *__mptr = (void *)(ptr);				\
		((type *)(__mptr - offsetof(type, member)));		\
	})

/* compiler barriers: no instruction moves across them */
#ifndef barrier
#define barrier()		asm volatile("" ::: "memory")
#endif
/* forget what the compiler knows about var (keeps bounds checks in place) */
#ifndef barrier_var
#define barrier_var(var)	asm volatile("" : "+r"(var))
#endif

#ifndef __bpf_unreachable
#define __bpf_unreachable()	__builtin_trap()
#endif

/* A tail call with a constant slot, so that the verifier can track it:
 * r1 = ctx, r2 = map, r3 = slot, call bpf_tail_call. */
#if defined(__clang__) && defined(__bpf__)
static __always_inline void
bpf_tail_call_static(void *ctx, const void *map, const __u32 slot)
{
	if (!__builtin_constant_p(slot))
		__bpf_unreachable();
	asm volatile("r1 = %[ctx]\n\t"
		     "r2 = %[map]\n\t"
		     "r3 = %[slot]\n\t"
		     "call 12"
		     :: [ctx]"r"(ctx), [map]"r"(map), [slot]"i"(slot)
		     : "r0", "r1", "r2", "r3", "r4", "r5");
}
#endif

/* the `pinning` attribute of a map */
enum libbpf_pin_type {
	LIBBPF_PIN_NONE,
	LIBBPF_PIN_BY_NAME,	/* under /sys/fs/bpf/<map name> */
};

/* the values of a tristate (CONFIG_*=y/m/n) __kconfig extern */
enum libbpf_tristate {
	TRI_NO = 0,
	TRI_YES = 1,
	TRI_MODULE = 2,
};

/* externs the loader resolves: kernel config values and kernel symbols */
#define __kconfig	__attribute__((section(".kconfig")))
#define __ksym		__attribute__((section(".ksyms")))

/* BTF type tags on pointers stored in map values */
#define __kptr_untrusted	__attribute__((btf_type_tag("kptr_untrusted")))
#define __kptr_ref		__attribute__((btf_type_tag("kptr_ref")))	/* the old name */
#define __kptr			__attribute__((btf_type_tag("kptr")))
#define __percpu_kptr		__attribute__((btf_type_tag("percpu_kptr")))

/* whether a __weak __ksym extern was found in the kernel */
#define bpf_ksym_exists(sym) ({						\
	_Static_assert(!__builtin_constant_p(!!sym),			\
		       #sym " should be marked as __weak");		\
	!!sym;								\
})

/* BTF declaration tags on arguments of global functions */
#define __arg_ctx	__attribute__((btf_decl_tag("arg:ctx")))
#define __arg_nonnull	__attribute((btf_decl_tag("arg:nonnull")))
#define __arg_nullable	__attribute((btf_decl_tag("arg:nullable")))
#define __arg_trusted	__attribute((btf_decl_tag("arg:trusted")))
#define __arg_arena	__attribute((btf_decl_tag("arg:arena")))

/* ---- variadic machinery: count arguments, fill an array with them ---- */
#ifndef ___bpf_concat
#define ___bpf_concat(a, b)	a ## b
#endif
#ifndef ___bpf_apply
#define ___bpf_apply(fn, n)	___bpf_concat(fn, n)
#endif
#ifndef ___bpf_nth
#define ___bpf_nth(_, _1, _2, _3, _4, _5, _6, _7, _8, _9, _a, _b, _c, N, ...) N
#endif
#ifndef ___bpf_narg
#define ___bpf_narg(...) \
	___bpf_nth(_, ##__VA_ARGS__, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#endif

#define ___bpf_fill0(arr, p, x)			do {} while (0)
#define ___bpf_fill1(arr, p, x)			arr[p] = x
#define ___bpf_fill2(arr, p, x, args...)	arr[p] = x; ___bpf_fill1(arr, p + 1, args)
#define ___bpf_fill3(arr, p, x, args...)	arr[p] = x; ___bpf_fill2(arr, p + 1, args)
#define ___bpf_fill4(arr, p, x, args...)	arr[p] = x; ___bpf_fill3(arr, p + 1, args)
#define ___bpf_fill5(arr, p, x, args...)	arr[p] = x; ___bpf_fill4(arr, p + 1, args)
#define ___bpf_fill6(arr, p, x, args...)	arr[p] = x; ___bpf_fill5(arr, p + 1, args)
#define ___bpf_fill7(arr, p, x, args...)	arr[p] = x; ___bpf_fill6(arr, p + 1, args)
#define ___bpf_fill8(arr, p, x, args...)	arr[p] = x; ___bpf_fill7(arr, p + 1, args)
#define ___bpf_fill9(arr, p, x, args...)	arr[p] = x; ___bpf_fill8(arr, p + 1, args)
#define ___bpf_fill10(arr, p, x, args...)	arr[p] = x; ___bpf_fill9(arr, p + 1, args)
#define ___bpf_fill11(arr, p, x, args...)	arr[p] = x; ___bpf_fill10(arr, p + 1, args)
#define ___bpf_fill12(arr, p, x, args...)	arr[p] = x; ___bpf_fill11(arr, p + 1, args)
#define ___bpf_fill(arr, args...) \
	___bpf_apply(___bpf_fill, ___bpf_narg(args))(arr, 0, args)

/* The formatting helpers take their arguments as an array of u64 and the
 * format from read-only data. */

/* bpf_seq_printf() with the arguments written out */
#define BPF_SEQ_PRINTF(seq, fmt, args...)				\
({									\
	static const char ___fmt[] = fmt;				\
	unsigned long long ___param[___bpf_narg(args)];			\
	_Pragma("GCC diagnostic push")					\
	_Pragma("GCC diagnostic ignored \"-Wint-conversion\"")		\
	___bpf_fill(___param, args);					\
	_Pragma("GCC diagnostic pop")					\
	bpf_seq_printf(seq, ___fmt, sizeof(___fmt), ___param, sizeof(___param)); \
})

/* bpf_snprintf() with the arguments written out */
#define BPF_SNPRINTF(out, out_size, fmt, args...)			\
({									\
	static const char ___fmt[] = fmt;				\
	unsigned long long ___param[___bpf_narg(args)];			\
	_Pragma("GCC diagnostic push")					\
	_Pragma("GCC diagnostic ignored \"-Wint-conversion\"")		\
	___bpf_fill(___param, args);					\
	_Pragma("GCC diagnostic pop")					\
	bpf_snprintf(out, out_size, ___fmt, ___param, sizeof(___param)); \
})

/* Where bpf_printk's format lives: read-only data, or the stack for kernels
 * without global data (define BPF_NO_GLOBAL_DATA). */
#ifdef BPF_NO_GLOBAL_DATA
#define BPF_PRINTK_FMT_MOD
#else
#define BPF_PRINTK_FMT_MOD static const
#endif

/* up to 3 arguments: bpf_trace_printk */
#define __bpf_printk(fmt, ...)						\
({									\
	BPF_PRINTK_FMT_MOD char ____fmt[] = fmt;			\
	bpf_trace_printk(____fmt, sizeof(____fmt), ##__VA_ARGS__);	\
})

/* more: bpf_trace_vprintk with an array of u64 */
#define __bpf_vprintk(fmt, args...)					\
({									\
	static const char ___fmt[] = fmt;				\
	unsigned long long ___param[___bpf_narg(args)];			\
	_Pragma("GCC diagnostic push")					\
	_Pragma("GCC diagnostic ignored \"-Wint-conversion\"")		\
	___bpf_fill(___param, args);					\
	_Pragma("GCC diagnostic pop")					\
	bpf_trace_vprintk(___fmt, sizeof(___fmt), ___param, sizeof(___param)); \
})

#define ___bpf_pick_printk(...)						\
	___bpf_nth(_, ##__VA_ARGS__, __bpf_vprintk, __bpf_vprintk,	\
		   __bpf_vprintk, __bpf_vprintk, __bpf_vprintk,		\
		   __bpf_vprintk, __bpf_vprintk, __bpf_vprintk,		\
		   __bpf_vprintk, __bpf_printk, __bpf_printk,		\
		   __bpf_printk, __bpf_printk)

/* printf to /sys/kernel/tracing/trace_pipe */
#define bpf_printk(fmt, args...) ___bpf_pick_printk(args)(fmt, ##args)

/* ---- open-coded iterators (kernel functions, kfuncs) ---- */
struct bpf_iter_num;
extern int bpf_iter_num_new(struct bpf_iter_num *it, int start, int end) __weak __ksym;
extern int *bpf_iter_num_next(struct bpf_iter_num *it) __weak __ksym;
extern void bpf_iter_num_destroy(struct bpf_iter_num *it) __weak __ksym;

/* for (cur over an iterator of `type`) { ... } */
#ifndef bpf_for_each
#define bpf_for_each(type, cur, args...) for (					\
	struct bpf_iter_##type ___it __attribute__((aligned(8),		\
		cleanup(bpf_iter_##type##_destroy))),				\
	*___p __attribute__((unused)) = (					\
		bpf_iter_##type##_new(&___it, ##args),				\
		(void)bpf_iter_##type##_destroy, (void *)0);			\
	(((cur) = bpf_iter_##type##_next(&___it)));				\
)
#endif

/* for (i = start; i < end; i++), provably bounded */
#ifndef bpf_for
#define bpf_for(i, start, end) for (						\
	struct bpf_iter_num ___it __attribute__((aligned(8),			\
		cleanup(bpf_iter_num_destroy))),				\
	*___p __attribute__((unused)) = (					\
		bpf_iter_num_new(&___it, (start), (end)),			\
		(void)bpf_iter_num_destroy, (void *)0);				\
	({									\
		int *___t = bpf_iter_num_next(&___it);				\
		(___t && ((i) = *___t, (i) >= (start) && (i) < (end)));		\
	});									\
)
#endif

/* N times */
#ifndef bpf_repeat
#define bpf_repeat(N) for (							\
	struct bpf_iter_num ___it __attribute__((aligned(8),			\
		cleanup(bpf_iter_num_destroy))),				\
	*___p __attribute__((unused)) = (					\
		bpf_iter_num_new(&___it, 0, (N)),				\
		(void)bpf_iter_num_destroy, (void *)0);				\
	bpf_iter_num_next(&___it);						\
)
#endif

#endif
