// SPDX-License-Identifier: MIT
/*
 * SIMD integer instructions: MMX, SSE2 integer, SSSE3 and the integer part
 * of SSE4.1 / SSE4.2 (SDM Vol. 2).  One element loop serves the 64-bit MMX
 * and the 128-bit XMM forms (n = 8 or 16 bytes).
 */
#include "sse_priv.h"

#define OPB(i) ((i)->op & 0xff)

static inline int8_t sat8(int v) { return v > 127 ? 127 : v < -128 ? -128 : (int8_t)v; }
static inline uint8_t satu8(int v) { return v > 255 ? 255 : v < 0 ? 0 : (uint8_t)v; }
static inline int16_t sat16(int32_t v) { return v > 32767 ? 32767 : v < -32768 ? -32768 : (int16_t)v; }
static inline uint16_t satu16(int32_t v) { return v > 65535 ? 65535 : v < 0 ? 0 : (uint16_t)v; }

/* logical / arithmetic shifts of every element by count (any 64-bit value) */
static void shift(vec *d, int esz, int kind, uint64_t cnt, int n)
{
	int bits = esz * 8;
	for (int k = 0; k < n / esz; k++) {
		uint64_t v;
		switch (esz) {
		case 2: v = d->w[k]; break;
		case 4: v = d->d[k]; break;
		default: v = d->q[k]; break;
		}
		if (kind == 0) {		/* left */
			v = cnt >= (uint64_t)bits ? 0 : v << cnt;
		} else if (kind == 1) {		/* logical right */
			v = cnt >= (uint64_t)bits ? 0 : v >> cnt;
		} else {			/* arithmetic right */
			int64_t sv = sext(v, esz);
			v = (uint64_t)(sv >> (cnt >= (uint64_t)bits ? bits - 1 : (int)cnt));
		}
		switch (esz) {
		case 2: d->w[k] = (uint16_t)v; break;
		case 4: d->d[k] = (uint32_t)v; break;
		default: d->q[k] = v; break;
		}
	}
}

