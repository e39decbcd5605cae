/* Capture files read natively from memory (an mmap), presented as a packet socket
 * sees each frame, and run through a program: pybpf run's inner loop.
 *
 * The Python twins it must agree with exactly (tests/vm/test_batch.py compares
 * every record of every shared and tcpdump-suite capture):
 *
 *   records        pybpf.net.pcap.PcapReader._records, pybpf.net.pcapng.PcapngReader
 *                  (damage: the same message at the same file offset)
 *   presentation   pybpf.net.linktype.present, pybpf.net.capture.Packet.from_frame
 *                  (VLAN untagging), pybpf.net.socket.PacketSocket._skb_for
 *   counting       pybpf.net.socket.PacketSocket.deliver (a reader draining the queue)
 */
#include <stdio.h>
#include <stdlib.h>

#include "vm.h"

#define MAX_RECORD (256u * 1024 * 1024)
#define ETH_HLEN 14
#define ETH_P_802_3 0x0001
#define ETH_P_802_2 0x0004
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define ETH_P_802_3_MIN 0x0600
#define ARPHRD_ETHER 1
#define ARPHRD_LOOPBACK 772
#define ARPHRD_NONE 0xFFFE
#define ARPHRD_VOID 0xFFFF
#define PACKET_HOST 0
#define PACKET_BROADCAST 1
#define PACKET_MULTICAST 2
#define PACKET_OTHERHOST 3
#define PACKET_OUTGOING 4
#define NO_PKT_TYPE 0xffffffffu

#define FMT_PCAP 1
#define FMT_PCAPNG 2
#define MODE_ETHERNET 0
#define MODE_DEVICE 1
#define MODE_RAW 2

/* What present() gives: the frame, its skb fields and the sockaddr_ll facts */
struct presented {
	const uint8_t *data;
	uint64_t len;
	uint64_t ts_ns; /* the record's timestamp */
	uint32_t protocol, pkt_type, hatype, mac_len, ifindex;
	uint32_t vlan_present, vlan_tci, vlan_proto;
};

struct iface {
	uint32_t linktype, snaplen;
	uint32_t ts_exp, ts_bin; /* if_tsresol: units of 10^-exp (2^-exp when ts_bin) s */
	int64_t ts_offset_ns;	 /* if_tsoffset */
};

/* The scanner's state; Python reads the file header (pcap) and fills the first part. */
struct vm_capture {
	const uint8_t *buf;
	uint64_t size;
	uint64_t pos;
	uint32_t format;
	/* pcap: byte order, Kuznetzov records, the snapshot length, the link type */
	uint32_t big, kuz, limit, linktype;
	/* presentation: MODE_*, skb_vlan_untag, the socket's bound ifindex (0: any);
	   pcap: nanosecond timestamps */
	uint32_t mode, vlan_untag, sock_ifindex, nano;
	/* read: records so far; damage: a message and its file offset */
	uint64_t records;
	uint32_t failed, pad2;
	uint64_t err_offset;
	char err[240];
	/* records per link type (the first 16 link types met) */
	uint32_t lt_ids[16];
	uint64_t lt_counts[16];
	uint32_t nlt, pad4;
	/* pcapng */
	uint32_t have_section, ng_big;
	uint32_t nifaces, ifcap;
	struct iface *ifaces;
	/* a presented frame that is not the record's own bytes */
	uint8_t *scratch;
	uint64_t scratch_cap;
	/* a packet presented but not yet taken (vm_capture_scan ran out of room) */
	struct presented pending;
	uint32_t has_pending, pad3;
};

/* One record as the readers yield it (pybpf.net.capture.Record) */
struct rec {
	const uint8_t *data;
	uint64_t len;
	uint64_t ts_ns;
	uint32_t linktype;
	uint32_t pkt_type; /* NO_PKT_TYPE: the capture does not say */
	uint32_t ifindex;
};

static int fail(struct vm_capture *c, uint64_t offset, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#include <stdarg.h>
static int fail(struct vm_capture *c, uint64_t offset, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof c->err, fmt, ap);
	va_end(ap);
	c->failed = 1;
	c->err_offset = offset;
	return 0;
}

static inline uint16_t rd16(const uint8_t *p, int big)
{
	return big ? (uint16_t)(p[0] << 8 | p[1]) : (uint16_t)(p[1] << 8 | p[0]);
}
static inline uint32_t rd32(const uint8_t *p, int big)
{
	return big ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
		   : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}
