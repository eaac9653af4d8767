// SPDX-License-Identifier: MIT
/*
 * fx80 soft-float (softfloat80.h): rounding, the basic operations and
 * conversions of the x87 FPU, bit-exact with the hardware.
 *
 * References: SDM Vol. 1 4.8 (real numbers, NaNs, indefinites), 4.9
 * (exceptions, masked responses, bias adjust), 8.1.5.2 (precision control),
 * 8.2.2 (unsupported encodings), 8.5 (x87 exception conditions), Table 4-7
 * (NaN propagation); IEEE 754-2008 for rounding.
 */
#include "softfloat80.h"

const struct fxfmt fx_fmt_f32 = { 24, FX_BIAS - 126, FX_BIAS + 127 };
const struct fxfmt fx_fmt_f64 = { 53, FX_BIAS - 1022, FX_BIAS + 1023 };
const struct fxfmt fx_fmt_ext64 = { 64, 1, 0x7ffe };
static const struct fxfmt fmt_ext24 = { 24, 1, 0x7ffe };
static const struct fxfmt fmt_ext53 = { 53, 1, 0x7ffe };

/* bias adjust for unmasked overflow / underflow (SDM Vol. 1 4.9.1.4-5) */
#define BIAS_ADJ 0x6000

const struct fxfmt *fx_fmt_pc(int prec)
{
	return prec == 64 ? &fx_fmt_ext64 : prec == 53 ? &fmt_ext53 : &fmt_ext24;
}

/* ---- rounding ------------------------------------------------------------ */

static inline uint64_t rnd(uint64_t hi, uint64_t lo, unsigned drop, int sign, int rc,
			   bool *inexact, bool *up, bool *carry)
{
	uint64_t q, rb;
	bool st, inc;

	if (drop == 0) {
		q = hi;
		rb = lo >> 63;
		st = (lo << 1) != 0;
	} else if (drop < 64) {
		q = hi >> drop;
		rb = (hi >> (drop - 1)) & 1;
		st = (hi & ((1ULL << (drop - 1)) - 1)) != 0 || lo != 0;
	} else if (drop == 64) {
		q = 0;
		rb = hi >> 63;
		st = (hi << 1) != 0 || lo != 0;
	} else {
		q = 0;
		rb = 0;
		st = hi != 0 || lo != 0;
	}
	*inexact = rb || st;
	switch (rc) {
	case FX_RC_NEAR: inc = rb && (st || (q & 1)); break;
	case FX_RC_DOWN: inc = *inexact && sign; break;
	case FX_RC_UP: inc = *inexact && !sign; break;
	default: inc = false; break;
	}
	*up = inc;
	q += inc;
	*carry = inc && q == 0;
	return q;
}

uint64_t fx_rnd(uint64_t hi, uint64_t lo, unsigned drop, int sign, int rc,
		bool *inexact, bool *up, bool *carry)
{
	return rnd(hi, lo, drop, sign, rc, inexact, up, carry);
}

/*
 * Tininess is detected after rounding (as x86 does, IEEE 754-2008 7.5):
 * the value is tiny if, rounded to the destination precision with an
 * unbounded exponent, it is still below 2^emin.
 */
static bool tiny_after(const struct fxenv *e, int sign, int32_t exp, uint64_t hi,
		       uint64_t lo, const struct fxfmt *f)
{
	bool inexact, up, carry;
	int drop = 64 - f->prec;
	if (exp < f->emin - 1)
		return true;
	uint64_t q = rnd(hi, lo, drop, sign, e->rc, &inexact, &up, &carry);
	return !(drop == 0 ? carry : (q >> f->prec) != 0);
}