/* 0F 60-76 and D1-FE: d = d op s over n bytes */
static void int_op(struct cpu *c, uint8_t op, vec *d, const vec *s, int n)
{
	vec r;
	int h = n / 2;
	memset(&r, 0, sizeof(r));
	switch (op) {
	case 0x60: for (int k = 0; k < h; k++) { r.b[2 * k] = d->b[k]; r.b[2 * k + 1] = s->b[k]; } break;
	case 0x61: for (int k = 0; k < h / 2; k++) { r.w[2 * k] = d->w[k]; r.w[2 * k + 1] = s->w[k]; } break;
	case 0x62: for (int k = 0; k < h / 4; k++) { r.d[2 * k] = d->d[k]; r.d[2 * k + 1] = s->d[k]; } break;
	case 0x6c: r.q[0] = d->q[0]; r.q[1] = s->q[0]; break;
	case 0x68: for (int k = 0; k < h; k++) { r.b[2 * k] = d->b[h + k]; r.b[2 * k + 1] = s->b[h + k]; } break;
	case 0x69: for (int k = 0; k < h / 2; k++) { r.w[2 * k] = d->w[h / 2 + k]; r.w[2 * k + 1] = s->w[h / 2 + k]; } break;
	case 0x6a: for (int k = 0; k < h / 4; k++) { r.d[2 * k] = d->d[h / 4 + k]; r.d[2 * k + 1] = s->d[h / 4 + k]; } break;
	case 0x6d: r.q[0] = d->q[1]; r.q[1] = s->q[1]; break;
	case 0x63:
		for (int k = 0; k < n; k++)
			r.sb[k] = sat8(k < n / 2 ? d->sw[k] : s->sw[k - n / 2]);
		break;
	case 0x67:
		for (int k = 0; k < n; k++)
			r.b[k] = satu8(k < n / 2 ? d->sw[k] : s->sw[k - n / 2]);
		break;
	case 0x6b:
		for (int k = 0; k < n / 2; k++)
			r.sw[k] = sat16(k < n / 4 ? d->sd[k] : s->sd[k - n / 4]);
		break;
	case 0x64: for (int k = 0; k < n; k++) r.b[k] = d->sb[k] > s->sb[k] ? 0xff : 0; break;
	case 0x65: for (int k = 0; k < n / 2; k++) r.w[k] = d->sw[k] > s->sw[k] ? 0xffff : 0; break;
	case 0x66: for (int k = 0; k < n / 4; k++) r.d[k] = d->sd[k] > s->sd[k] ? ~0u : 0; break;
	case 0x74: for (int k = 0; k < n; k++) r.b[k] = d->b[k] == s->b[k] ? 0xff : 0; break;
	case 0x75: for (int k = 0; k < n / 2; k++) r.w[k] = d->w[k] == s->w[k] ? 0xffff : 0; break;
	case 0x76: for (int k = 0; k < n / 4; k++) r.d[k] = d->d[k] == s->d[k] ? ~0u : 0; break;
	case 0xd1: r = *d; shift(&r, 2, 1, s->q[0], n); break;
	case 0xd2: r = *d; shift(&r, 4, 1, s->q[0], n); break;
	case 0xd3: r = *d; shift(&r, 8, 1, s->q[0], n); break;
	case 0xe1: r = *d; shift(&r, 2, 2, s->q[0], n); break;
	case 0xe2: r = *d; shift(&r, 4, 2, s->q[0], n); break;
	case 0xf1: r = *d; shift(&r, 2, 0, s->q[0], n); break;
	case 0xf2: r = *d; shift(&r, 4, 0, s->q[0], n); break;
	case 0xf3: r = *d; shift(&r, 8, 0, s->q[0], n); break;
	case 0xd4: for (int k = 0; k < n / 8; k++) r.q[k] = d->q[k] + s->q[k]; break;
	case 0xfb: for (int k = 0; k < n / 8; k++) r.q[k] = d->q[k] - s->q[k]; break;
	case 0xd5: for (int k = 0; k < n / 2; k++) r.w[k] = (uint16_t)(d->sw[k] * s->sw[k]); break;
	case 0xe5: for (int k = 0; k < n / 2; k++) r.w[k] = (uint16_t)((d->sw[k] * s->sw[k]) >> 16); break;
	case 0xe4: for (int k = 0; k < n / 2; k++) r.w[k] = (uint16_t)(((uint32_t)d->w[k] * s->w[k]) >> 16); break;
	case 0xd8: for (int k = 0; k < n; k++) r.b[k] = satu8(d->b[k] - s->b[k]); break;
	case 0xd9: for (int k = 0; k < n / 2; k++) r.w[k] = satu16(d->w[k] - s->w[k]); break;
	case 0xdc: for (int k = 0; k < n; k++) r.b[k] = satu8(d->b[k] + s->b[k]); break;
	case 0xdd: for (int k = 0; k < n / 2; k++) r.w[k] = satu16(d->w[k] + s->w[k]); break;
	case 0xe8: for (int k = 0; k < n; k++) r.sb[k] = sat8(d->sb[k] - s->sb[k]); break;
	case 0xe9: for (int k = 0; k < n / 2; k++) r.sw[k] = sat16(d->sw[k] - s->sw[k]); break;
	case 0xec: for (int k = 0; k < n; k++) r.sb[k] = sat8(d->sb[k] + s->sb[k]); break;
	case 0xed: for (int k = 0; k < n / 2; k++) r.sw[k] = sat16(d->sw[k] + s->sw[k]); break;
	case 0xda: for (int k = 0; k < n; k++) r.b[k] = d->b[k] < s->b[k] ? d->b[k] : s->b[k]; break;
	case 0xde: for (int k = 0; k < n; k++) r.b[k] = d->b[k] > s->b[k] ? d->b[k] : s->b[k]; break;
	case 0xea: for (int k = 0; k < n / 2; k++) r.sw[k] = d->sw[k] < s->sw[k] ? d->sw[k] : s->sw[k]; break;
	case 0xee: for (int k = 0; k < n / 2; k++) r.sw[k] = d->sw[k] > s->sw[k] ? d->sw[k] : s->sw[k]; break;
	case 0xdb: for (int k = 0; k < 2; k++) r.q[k] = d->q[k] & s->q[k]; break;
	case 0xdf: for (int k = 0; k < 2; k++) r.q[k] = ~d->q[k] & s->q[k]; break;
	case 0xeb: for (int k = 0; k < 2; k++) r.q[k] = d->q[k] | s->q[k]; break;
	case 0xef: for (int k = 0; k < 2; k++) r.q[k] = d->q[k] ^ s->q[k]; break;
	case 0xe0: for (int k = 0; k < n; k++) r.b[k] = (uint8_t)((d->b[k] + s->b[k] + 1) >> 1); break;
	case 0xe3: for (int k = 0; k < n / 2; k++) r.w[k] = (uint16_t)((d->w[k] + s->w[k] + 1) >> 1); break;
	case 0xf4: for (int k = 0; k < n / 8; k++) r.q[k] = (uint64_t)d->d[2 * k] * s->d[2 * k]; break;
	case 0xf5:
		for (int k = 0; k < n / 4; k++)
			r.d[k] = (uint32_t)(d->sw[2 * k] * s->sw[2 * k] + d->sw[2 * k + 1] * s->sw[2 * k + 1]);
		break;
	case 0xf6:
		for (int q = 0; q < n / 8; q++) {
			uint32_t sum = 0;
			for (int k = 0; k < 8; k++) {
				int a = d->b[8 * q + k], b = s->b[8 * q + k];
				sum += a > b ? a - b : b - a;
			}
			r.q[q] = sum;
		}
		break;
	case 0xf8: for (int k = 0; k < n; k++) r.b[k] = d->b[k] - s->b[k]; break;
	case 0xf9: for (int k = 0; k < n / 2; k++) r.w[k] = d->w[k] - s->w[k]; break;
	case 0xfa: for (int k = 0; k < n / 4; k++) r.d[k] = d->d[k] - s->d[k]; break;
	case 0xfc: for (int k = 0; k < n; k++) r.b[k] = d->b[k] + s->b[k]; break;
	case 0xfd: for (int k = 0; k < n / 2; k++) r.w[k] = d->w[k] + s->w[k]; break;
	case 0xfe: for (int k = 0; k < n / 4; k++) r.d[k] = d->d[k] + s->d[k]; break;
	default:
		cpu_ud(c);
	}
	memcpy(d, &r, n);
}

