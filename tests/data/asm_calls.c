/* Helper calls, BPF-to-BPF calls, maps, globals and byte swaps. */
typedef unsigned long long u64;
typedef unsigned int u32;
typedef unsigned short u16;

struct bpf_map_def {
	unsigned int type, key_size, value_size, max_entries, map_flags;
};

struct bpf_map_def __attribute__((section("maps"), used)) counters = {
	.type = 2, .key_size = 4, .value_size = 8, .max_entries = 256,
};

static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*bpf_trace_printk)(const char *fmt, u32 fmt_size, ...) = (void *)6;

u64 global_total;
static volatile u32 limit = 40;

static __attribute__((noinline)) u64 mix(u64 a, u64 b)
{
	return (a * 0x9e3779b97f4a7c15ULL) ^ (b + limit);
}

static __attribute__((noinline)) u32 swap(u32 x, u16 y)
{
	return __builtin_bswap32(x) + __builtin_bswap16(y);
}

__attribute__((section("socket"), used))
int calls(u64 *ctx)
{
	u32 key = (u32)ctx[0] & 255;
	u64 *value = bpf_map_lookup_elem(&counters, &key);
	char fmt[] = "v=%llu\n";

	if (!value)
		return 0;
	__sync_fetch_and_add(value, 1);
	global_total += mix(*value, ctx[1]);
	if (global_total > 1000)
		bpf_trace_printk(fmt, sizeof(fmt), global_total);
	return swap((u32)ctx[2], (u16)ctx[3]);
}

char _license[] __attribute__((section("license"), used)) = "GPL";