struct fx80 fx_round_pack(struct fxenv *e, int sign, int32_t exp, uint64_t hi,
			  uint64_t lo, const struct fxfmt *f)
{
	int drop = 64 - f->prec;
	bool inexact, up, carry;
	uint64_t q, mant;

	if (exp < f->emin) {
		bool tiny = tiny_after(e, sign, exp, hi, lo, f);
		if (!(e->masks & FX_UE) && f->emin == 1 && exp + BIAS_ADJ < f->emin) {
			/* beyond the bias adjust (FSCALE): a zero (measured) */
			e->ex |= FX_UE | FX_PE;
			e->up = false;
			return fx_zero(sign);
		}
		if (!(e->masks & FX_UE) && f->emin == 1) {
			/* unmasked: signal on tininess alone, deliver scaled up */
			if (tiny) {
				e->ex |= FX_UE;
				exp += BIAS_ADJ;
			}
		} else if (!(e->masks & FX_UE) && tiny && f->emin != 1) {
			/* to memory: nothing is stored (SDM Vol. 1 4.9.1.5) */
			e->ex |= FX_UE;
			return fx_zero(sign);
		} else {
			/* masked: denormalize, round at the same bit positions */
			uint32_t shift = (uint32_t)(f->emin - exp);
			uint32_t d2 = (uint32_t)drop + (shift > 200 ? 200 : shift);
			q = rnd(hi, lo, d2, sign, e->rc, &inexact, &up, &carry);
			mant = q << drop;
			e->up = up;
			if (inexact) {
				e->ex |= FX_PE;
				if (tiny)
					e->ex |= FX_UE;
			}
			exp = f->emin;
			if (f->emin == 1 && !(mant & FX_JBIT))
				exp = 0;
			return fx_make(sign, exp, mant);
		}
	}
	q = rnd(hi, lo, drop, sign, e->rc, &inexact, &up, &carry);
	if (drop == 0 ? carry : (q >> f->prec) != 0) {
		mant = FX_JBIT;
		exp++;
	} else {
		mant = q << drop;
	}
	if (exp > f->emax) {
		/*
		 * Unmasked: deliver scaled down, unless that is still out of
		 * range (FSCALE only): then infinity whatever the rounding
		 * mode (measured).
		 */
		if (!(e->masks & FX_OE) && exp - BIAS_ADJ > f->emax) {
			e->ex |= FX_OE | FX_PE;
			e->up = true;
			return fx_inf(sign);
		}
		if (!(e->masks & FX_OE)) {
			e->ex |= FX_OE;
			if (f->emin != 1)	/* to memory: nothing is stored */
				return fx_inf(sign);
			exp -= BIAS_ADJ;
		} else {
			bool to_inf;
			e->ex |= FX_OE | FX_PE;
			switch (e->rc) {
			case FX_RC_NEAR: to_inf = true; break;
			case FX_RC_DOWN: to_inf = sign; break;
			case FX_RC_UP: to_inf = !sign; break;
			default: to_inf = false; break;
			}
			e->up = to_inf;
			if (to_inf)
				return fx_inf(sign);
			return fx_make(sign, f->emax, ~0ULL << drop);
		}
	}
	if (inexact)
		e->ex |= FX_PE;
	e->up = up;
	return fx_make(sign, exp, mant);
}

/*
 * The common case of fx_round_pack: a result in the normal range of the
 * extended format at precision e->prec.  Falls back for anything else.
 */
static inline struct fx80 round_normal(struct fxenv *e, int sign, int32_t exp, uint64_t hi,
				       uint64_t lo)
{
	if (__builtin_expect(exp >= 1 && exp < 0x7ffe, 1)) {
		unsigned drop = 64u - e->prec;
		bool inexact, up, carry;
		uint64_t q = rnd(hi, lo, drop, sign, e->rc, &inexact, &up, &carry);
		uint64_t mant;
		if (drop == 0 ? carry : (q >> e->prec) != 0) {
			mant = FX_JBIT;
			exp++;
		} else {
			mant = q << drop;
		}
		if (inexact)
			e->ex |= FX_PE;
		e->up = up;
		return fx_make(sign, exp, mant);
	}
	return fx_round_pack(e, sign, exp, hi, lo, fx_fmt_pc(e->prec));
}

static inline bool is_normal(struct fx80 a)
{
	return (uint32_t)(a.se & 0x7fff) - 1 < 0x7ffe && (a.mant & FX_JBIT);
}

/* ---- NaNs ------------------------------------------------------------------ */

static inline struct fx80 quiet(struct fx80 a)
{
	a.mant |= FX_QBIT;
	return a;
}

static inline bool is_nan(int cls)
{
	return cls == FX_QNAN || cls == FX_SNAN;
}

