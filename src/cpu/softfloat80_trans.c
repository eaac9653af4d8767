// SPDX-License-Identifier: MIT
/*
 * fx80 transcendentals: F2XM1, FYL2X, FYL2XP1, FPATAN, FSIN, FCOS, FPTAN,
 * FSINCOS (SDM Vol. 2 and Vol. 1 8.3.10).
 *
 * The functions are evaluated in a 192-bit binary floating point format
 * (bf below) with series after exact argument reduction, then rounded once
 * to 64 bits under FCW.RC: the results are correctly rounded.  The
 * hardware's own results are within 1 ulp and differ from the correctly
 * rounded value only when the exact value lies within about 0.15 ulp of a
 * rounding boundary (measured: docs/cpu.md).  What is bit-exact with the
 * hardware is everything else: special operands, exceptions, C2, and the
 * argument reduction of FSIN/FCOS/FPTAN/FSINCOS, which uses the 66-bit
 * value of pi the x87 has (0xC90FDAA22168C234C * 2^-66): the results are
 * sin(x - n * pi66/2) etc., as on Intel and AMD processors.
 */
#include "softfloat80.h"

/* ---- 192-bit floating point ------------------------------------------------ */

/* value = (-1)^s * 0.w * 2^e, w[2] most significant; zero iff w[2] == 0 */
struct bf {
	uint64_t w[3];
	int32_t e;
	int s;
};

enum { C_PI, C_LN2, C_LOG2E, C_ATAN1_8 };

/* pi, ln 2, log2 e, atan(k/8) for k = 1..7 (rounded to 192 bits) */
static const struct bf bf_const[C_ATAN1_8 + 7] = {
	[C_PI] = { { 0x29024e088a67cc74ULL, 0xc4c6628b80dc1cd1ULL, 0xc90fdaa22168c234ULL }, 2, 0 },
	[C_LN2] = { { 0x40f343267298b62eULL, 0xc9e3b39803f2f6afULL, 0xb17217f7d1cf79abULL }, 0, 0 },
	[C_LOG2E] = { { 0xeb577aa8dd695a59ULL, 0xbe87fed0691d3e88ULL, 0xb8aa3b295c17f0bbULL }, 1, 0 },
	[C_ATAN1_8 + 0] = { { 0x8b3957d95d9ad923ULL, 0xc897989f3e888ef7ULL, 0xfeadd4d5617b6e32ULL }, -3, 0 },
	[C_ATAN1_8 + 1] = { { 0xaa7fa90388b3836bULL, 0x6dc79ef5f7a217e5ULL, 0xfadbafc96406eb15ULL }, -2, 0 },
	[C_ATAN1_8 + 2] = { { 0x3d843977ae5455ccULL, 0x8aa32122dcfe4483ULL, 0xb7b0ca0f26f78473ULL }, -1, 0 },
	[C_ATAN1_8 + 3] = { { 0x6e141587261cdf01ULL, 0x6fe445ecbc3a8d03ULL, 0xed63382b0dda7b45ULL }, -1, 0 },
	[C_ATAN1_8 + 4] = { { 0x918a67e0652b375dULL, 0x5c835e1665c43747ULL, 0x8f005d5ef7f59f9bULL }, 0, 0 },
	[C_ATAN1_8 + 5] = { { 0xe3f08689eeb2b9e7ULL, 0x19a87f2a457dac9eULL, 0xa4bc7d1934f70924ULL }, 0, 0 },
	[C_ATAN1_8 + 6] = { { 0x3d7aecc114c79a81ULL, 0xcb2da55210a4443dULL, 0xb8053e2bc2319e73ULL }, 0, 0 },
};

static inline bool bf_zero(const struct bf *a)
{
	return a->w[2] == 0;
}

static struct bf bf_make0(void)
{
	struct bf r = { { 0, 0, 0 }, 0, 0 };
	return r;
}