static inline uint64_t left(const struct vm_capture *c) { return c->size - c->pos; }

/* CaptureReader._read: exactly n bytes at pos, or the "truncated" damage */
static const uint8_t *take(struct vm_capture *c, uint64_t n, const char *what)
{
	if (n > left(c)) {
		fail(c, c->pos, "truncated %s: needs %llu bytes, only %llu left", what,
		     (unsigned long long)n, (unsigned long long)left(c));
		return NULL;
	}
	const uint8_t *p = c->buf + c->pos;
	c->pos += n;
	return p;
}

/* --- pcap (pybpf.net.pcap) ------------------------------------------------------------ */

static int pcap_next(struct vm_capture *c, struct rec *r)
{
	uint64_t hlen = c->kuz ? 24 : 16;
	uint64_t offset = c->pos;
	if (left(c) < hlen) {
		if (left(c) == 0)
			return 0;
		return fail(c, offset, "truncated record header: needs %llu bytes, only %llu left",
			    (unsigned long long)hlen, (unsigned long long)left(c));
	}
	const uint8_t *h = c->buf + c->pos;
	c->pos += hlen;
	uint32_t caplen = rd32(h + 8, c->big);
	if (caplen > MAX_RECORD)
		return fail(c, offset,
			    "absurd captured length %u in record header (limit %u)", caplen,
			    MAX_RECORD);
	const uint8_t *data;
	uint64_t n;
	if (caplen <= c->limit) {
		n = caplen;
		data = n ? take(c, n, "packet data") : c->buf + c->pos;
		if (!data)
			return 0;
	} else {
		n = c->limit;
		data = take(c, n, "packet data");
		if (!data)
			return 0;
		uint64_t skip = caplen - c->limit;
		if (skip > left(c))
			return fail(c, c->pos, "truncated packet data: needs %llu bytes, only %llu left",
				    (unsigned long long)skip, (unsigned long long)left(c));
		c->pos += skip;
	}
	r->data = data;
	r->len = n;
	r->ts_ns = (uint64_t)rd32(h, c->big) * 1000000000ull +
		   (uint64_t)rd32(h + 4, c->big) * (c->nano ? 1 : 1000);
	r->linktype = c->linktype;
	r->pkt_type = NO_PKT_TYPE;
	r->ifindex = 0;
	if (c->kuz) {
		int32_t ifindex = (int32_t)rd32(h + 16, c->big);
		r->pkt_type = h[22];
		r->ifindex = ifindex > 0 ? (uint32_t)ifindex : 0;
	}
	return 1;
}

/* --- pcapng (pybpf.net.pcapng) -------------------------------------------------------- */

#define BT_SHB 0x0A0D0D0Au
#define BT_IDB 1u
#define BT_PB 2u
#define BT_SPB 3u
#define BT_EPB 6u

/* PcapngReader._options: the first value of option `want` in [start, end), or NULL */
static const uint8_t *option(const uint8_t *body, uint64_t start, uint64_t end, int big,
			     uint32_t want, uint32_t *len)
{
	uint64_t pos = start;
	while (pos + 4 <= end) {
		uint32_t code = rd16(body + pos, big), n = rd16(body + pos + 2, big);
		if (code == 0)
			break;
		if (pos + 4 + n > end)
			break;
		if (code == want) {
			*len = n;
			return body + pos + 4;
		}
		pos += 4 + ((n + 3) & ~3u);
	}
	return NULL;
}

/* Interface.timestamp_ns(): units * 10^9 // 10^exp (or 2^exp) + if_tsoffset */
static uint64_t ts_of(const struct iface *ifc, uint64_t units)
{
	unsigned __int128 v = (unsigned __int128)units * 1000000000u;
	if (ifc->ts_bin) {
		v = ifc->ts_exp >= 128 ? 0 : v >> ifc->ts_exp;
	} else {
		for (uint32_t i = 0; i < ifc->ts_exp && v; i++)
			v /= 10;
	}
	return (uint64_t)v + (uint64_t)ifc->ts_offset_ns;
}