/*
 * NaN operands (SDM Vol. 1 Table 4-7): one NaN is returned quieted; an SNaN
 * and a QNaN give the QNaN; two of a kind give the one with the larger
 * significand (compared quieted), equal significands the positive one (as
 * measured).  An SNaN raises IE.
 */
struct fx80 fx_nan2(struct fxenv *e, struct fx80 a, struct fx80 b)
{
	int ca = fx_class(a), cb = fx_class(b);
	if (ca == FX_SNAN || cb == FX_SNAN)
		e->ex |= FX_IE;
	if (!is_nan(ca))
		return quiet(b);
	if (!is_nan(cb))
		return quiet(a);
	if (ca == FX_SNAN && cb == FX_QNAN)
		return b;
	if (cb == FX_SNAN && ca == FX_QNAN)
		return a;
	a = quiet(a);
	b = quiet(b);
	if (a.mant != b.mant)
		return a.mant > b.mant ? a : b;
	return a.se < b.se ? a : b;
}

struct fx80 fx_nan1(struct fxenv *e, struct fx80 a)
{
	if (fx_class(a) == FX_SNAN)
		e->ex |= FX_IE;
	return quiet(a);
}

bool fx_screen2(struct fxenv *e, struct fx80 a, struct fx80 b, struct fx80 *r)
{
	int ca = fx_class(a), cb = fx_class(b);
	if (ca == FX_UNSUPP || cb == FX_UNSUPP) {
		e->ex |= FX_IE;
		*r = fx_indefinite();
		return true;
	}
	if (is_nan(ca) || is_nan(cb)) {
		*r = fx_nan2(e, a, b);
		return true;
	}
	return false;
}

/*
 * Denormal operand: an extended denormal, or a memory operand that was a
 * single/double denormal before its (exact) conversion (e->dn).
 */
static inline void chk_de(struct fxenv *e, int ca, int cb)
{
	if (ca == FX_DENORMAL || cb == FX_DENORMAL || e->dn)
		e->ex |= FX_DE;
}

static inline bool invalid(struct fxenv *e, struct fx80 *r)
{
	e->ex |= FX_IE;
	*r = fx_indefinite();
	return true;
}

/* ---- add / subtract ---------------------------------------------------------- */

static struct fx80 add_finite(struct fxenv *e, struct fxu a, struct fxu b,
			      const struct fxfmt *f)
{
	if (a.exp < b.exp || (a.exp == b.exp && a.sig < b.sig)) {
		struct fxu t = a;
		a = b;
		b = t;
	}
	uint32_t d = (uint32_t)(a.exp - b.exp);
	uint64_t bh, bl;
	if (d == 0) {
		bh = b.sig;
		bl = 0;
	} else if (d < 64) {
		bh = b.sig >> d;
		bl = b.sig << (64 - d);
	} else if (d == 64) {
		bh = 0;
		bl = b.sig;
	} else if (d < 128) {
		bh = 0;
		bl = (b.sig >> (d - 64)) | ((b.sig << (128 - d)) != 0);
	} else {
		bh = 0;
		bl = 1;
	}
	fx_u128 A = (fx_u128)a.sig << 64, B = ((fx_u128)bh << 64) | bl, S;
	int32_t exp = a.exp;
	if (a.sign == b.sign) {
		S = A + B;
		if (S < A) {
			S = (S >> 1) | (S & 1) | ((fx_u128)1 << 127);
			exp++;
		}
	} else {
		S = A - B;
		if (S == 0)
			return fx_zero(e->rc == FX_RC_DOWN);
		int s = fx_clz128((uint64_t)(S >> 64), (uint64_t)S);
		S <<= s;
		exp -= s;
	}
	if (!f)
		return round_normal(e, a.sign, exp, (uint64_t)(S >> 64), (uint64_t)S);
	return fx_round_pack(e, a.sign, exp, (uint64_t)(S >> 64), (uint64_t)S, f);
}