static void bf_norm(struct bf *a)
{
	if (!(a->w[2] | a->w[1] | a->w[0])) {
		a->e = 0;
		return;
	}
	while (!a->w[2]) {
		a->w[2] = a->w[1];
		a->w[1] = a->w[0];
		a->w[0] = 0;
		a->e -= 64;
	}
	int s = __builtin_clzll(a->w[2]);
	if (s) {
		a->w[2] = a->w[2] << s | a->w[1] >> (64 - s);
		a->w[1] = a->w[1] << s | a->w[0] >> (64 - s);
		a->w[0] <<= s;
		a->e -= s;
	}
}

static struct bf bf_u64(uint64_t v, int sign)
{
	struct bf r = { { 0, 0, v }, 64, sign };
	bf_norm(&r);
	return r;
}

/* exact: a finite non-zero fx80 */
static struct bf bf_fx(struct fx80 a)
{
	struct fxu u = fx_unpack(a);
	struct bf r = { { 0, 0, u.sig }, u.exp - (FX_BIAS - 1), u.sign };
	return r;
}

static void shr192(uint64_t w[3], uint32_t k)
{
	if (k >= 192) {
		w[0] = w[1] = w[2] = 0;
		return;
	}
	while (k >= 64) {
		w[0] = w[1];
		w[1] = w[2];
		w[2] = 0;
		k -= 64;
	}
	if (k) {
		w[0] = w[0] >> k | w[1] << (64 - k);
		w[1] = w[1] >> k | w[2] << (64 - k);
		w[2] >>= k;
	}
}

/* |a| vs |b| for normalized values */
static int bf_cmpmag(const struct bf *a, const struct bf *b)
{
	if (bf_zero(a) || bf_zero(b))
		return !bf_zero(a) - !bf_zero(b);
	if (a->e != b->e)
		return a->e > b->e ? 1 : -1;
	for (int k = 2; k >= 0; k--)
		if (a->w[k] != b->w[k])
			return a->w[k] > b->w[k] ? 1 : -1;
	return 0;
}

static struct bf bf_add(struct bf a, struct bf b)
{
	if (bf_zero(&b))
		return a;
	if (bf_zero(&a))
		return b;
	if (bf_cmpmag(&a, &b) < 0) {
		struct bf t = a;
		a = b;
		b = t;
	}
	shr192(b.w, (uint32_t)(a.e - b.e));
	struct bf r = a;
	if (a.s == b.s) {
		fx_u128 t = 0;
		for (int k = 0; k < 3; k++) {
			t += (fx_u128)a.w[k] + b.w[k];
			r.w[k] = (uint64_t)t;
			t >>= 64;
		}
		if (t) {
			shr192(r.w, 1);
			r.w[2] |= FX_JBIT;
			r.e++;
		}
	} else {
		uint64_t borrow = 0;
		for (int k = 0; k < 3; k++) {
			uint64_t x = a.w[k], y = b.w[k];
			r.w[k] = x - y - borrow;
			borrow = (x < y) || (x == y && borrow);
		}
		bf_norm(&r);
		if (bf_zero(&r))
			r.s = 0;
	}
	return r;
}

static struct bf bf_neg(struct bf a)
{
	a.s ^= 1;
	return a;
}

static struct bf bf_sub(struct bf a, struct bf b)
{
	return bf_add(a, bf_neg(b));
}

/* normalize 0.(p[3] p[2] p[1] p[0]) * 2^e to 192 bits */
static struct bf bf_from4(uint64_t p[4], int32_t e, int sign)
{
	struct bf r = bf_make0();
	if (!(p[3] | p[2] | p[1] | p[0]))
		return r;
	while (!p[3]) {
		p[3] = p[2];
		p[2] = p[1];
		p[1] = p[0];
		p[0] = 0;
		e -= 64;
	}
	int sh = __builtin_clzll(p[3]);
	if (sh) {
		p[3] = p[3] << sh | p[2] >> (64 - sh);
		p[2] = p[2] << sh | p[1] >> (64 - sh);
		p[1] = p[1] << sh | p[0] >> (64 - sh);
		e -= sh;
	}
	r.w[0] = p[1];
	r.w[1] = p[2];
	r.w[2] = p[3];
	r.e = e;
	r.s = sign;
	return r;
}