static int pcapng_next(struct vm_capture *c, struct rec *r)
{
	for (;;) {
		uint64_t offset = c->pos;
		if (left(c) == 0) {
			if (!c->have_section)
				return fail(c, 0, "empty file: no section header block");
			return 0;
		}
		if (left(c) < 8)
			return fail(c, offset, "truncated block header: needs 8 bytes, only %llu left",
				    (unsigned long long)left(c));
		const uint8_t *head = c->buf + c->pos;
		c->pos += 8;
		uint32_t btype, blen;
		int big = c->ng_big;
		uint64_t prefix = 0;
		if (head[0] == 0x0a && head[1] == 0x0d && head[2] == 0x0d && head[3] == 0x0a) {
			const uint8_t *magic = take(c, 4, "section header byte-order magic");
			if (!magic)
				return 0;
			if (!memcmp(magic, "\x4d\x3c\x2b\x1a", 4))
				big = 0;
			else if (!memcmp(magic, "\x1a\x2b\x3c\x4d", 4))
				big = 1;
			else
				return fail(c, offset + 8,
					    "bad byte-order magic %02x%02x%02x%02x in section header block",
					    magic[0], magic[1], magic[2], magic[3]);
			btype = BT_SHB;
			blen = rd32(head + 4, big);
			prefix = 4;
		} else {
			if (!c->have_section)
				return fail(c, offset,
					    "not a pcapng file: first block is not a section header");
			btype = rd32(head, big);
			blen = rd32(head + 4, big);
		}
		if (blen % 4 || blen < 12)
			return fail(c, offset + 4, "bad block total length %u for block type %#x", blen,
				    btype);
		if (btype == BT_SHB && blen < 28)
			return fail(c, offset + 4,
				    "section header block length %u is shorter than its 28-byte minimum",
				    blen);
		if (blen > MAX_RECORD)
			return fail(c, offset + 4,
				    "absurd block total length %u for block type %#x (limit %u)", blen,
				    btype, MAX_RECORD);
		uint64_t body_len = blen - 12;
		const uint8_t *body = NULL;
		int keep = btype == BT_SHB || btype == BT_IDB || btype == BT_EPB || btype == BT_SPB ||
			   btype == BT_PB;
		if (keep) {
			if (!take(c, body_len - prefix, "block body"))
				return 0;
			body = c->buf + offset + 8; /* the magic (SHB) and what follows it */
		} else {
			if (body_len > left(c))
				return fail(c, c->pos, "truncated block body: needs %llu bytes, only %llu left",
					    (unsigned long long)body_len, (unsigned long long)left(c));
			c->pos += body_len;
		}
		const uint8_t *trailer = take(c, 4, "block trailing length");
		if (!trailer)
			return 0;
		uint32_t tail = rd32(trailer, big);
		if (tail != blen)
			return fail(c, c->pos - 4,
				    "block trailing length %u disagrees with leading length %u (block type %#x)",
				    tail, blen, btype);
		if (!keep)
			continue;
		if (btype == BT_SHB) {
			uint32_t major = rd16(body + 4, big), minor = rd16(body + 6, big);
			if (major != 1)
				return fail(c, offset + 12, "unsupported pcapng version %u.%u", major,
					    minor);
			c->ng_big = big;
			c->have_section = 1;
			c->nifaces = 0;
			continue;
		}
		if (btype == BT_IDB) {
			if (body_len < 8)
				return fail(c, offset,
					    "interface description block too short (%llu bytes)",
					    (unsigned long long)body_len + 12);
			uint32_t n = 0;
			const uint8_t *res = option(body, 8, body_len, big, 9, &n);
			if (res && n >= 1 && (res[0] & 0x7f) > 64)
				return fail(c, offset, "absurd if_tsresol %#x", res[0]);
			if (c->nifaces == c->ifcap) {
				uint32_t cap = c->ifcap ? 2 * c->ifcap : 8;
				struct iface *p = realloc(c->ifaces, cap * sizeof *p);
				if (!p)
					return fail(c, offset, "out of memory for interfaces");
				c->ifaces = p;
				c->ifcap = cap;
			}
			struct iface *ifc = &c->ifaces[c->nifaces];
			ifc->linktype = rd16(body, big);
			ifc->snaplen = rd32(body + 4, big);
			ifc->ts_exp = res && n >= 1 ? res[0] & 0x7f : 6;
			ifc->ts_bin = res && n >= 1 ? res[0] >> 7 : 0;
			const uint8_t *tso = option(body, 8, body_len, big, 14, &n);
			ifc->ts_offset_ns = 0;
			if (tso && n >= 8) {
				uint64_t hi = rd32(tso + (big ? 0 : 4), big), lo = rd32(tso + (big ? 4 : 0), big);
				ifc->ts_offset_ns = (int64_t)(hi << 32 | lo) * 1000000000ll;
			}
			c->nifaces++;
			continue;
		}
		uint32_t iid, caplen;
		uint64_t data_start = 20;
		r->pkt_type = NO_PKT_TYPE;
		r->ifindex = 0;
		if (btype == BT_SPB) {
			if (body_len < 4)
				return fail(c, offset, "simple packet block too short");
			if (c->nifaces == 0)
				return fail(c, offset,
					    "packet on interface 0, but the section declares only 0 interface(s)");
			uint32_t olen = rd32(body, big);
			uint64_t n = olen < body_len - 4 ? olen : body_len - 4;
			if (c->ifaces[0].snaplen && c->ifaces[0].snaplen < n)
				n = c->ifaces[0].snaplen;
			r->data = body + 4;
			r->len = n;
			r->ts_ns = 0;
			r->linktype = c->ifaces[0].linktype;
			return 1;
		}
		if (body_len < 20)
			return fail(c, offset, btype == BT_EPB ? "enhanced packet block too short"
							      : "packet block too short");
		if (btype == BT_EPB) {
			iid = rd32(body, big);
			caplen = rd32(body + 12, big);
		} else {
			iid = rd16(body, big);
			caplen = rd32(body + 12, big);
		}
		if (iid >= c->nifaces)
			return fail(c, offset,
				    "packet on interface %u, but the section declares only %u interface(s)",
				    iid, c->nifaces);
		if (caplen > body_len - data_start)
			return fail(c, offset + 8 + 12,
				    "captured length %u exceeds the block's %llu data bytes", caplen,
				    (unsigned long long)(body_len - data_start));
		r->data = body + data_start;
		r->len = caplen;
		r->ts_ns = ts_of(&c->ifaces[iid], (uint64_t)rd32(body + 4, big) << 32 |
						      rd32(body + 8, big));
		r->linktype = c->ifaces[iid].linktype;
		if (btype == BT_EPB) {
			uint64_t opt = data_start + ((caplen + 3) & ~3u);
			uint32_t n = 0;
			const uint8_t *fl =
			    opt + 4 <= body_len ? option(body, opt, body_len, big, 2, &n) : NULL;
			if (fl && n >= 4) {
				uint32_t v = rd32(fl, big);
				static const uint32_t rx[8] = {NO_PKT_TYPE,	 PACKET_HOST,
							       PACKET_MULTICAST, PACKET_BROADCAST,
							       PACKET_OTHERHOST, NO_PKT_TYPE,
							       NO_PKT_TYPE,	 NO_PKT_TYPE};
				r->pkt_type = (v & 3) == 2 ? PACKET_OUTGOING : rx[(v >> 2) & 7];
			}
		}
		return 1;
	}
}