struct fx80 fx_add(struct fxenv *e, struct fx80 a, struct fx80 b, bool sub)
{
	struct fx80 r;
	if (__builtin_expect(is_normal(a) && is_normal(b) && !e->dn, 1)) {
		if (sub)
			b.se ^= 0x8000;
		struct fxu ua = { a.mant, a.se & 0x7fff, a.se >> 15 };
		struct fxu ub = { b.mant, b.se & 0x7fff, b.se >> 15 };
		return add_finite(e, ua, ub, 0);
	}
	if (fx_screen2(e, a, b, &r))
		return r;
	if (sub)
		b.se ^= 0x8000;
	int ca = fx_class(a), cb = fx_class(b);
	if (ca == FX_INF || cb == FX_INF) {
		if (ca == FX_INF && cb == FX_INF && fx_sign(a) != fx_sign(b))
			return invalid(e, &r), r;
		chk_de(e, ca, cb);
		return ca == FX_INF ? a : b;
	}
	chk_de(e, ca, cb);
	const struct fxfmt *f = fx_fmt_pc(e->prec);
	if (ca == FX_ZERO && cb == FX_ZERO) {
		if (fx_sign(a) == fx_sign(b))
			return a;
		return fx_zero(e->rc == FX_RC_DOWN);
	}
	if (ca == FX_ZERO || cb == FX_ZERO) {
		struct fxu u = fx_unpack(ca == FX_ZERO ? b : a);
		return fx_round_pack(e, u.sign, u.exp, u.sig, 0, f);
	}
	return add_finite(e, fx_unpack(a), fx_unpack(b), f);
}


/* ---- multiply / divide ---------------------------------------------------------- */

struct fx80 fx_mul(struct fxenv *e, struct fx80 a, struct fx80 b)
{
	struct fx80 r;
	if (__builtin_expect(is_normal(a) && is_normal(b) && !e->dn, 1)) {
		fx_u128 p = (fx_u128)a.mant * b.mant;
		int32_t exp = (a.se & 0x7fff) + (b.se & 0x7fff) - FX_BIAS + 1;
		if (!(p >> 127)) {
			p <<= 1;
			exp--;
		}
		return round_normal(e, (a.se ^ b.se) >> 15, exp, (uint64_t)(p >> 64), (uint64_t)p);
	}
	if (fx_screen2(e, a, b, &r))
		return r;
	int ca = fx_class(a), cb = fx_class(b);
	int sign = fx_sign(a) ^ fx_sign(b);
	if (ca == FX_INF || cb == FX_INF) {
		if (ca == FX_ZERO || cb == FX_ZERO)
			return invalid(e, &r), r;
		chk_de(e, ca, cb);
		return fx_inf(sign);
	}
	chk_de(e, ca, cb);
	if (ca == FX_ZERO || cb == FX_ZERO)
		return fx_zero(sign);
	struct fxu ua = fx_unpack(a), ub = fx_unpack(b);
	fx_u128 p = (fx_u128)ua.sig * ub.sig;
	int32_t exp = ua.exp + ub.exp - FX_BIAS + 1;
	if (!(p >> 127)) {
		p <<= 1;
		exp--;
	}
	return fx_round_pack(e, sign, exp, (uint64_t)(p >> 64), (uint64_t)p,
			     fx_fmt_pc(e->prec));
}


static struct fx80 div_finite(struct fxenv *e, struct fxu ua, struct fxu ub, int sign, bool fast)
{
	int32_t exp = ua.exp - ub.exp + FX_BIAS;
	uint64_t nh, nl, rem, rem2;
	if (ua.sig < ub.sig) {
		nh = ua.sig;
		nl = 0;
		exp--;
	} else {
		nh = ua.sig >> 1;
		nl = ua.sig << 63;
	}
	uint64_t q = fx_div128(nh, nl, ub.sig, &rem);
	uint64_t q2 = fx_div128(rem, 0, ub.sig, &rem2);
	if (fast)
		return round_normal(e, sign, exp, q, q2 | (rem2 != 0));
	return fx_round_pack(e, sign, exp, q, q2 | (rem2 != 0), fx_fmt_pc(e->prec));
}