static struct bf bf_mul(struct bf a, struct bf b)
{
	if (bf_zero(&a) || bf_zero(&b))
		return bf_make0();
	uint64_t p[6] = { 0, 0, 0, 0, 0, 0 };
	for (int i = 0; i < 3; i++) {
		fx_u128 carry = 0;
		for (int j = 0; j < 3; j++) {
			fx_u128 t = (fx_u128)a.w[i] * b.w[j] + p[i + j] + carry;
			p[i + j] = (uint64_t)t;
			carry = t >> 64;
		}
		p[i + 3] = (uint64_t)carry;
	}
	return bf_from4(p + 2, a.e + b.e, a.s ^ b.s);
}

static struct bf bf_mul_u(struct bf a, uint64_t k)
{
	if (bf_zero(&a) || !k)
		return bf_make0();
	uint64_t p[4];
	fx_u128 carry = 0;
	for (int i = 0; i < 3; i++) {
		fx_u128 t = (fx_u128)a.w[i] * k + carry;
		p[i] = (uint64_t)t;
		carry = t >> 64;
	}
	p[3] = (uint64_t)carry;
	return bf_from4(p, a.e + 64, a.s);
}

static struct bf bf_div_u(struct bf a, uint64_t k)
{
	uint64_t rem = 0;
	struct bf r = a;
	for (int i = 2; i >= 0; i--)
		r.w[i] = fx_div128(rem, a.w[i], k, &rem);
	bf_norm(&r);
	return r;
}

static inline struct bf bf_ldexp(struct bf a, int32_t n)
{
	if (!bf_zero(&a))
		a.e += n;
	return a;
}

/* 1 / d by Newton's iteration from a 64-bit estimate */
static struct bf bf_recip(struct bf d)
{
	uint64_t r0 = (uint64_t)((((fx_u128)1 << 127) - 1) / d.w[2]);
	struct bf r = { { 0, 0, r0 }, 1 - d.e, d.s };
	bf_norm(&r);
	struct bf two = bf_u64(2, 0);
	for (int k = 0; k < 2; k++)
		r = bf_mul(r, bf_sub(two, bf_mul(d, r)));
	return r;
}

static struct bf bf_div(struct bf a, struct bf b)
{
	return bf_mul(a, bf_recip(b));
}

/* a term is negligible once it is 2^-200 of the sum */
static inline bool bf_negligible(const struct bf *term, const struct bf *sum)
{
	return bf_zero(term) || term->e < sum->e - 200;
}

/*
 * Round to 64 bits.  tail: the exact value is a hair above (+1) or below
 * (-1) the computed one in magnitude, for results whose correction falls
 * beyond 192 bits (tiny arguments); 0 otherwise.
 */
static struct fx80 bf_round(struct fxenv *e, struct bf a, int tail)
{
	if (bf_zero(&a))
		return fx_zero(a.s);
	uint64_t hi = a.w[2], lo = a.w[1] | (a.w[0] != 0);
	int32_t exp = a.e + FX_BIAS - 1;
	if (!a.w[1] && !a.w[0] && tail) {
		if (tail > 0) {
			lo = 1;
		} else {
			lo = ~0ULL;
			if (hi == FX_JBIT) {
				hi = ~0ULL;
				exp--;
			} else {
				hi--;
			}
		}
	}
	return fx_round_pack(e, a.s, exp, hi, lo, &fx_fmt_ext64);
}

/* ---- elementary functions on bf ----------------------------------------------- */

/* e^t - 1 */
static struct bf bf_expm1(struct bf t)
{
	if (bf_zero(&t))
		return t;
	int k = t.e + 8;	/* reduce to |t| < 2^-8, then double back */
	if (k < 0)
		k = 0;
	t = bf_ldexp(t, -k);
	struct bf term = t, sum = t;
	for (uint64_t n = 2; n < 100; n++) {
		term = bf_div_u(bf_mul(term, t), n);
		if (bf_negligible(&term, &sum))
			break;
		sum = bf_add(sum, term);
	}
	struct bf two = bf_u64(2, 0);
	for (int i = 0; i < k; i++)	/* e^2t - 1 = (e^t - 1)(e^t + 1) */
		sum = bf_mul(sum, bf_add(sum, two));
	return sum;
}

