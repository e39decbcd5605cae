/* Bob Jenkins' lookup3 hash as include/linux/jhash.h defines jhash() and jhash2(), and
 * htab_map_hash() (kernel/bpf/hashtab.c), which picks a hash map's bucket and so the
 * order BPF_MAP_GET_NEXT_KEY walks.  Words are read little-endian (x86), whatever the
 * key's alignment.  pybpf/maps/jhash.py is the same function in Python.
 */
#ifndef PYBPF_JHASH_H
#define PYBPF_JHASH_H

#include <stdint.h>
#include <string.h>

#define JHASH_INITVAL 0xdeadbeefU

static inline uint32_t rol32(uint32_t word, unsigned int shift)
{
	return (word << (shift & 31)) | (word >> ((-shift) & 31));
}

static inline uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

#define __jhash_mix(a, b, c)              \
	{                                 \
		a -= c;                   \
		a ^= rol32(c, 4);         \
		c += b;                   \
		b -= a;                   \
		b ^= rol32(a, 6);         \
		a += c;                   \
		c -= b;                   \
		c ^= rol32(b, 8);         \
		b += a;                   \
		a -= c;                   \
		a ^= rol32(c, 16);        \
		c += b;                   \
		b -= a;                   \
		b ^= rol32(a, 19);        \
		a += c;                   \
		c -= b;                   \
		c ^= rol32(b, 4);         \
		b += a;                   \
	}

#define __jhash_final(a, b, c)            \
	{                                 \
		c ^= b;                   \
		c -= rol32(b, 14);        \
		a ^= c;                   \
		a -= rol32(c, 11);        \
		b ^= a;                   \
		b -= rol32(a, 25);        \
		c ^= b;                   \
		c -= rol32(b, 16);        \
		a ^= c;                   \
		a -= rol32(c, 4);         \
		b ^= a;                   \
		b -= rol32(a, 14);        \
		c ^= b;                   \
		c -= rol32(b, 24);        \
	}

/* jhash(): `length` bytes of any alignment */
static inline uint32_t jhash(const void *key, uint32_t length, uint32_t initval)
{
	const uint8_t *k = key;
	uint32_t a, b, c;
	uint8_t tail[12];

	a = b = c = JHASH_INITVAL + length + initval;
	while (length > 12) {
		a += get_le32(k);
		b += get_le32(k + 4);
		c += get_le32(k + 8);
		__jhash_mix(a, b, c);
		length -= 12;
		k += 12;
	}
	if (!length)
		return c;
	/* the kernel's fall-through switch adds the last 1..12 bytes: zero padding is
	   the same sum */
	memset(tail, 0, sizeof(tail));
	memcpy(tail, k, length);
	a += get_le32(tail);
	b += get_le32(tail + 4);
	c += get_le32(tail + 8);
	__jhash_final(a, b, c);
	return c;
}

/* jhash2(): `length` u32 words */
static inline uint32_t jhash2(const uint8_t *k, uint32_t length, uint32_t initval)
{
	uint32_t a, b, c;

	a = b = c = JHASH_INITVAL + (length << 2) + initval;
	while (length > 3) {
		a += get_le32(k);
		b += get_le32(k + 4);
		c += get_le32(k + 8);
		__jhash_mix(a, b, c);
		length -= 3;
		k += 12;
	}
	switch (length) {
	case 3:
		c += get_le32(k + 8);
		/* fallthrough */
	case 2:
		b += get_le32(k + 4);
		/* fallthrough */
	case 1:
		a += get_le32(k);
		__jhash_final(a, b, c);
		break;
	case 0:
		break;
	}
	return c;
}

/* htab_map_hash(): jhash2 for keys that are whole u32 words, jhash otherwise */
static inline uint32_t htab_map_hash(const void *key, uint32_t key_len, uint32_t hashrnd)
{
	if ((key_len & 0x3) == 0)
		return jhash2(key, key_len / 4, hashrnd);
	return jhash(key, key_len, hashrnd);
}

#endif /* PYBPF_JHASH_H */
