/* <linux/stddef.h>: the structure helpers of the kernel's uapi headers.
 * Written for pybpf from the ABI (include/uapi/linux/stddef.h). */
#ifndef _LINUX_STDDEF_H
#define _LINUX_STDDEF_H

#ifndef __always_inline
#define __always_inline __inline__
#endif

#ifdef __cplusplus
#define __struct_group_tag(TAG)
#else
#define __struct_group_tag(TAG)	TAG
#endif

/* The members, reachable both directly and as one named (and tagged) struct. */
#define __struct_group(TAG, NAME, ATTRS, MEMBERS...)			\
	union {								\
		struct { MEMBERS } ATTRS;				\
		struct __struct_group_tag(TAG) { MEMBERS } ATTRS NAME;	\
	} ATTRS

/* A flexible array allowed where C forbids one (alone in a union, say). */
#define __DECLARE_FLEX_ARRAY(TYPE, NAME)				\
	struct {							\
		struct { } __empty_ ## NAME;				\
		TYPE NAME[];						\
	}

#ifndef __counted_by
#define __counted_by(m)
#endif
#ifndef __counted_by_le
#define __counted_by_le(m)
#endif
#ifndef __counted_by_be
#define __counted_by_be(m)
#endif

#endif