/* 2 atanh(s) = ln((1 + s) / (1 - s)) for |s| <= 0.18 */
static struct bf bf_2atanh(struct bf s)
{
	if (bf_zero(&s))
		return s;
	struct bf s2 = bf_mul(s, s), pw = s, sum = s;
	for (uint64_t k = 3; k < 400; k += 2) {
		pw = bf_mul(pw, s2);
		struct bf term = bf_div_u(pw, k);
		if (bf_negligible(&term, &sum))
			break;
		sum = bf_add(sum, term);
	}
	return bf_ldexp(sum, 1);
}

/* log2 of a positive value: k + ln(m) * log2(e), m in [1/sqrt2, sqrt2) */
static struct bf bf_log2(struct bf x)
{
	int32_t k = x.e;	/* x = 0.w * 2^e, 0.w in [1/2, 1) */
	struct bf m = x;
	m.e = 0;
	/* 0.w < 1/sqrt(2) ~ 0xb504f333...: use 2 * 0.w and k - 1 */
	if (m.w[2] < 0xb504f333f9de6484ULL) {
		m.e = 1;
		k--;
	}
	struct bf one = bf_u64(1, 0);
	struct bf s = bf_div(bf_sub(m, one), bf_add(m, one));
	struct bf l = bf_mul(bf_2atanh(s), bf_const[C_LOG2E]);
	struct bf kk = bf_u64((uint64_t)(k < 0 ? -(int64_t)k : k), k < 0);
	return bf_add(kk, l);
}

/* atan(z) for 0 <= z <= 1 */
static struct bf bf_atan01(struct bf z)
{
	if (bf_zero(&z))
		return z;
	/* c = k/8 nearest to z: atan z = atan c + atan((z - c) / (1 + z c)) */
	struct bf z8 = bf_ldexp(z, 3);
	uint64_t k = 0;
	if (z8.e > 0)
		k = z8.w[2] >> (64 - z8.e);
	if (z8.e >= 0 && (z8.e == 0 ? z8.w[2] >> 63 : (z8.w[2] << z8.e) >> 63))
		k++;	/* round to nearest */
	struct bf t = z, base = bf_make0();
	if (k) {
		struct bf c = bf_ldexp(bf_u64(k, 0), -3);
		struct bf one = bf_u64(1, 0);
		t = bf_div(bf_sub(z, c), bf_add(one, bf_mul(z, c)));
		base = k == 8 ? bf_ldexp(bf_const[C_PI], -2) : bf_const[C_ATAN1_8 + k - 1];
	}
	if (!bf_zero(&t)) {
		struct bf t2 = bf_mul(t, t), pw = t, sum = t;
		for (uint64_t n = 3; n < 200; n += 2) {
			pw = bf_mul(pw, t2);
			struct bf term = bf_div_u(pw, n);
			if (bf_negligible(&term, &sum))
				break;
			sum = ((n >> 1) & 1) ? bf_sub(sum, term) : bf_add(sum, term);
		}
		t = sum;
	}
	return bf_add(base, t);
}

/* sin r and / or cos r for |r| <= pi/4 */
static void bf_sincos(struct bf r, struct bf *s, struct bf *c, bool need_s, bool need_c)
{
	struct bf r2 = bf_mul(r, r);
	struct bf term = r, sum = r;
	for (uint64_t n = 2; need_s && n < 200; n += 2) {
		term = bf_neg(bf_div_u(bf_mul(term, r2), n * (n + 1)));
		if (bf_negligible(&term, &sum))
			break;
		sum = bf_add(sum, term);
	}
	*s = sum;
	if (!need_c)
		return;
	struct bf one = bf_u64(1, 0);
	term = one;
	sum = one;
	for (uint64_t n = 1; n < 200; n += 2) {
		term = bf_neg(bf_div_u(bf_mul(term, r2), n * (n + 1)));
		if (bf_negligible(&term, &sum))
			break;
		sum = bf_add(sum, term);
	}
	*c = sum;
}