/* --- presentation (pybpf.net.linktype, Packet.from_frame, PacketSocket._skb_for) ------ */

/* eth_protocol(): skb->protocol as eth_type_trans() derives it */
static uint32_t eth_protocol(const uint8_t *f, uint64_t len)
{
	if (len < ETH_HLEN)
		return 0;
	uint32_t proto = (uint32_t)f[12] << 8 | f[13];
	if (proto >= ETH_P_802_3_MIN)
		return proto;
	if (len >= ETH_HLEN + 2 && f[14] == 0xff && f[15] == 0xff)
		return ETH_P_802_3;
	return ETH_P_802_2;
}

/* eth_pkt_type(): a unicast frame of a capture counts as addressed to us */
static uint32_t eth_pkt_type(const uint8_t *f, uint64_t len)
{
	if (len < 6 || !(f[0] & 1))
		return PACKET_HOST;
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	return memcmp(f, bcast, 6) ? PACKET_MULTICAST : PACKET_BROADCAST;
}

static uint8_t *scratch(struct vm_capture *c, uint64_t n)
{
	if (n > c->scratch_cap) {
		uint64_t cap = n < 65536 ? 65536 : n;
		uint8_t *p = realloc(c->scratch, cap);
		if (!p)
			return NULL;
		c->scratch = p;
		c->scratch_cap = cap;
	}
	return c->scratch;
}