struct fx80 fx_div(struct fxenv *e, struct fx80 a, struct fx80 b)
{
	struct fx80 r;
	if (__builtin_expect(is_normal(a) && is_normal(b) && !e->dn, 1)) {
		struct fxu ua = { a.mant, a.se & 0x7fff, a.se >> 15 };
		struct fxu ub = { b.mant, b.se & 0x7fff, b.se >> 15 };
		return div_finite(e, ua, ub, ua.sign ^ ub.sign, true);
	}
	if (fx_screen2(e, a, b, &r))
		return r;
	int ca = fx_class(a), cb = fx_class(b);
	int sign = fx_sign(a) ^ fx_sign(b);
	if (ca == FX_INF) {
		if (cb == FX_INF)
			return invalid(e, &r), r;
		chk_de(e, FX_ZERO, cb);
		return fx_inf(sign);
	}
	if (cb == FX_INF) {
		chk_de(e, ca, FX_ZERO);
		return fx_zero(sign);
	}
	if (cb == FX_ZERO) {
		if (ca == FX_ZERO)
			return invalid(e, &r), r;
		e->ex |= FX_ZE;
		return fx_inf(sign);
	}
	chk_de(e, ca, cb);
	if (ca == FX_ZERO)
		return fx_zero(sign);
	return div_finite(e, fx_unpack(a), fx_unpack(b), sign, false);
}

/* ---- square root ----------------------------------------------------------------- */

/* floor(sqrt(n)) for 0 < n < 2^128 and the remainder n - r^2 (< 2^65) */
static uint64_t isqrt128(fx_u128 n, fx_u128 *rem)
{
	/*
	 * Newton's iteration from above converges monotonically to
	 * floor(sqrt(n)); start at 2^ceil(bits/2) >= sqrt(n).
	 */
	int bits = 128 - fx_clz128((uint64_t)(n >> 64), (uint64_t)n);
	fx_u128 x = (fx_u128)1 << ((bits + 1) / 2);
	for (;;) {
		fx_u128 y = (x + n / x) >> 1;
		if (y >= x)
			break;
		x = y;
	}
	uint64_t r = (uint64_t)x;
	*rem = n - (fx_u128)r * r;
	return r;
}

struct fx80 fx_sqrt(struct fxenv *e, struct fx80 a)
{
	int ca = fx_class(a);
	struct fx80 r;
	switch (ca) {
	case FX_UNSUPP:
		return invalid(e, &r), r;
	case FX_QNAN:
	case FX_SNAN:
		return fx_nan1(e, a);
	case FX_ZERO:
		return a;
	case FX_INF:
		if (fx_sign(a))
			return invalid(e, &r), r;
		return a;
	default:
		break;
	}
	if (fx_sign(a))
		return invalid(e, &r), r;
	if (ca == FX_DENORMAL)
		e->ex |= FX_DE;
	struct fxu u = fx_unpack(a);
	int32_t ue = u.exp - FX_BIAS;
	fx_u128 n, rem;
	if (ue & 1)
		n = (fx_u128)u.sig << 64;
	else
		n = (fx_u128)u.sig << 63;
	uint64_t root = isqrt128(n, &rem);
	int32_t half = (ue - (ue & 1)) / 2;
	/*
	 * Next bit of the root is 1 iff n >= (root + 1/2)^2 = root^2 + root
	 * + 1/4, i.e. rem > root; the root is never exactly halfway.
	 */
	uint64_t lo = (rem > root ? FX_JBIT : 0) | (rem != 0);
	return fx_round_pack(e, 0, half + FX_BIAS, root, lo, fx_fmt_pc(e->prec));
}

/* ---- conversions ---------------------------------------------------------------------- */

static struct fx80 from_bin(struct fxenv *e, int sign, int ex, uint64_t frac,
			    int fbits, int ebias, int emax, bool arith)
{
	if (ex == emax) {
		if (!frac)
			return fx_inf(sign);
		uint64_t m = FX_JBIT | (frac << (63 - fbits));
		if (!(frac >> (fbits - 1)) && !arith) {
			e->ex |= FX_IE;
			m |= FX_QBIT;
		}
		return fx_make(sign, 0x7fff, m);
	}
	if (ex == 0) {
		if (!frac)
			return fx_zero(sign);
		if (arith)
			e->dn = true;
		else
			e->ex |= FX_DE;
		int s = __builtin_clzll(frac);
		/* value = frac * 2^(1 - ebias - fbits) */
		return fx_make(sign, FX_BIAS + 1 - ebias - fbits + 63 - s, frac << s);
	}
	return fx_make(sign, ex - ebias + FX_BIAS, FX_JBIT | (frac << (63 - fbits)));
}

