// SPDX-License-Identifier: MIT
/*
 * SSE4.2 string compares (PCMPESTRI/ESTRM/ISTRI/ISTRM, SDM Vol. 2 4.1),
 * AES-NI (FIPS-197 round steps as the SDM's AESENC & co. describe them),
 * PCLMULQDQ, and the SSE4a bit-field instructions EXTRQ / INSERTQ
 * (AMD APM Vol. 4).
 */
#include "sse_priv.h"

#define OPB(i) ((i)->op & 0xff)

/* ---- PCMPxSTRx ------------------------------------------------------------------ */

static int elem(const vec *v, int k, int fmt)
{
	switch (fmt) {
	case 0: return v->b[k];
	case 1: return v->w[k];
	case 2: return v->sb[k];
	default: return v->sw[k];
	}
}

/* explicit length: |reg| saturated to the element count (SDM 4.1.3) */
static int exp_len(const struct cpu *c, const struct insn *i, int r, int n)
{
	uint64_t v = c->gpr[r];
	if (!((i->rex & 8) && cpu_long64(c)))
		v = (uint64_t)(int64_t)(int32_t)v;
	if ((int64_t)v < 0)
		v = 0 - v;
	return v > (uint64_t)n ? n : (int)v;
}

static int imp_len(const vec *v, int n, int fmt)
{
	for (int k = 0; k < n; k++)
		if (!elem(v, k, fmt))
			return k;
	return n;
}

H(h_sse_pcmpstr)
{
	uint8_t op = OPB(i), im = (uint8_t)i->imm;
	int fmt = im & 3, agg = (im >> 2) & 3, pol = (im >> 4) & 3;
	int n = (im & 1) ? 8 : 16;
	need(c, FEAT_SSE42);
	sse_check(c);
	vec t;
	const vec *s2 = xsrc(c, i, &t, 16, AL_NONE);
	const vec *s1 = xmm(c, i->reg);
	int l1, l2;
	if (op <= 0x61) {
		l1 = exp_len(c, i, R_AX, n);
		l2 = exp_len(c, i, R_DX, n);
	} else {
		l1 = imp_len(s1, n, fmt);
		l2 = imp_len(s2, n, fmt);
	}
	uint32_t res = 0;
	for (int j = 0; j < n; j++) {
		bool v2 = j < l2;
		bool r = false;
		switch (agg) {
		case 0:	/* equal any */
			if (v2)
				for (int k = 0; k < l1 && !r; k++)
					r = elem(s1, k, fmt) == elem(s2, j, fmt);
			break;
		case 1:	/* ranges */
			/* pairs (lo, hi) of string1; an invalid element forces false */
			if (v2)
				for (int k = 0; k + 1 < l1 && !r; k += 2)
					r = elem(s2, j, fmt) >= elem(s1, k, fmt) &&
					    elem(s2, j, fmt) <= elem(s1, k + 1, fmt);
			break;
		case 2:	/* equal each */
			if (j < l1 && v2)
				r = elem(s1, j, fmt) == elem(s2, j, fmt);
			else
				r = j >= l1 && !v2;
			break;
		default:	/* equal ordered */
			r = true;
			for (int k = 0; k < n - j && r; k++) {
				bool a = k < l1, b = j + k < l2;
				if (!a)
					break;	/* invalid string1 element: forced true */
				if (!b)
					r = false;
				else
					r = elem(s1, k, fmt) == elem(s2, j + k, fmt);
			}
			break;
		}
		res |= (uint32_t)r << j;
	}
	uint32_t all = (1u << n) - 1;
	if (pol == 1)
		res ^= all;
	else if (pol == 3)
		res ^= (1u << l2) - 1;
	if (op & 1) {		/* index: ECX */
		int idx = n;
		if (res)
			idx = (im & 0x40) ? 31 - __builtin_clz(res) : __builtin_ctz(res);
		reg_set(c, R_CX, 4, (uint32_t)idx);
	} else {		/* mask: XMM0 */
		vec m;
		memset(&m, 0, sizeof(m));
		if (im & 0x40) {
			for (int k = 0; k < n; k++) {
				if (n == 16)
					m.b[k] = (res >> k) & 1 ? 0xff : 0;
				else
					m.w[k] = (res >> k) & 1 ? 0xffff : 0;
			}
		} else {
			m.d[0] = res;
		}
		*xmm(c, 0) = m;
	}
	uint64_t f = 0;
	if (res)
		f |= F_CF;
	if (l2 < n)
		f |= F_ZF;
	if (l1 < n)
		f |= F_SF;
	if (res & 1)
		f |= F_OF;
	cc_flush(c);
	c->rflags = (c->rflags & ~(uint64_t)F_ARITH) | f;
}

/* ---- AES ----------------------------------------------------------------------- */

static uint8_t sbox[256], isbox[256];
static bool sbox_ready;

static uint8_t gmul(uint8_t a, uint8_t b)
{
	uint8_t p = 0;
	while (b) {
		if (b & 1)
			p ^= a;
		a = (uint8_t)((a << 1) ^ ((a & 0x80) ? 0x1b : 0));
		b >>= 1;
	}
	return p;
}

/* S-box from its definition: multiplicative inverse in GF(2^8), then the affine map */
static void sbox_init(void)
{
	for (int x = 0; x < 256; x++) {
		uint8_t inv = 0;
		for (int y = 1; y < 256 && x; y++)
			if (gmul((uint8_t)x, (uint8_t)y) == 1) {
				inv = (uint8_t)y;
				break;
			}
		uint8_t s = inv;
		for (int k = 1; k <= 4; k++)
			s ^= (uint8_t)((inv << k) | (inv >> (8 - k)));
		s ^= 0x63;
		sbox[x] = s;
		isbox[s] = (uint8_t)x;
	}
	sbox_ready = true;
}

