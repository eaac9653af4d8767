/* SPDX-License-Identifier: MIT */
/*
 * fx80: IEEE 754 double-extended arithmetic the way the x87 FPU does it
 * (SDM Vol. 1 ch. 4 and 8): explicit integer bit, precision control
 * (rounding of the significand to 24/53/64 bits with the extended exponent
 * range), four rounding modes, denormals, the unsupported encodings
 * (unnormals, pseudo-NaN, pseudo-infinity) as invalid operands,
 * pseudo-denormals as denormals, the x87 NaN propagation rules, and the
 * masked and unmasked responses to overflow and underflow (bias adjust).
 *
 * Pure integer C; needs a compiler with unsigned __int128 (GCC, Clang on
 * every 64-bit host).  No host floating point is used for results.
 */
#ifndef NV_SOFTFLOAT80_H
#define NV_SOFTFLOAT80_H

#include <stdbool.h>
#include <stdint.h>

typedef unsigned __int128 fx_u128;

/* an 80-bit register image: 64-bit significand, sign << 15 | exponent */
struct fx80 {
	uint64_t mant;
	uint16_t se;
};

#define FX_BIAS 16383
#define FX_JBIT (1ULL << 63)
#define FX_QBIT (1ULL << 62)

/* exception flags in their FSW / FCW-mask bit positions */
#define FX_IE 0x01
#define FX_DE 0x02
#define FX_ZE 0x04
#define FX_OE 0x08
#define FX_UE 0x10
#define FX_PE 0x20

/* rounding control (FCW.RC) */
enum { FX_RC_NEAR, FX_RC_DOWN, FX_RC_UP, FX_RC_ZERO };

/* operand classes */
enum { FX_ZERO, FX_NORMAL, FX_DENORMAL, FX_INF, FX_QNAN, FX_SNAN, FX_UNSUPP };

/* rounding environment and result status of one operation */
struct fxenv {
	uint8_t rc;		/* FX_RC_* */
	uint8_t prec;		/* 24, 53 or 64 significand bits */
	uint8_t masks;		/* FCW bits 0..5: 1 = exception masked */
	uint8_t ex;		/* exceptions raised (FX_*), accumulated */
	bool up;		/* the last rounding increased the magnitude (C1) */
	bool dn;		/* an operand was a denormal single/double (for DE) */
};

/* a destination format: precision and biased (16383) exponent range */
struct fxfmt {
	int prec;
	int32_t emin, emax;
};
extern const struct fxfmt fx_fmt_f32, fx_fmt_f64, fx_fmt_ext64;
const struct fxfmt *fx_fmt_pc(int prec);

/* unpacked finite non-zero value: sig * 2^(exp - FX_BIAS - 63), sig bit 63 set */
struct fxu {
	uint64_t sig;
	int32_t exp;
	int sign;
};

static inline int fx_sign(struct fx80 a)
{
	return a.se >> 15;
}

static inline int fx_class(struct fx80 a)
{
	int e = a.se & 0x7fff;
	if (e == 0)
		return a.mant ? FX_DENORMAL : FX_ZERO;	/* incl. pseudo-denormals */
	if (!(a.mant & FX_JBIT))
		return FX_UNSUPP;	/* unnormal, pseudo-infinity, pseudo-NaN */
	if (e == 0x7fff) {
		if (!(a.mant << 1))
			return FX_INF;
		return (a.mant & FX_QBIT) ? FX_QNAN : FX_SNAN;
	}
	return FX_NORMAL;
}

static inline struct fx80 fx_make(int sign, int exp, uint64_t mant)
{
	struct fx80 r = { mant, (uint16_t)((sign << 15) | exp) };
	return r;
}

/* the real indefinite QNaN and friends */
static inline struct fx80 fx_indefinite(void)
{
	return fx_make(1, 0x7fff, 0xc000000000000000ULL);
}