/* ---- the x87 functions ---------------------------------------------------------- */

static struct fx80 invalid(struct fxenv *e)
{
	e->ex |= FX_IE;
	return fx_indefinite();
}

static inline bool is_nan(int c)
{
	return c == FX_QNAN || c == FX_SNAN;
}

/*
 * FYL2X/FYL2XP1 flag their computed results inexact even when the value
 * is exact, and then a tiny result is an underflow too (measured).
 */
static struct fx80 inexact(struct fxenv *e, struct fx80 r)
{
	e->ex |= FX_PE;
	if ((r.se & 0x7fff) == 0 && r.mant && (e->masks & FX_UE))
		e->ex |= FX_UE;
	return r;
}

/* a constant (pi, pi/2, ...) times 2^k, rounded */
static struct fx80 const_round(struct fxenv *e, int id, int32_t k, int sign)
{
	struct bf v = bf_ldexp(bf_const[id], k);
	v.s = sign;
	return bf_round(e, v, 0);
}

/*
 * F2XM1: 2^x - 1, defined for |x| <= 1.  Outside that the hardware
 * returns x itself, flagged inexact, and 2^-inf - 1 = -1 (measured).
 */
struct fx80 fx_f2xm1(struct fxenv *e, struct fx80 x)
{
	int cx = fx_class(x);
	switch (cx) {
	case FX_UNSUPP:
		return invalid(e);
	case FX_QNAN:
	case FX_SNAN:
		return fx_nan1(e, x);
	case FX_ZERO:
		return x;
	case FX_INF:
		return fx_sign(x) ? fx_make(1, FX_BIAS, FX_JBIT) : x;
	case FX_DENORMAL:
		e->ex |= FX_DE;
		break;
	default:
		break;
	}
	struct fxu u = fx_unpack(x);
	if (u.exp >= FX_BIAS) {
		if (u.exp > FX_BIAS || u.sig != FX_JBIT) {
			e->ex |= FX_PE;
			return x;
		}
		/*
		 * The hardware's x = +1 result is a hair below 1, and -1 gives
		 * -1/2 flagged inexact in every rounding mode (measured).
		 */
		if (u.sign) {
			e->ex |= FX_PE;
			return fx_make(1, FX_BIAS - 1, FX_JBIT);
		}
		return bf_round(e, bf_u64(1, 0), -1);
	}
	return bf_round(e, bf_expm1(bf_mul(bf_fx(x), bf_const[C_LN2])), 0);
}

/*
 * The last step of FYL2X / FYL2XP1: y times the (non-zero) logarithm l,
 * with y = inf or 0 giving a signed infinity or zero.  Computed results are
 * flagged inexact even when exact (x = 2^k).
 */
static struct fx80 times_y(struct fxenv *e, struct bf l, struct fx80 y)
{
	int cy = fx_class(y), sy = fx_sign(y);
	if (cy == FX_INF)
		return fx_inf(sy ^ l.s);
	if (cy == FX_ZERO)
		return fx_zero(sy ^ l.s);
	return inexact(e, bf_round(e, bf_mul(l, bf_fx(y)), 0));
}

