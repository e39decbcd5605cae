/* Types whose C layout is easy to get wrong when printed back from BTF:
 * tests/spec/test_btf_dump.py dumps this object's BTF as C, compiles the dump
 * and compares every layout with the original. */
typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

enum small { SMALL_A, SMALL_B = 7 } __attribute__((packed));
enum wide { WIDE_A = 1, WIDE_HUGE = 0xfffffffffffULL };
enum negative { NEG_A = -5, NEG_B = 3 };

struct bits {
	u8 a: 3, b: 5;
	u16 c: 9;
	u32 d: 31;
	u64 e: 40, f: 24;
	enum small g: 4;
	int h;
};

struct packed_one {
	u8 tag;
	u32 value;
	u16 rest;
} __attribute__((packed));

struct aligned_inner {
	u32 x;
} __attribute__((aligned(64)));

struct holds_aligned {
	u8 first;
	struct aligned_inner inner;
	u8 last;
};

struct gaps {
	u8 a;
	u64 b __attribute__((aligned(16)));
	u8 c;
	u32 d __attribute__((aligned(32)));
};

struct list;
typedef int (*handler_t)(struct list *, void *);
typedef u32 quad[4];
typedef int fn_type(int, const char *);

struct list {
	struct list *next, **prevp;
	const char *const name;
	volatile u32 *const volatile regs;
	handler_t handlers[3];
	int (*(*table)[8])(u64);
	void (*cb)(struct list *, int, ...);
	quad q;
	fn_type *fp;
	union {
		struct { u16 lo, hi; };
		u32 word;
		struct { u8 b0; u8 b1[3]; } bytes;
	};
	enum { INLINE_X, INLINE_Y } mode;
	struct { int depth; struct list *up; } nested[2];
	char name_buf[0];
};

union wide_union {
	u8 b;
	u64 q;
} __attribute__((aligned(32)));

struct empty {};

struct flex {
	u32 n;
	u64 items[];
};

struct ok_misaligned_bitfields {
	u32 a: 20;
	u32 b: 20;
	u8 c;
} __attribute__((packed));

/* every type above reaches the object's BTF through these */
struct bits *v_bits;
struct packed_one *v_packed;
struct holds_aligned *v_holds;
struct gaps *v_gaps;
struct list *v_list;
union wide_union *v_union;
struct empty *v_empty;
struct flex *v_flex;
struct ok_misaligned_bitfields *v_mis;
enum wide *v_wide;
enum negative *v_neg;
