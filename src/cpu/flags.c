// SPDX-License-Identifier: MIT
/*
 * Lazy arithmetic flags.  An instruction that sets flags records its
 * operation, result and operands (cc_set); the flags are computed only when
 * something reads them.  Flags the SDM leaves undefined are computed by the
 * fixed rules documented in docs/cpu.md, the same on both CPU models.
 */
#include "cpu.h"

static inline int sz_bits(int sz)
{
	return 8 << sz;
}

static inline uint64_t msk(int sz)
{
	return sz == 3 ? ~0ULL : (1ULL << sz_bits(sz)) - 1;
}

static inline uint64_t sbit(int sz)
{
	return 1ULL << (sz_bits(sz) - 1);
}

static inline uint64_t szp(uint64_t res, int sz)
{
	uint64_t f = 0;
	res &= msk(sz);
	if (res == 0)
		f |= F_ZF;
	if (res & sbit(sz))
		f |= F_SF;
	if (!__builtin_parity((unsigned)(res & 0xff)))
		f |= F_PF;
	return f;
}

uint64_t cc_flags(const struct cpu *c)
{
	uint32_t op = c->cc_op;
	int sz = op & 3;
	uint64_t m = msk(sz), sb = sbit(sz);
	uint64_t r = c->cc_res & m, a = c->cc_src1 & m, b = c->cc_src2 & m;
	uint64_t f;

	switch (op & ~3u) {
	case CC_EAGER:
		return c->rflags & F_ARITH;
	case CC_ADD:
		f = szp(r, sz) | ((a ^ b ^ r) & F_AF);
		if (r < a)
			f |= F_CF;
		if ((a ^ r) & (b ^ r) & sb)
			f |= F_OF;
		return f;
	case CC_ADC:	/* carry in was 1 */
		f = szp(r, sz) | ((a ^ b ^ r) & F_AF);
		if (r <= a)
			f |= F_CF;
		if ((a ^ r) & (b ^ r) & sb)
			f |= F_OF;
		return f;
	case CC_SUB:
		f = szp(r, sz) | ((a ^ b ^ r) & F_AF);
		if (a < b)
			f |= F_CF;
		if ((a ^ b) & (a ^ r) & sb)
			f |= F_OF;
		return f;
	case CC_SBB:	/* borrow in was 1 */
		f = szp(r, sz) | ((a ^ b ^ r) & F_AF);
		if (a <= b)
			f |= F_CF;
		if ((a ^ b) & (a ^ r) & sb)
			f |= F_OF;
		return f;
	case CC_LOGIC:
		return szp(r, sz);
	case CC_INC:	/* src2 holds the preserved CF */
		f = szp(r, sz) | (c->cc_src2 & F_CF);
		if ((r & 0xf) == 0)
			f |= F_AF;
		if (r == sb)
			f |= F_OF;
		return f;
	case CC_DEC:
		f = szp(r, sz) | (c->cc_src2 & F_CF);
		if ((r & 0xf) == 0xf)
			f |= F_AF;
		if (r == sb - 1)
			f |= F_OF;
		return f;
	case CC_SHL: {	/* src1 = value shifted, src2 = count (1..63) */
		unsigned n = (unsigned)c->cc_src2, bits = 8u << sz;
		bool cf = n <= bits ? (c->cc_src1 >> (bits - n)) & 1 : 0;
		f = szp(r, sz) | (cf ? F_CF : 0);
		if (!!(r & sb) ^ cf)
			f |= F_OF;
		return f;
	}
	case CC_SHR: {
		unsigned n = (unsigned)c->cc_src2;
		f = szp(r, sz) | (((a >> (n - 1)) & 1) ? F_CF : 0);
		if (a & sb)
			f |= F_OF;
		return f;
	}
	case CC_SAR: {
		unsigned n = (unsigned)c->cc_src2;
		int64_t sa = (int64_t)(a << (64 - (8 << sz))) >> (64 - (8 << sz));
		f = szp(r, sz) | (((uint64_t)(sa >> (n - 1)) & 1) ? F_CF : 0);
		return f;
	}
	default:
		return c->rflags & F_ARITH;
	}
}

bool cc_cond(const struct cpu *c, int cond)
{
	uint32_t op = c->cc_op;
	int sz = op & 3;
	bool r;

	/* fast paths for compare and test */
	if ((op & ~3u) == CC_SUB) {
		uint64_t m = msk(sz), a = c->cc_src1 & m, b = c->cc_src2 & m;
		int64_t sa = (int64_t)(a << (64 - sz_bits(sz)));
		int64_t sbv = (int64_t)(b << (64 - sz_bits(sz)));
		switch (cond >> 1) {
		case 1: r = a < b; goto out;
		case 2: r = a == b; goto out;
		case 3: r = a <= b; goto out;
		case 6: r = sa < sbv; goto out;
		case 7: r = sa <= sbv; goto out;
		default: break;
		}
	} else if ((op & ~3u) == CC_LOGIC) {
		uint64_t v = c->cc_res & msk(sz);
		bool neg = v & sbit(sz);
		switch (cond >> 1) {
		case 0: r = false; goto out;
		case 1: r = false; goto out;
		case 2: r = v == 0; goto out;
		case 3: r = v == 0; goto out;
		case 4: r = neg; goto out;
		case 6: r = neg; goto out;
		case 7: r = v == 0 || neg; goto out;
		default: break;
		}
	}
	{
		uint64_t f = cc_flags(c);
		switch (cond >> 1) {
		case 0: r = f & F_OF; break;
		case 1: r = f & F_CF; break;
		case 2: r = f & F_ZF; break;
		case 3: r = f & (F_CF | F_ZF); break;
		case 4: r = f & F_SF; break;
		case 5: r = f & F_PF; break;
		case 6: r = !(f & F_SF) != !(f & F_OF); break;
		default: r = (f & F_ZF) || (!(f & F_SF) != !(f & F_OF)); break;
		}
	}
out:
	return (cond & 1) ? !r : r;
}

uint64_t cpu_get_rflags(const struct cpu *c)
{
	return (c->rflags & ~(uint64_t)F_ARITH) | cc_flags(c) | F_FIXED;
}

void cpu_set_rflags_raw(struct cpu *c, uint64_t v)
{
	c->rflags = (v & 0x3f7fd5ULL) | F_FIXED;
	c->cc_op = CC_EAGER;
}