struct fx80 fx_from_f32(struct fxenv *e, uint32_t v, bool arith)
{
	return from_bin(e, v >> 31, (v >> 23) & 0xff, v & 0x7fffff, 23, 127, 0xff, arith);
}

struct fx80 fx_from_f64_slow(struct fxenv *e, uint64_t v, bool arith)
{
	return from_bin(e, (int)(v >> 63), (int)((v >> 52) & 0x7ff),
			v & ((1ULL << 52) - 1), 52, 1023, 0x7ff, arith);
}

struct fx80 fx_from_i64(int64_t v)
{
	if (v == 0)
		return fx_zero(0);
	int sign = v < 0;
	uint64_t m = sign ? 0 - (uint64_t)v : (uint64_t)v;
	int s = __builtin_clzll(m);
	return fx_make(sign, FX_BIAS + 63 - s, m << s);
}

/*
 * Round a to a binary interchange format; returns sign, biased exponent
 * field and fraction packed by the caller's width.
 */
static uint64_t to_bin(struct fxenv *e, struct fx80 a, const struct fxfmt *f,
		       int fbits, int ebias, uint64_t indefinite)
{
	int ca = fx_class(a);
	uint64_t sign = (uint64_t)fx_sign(a) << (fbits + (f == &fx_fmt_f32 ? 8 : 11));
	uint64_t emaxf = f == &fx_fmt_f32 ? 0xff : 0x7ff;
	switch (ca) {
	case FX_ZERO:
		return sign;
	case FX_INF:
		return sign | (emaxf << fbits);
	case FX_UNSUPP:
		e->ex |= FX_IE;
		return indefinite;
	case FX_SNAN:
		e->ex |= FX_IE;
		a.mant |= FX_QBIT;
		/* fall through */
	case FX_QNAN:
		return sign | (emaxf << fbits) | ((a.mant << 1) >> (64 - fbits));
	default:
		break;
	}
	struct fxu u = fx_unpack(a);
	struct fx80 r = fx_round_pack(e, u.sign, u.exp, u.sig, 0, f);
	int ex = r.se & 0x7fff;
	if (ex == 0x7fff)
		return sign | (emaxf << fbits);
	uint64_t frac = (r.mant << 1) >> (64 - fbits);
	if (!(r.mant & FX_JBIT))
		return sign | frac;	/* denormal or zero */
	if (ex > f->emax)	/* unmasked overflow: not stored anyway */
		ex = f->emax;
	if (ex < f->emin)
		ex = f->emin;
	return sign | ((uint64_t)(ex - FX_BIAS + ebias) << fbits) | frac;
}

uint32_t fx_to_f32(struct fxenv *e, struct fx80 a)
{
	return (uint32_t)to_bin(e, a, &fx_fmt_f32, 23, 127, 0xffc00000U);
}

uint64_t fx_to_f64_slow(struct fxenv *e, struct fx80 a)
{
	return to_bin(e, a, &fx_fmt_f64, 52, 1023, 0xfff8000000000000ULL);
}

int64_t fx_to_int(struct fxenv *e, struct fx80 a, int bits, bool truncate)
{
	int64_t indef = (int64_t)(~0ULL << (bits - 1));
	int ca = fx_class(a);
	switch (ca) {
	case FX_ZERO:
		return 0;
	case FX_NORMAL:
	case FX_DENORMAL:
		break;
	default:
		e->ex |= FX_IE;
		return indef;
	}
	struct fxu u = fx_unpack(a);
	int32_t ue = u.exp - FX_BIAS;
	if (ue > 63) {
		e->ex |= FX_IE;
		return indef;
	}
	bool inexact, up, carry;
	uint64_t q = rnd(u.sig, 0, (unsigned)(63 - ue), u.sign,
			    truncate ? FX_RC_ZERO : e->rc, &inexact, &up, &carry);
	uint64_t lim = 1ULL << (bits - 1);	/* magnitude limit of a negative */
	if (q > lim - !u.sign) {
		e->ex |= FX_IE;
		return indef;
	}
	if (inexact)
		e->ex |= FX_PE;
	e->up = up;
	return u.sign ? (int64_t)(0 - q) : (int64_t)q;
}