H(h_mmx_int)
{
	mmx_check(c);
	vec d, s;
	memset(&d, 0, sizeof(d));
	memset(&s, 0, sizeof(s));
	s.q[0] = msrc(c, i);
	d.q[0] = mmx_get(c, i->reg);
	int_op(c, OPB(i), &d, &s, 8);
	mmx_set(c, i->reg, d.q[0]);
	mmx_enter(c);
}

H(h_sse_int)
{
	sse_check(c);
	vec t, d;
	const vec *s = xsrc(c, i, &t, 16, AL_16);
	d = *xmm(c, i->reg);
	int_op(c, OPB(i), &d, s, 16);
	*xmm(c, i->reg) = d;
}

/* 0F 71-73 groups: shifts by imm8; 66 0F 73 /3 /7: PSRLDQ / PSLLDQ */
static void shimm(struct cpu *c, const struct insn *i, vec *d, int n)
{
	int r = (i->modrm >> 3) & 7;
	uint8_t cnt = (uint8_t)i->imm;
	int esz = OPB(i) == 0x71 ? 2 : OPB(i) == 0x72 ? 4 : 8;
	if (OPB(i) == 0x73 && (r == 3 || r == 7)) {
		if (n != 16)
			cpu_ud(c);
		vec t;
		memset(&t, 0, sizeof(t));
		int sh = cnt > 16 ? 16 : cnt;
		if (r == 3)
			memcpy(t.b, d->b + sh, 16 - sh);
		else
			memcpy(t.b + sh, d->b, 16 - sh);
		*d = t;
		return;
	}
	switch (r) {
	case 2: shift(d, esz, 1, cnt, n); break;
	case 4:
		if (esz == 8)
			cpu_ud(c);
		shift(d, esz, 2, cnt, n);
		break;
	case 6: shift(d, esz, 0, cnt, n); break;
	default: cpu_ud(c);
	}
}