/* _l3_frame(): a frame with an hlen-byte pseudo-header before its L3 packet */
static int l3_frame(struct vm_capture *c, struct presented *p, const struct rec *r, uint64_t hlen,
		    uint32_t proto, uint32_t pkt_type, uint32_t hatype, const uint8_t *src,
		    const uint8_t *dst, int ethernet_device, uint32_t ifindex)
{
	p->protocol = proto;
	p->pkt_type = pkt_type;
	p->hatype = hatype;
	p->ifindex = ifindex;
	if (c->mode == MODE_RAW) {
		p->data = r->data;
		p->len = r->len;
		p->mac_len = (uint32_t)hlen;
		return 1;
	}
	const uint8_t *l3 = r->data + hlen;
	uint64_t n = r->len - hlen;
	if (c->mode == MODE_DEVICE && !ethernet_device) {
		p->data = l3;
		p->len = n;
		p->mac_len = 0;
		return 1;
	}
	uint8_t *f = scratch(c, n + ETH_HLEN);
	if (!f)
		return fail(c, 0, "out of memory presenting a frame");
	static const uint8_t zero[6];
	uint32_t type = proto;
	if (type == ETH_P_802_3 || type == ETH_P_802_2) /* a length field, as on the wire */
		type = n < ETH_P_802_3_MIN - 1 ? (uint32_t)n : ETH_P_802_3_MIN - 1;
	memcpy(f, dst ? dst : zero, 6);
	memcpy(f + 6, src ? src : zero, 6);
	f[12] = (uint8_t)(type >> 8);
	f[13] = (uint8_t)type;
	memcpy(f + ETH_HLEN, l3, n);
	p->data = f;
	p->len = n + ETH_HLEN;
	p->mac_len = ETH_HLEN;
	return 1;
}

static int present(struct vm_capture *c, const struct rec *r, struct presented *p)
{
	const uint8_t *d = r->data;
	uint64_t len = r->len;
	p->ts_ns = r->ts_ns;
	p->vlan_present = p->vlan_tci = p->vlan_proto = 0;
	p->ifindex = 0;
	if (r->linktype == 1) { /* LINKTYPE_ETHERNET: unchanged in every mode */
		p->data = d;
		p->len = len;
		p->protocol = eth_protocol(d, len);
		p->pkt_type = eth_pkt_type(d, len);
		p->hatype = ARPHRD_ETHER;
		p->mac_len = ETH_HLEN;
	} else if (r->linktype == 12 || r->linktype == 14 || r->linktype == 101 ||
		   r->linktype == 228 || r->linktype == 229) { /* raw IP */
		uint32_t proto = r->linktype == 228 ? ETH_P_IP : r->linktype == 229 ? ETH_P_IPV6 : 0;
		if (r->linktype != 228 && r->linktype != 229 && len > 0)
			proto = d[0] >> 4 == 4 ? ETH_P_IP : d[0] >> 4 == 6 ? ETH_P_IPV6 : 0;
		if (!l3_frame(c, p, r, 0, proto, PACKET_HOST, ARPHRD_NONE, NULL, NULL, 0, 0))
			return 0;
	} else if ((r->linktype == 113 && len >= 16) || (r->linktype == 276 && len >= 20)) {
		/* LINUX_SLL / SLL2: libpcap's cooked header written from a sockaddr_ll */
		uint32_t proto, pkt_type, hatype, halen, ifindex = 0;
		const uint8_t *addr;
		uint64_t hlen;
		if (r->linktype == 113) {
			pkt_type = rd16(d, 1);
			hatype = rd16(d + 2, 1);
			halen = rd16(d + 4, 1);
			addr = d + 6;
			proto = rd16(d + 14, 1);
			hlen = 16;
		} else {
			proto = rd16(d, 1);
			ifindex = rd32(d + 4, 1);
			hatype = rd16(d + 8, 1);
			pkt_type = d[10];
			halen = d[11];
			addr = d + 12;
			hlen = 20;
		}
		const uint8_t *l3 = d + hlen;
		uint64_t n = len - hlen;
		uint8_t dst[6] = {0};
		if (pkt_type == PACKET_BROADCAST) {
			memset(dst, 0xff, 6);
		} else if (pkt_type == PACKET_MULTICAST) { /* RFC 1112 s6.4, RFC 2464 s7 */
			if (proto == ETH_P_IP && n >= 20) {
				dst[0] = 0x01, dst[1] = 0x00, dst[2] = 0x5e;
				dst[3] = l3[17] & 0x7f, dst[4] = l3[18], dst[5] = l3[19];
			} else if (proto == ETH_P_IPV6 && n >= 40) {
				dst[0] = dst[1] = 0x33;
				memcpy(dst + 2, l3 + 36, 4);
			}
		}
		if (!l3_frame(c, p, r, hlen, proto, pkt_type, hatype, halen == 6 ? addr : NULL, dst,
			      hatype == ARPHRD_ETHER || hatype == ARPHRD_LOOPBACK, ifindex))
			return 0;
	} else if ((r->linktype == 0 || r->linktype == 108) && len >= 4) { /* NULL / LOOP */
		uint32_t family;
		if (r->linktype == 108) {
			family = rd32(d, 1);
		} else {
			family = rd32(d, 0);
			if (family & 0xffff0000u) /* written by a big-endian host */
				family = rd32(d, 1);
		}
		uint32_t proto = family == 2 ? ETH_P_IP
			       : (family == 24 || family == 28 || family == 30 || family == 10)
				   ? ETH_P_IPV6
				   : 0;
		if (!l3_frame(c, p, r, 4, proto, PACKET_HOST, ARPHRD_LOOPBACK, NULL, NULL, 1, 0))
			return 0;
	} else {
		p->data = d;
		p->len = len;
		p->protocol = 0;
		p->pkt_type = PACKET_HOST;
		p->hatype = ARPHRD_VOID;
		p->mac_len = 0;
	}
	if (r->pkt_type != NO_PKT_TYPE)
		p->pkt_type = r->pkt_type;
	if (!p->ifindex)
		p->ifindex = r->ifindex;
	if (c->vlan_untag && p->mac_len == ETH_HLEN && p->len >= ETH_HLEN + 4) {
		uint32_t tpid = (uint32_t)p->data[12] << 8 | p->data[13];
		if (tpid == ETH_P_8021Q || tpid == ETH_P_8021AD) {
			uint8_t *f = scratch(c, p->len - 4);
			if (!f)
				return fail(c, 0, "out of memory presenting a frame");
			uint32_t tci = (uint32_t)p->data[14] << 8 | p->data[15];
			if (f != p->data) {
				memcpy(f, p->data, 12);
				memcpy(f + 12, p->data + 16, p->len - 16);
			} else {
				memmove(f + 12, f + 16, p->len - 16);
			}
			p->data = f;
			p->len -= 4;
			p->vlan_present = 1;
			p->vlan_tci = tci;
			p->vlan_proto = tpid;
			p->protocol = eth_protocol(f, p->len);
		}
	}
	return 1;
}