/* ---- compare ---------------------------------------------------------------------- */

int fx_compare(struct fxenv *e, struct fx80 a, struct fx80 b, bool quiet)
{
	int ca = fx_class(a), cb = fx_class(b);
	if (ca == FX_UNSUPP || cb == FX_UNSUPP || ca == FX_SNAN || cb == FX_SNAN) {
		e->ex |= FX_IE;
		return FX_CMP_UN;
	}
	if (ca == FX_QNAN || cb == FX_QNAN) {
		if (!quiet)
			e->ex |= FX_IE;
		return FX_CMP_UN;
	}
	chk_de(e, ca, cb);
	if (ca == FX_ZERO && cb == FX_ZERO)
		return FX_CMP_EQ;
	int sa = fx_sign(a), sb = fx_sign(b);
	if (ca == FX_ZERO)
		return sb ? FX_CMP_GT : FX_CMP_LT;
	if (cb == FX_ZERO)
		return sa ? FX_CMP_LT : FX_CMP_GT;
	if (sa != sb)
		return sa ? FX_CMP_LT : FX_CMP_GT;
	int mag;	/* -1, 0, 1: |a| vs |b| */
	if (ca == FX_INF || cb == FX_INF) {
		mag = (ca == FX_INF) - (cb == FX_INF);
	} else {
		struct fxu ua = fx_unpack(a), ub = fx_unpack(b);
		if (ua.exp != ub.exp)
			mag = ua.exp > ub.exp ? 1 : -1;
		else
			mag = ua.sig == ub.sig ? 0 : ua.sig > ub.sig ? 1 : -1;
	}
	if (mag == 0)
		return FX_CMP_EQ;
	if (sa)
		mag = -mag;
	return mag > 0 ? FX_CMP_GT : FX_CMP_LT;
}

/* ---- FRNDINT, FSCALE, FXTRACT, FPREM ------------------------------------------------------ */

struct fx80 fx_round_int(struct fxenv *e, struct fx80 a)
{
	int ca = fx_class(a);
	struct fx80 r;
	switch (ca) {
	case FX_UNSUPP:
		return invalid(e, &r), r;
	case FX_QNAN:
	case FX_SNAN:
		return fx_nan1(e, a);
	case FX_ZERO:
	case FX_INF:
		return a;
	case FX_DENORMAL:
		e->ex |= FX_DE;
		break;
	default:
		break;
	}
	struct fxu u = fx_unpack(a);
	int32_t ue = u.exp - FX_BIAS;
	if (ue >= 63)
		return a;
	bool inexact, up, carry;
	uint64_t q = rnd(u.sig, 0, (unsigned)(63 - ue), u.sign, e->rc, &inexact, &up,
			    &carry);
	if (inexact)
		e->ex |= FX_PE;
	e->up = up;
	if (q == 0)
		return fx_zero(u.sign);
	int s = __builtin_clzll(q);
	return fx_make(u.sign, FX_BIAS + 63 - s, q << s);
}

struct fx80 fx_scale(struct fxenv *e, struct fx80 a, struct fx80 b)
{
	struct fx80 r;
	if (fx_screen2(e, a, b, &r))
		return r;
	int ca = fx_class(a), cb = fx_class(b);
	if (cb == FX_INF) {
		if (fx_sign(b)) {	/* x * 2^-inf */
			if (ca == FX_INF)
				return invalid(e, &r), r;
			chk_de(e, ca, FX_ZERO);
			return fx_zero(fx_sign(a));
		}
		if (ca == FX_ZERO)
			return invalid(e, &r), r;
		chk_de(e, ca, FX_ZERO);
		return fx_inf(fx_sign(a));
	}
	chk_de(e, ca, cb);
	if (ca == FX_ZERO || ca == FX_INF)
		return a;
	/* n = trunc(b), clamped far beyond any representable result */
	int32_t n = 0;
	if (cb != FX_ZERO) {
		struct fxu ub = fx_unpack(b);
		int32_t ue = ub.exp - FX_BIAS;
		if (ue >= 20)
			n = 1 << 20;
		else if (ue >= 0)
			n = (int32_t)(ub.sig >> (63 - ue));
		if (ub.sign)
			n = -n;
	}
	struct fxu ua = fx_unpack(a);
	return fx_round_pack(e, ua.sign, ua.exp + n, ua.sig, 0, &fx_fmt_ext64);
}