H(h_mmx_shimm)
{
	int r = (i->modrm >> 3) & 7;
	if (r != 2 && r != 6 && !(r == 4 && OPB(i) != 0x73))
		cpu_ud(c);
	mmx_check(c);
	vec d;
	d.q[0] = mmx_get(c, i->rm);
	d.q[1] = 0;
	shimm(c, i, &d, 8);
	mmx_set(c, i->rm, d.q[0]);
	mmx_enter(c);
}

H(h_sse_shimm)
{
	int r = (i->modrm >> 3) & 7;
	bool ok = r == 2 || r == 6 || (r == 4 && OPB(i) != 0x73) ||
		  (OPB(i) == 0x73 && (r == 3 || r == 7));
	if (!ok)
		cpu_ud(c);
	sse_check(c);
	shimm(c, i, xmm(c, i->rm), 16);
}

/* ---- SSSE3 ------------------------------------------------------------------------ */

static void ssse3_op(struct cpu *c, const struct insn *i, vec *d, const vec *s, int n)
{
	vec r;
	memset(&r, 0, sizeof(r));
	if ((i->op >> 8) == 4) {	/* 0F 3A 0F: PALIGNR */
		uint8_t cat[32];
		memset(cat, 0, sizeof(cat));
		memcpy(cat, s->b, n);
		memcpy(cat + n, d->b, n);
		unsigned sh = (uint8_t)i->imm;
		for (int k = 0; k < n; k++)
			r.b[k] = sh + k < (unsigned)(2 * n) ? cat[sh + k] : 0;
		memcpy(d, &r, n);
		return;
	}
	switch (OPB(i)) {
	case 0x00:
		for (int k = 0; k < n; k++)
			r.b[k] = (s->b[k] & 0x80) ? 0 : d->b[s->b[k] & (n - 1)];
		break;
	case 0x01: case 0x05: case 0x03: case 0x07: {
		bool sub = OPB(i) & 4, sat = OPB(i) & 2;
		int m = n / 4;
		for (int k = 0; k < 2 * m; k++) {
			const vec *v = k < m ? d : s;
			int j = k < m ? k : k - m;
			int32_t x = sub ? v->sw[2 * j] - v->sw[2 * j + 1] : v->sw[2 * j] + v->sw[2 * j + 1];
			r.sw[k] = sat ? sat16(x) : (int16_t)x;
		}
		break;
	}
	case 0x02: case 0x06: {
		bool sub = OPB(i) & 4;
		int m = n / 8;
		for (int k = 0; k < 2 * m; k++) {
			const vec *v = k < m ? d : s;
			int j = k < m ? k : k - m;
			r.d[k] = sub ? v->d[2 * j] - v->d[2 * j + 1] : v->d[2 * j] + v->d[2 * j + 1];
		}
		break;
	}
	case 0x04:
		for (int k = 0; k < n / 2; k++)
			r.sw[k] = sat16(d->b[2 * k] * s->sb[2 * k] + d->b[2 * k + 1] * s->sb[2 * k + 1]);
		break;
	case 0x08:
		for (int k = 0; k < n; k++)
			r.sb[k] = s->sb[k] < 0 ? (int8_t)-d->sb[k] : s->sb[k] ? d->sb[k] : 0;
		break;
	case 0x09:
		for (int k = 0; k < n / 2; k++)
			r.sw[k] = s->sw[k] < 0 ? (int16_t)-d->sw[k] : s->sw[k] ? d->sw[k] : 0;
		break;
	case 0x0a:
		for (int k = 0; k < n / 4; k++)
			r.d[k] = s->sd[k] < 0 ? 0u - d->d[k] : s->sd[k] ? d->d[k] : 0;
		break;
	case 0x0b:
		for (int k = 0; k < n / 2; k++)
			r.sw[k] = (int16_t)(((((int32_t)d->sw[k] * s->sw[k]) >> 14) + 1) >> 1);
		break;
	case 0x1c: for (int k = 0; k < n; k++) r.b[k] = (uint8_t)(s->sb[k] < 0 ? -s->sb[k] : s->sb[k]); break;
	case 0x1d: for (int k = 0; k < n / 2; k++) r.w[k] = (uint16_t)(s->sw[k] < 0 ? -s->sw[k] : s->sw[k]); break;
	case 0x1e: for (int k = 0; k < n / 4; k++) r.d[k] = s->sd[k] < 0 ? 0u - s->d[k] : s->d[k]; break;
	default:
		cpu_ud(c);
	}
	memcpy(d, &r, n);
}

