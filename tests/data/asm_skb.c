/* The seed's socket-filter pattern: LD_ABS/LD_IND packet loads. */
typedef unsigned long long u64;

unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");
unsigned long long load_half(void *skb, unsigned long long off) asm("llvm.bpf.load.half");
unsigned long long load_word(void *skb, unsigned long long off) asm("llvm.bpf.load.word");

__attribute__((section("socket"), used))
int skb_loads(void *skb)
{
	u64 proto = load_byte(skb, 23);
	u64 ihl = (load_byte(skb, 14) & 0xf) << 2;
	u64 port = load_half(skb, 14 + ihl + 2);
	u64 src = load_word(skb, 26);

	if (proto == 6 && port == 80)
		return -1;
	if (proto == 17 && (src >> 24) == 10)
		return 64;
	return 0;
}

char _license[] __attribute__((section("license"), used)) = "GPL";