struct fx80 fx_extract(struct fxenv *e, struct fx80 a, struct fx80 *exp_out)
{
	int ca = fx_class(a);
	switch (ca) {
	case FX_UNSUPP:
		e->ex |= FX_IE;
		*exp_out = fx_indefinite();
		return fx_indefinite();
	case FX_QNAN:
	case FX_SNAN:
		a = fx_nan1(e, a);
		*exp_out = a;
		return a;
	case FX_ZERO:
		e->ex |= FX_ZE;
		*exp_out = fx_inf(1);
		return a;
	case FX_INF:
		*exp_out = fx_inf(0);
		return a;
	case FX_DENORMAL:
		e->ex |= FX_DE;
		break;
	default:
		break;
	}
	struct fxu u = fx_unpack(a);
	*exp_out = fx_from_i64(u.exp - FX_BIAS);
	return fx_make(u.sign, FX_BIAS, u.sig);
}

struct fx80 fx_prem(struct fxenv *e, struct fx80 a, struct fx80 b, bool ieee,
		    int *qbits, bool *partial)
{
	struct fx80 r;
	*qbits = -1;	/* NaN result: C0 and C3 are left alone */
	*partial = false;
	if (fx_screen2(e, a, b, &r))
		return r;
	int ca = fx_class(a), cb = fx_class(b);
	if (ca == FX_INF || cb == FX_ZERO)
		return invalid(e, &r), r;
	*qbits = 0;
	chk_de(e, ca, cb);
	if (ca == FX_ZERO)
		return a;
	struct fxu ua = fx_unpack(a), ub;
	if (cb == FX_INF)	/* a itself, as a number (pseudo-denormals fixed) */
		return fx_round_pack(e, ua.sign, ua.exp, ua.sig, 0, &fx_fmt_ext64);
	ub = fx_unpack(b);
	int32_t d = ua.exp - ub.exp;
	if (d < (ieee ? -1 : 0))
		return fx_round_pack(e, ua.sign, ua.exp, ua.sig, 0, &fx_fmt_ext64);
	uint64_t rem, q;
	int32_t rexp;
	int sign = ua.sign;

	if (d < 0) {
		/*
		 * FPREM1 with |a| in [|b|/2, |b|): the quotient is 0 or 1;
		 * |b|/2 at a's exponent is ub.sig, and |b| - |a| < |a| fits.
		 */
		rem = ua.sig;
		if (rem > ub.sig) {
			rem = ub.sig - (rem - ub.sig);
			sign ^= 1;
			*qbits = 1;
		}
		int s = __builtin_clzll(rem);
		return fx_round_pack(e, sign, ua.exp - s, rem << s, 0, &fx_fmt_ext64);
	}
	int n = d;
	if (d >= 64) {
		*partial = true;
		n = 32 + (d & 31);
	}
	fx_u128 num = (fx_u128)ua.sig << n;
	fx_u128 qq = num / ub.sig;
	rem = (uint64_t)(num % ub.sig);
	/* remainder value = rem * 2^(ub.exp - bias - 63) scaled by 2^(d - n) */
	rexp = ub.exp + (d - n);
	q = (uint64_t)qq;
	if (ieee && !*partial) {
		/* round to nearest, ties to even quotient */
		uint64_t other = ub.sig - rem;
		if (rem > other || (rem == other && (q & 1))) {
			rem = other;
			q++;
			sign ^= 1;
		}
	}
	*qbits = (int)(q & 7);
	if (rem == 0)
		return fx_zero(ua.sign);
	int s = __builtin_clzll(rem);
	return fx_round_pack(e, sign, rexp - s, rem << s, 0, &fx_fmt_ext64);
}