H(h_ssse3_mmx)
{
	need(c, FEAT_SSSE3);
	mmx_check(c);
	vec d, s;
	memset(&d, 0, sizeof(d));
	memset(&s, 0, sizeof(s));
	s.q[0] = msrc(c, i);
	d.q[0] = mmx_get(c, i->reg);
	ssse3_op(c, i, &d, &s, 8);
	mmx_set(c, i->reg, d.q[0]);
	mmx_enter(c);
}

H(h_ssse3_xmm)
{
	need(c, FEAT_SSSE3);
	sse_check(c);
	vec t, d;
	const vec *s = xsrc(c, i, &t, 16, AL_16);
	d = *xmm(c, i->reg);
	ssse3_op(c, i, &d, s, 16);
	*xmm(c, i->reg) = d;
}

/* ---- SSE4.1 / SSE4.2 integer --------------------------------------------------------- */

static int gsize(const struct cpu *c, const struct insn *i)
{
	return (i->rex & 8) && cpu_long64(c) ? 8 : 4;
}

/* 0F 3A 14-17: PEXTRB/W/D/Q, EXTRACTPS */
static void pextr(struct cpu *c, const struct insn *i)
{
	const vec *s = xmm(c, i->reg);
	uint8_t im = (uint8_t)i->imm;
	int n;
	uint64_t v;
	switch (OPB(i)) {
	case 0x14: n = 1; v = s->b[im & 15]; break;
	case 0x15: n = 2; v = s->w[im & 7]; break;
	case 0x16:
		n = gsize(c, i);
		v = n == 8 ? s->q[im & 1] : s->d[im & 3];
		break;
	default: n = 4; v = s->d[im & 3]; break;
	}
	if (i->mem) {
		uint64_t lin = sse_lin(c, i, n, ACC_W, AL_NONE);
		lin_st_acc(c, lin, n, v, sse_acc(i));
	} else {
		reg_set(c, i->rm, n == 8 ? 8 : 4, v);
	}
}