/* FYL2X: y * log2(x) */
struct fx80 fx_yl2x(struct fxenv *e, struct fx80 x, struct fx80 y)
{
	struct fx80 r;
	if (fx_screen2(e, x, y, &r))
		return r;
	int cx = fx_class(x), cy = fx_class(y);
	int sx = fx_sign(x), sy = fx_sign(y);
	if (sx && cx != FX_ZERO)
		return invalid(e);	/* log of a negative number */
	if (cx == FX_ZERO) {
		/* the zero divide outranks a denormal y (measured) */
		if (cy == FX_ZERO)
			return invalid(e);
		if (cy != FX_INF)
			e->ex |= FX_ZE;
		return fx_inf(!sy);
	}
	if (cx == FX_INF) {
		if (cy == FX_ZERO)
			return invalid(e);
		if (cy == FX_DENORMAL)
			e->ex |= FX_DE;
		return fx_inf(sy);
	}
	if (cx == FX_DENORMAL || cy == FX_DENORMAL)
		e->ex |= FX_DE;
	struct bf l = bf_log2(bf_fx(x));
	if (bf_zero(&l)) {	/* x = 1 */
		if (cy == FX_INF)
			return invalid(e);
		return fx_zero(sy);
	}
	return times_y(e, l, y);
}

/*
 * FYL2XP1: y * log2(x + 1), defined for |x| < 1 - sqrt(2)/2; larger x are
 * computed the same way; for x <= -1 the hardware returns x flagged
 * inexact, or a signed infinity / zero for y = inf / 0 (measured).
 */
struct fx80 fx_yl2xp1(struct fxenv *e, struct fx80 x, struct fx80 y)
{
	struct fx80 r;
	if (fx_screen2(e, x, y, &r))
		return r;
	int cx = fx_class(x), cy = fx_class(y);
	int sx = fx_sign(x), sy = fx_sign(y);
	if (cx == FX_ZERO) {
		if (cy == FX_INF)
			return invalid(e);
		if (cy == FX_DENORMAL)
			e->ex |= FX_DE;
		return fx_zero(sx ^ sy);
	}
	if (cx == FX_INF) {
		if (sx || cy == FX_ZERO)
			return invalid(e);
		if (cy == FX_DENORMAL)
			e->ex |= FX_DE;
		return fx_inf(sy);
	}
	if (cx == FX_DENORMAL || cy == FX_DENORMAL)
		e->ex |= FX_DE;
	struct bf bx = bf_fx(x), one = bf_u64(1, 0);
	struct bf l;
	if (sx && bx.e >= 1) {	/* x <= -1 */
		if (cy == FX_INF)
			return fx_inf(sx ^ sy);
		if (cy == FX_ZERO)
			return fx_zero(sx ^ sy);
		e->ex |= FX_PE;
		return x;
	}
	if (bx.e <= -2) {
		/* |x| < 1/4: ln(1 + x) = 2 atanh(x / (2 + x)) */
		struct bf s = bf_div(bx, bf_add(bf_u64(2, 0), bx));
		l = bf_mul(bf_2atanh(s), bf_const[C_LOG2E]);
	} else {
		l = bf_log2(bf_add(bx, one));
	}
	return times_y(e, l, y);
}

/* FPATAN: atan2(y, x) with the IEEE special cases */
struct fx80 fx_atan2(struct fxenv *e, struct fx80 y, struct fx80 x)
{
	struct fx80 r;
	if (fx_screen2(e, x, y, &r))
		return r;
	int cx = fx_class(x), cy = fx_class(y);
	int sx = fx_sign(x), sy = fx_sign(y);
	if (cx == FX_DENORMAL || cy == FX_DENORMAL)
		e->ex |= FX_DE;
	if (cy == FX_ZERO) {
		if (sx)
			return const_round(e, C_PI, 0, sy);
		return fx_zero(sy);
	}
	if (cy == FX_INF) {
		if (cx == FX_INF && sx) {	/* 3pi/4 */
			struct bf v = bf_mul_u(bf_ldexp(bf_const[C_PI], -2), 3);
			v.s = sy;
			return bf_round(e, v, 0);
		}
		if (cx == FX_INF)
			return const_round(e, C_PI, -2, sy);
		return const_round(e, C_PI, -1, sy);
	}
	if (cx == FX_ZERO)
		return const_round(e, C_PI, -1, sy);
	if (cx == FX_INF) {
		if (sx)
			return const_round(e, C_PI, 0, sy);
		return fx_zero(sy);
	}
	struct bf by = bf_fx(y), bx = bf_fx(x);
	by.s = bx.s = 0;
	bool swap = bf_cmpmag(&by, &bx) > 0;
	struct bf z = swap ? bf_div(bx, by) : bf_div(by, bx);
	struct bf a = bf_atan01(z);
	int tail = 0;
	if (swap)
		a = bf_sub(bf_ldexp(bf_const[C_PI], -1), a);
	else if (z.e < -90)
		tail = -1;	/* atan z = z - z^3/3 ... */
	if (sx) {
		a = bf_sub(bf_const[C_PI], a);
		tail = 0;
	}
	a.s = sy;
	return bf_round(e, a, tail);
}