static void shift_rows(uint8_t *s, bool inv)
{
	uint8_t t[16];
	for (int col = 0; col < 4; col++)
		for (int r = 0; r < 4; r++) {
			int from = inv ? (col - r + 4) & 3 : (col + r) & 3;
			t[4 * col + r] = s[4 * from + r];
		}
	memcpy(s, t, 16);
}

static void mix_columns(uint8_t *s, bool inv)
{
	static const uint8_t fw[4] = { 2, 3, 1, 1 }, bw[4] = { 14, 11, 13, 9 };
	const uint8_t *m = inv ? bw : fw;
	for (int col = 0; col < 4; col++) {
		uint8_t a[4], *p = s + 4 * col;
		memcpy(a, p, 4);
		for (int r = 0; r < 4; r++)
			p[r] = gmul(a[0], m[(4 - r) & 3]) ^ gmul(a[1], m[(5 - r) & 3]) ^
			       gmul(a[2], m[(6 - r) & 3]) ^ gmul(a[3], m[(7 - r) & 3]);
	}
}

H(h_sse_aes)
{
	need(c, FEAT_AES);
	sse_check(c);
	if (!sbox_ready)
		sbox_init();
	vec t;
	const vec *k = xsrc(c, i, &t, 16, AL_16);
	vec st = OPB(i) == 0xdb ? *k : *xmm(c, i->reg);
	uint8_t op = OPB(i);
	if (op == 0xdb) {		/* AESIMC */
		mix_columns(st.b, true);
		*xmm(c, i->reg) = st;
		return;
	}
	bool dec = op >= 0xde;
	shift_rows(st.b, dec);
	for (int b = 0; b < 16; b++)
		st.b[b] = dec ? isbox[st.b[b]] : sbox[st.b[b]];
	if (op == 0xdc || op == 0xde)
		mix_columns(st.b, dec);
	st.q[0] ^= k->q[0];
	st.q[1] ^= k->q[1];
	*xmm(c, i->reg) = st;
}

static uint32_t subword(uint32_t w)
{
	return (uint32_t)sbox[w & 0xff] | (uint32_t)sbox[(w >> 8) & 0xff] << 8 |
	       (uint32_t)sbox[(w >> 16) & 0xff] << 16 | (uint32_t)sbox[w >> 24] << 24;
}

H(h_sse_aeskeygen)
{
	need(c, FEAT_AES);
	sse_check(c);
	if (!sbox_ready)
		sbox_init();
	vec t, r;
	const vec *s = xsrc(c, i, &t, 16, AL_16);
	uint32_t rcon = (uint8_t)i->imm;
	uint32_t x1 = subword(s->d[1]), x3 = subword(s->d[3]);
	r.d[0] = x1;
	r.d[1] = ((x1 >> 8) | (x1 << 24)) ^ rcon;
	r.d[2] = x3;
	r.d[3] = ((x3 >> 8) | (x3 << 24)) ^ rcon;
	*xmm(c, i->reg) = r;
}

/* ---- PCLMULQDQ ----------------------------------------------------------------- */

H(h_sse_pclmul)
{
	need(c, FEAT_PCLMUL);
	sse_check(c);
	vec t, r;
	const vec *s = xsrc(c, i, &t, 16, AL_16);
	uint64_t a = xmm(c, i->reg)->q[i->imm & 1], b = s->q[(i->imm >> 4) & 1];
	uint64_t lo = 0, hi = 0;
	for (int k = 0; k < 64; k++)
		if ((b >> k) & 1) {
			lo ^= a << k;
			if (k)
				hi ^= a >> (64 - k);
		}
	r.q[0] = lo;
	r.q[1] = hi;
	*xmm(c, i->reg) = r;
}

/* ---- SSE4a EXTRQ / INSERTQ --------------------------------------------------------- */

/*
 * Field length 0 means 64.  A field that runs past bit 63 is undefined in
 * the APM; the emulation keeps the bits that fit.  The upper quadword of
 * the destination, undefined in the APM, is cleared as AMD hardware does
 * (measured by diff_sse).
 */
H(h_sse_extrq)
{
	need(c, FEAT_SSE4A);
	sse_check(c);
	/* the immediate form names its operand in ModRM.rm (66 0F 78 /0) */
	vec *d = xmm(c, OPB(i) == 0x78 ? i->rm : i->reg);
	unsigned len, idx;
	if (OPB(i) == 0x78) {
		len = i->imm & 63;
		idx = i->imm2 & 63;
	} else {
		const vec *s = xmm(c, i->rm);
		len = s->b[0] & 63;
		idx = s->b[1] & 63;
	}
	if (!len)
		len = 64;
	uint64_t v = d->q[0] >> idx;
	if (len < 64)
		v &= (1ULL << len) - 1;
	d->q[0] = v;
	d->q[1] = 0;
}

H(h_sse_insertq)
{
	need(c, FEAT_SSE4A);
	sse_check(c);
	vec *d = xmm(c, i->reg);
	const vec *s = xmm(c, i->rm);
	unsigned len, idx;
	if (OPB(i) == 0x78) {
		len = i->imm & 63;
		idx = i->imm2 & 63;
	} else {
		len = s->b[8] & 63;
		idx = s->b[9] & 63;
	}
	if (!len)
		len = 64;
	uint64_t m = len < 64 ? (1ULL << len) - 1 : ~0ULL;
	m <<= idx;
	d->q[0] = (d->q[0] & ~m) | ((s->q[0] << idx) & m);
	d->q[1] = 0;
}