/* 0F 3A 20-22: PINSRB, INSERTPS, PINSRD/Q */
static void pinsr(struct cpu *c, const struct insn *i, vec *d)
{
	uint8_t im = (uint8_t)i->imm;
	int n = OPB(i) == 0x20 ? 1 : OPB(i) == 0x21 ? 4 : gsize(c, i);
	uint64_t v;
	if (i->mem) {
		uint64_t lin = sse_lin(c, i, n, ACC_R, AL_NONE);
		v = lin_ld_acc(c, lin, n, sse_acc(i));
	} else if (OPB(i) == 0x21) {
		v = xmm(c, i->rm)->d[(im >> 6) & 3];
	} else {
		v = reg_get(c, i->rm, n == 8 ? 8 : 4);
	}
	switch (OPB(i)) {
	case 0x20: d->b[im & 15] = (uint8_t)v; break;
	case 0x21:
		d->d[(im >> 4) & 3] = (uint32_t)v;
		for (int k = 0; k < 4; k++)
			if (im & (1 << k))
				d->d[k] = 0;
		break;
	default:
		if (n == 8)
			d->q[im & 1] = v;
		else
			d->d[im & 3] = (uint32_t)v;
		break;
	}
}

H(h_sse41_int)
{
	bool map3a = (i->op >> 8) == 4;
	uint8_t op = OPB(i);
	need(c, !map3a && op == 0x37 ? FEAT_SSE42 : FEAT_SSE41);
	sse_check(c);
	if (map3a && op >= 0x14 && op <= 0x17) {
		pextr(c, i);
		return;
	}
	vec d = *xmm(c, i->reg);
	if (map3a && op >= 0x20) {
		pinsr(c, i, &d);
		*xmm(c, i->reg) = d;
		return;
	}
	vec t;
	const vec *s = xsrc(c, i, &t, 16, AL_16);
	vec r;
	const vec *x0 = xmm(c, 0);
	uint8_t im = (uint8_t)i->imm;
	if (map3a) {
		switch (op) {
		case 0x0c:
			for (int k = 0; k < 4; k++)
				r.d[k] = (im >> k) & 1 ? s->d[k] : d.d[k];
			break;
		case 0x0d:
			for (int k = 0; k < 2; k++)
				r.q[k] = (im >> k) & 1 ? s->q[k] : d.q[k];
			break;
		default:	/* 0x0e PBLENDW */
			for (int k = 0; k < 8; k++)
				r.w[k] = (im >> k) & 1 ? s->w[k] : d.w[k];
			break;
		}
		*xmm(c, i->reg) = r;
		return;
	}
	switch (op) {
	case 0x10:
		for (int k = 0; k < 16; k++)
			r.b[k] = (x0->b[k] & 0x80) ? s->b[k] : d.b[k];
		break;
	case 0x14:
		for (int k = 0; k < 4; k++)
			r.d[k] = (x0->d[k] >> 31) ? s->d[k] : d.d[k];
		break;
	case 0x15:
		for (int k = 0; k < 2; k++)
			r.q[k] = (x0->q[k] >> 63) ? s->q[k] : d.q[k];
		break;
	case 0x28:
		for (int k = 0; k < 2; k++)
			r.sq[k] = (int64_t)d.sd[2 * k] * s->sd[2 * k];
		break;
	case 0x29:
		for (int k = 0; k < 2; k++)
			r.q[k] = d.q[k] == s->q[k] ? ~0ULL : 0;
		break;
	case 0x37:
		for (int k = 0; k < 2; k++)
			r.q[k] = d.sq[k] > s->sq[k] ? ~0ULL : 0;
		break;
	case 0x2b:
		for (int k = 0; k < 8; k++)
			r.w[k] = satu16(k < 4 ? d.sd[k] : s->sd[k - 4]);
		break;
	case 0x38: for (int k = 0; k < 16; k++) r.sb[k] = d.sb[k] < s->sb[k] ? d.sb[k] : s->sb[k]; break;
	case 0x39: for (int k = 0; k < 4; k++) r.sd[k] = d.sd[k] < s->sd[k] ? d.sd[k] : s->sd[k]; break;
	case 0x3a: for (int k = 0; k < 8; k++) r.w[k] = d.w[k] < s->w[k] ? d.w[k] : s->w[k]; break;
	case 0x3b: for (int k = 0; k < 4; k++) r.d[k] = d.d[k] < s->d[k] ? d.d[k] : s->d[k]; break;
	case 0x3c: for (int k = 0; k < 16; k++) r.sb[k] = d.sb[k] > s->sb[k] ? d.sb[k] : s->sb[k]; break;
	case 0x3d: for (int k = 0; k < 4; k++) r.sd[k] = d.sd[k] > s->sd[k] ? d.sd[k] : s->sd[k]; break;
	case 0x3e: for (int k = 0; k < 8; k++) r.w[k] = d.w[k] > s->w[k] ? d.w[k] : s->w[k]; break;
	case 0x3f: for (int k = 0; k < 4; k++) r.d[k] = d.d[k] > s->d[k] ? d.d[k] : s->d[k]; break;
	case 0x40: for (int k = 0; k < 4; k++) r.d[k] = d.d[k] * s->d[k]; break;
	default:
		cpu_ud(c);
	}
	*xmm(c, i->reg) = r;
}