/* PacketSocket._skb_for(): the skb the socket builds for a presented frame */
static void skb_of(struct vm_skb *skb, const struct presented *p, uint32_t sock_ifindex)
{
	memset(skb, 0, sizeof *skb);
	skb->head = (uint8_t *)(uintptr_t)p->data; /* read-only: a socket filter cannot write it */
	skb->head_len = p->len;
	skb->data_off = 0;
	if (p->mac_len) {
		skb->mac_off = 0;
		skb->net_off = p->len < ETH_HLEN ? (int64_t)p->len : ETH_HLEN;
	} else {
		skb->mac_off = -1;
		skb->net_off = 0;
	}
	skb->protocol = p->protocol;
	skb->pkt_type = p->pkt_type;
	skb->ifindex = p->ifindex ? p->ifindex : sock_ifindex;
	if (p->vlan_present) {
		skb->vlan_present = 1;
		skb->vlan_tci = p->vlan_tci;
		skb->vlan_proto = p->vlan_proto;
	}
}

/* --- the loop ------------------------------------------------------------------------- */

struct vm_capture *vm_capture_new(void) { return calloc(1, sizeof(struct vm_capture)); }

void vm_capture_free(struct vm_capture *c)
{
	if (!c)
		return;
	free(c->ifaces);
	free(c->scratch);
	free(c);
}

/* The next record, presented: 1, or 0 at the end (c->failed: damage) */
static int next_packet(struct vm_capture *c, struct presented *p)
{
	struct rec r;
	if (c->has_pending) {
		c->has_pending = 0;
		*p = c->pending;
		return 1;
	}
	for (;;) {
		int got = c->format == FMT_PCAP ? pcap_next(c, &r) : pcapng_next(c, &r);
		if (!got)
			return 0;
		c->records++;
		for (uint32_t i = 0;; i++) {
			if (i == c->nlt) {
				if (i == 16)
					break;
				c->lt_ids[c->nlt++] = r.linktype;
			}
			if (c->lt_ids[i] == r.linktype) {
				c->lt_counts[i]++;
				break;
			}
		}
		if (!present(c, &r, p))
			return 0;
		/* a socket bound to a device sees only that device's packets */
		if (c->sock_ifindex && p->ifindex && p->ifindex != c->sock_ifindex)
			continue;
		return 1;
	}
}