static inline struct fx80 fx_zero(int sign)
{
	return fx_make(sign, 0, 0);
}

static inline struct fx80 fx_inf(int sign)
{
	return fx_make(sign, 0x7fff, FX_JBIT);
}

/* finite non-zero (normal or denormal) operand, normalized */
static inline struct fxu fx_unpack(struct fx80 a)
{
	struct fxu u = { a.mant, a.se & 0x7fff, a.se >> 15 };
	if (u.exp == 0)
		u.exp = 1;
	if (!(u.sig & FX_JBIT)) {
		int s = __builtin_clzll(u.sig);
		u.sig <<= s;
		u.exp -= s;
	}
	return u;
}

/*
 * Round sign * (hi + lo / 2^64) * 2^(exp - FX_BIAS - 63) (hi bit 63 set)
 * to format f under e->rc, with the x87's responses to overflow and
 * underflow.  The result is in extended encoding; for the f32/f64 formats
 * a result below their normal range has exponent f->emin and J = 0.
 */
struct fx80 fx_round_pack(struct fxenv *e, int sign, int32_t exp, uint64_t hi,
			  uint64_t lo, const struct fxfmt *f);
/* round an integer magnitude hi:lo at `drop` bits (exposed for fx users) */
uint64_t fx_rnd(uint64_t hi, uint64_t lo, unsigned drop, int sign, int rc,
		bool *inexact, bool *up, bool *carry);

/* NaN operands: the propagated (quiet) NaN, IE for an SNaN */
struct fx80 fx_nan2(struct fxenv *e, struct fx80 a, struct fx80 b);
struct fx80 fx_nan1(struct fxenv *e, struct fx80 a);
/*
 * Common screening of two operands: unsupported encodings and NaNs.
 * Returns true with *r set if the result is decided.
 */
bool fx_screen2(struct fxenv *e, struct fx80 a, struct fx80 b, struct fx80 *r);

/* arithmetic (precision control applies) */
struct fx80 fx_add(struct fxenv *e, struct fx80 a, struct fx80 b, bool sub);
struct fx80 fx_mul(struct fxenv *e, struct fx80 a, struct fx80 b);
struct fx80 fx_div(struct fxenv *e, struct fx80 a, struct fx80 b);
struct fx80 fx_sqrt(struct fxenv *e, struct fx80 a);

/* conversions */
/*
 * arith = operand of an arithmetic instruction: an SNaN stays signaling and
 * a denormal sets e->dn, so the operation reports IE/DE in SDM priority
 * order; otherwise (FLD) IE and DE are raised here and SNaN is quieted.
 */
struct fx80 fx_from_f32(struct fxenv *e, uint32_t v, bool arith);
struct fx80 fx_from_f64_slow(struct fxenv *e, uint64_t v, bool arith);
struct fx80 fx_from_i64(int64_t v);
uint32_t fx_to_f32(struct fxenv *e, struct fx80 a);
uint64_t fx_to_f64_slow(struct fxenv *e, struct fx80 a);

/* fast paths for normal doubles (FLD/FST m64 are hot) */
static inline struct fx80 fx_from_f64(struct fxenv *e, uint64_t v, bool arith)
{
	uint32_t ex = (v >> 52) & 0x7ff;
	if (__builtin_expect(ex - 1 < 0x7fe, 1))
		return fx_make((int)(v >> 63), (int)ex - 1023 + FX_BIAS, FX_JBIT | ((v << 12) >> 1));
	return fx_from_f64_slow(e, v, arith);
}