/*
 * FSIN / FCOS / FPTAN / FSINCOS.  op: FX_TRIG_*; *r1 = sin, cos or tan,
 * for FSINCOS *r1 = sin and *r2 = cos (rounded separately, flags of both
 * accumulate in e, C1 is the sine's).  Returns false when |x| >= 2^63: the operand is
 * out of range (C2 = 1) and nothing is computed.
 */
/* pi/2 as the x87 has it: 0xC90FDAA22168C234C * 2^-67 */
#define P66_HI 0xcULL
#define P66_LO 0x90fdaa22168c234cULL

/* 192-bit integers, little-endian limbs */
static void i192_sub(uint64_t r[3], const uint64_t a[3], const uint64_t b[3])
{
	uint64_t borrow = 0;
	for (int k = 0; k < 3; k++) {
		uint64_t x = a[k], y = b[k];
		r[k] = x - y - borrow;
		borrow = (x < y) || (x == y && borrow);
	}
}

static void i192_add(uint64_t r[3], const uint64_t a[3], const uint64_t b[3])
{
	fx_u128 t = 0;
	for (int k = 0; k < 3; k++) {
		t += (fx_u128)a[k] + b[k];
		r[k] = (uint64_t)t;
		t >>= 64;
	}
}

static bool i192_neg(const uint64_t a[3])
{
	return a[2] >> 63;
}

static int i192_cmp(const uint64_t a[3], const uint64_t b[3])
{
	for (int k = 2; k >= 0; k--)
		if (a[k] != b[k])
			return a[k] > b[k] ? 1 : -1;
	return 0;
}

/*
 * Reduce |x| (pi/4 <= |x| < 2^63) by the x87's pi/2: returns the quadrant
 * n mod 4 and r = |x| - n * pi66/2 exactly, |r| <= pi66/4.
 */
static int trig_reduce(struct fxu u, struct bf *r)
{
	static const uint64_t pm[3] = { P66_LO, P66_HI, 0 };
	/* X = |x| * 2^67 = sig << (exp + 4) as an integer */
	int32_t sh = u.exp - FX_BIAS + 4;
	uint64_t X[3] = { 0, 0, 0 };
	if (sh >= 64) {
		X[1] = u.sig << (sh - 64);
		X[2] = sh > 64 ? u.sig >> (128 - sh) : 0;
	} else {
		X[0] = u.sig << sh;
		X[1] = sh ? u.sig >> (64 - sh) : 0;
	}
	/* n ~ |x| * 2/pi66 from 192 bits, then corrected exactly */
	static const struct bf inv = {	/* 2^67 / 0xC90FDAA22168C234C */
		{ 0xd4c1fdf9055cd5baULL, 0x00062bc40da276beULL, 0xa2f9836e4e44152aULL }, 0, 0
	};
	struct bf ux = { { 0, 0, u.sig }, u.exp - (FX_BIAS - 1), 0 };
	struct bf q = bf_mul(ux, inv);
	uint64_t n = 0;
	if (q.e > 0)
		n = q.e >= 64 ? q.w[2] : q.w[2] >> (64 - q.e);
	/* R = X - n * pm */
	fx_u128 lo = (fx_u128)n * P66_LO, hi = (fx_u128)n * P66_HI + (uint64_t)(lo >> 64);
	uint64_t np[3] = { (uint64_t)lo, (uint64_t)hi, (uint64_t)(hi >> 64) };
	uint64_t R[3];
	i192_sub(R, X, np);
	while (i192_neg(R)) {
		i192_add(R, R, pm);
		n--;
	}
	while (i192_cmp(R, pm) >= 0) {
		i192_sub(R, R, pm);
		n++;
	}
	/* nearest multiple: R in [0, pm) -> (-pm/2, pm/2) */
	uint64_t R2[3] = { R[0] << 1, R[1] << 1 | R[0] >> 63, R[2] << 1 | R[1] >> 63 };
	int sign = 0;
	if (i192_cmp(R2, pm) > 0) {
		i192_sub(R, pm, R);
		sign = 1;
		n++;
	}
	struct bf rb = { { 0, R[0], R[1] }, 128 - 67, sign };
	bf_norm(&rb);
	*r = rb;
	return (int)(n & 3);
}