/* Run the program over up to `max` packets of the capture; per-packet verdicts into
 * `verdicts` when given. EXIT_OK at the end of the file, of damage or after `max`
 * packets (c->failed, counts->packets say which); another EXIT_* code when the
 * program failed on packet counts->failed of this call. */
int vm_run_capture(struct vm_driver *d, struct vm_capture *c, uint64_t max, uint32_t *verdicts,
		   struct vm_counts *counts)
{
	struct presented p;
	struct vm_env *env = &d->env;
	for (uint64_t i = 0; i < max; i++) {
		if ((c->failed && !c->has_pending) || !next_packet(c, &p))
			return EXIT_OK;
		skb_of(&env->skb, &p, c->sock_ifindex);
		int rc = vm_run_packet(d);
		if (rc != EXIT_OK) {
			counts->failed = i;
			return rc;
		}
		uint32_t v = (uint32_t)d->r0;
		if (verdicts)
			verdicts[i] = v;
		counts->received++;
		if (!v) {
			counts->dropped++;
		} else {
			counts->accepted++;
			counts->delivered_bytes += v < p.len ? v : p.len;
		}
		counts->packets++;
	}
	return EXIT_OK;
}

int vm_capture_pending(struct vm_capture *c) { return (int)c->has_pending; }

int vm_action_packet(struct vm_driver *d, const uint8_t *frame, uint64_t len, uint64_t ts,
		     uint64_t index, struct vm_actions *a);

/* An XDP, tc or cgroup_skb program over up to `max` frames of the capture, each
 * presented as an Ethernet frame ("ethernet" mode) and run as a test run presents it
 * (packet.c): what each became goes into `a`. Stops early when `a` is full (the frame
 * is kept for the next call). EXIT_OK, or the EXIT_* code of the program's failure on
 * frame counts->failed of this call. */
int vm_run_actions_capture(struct vm_driver *d, struct vm_capture *c, uint64_t max,
			   struct vm_actions *a, struct vm_counts *counts)
{
	struct presented p;
	for (uint64_t i = 0; i < max; i++) {
		if ((c->failed && !c->has_pending) || !next_packet(c, &p))
			return EXIT_OK;
		int rc = vm_action_packet(d, p.data, p.len, p.ts_ns, counts->packets, a);
		if (rc == 0) { /* full: keep the frame for the next call */
			c->pending = p;
			c->has_pending = 1;
			return EXIT_OK;
		}
		if (rc < -1) {
			counts->failed = counts->packets;
			return -rc;
		}
		if (rc == 1)
			counts->received++;
		counts->packets++;
	}
	return EXIT_OK;
}

/* Only read and present (no program): what a differential test compares with the
 * Python readers. Fills up to `max` descriptors: per packet the offset of its bytes
 * in the file (or ~0 when presented from scratch), length, protocol, pkt_type,
 * hatype, mac_len, ifindex, vlan (present, tci, proto), and copies presented bytes
 * end to end into `out` (capacity `cap`). Returns the number of packets. */
uint64_t vm_capture_scan(struct vm_capture *c, uint64_t max, uint64_t *desc, uint8_t *out,
			 uint64_t cap, uint64_t *used)
{
	struct presented p;
	uint64_t n = 0, pos = 0;
	while (n < max && (c->has_pending || !c->failed)) {
		if (!next_packet(c, &p))
			break;
		if (pos + p.len > cap) { /* no room: keep the packet for the next call */
			c->pending = p;
			c->has_pending = 1;
			break;
		}
		memcpy(out + pos, p.data, p.len);
		uint64_t *e = desc + 10 * n;
		e[0] = pos;
		e[1] = p.len;
		e[2] = p.protocol;
		e[3] = p.pkt_type;
		e[4] = p.hatype;
		e[5] = p.mac_len;
		e[6] = p.ifindex;
		e[7] = p.vlan_present;
		e[8] = p.vlan_tci;
		e[9] = p.vlan_proto;
		pos += p.len;
		n++;
	}
	*used = pos;
	return n;
}