static inline uint64_t fx_to_f64(struct fxenv *e, struct fx80 a)
{
	uint32_t ex = a.se & 0x7fff;
	uint64_t sign = (uint64_t)(a.se >> 15) << 63;
	/* a normal extended value that stays a normal double unless it overflows */
	if (__builtin_expect(ex - (FX_BIAS - 1022) <= 2045 && (a.mant >> 63), 1)) {
		uint64_t q = a.mant >> 11, rem = a.mant & 0x7ff;
		if (rem) {
			bool inc;
			switch (e->rc) {
			case FX_RC_NEAR: inc = rem > 0x400 || (rem == 0x400 && (q & 1)); break;
			case FX_RC_DOWN: inc = sign; break;
			case FX_RC_UP: inc = !sign; break;
			default: inc = false; break;
			}
			if (inc && ++q >> 53) {
				q >>= 1;
				if (++ex > FX_BIAS + 1023)
					return fx_to_f64_slow(e, a);	/* overflow */
			}
			e->ex |= FX_PE;
			e->up = inc;
		}
		return sign | (uint64_t)(ex - FX_BIAS + 1023) << 52 | (q & ((1ULL << 52) - 1));
	}
	return fx_to_f64_slow(e, a);
}
/* to a signed integer of `bits`; IE (and indefinite) when out of range */
int64_t fx_to_int(struct fxenv *e, struct fx80 a, int bits, bool truncate);

/* comparison: FX_CMP_* ; quiet = FUCOM (QNaN operands do not signal) */
enum { FX_CMP_GT = 0, FX_CMP_LT = 1, FX_CMP_EQ = 2, FX_CMP_UN = 3 };
int fx_compare(struct fxenv *e, struct fx80 a, struct fx80 b, bool quiet);

/* FRNDINT, FSCALE, FXTRACT, FPREM/FPREM1 */
struct fx80 fx_round_int(struct fxenv *e, struct fx80 a);
struct fx80 fx_scale(struct fxenv *e, struct fx80 a, struct fx80 b);
/* FXTRACT: *exp_out = exponent as a value, returns the significand */
struct fx80 fx_extract(struct fxenv *e, struct fx80 a, struct fx80 *exp_out);
/*
 * FPREM (ieee = false) / FPREM1 (true): *q = low 3 quotient bits (-1 for
 * a NaN result), *partial = reduction incomplete (C2).
 */
struct fx80 fx_prem(struct fxenv *e, struct fx80 a, struct fx80 b, bool ieee,
		    int *q, bool *partial);

/* transcendentals (softfloat80_trans.c): correctly rounded to 64 bits */
struct fx80 fx_f2xm1(struct fxenv *e, struct fx80 x);
struct fx80 fx_yl2x(struct fxenv *e, struct fx80 x, struct fx80 y);	/* y log2 x */
struct fx80 fx_yl2xp1(struct fxenv *e, struct fx80 x, struct fx80 y);	/* y log2(x+1) */
struct fx80 fx_atan2(struct fxenv *e, struct fx80 y, struct fx80 x);
enum { FX_TRIG_SIN, FX_TRIG_COS, FX_TRIG_TAN, FX_TRIG_SINCOS };
/* false: |x| >= 2^63, out of range (C2) */
bool fx_trig(struct fxenv *e, struct fx80 x, int op, struct fx80 *r1, struct fx80 *r2);

/* 128-bit helpers */
/* 128 / 64 -> 64 division; the caller guarantees the quotient fits */
static inline uint64_t fx_div128(uint64_t nh, uint64_t nl, uint64_t d, uint64_t *rem)
{
#if defined(__x86_64__) && !defined(FX_GENERIC)	/* FX_GENERIC: test the portable path */
	uint64_t q, r;
	__asm__("divq %4" : "=a"(q), "=d"(r) : "a"(nl), "d"(nh), "rm"(d));
	*rem = r;
	return q;
#else
	fx_u128 n = ((fx_u128)nh << 64) | nl;
	*rem = (uint64_t)(n % d);
	return (uint64_t)(n / d);
#endif
}

static inline int fx_clz128(uint64_t hi, uint64_t lo)
{
	if (hi)
		return __builtin_clzll(hi);
	if (lo)
		return 64 + __builtin_clzll(lo);
	return 128;
}

#endif