/* PMOVSX / PMOVZX: the source is as wide as the elements it supplies */
H(h_sse_pmovx)
{
	static const uint8_t from[6] = { 1, 1, 1, 2, 2, 4 }, to[6] = { 2, 4, 8, 4, 8, 8 };
	int k = OPB(i) & 7;
	bool sx = OPB(i) < 0x30;
	need(c, FEAT_SSE41);
	sse_check(c);
	int cnt = 16 / to[k], n = cnt * from[k];
	vec t;
	const vec *s = xsrc(c, i, &t, n, AL_NONE);
	vec r;
	for (int e = 0; e < cnt; e++) {
		uint64_t v = 0;
		memcpy(&v, s->b + e * from[k], from[k]);
		if (sx)
			v = (uint64_t)sext(v, from[k]);
		memcpy(r.b + e * to[k], &v, to[k]);
	}
	*xmm(c, i->reg) = r;
}

/* PTEST: ZF = (d AND s) = 0, CF = (NOT d AND s) = 0, the others cleared */
H(h_sse_ptest)
{
	need(c, FEAT_SSE41);
	sse_check(c);
	vec t;
	const vec *s = xsrc(c, i, &t, 16, AL_16);
	const vec *d = xmm(c, i->reg);
	uint64_t f = 0;
	if (!((d->q[0] & s->q[0]) | (d->q[1] & s->q[1])))
		f |= F_ZF;
	if (!((~d->q[0] & s->q[0]) | (~d->q[1] & s->q[1])))
		f |= F_CF;
	cc_flush(c);
	c->rflags = (c->rflags & ~(uint64_t)F_ARITH) | f;
}

H(h_sse_phminpos)
{
	need(c, FEAT_SSE41);
	sse_check(c);
	vec t, r;
	const vec *s = xsrc(c, i, &t, 16, AL_16);
	int idx = 0;
	for (int k = 1; k < 8; k++)
		if (s->w[k] < s->w[idx])
			idx = k;
	memset(&r, 0, sizeof(r));
	r.w[0] = s->w[idx];
	r.w[1] = (uint16_t)idx;
	*xmm(c, i->reg) = r;
}

H(h_sse_mpsadbw)
{
	need(c, FEAT_SSE41);
	sse_check(c);
	vec t, r;
	const vec *s = xsrc(c, i, &t, 16, AL_16);
	const vec *d = xmm(c, i->reg);
	int o1 = ((i->imm >> 2) & 1) * 4, o2 = (i->imm & 3) * 4;
	for (int k = 0; k < 8; k++) {
		int sum = 0;
		for (int j = 0; j < 4; j++) {
			int a = d->b[o1 + k + j], b = s->b[o2 + j];
			sum += a > b ? a - b : b - a;
		}
		r.w[k] = (uint16_t)sum;
	}
	*xmm(c, i->reg) = r;
}
