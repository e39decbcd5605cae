/* Arithmetic, shifts, comparisons and loops for the disassembler tests. */
typedef unsigned long long u64;
typedef long long s64;
typedef unsigned int u32;
typedef int s32;

__attribute__((section("socket"), used))
int alu(u64 *ctx)
{
	u64 a = ctx[0], b = ctx[1], c = 0;
	s64 s = (s64)ctx[2];
	u32 w = (u32)ctx[3];
	s32 sw = (s32)ctx[4];

	c += a * 7 + (b << 3) - (a >> 5);
	c ^= (u64)(s >> 9);
	c |= b / (a | 1);
	c &= ~(b % (a | 3));
	w = w * 13 + (w >> 3) - (w << 2);
	w /= (u32)(b | 1);
	if (sw > 100)
		c += 1;
	if (s < -5)
		c -= 2;
	if ((s32)w < sw)
		c += 3;
	if (w >= 17)
		c += w;
	for (int i = 0; i < (int)(a & 15); i++)
		c = c * 31 + i;
	if (c & 0x10)
		c = 0x123456789abcdefULL;
	if (c == 0xffffffffULL)
		c = -1;
	return (int)(c ^ (c >> 32)) + (sw >> 3);
}

char _license[] __attribute__((section("license"), used)) = "GPL";