bool fx_trig(struct fxenv *e, struct fx80 x, int op, struct fx80 *r1, struct fx80 *r2)
{
	int cx = fx_class(x);
	struct fx80 one = fx_make(0, FX_BIAS, FX_JBIT);
	switch (cx) {
	case FX_UNSUPP:
	case FX_INF:
		*r1 = *r2 = invalid(e);
		return true;
	case FX_QNAN:
	case FX_SNAN:
		*r1 = *r2 = fx_nan1(e, x);
		return true;
	case FX_ZERO:
		*r1 = op == FX_TRIG_COS ? one : x;
		*r2 = one;
		return true;
	case FX_DENORMAL:
		e->ex |= FX_DE;
		break;
	default:
		break;
	}
	struct fxu u = fx_unpack(x);
	if (u.exp - FX_BIAS >= 63)
		return false;
	struct bf s, c;
	int q = 0, stail = 0, ctail = 0;
	if (u.exp - FX_BIAS < -90) {
		/* sin x = x - x^3/6, cos x = 1 - x^2/2: beyond 192 bits */
		s = bf_fx(x);
		s.s = 0;
		c = bf_u64(1, 0);
		stail = -1;
		ctail = -1;
	} else {
		struct bf ax = bf_fx(x), r;
		ax.s = 0;
		/* |x| < pi/4 needs no reduction: compare with pi66/4 */
		struct bf p4 = { { 0, P66_LO << 60, P66_HI << 60 | P66_LO >> 4 }, 0, 0 };
		if (bf_cmpmag(&ax, &p4) < 0) {
			r = ax;
		} else {
			q = trig_reduce(u, &r);
		}
		/* FSIN needs sin r in even quadrants, cos r in odd ones */
		bool want_sin = op == FX_TRIG_SIN, want_cos = op == FX_TRIG_COS;
		bool both = !want_sin && !want_cos;
		bool need_s = both || (want_sin ? !(q & 1) : (q & 1));
		bf_sincos(r, &s, &c, need_s, both || !need_s);
	}
	/* quadrant: sin x = s, c, -s, -c; cos x = c, -s, -c, s */
	struct bf sx = (q & 1) ? c : s, cxv = (q & 1) ? s : c;
	int sxt = (q & 1) ? ctail : stail, cxt = (q & 1) ? stail : ctail;
	if (q == 2 || q == 3)
		sx = bf_neg(sx);
	if (q == 1 || q == 2)
		cxv = bf_neg(cxv);
	if (u.sign)
		sx = bf_neg(sx);
	switch (op) {
	case FX_TRIG_SIN:
		*r1 = bf_round(e, sx, sxt);
		break;
	case FX_TRIG_COS:
		*r1 = bf_round(e, cxv, cxt);
		break;
	case FX_TRIG_TAN:
		/* tiny x: tan x = x + x^3/3, above x in magnitude */
		*r1 = stail ? bf_round(e, sx, 1) : bf_round(e, bf_div(sx, cxv), 0);
		break;
	default:
		/* C1 reports the rounding of the sine (measured) */
		*r2 = bf_round(e, cxv, cxt);
		*r1 = bf_round(e, sx, sxt);
		break;
	}
	return true;
}
