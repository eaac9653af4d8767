// SPDX-License-Identifier: MIT
/*
 * Integer arithmetic, logic, shifts, bit operations, data movement
 * (SDM Vol. 2).  Every handler performs its memory accesses before it
 * commits registers or flags, so a fault leaves the state untouched.
 * Flags the SDM leaves undefined follow the fixed rules of docs/cpu.md.
 */
#include "cpu.h"
#include "exec.h"
#include "lapic.h"
#include "mem.h"

#define H(name) void name(struct cpu *c, const struct insn *i)
#define SACC(i) ((i)->seg == S_SS ? ACC_SS : 0)

int sz_idx(int bytes)
{
	return bytes == 1 ? 0 : bytes == 2 ? 1 : bytes == 4 ? 2 : 3;
}

static inline uint64_t msb(int bytes)
{
	return 1ULL << (bytes * 8 - 1);
}

/* fast carry flag */
static inline bool get_cf(const struct cpu *c)
{
	uint32_t op = c->cc_op & ~3u;
	uint64_t m = sz_mask(1 << (c->cc_op & 3));
	switch (op) {
	case CC_EAGER: return c->rflags & F_CF;
	case CC_ADD: return (c->cc_res & m) < (c->cc_src1 & m);
	case CC_SUB: return (c->cc_src1 & m) < (c->cc_src2 & m);
	case CC_LOGIC: return false;
	case CC_INC: case CC_DEC: return c->cc_src2 & F_CF;
	default: return cc_flags(c) & F_CF;
	}
}

/* compute an ALU result; flags are committed by the caller after the store */
static inline uint64_t alu_calc(const struct cpu *c, int op, int bytes, uint64_t a,
				uint64_t b, uint32_t *cc)
{
	int s = sz_idx(bytes);
	uint64_t m = sz_mask(bytes);
	bool cf;
	switch (op) {
	case ALU_ADD: *cc = CC_ADD + s; return (a + b) & m;
	case ALU_OR: *cc = CC_LOGIC + s; return (a | b) & m;
	case ALU_ADC:
		cf = get_cf(c);
		*cc = (cf ? CC_ADC : CC_ADD) + s;
		return (a + b + cf) & m;
	case ALU_SBB:
		cf = get_cf(c);
		*cc = (cf ? CC_SBB : CC_SUB) + s;
		return (a - b - cf) & m;
	case ALU_AND: *cc = CC_LOGIC + s; return a & b & m;
	case ALU_XOR: *cc = CC_LOGIC + s; return (a ^ b) & m;
	default: *cc = CC_SUB + s; return (a - b) & m;	/* SUB, CMP */
	}
}

uint64_t alu_op(struct cpu *c, int op, int bytes, uint64_t a, uint64_t b)
{
	uint32_t cc;
	uint64_t r = alu_calc(c, op, bytes, a, b, &cc);
	cc_set(c, cc, r, a, b);
	return r;
}

/*
 * The read of a read-modify-write operand (slow path): the access is made
 * with write intent, so a #PF reports W=1 and a read-only page faults
 * before anything is read (what hardware does; SDM 4.7 "W/R").
 */
static uint64_t rmw_ld(struct cpu *c, uint64_t lin, int sz, int sacc)
{
	mem_probe(c, lin, sz, ACC_W | sacc);
	return lin_ld_acc(c, lin, sz, sacc);
}

/* read-modify-write of the memory operand with fn(old) -> new */
#define RMW_BEGIN(c, i, sz, lin, p, old) \
	uint64_t lin = seg_lin(c, (i)->seg, insn_ea(c, i), sz, ACC_W); \
	uint8_t *p = lin_rmw_ptr(c, lin, sz); \
	uint64_t old = p ? ld_host((uintptr_t)p, sz) : rmw_ld(c, lin, sz, SACC(i))
#define RMW_END(c, i, sz, lin, p, val) \
	do { \
		if (p) \
			st_host((uintptr_t)p, sz, val); \
		else \
			lin_st_acc(c, lin, sz, val, SACC(i)); \
	} while (0)

static void alu_rm(struct cpu *c, const struct insn *i, uint64_t b)
{
	int sz = i->osz, op = i->aux;
	uint32_t cc;
	if (!i->mem) {
		uint64_t a = reg_get(c, i->rm, sz);
		uint64_t r = alu_calc(c, op, sz, a, b & sz_mask(sz), &cc);
		if (op != ALU_CMP)
			reg_set(c, i->rm, sz, r);
		cc_set(c, cc, r, a, b);
		return;
	}
	if (op == ALU_CMP) {
		uint64_t a = op_ld(c, i, sz);
		uint64_t r = alu_calc(c, op, sz, a, b & sz_mask(sz), &cc);
		cc_set(c, cc, r, a, b);
		return;
	}
	RMW_BEGIN(c, i, sz, lin, p, a);
	uint64_t r = alu_calc(c, op, sz, a, b & sz_mask(sz), &cc);
	RMW_END(c, i, sz, lin, p, r);
	cc_set(c, cc, r, a, b);
}

H(h_alu_rm_r)
{
	alu_rm(c, i, reg_get(c, i->reg, i->osz));
}

H(h_alu_rm_i)
{
	alu_rm(c, i, i->imm & sz_mask(i->osz));
}

H(h_alu_r_rm)
{
	int sz = i->osz;
	uint32_t cc;
	uint64_t b = rm_get(c, i, sz);
	uint64_t a = reg_get(c, i->reg, sz);
	uint64_t r = alu_calc(c, i->aux, sz, a, b, &cc);
	if (i->aux != ALU_CMP)
		reg_set(c, i->reg, sz, r);
	cc_set(c, cc, r, a, b);
}

H(h_alu_a_i)
{
	int sz = i->osz;
	uint32_t cc;
	uint64_t a = reg_get(c, R_AX, sz), b = i->imm & sz_mask(sz);
	uint64_t r = alu_calc(c, i->aux, sz, a, b, &cc);
	if (i->aux != ALU_CMP)
		reg_set(c, R_AX, sz, r);
	cc_set(c, cc, r, a, b);
}

/* specialised register forms (hot in compiled code) */
H(h_alu_rm_r_32reg) { h_alu_rm_r(c, i); }
H(h_alu_rm_r_64reg) { h_alu_rm_r(c, i); }
H(h_alu_r_rm_32) { h_alu_r_rm(c, i); }
H(h_alu_r_rm_64) { h_alu_r_rm(c, i); }
H(h_alu_rm_i_32reg) { h_alu_rm_i(c, i); }
H(h_alu_rm_i_64reg) { h_alu_rm_i(c, i); }

static void incdec(struct cpu *c, const struct insn *i, bool dec, bool rm)
{
	int sz = i->osz, s = sz_idx(sz);
	uint64_t cf = get_cf(c) ? F_CF : 0;
	uint64_t m = sz_mask(sz);
	if (!rm || !i->mem) {
		int r = rm ? i->rm : i->reg;
		uint64_t a = reg_get(c, r, sz);
		uint64_t v = (dec ? a - 1 : a + 1) & m;
		reg_set(c, r, sz, v);
		cc_set(c, (dec ? CC_DEC : CC_INC) + s, v, a, cf);
		return;
	}
	RMW_BEGIN(c, i, sz, lin, p, a);
	uint64_t v = (dec ? a - 1 : a + 1) & m;
	RMW_END(c, i, sz, lin, p, v);
	cc_set(c, (dec ? CC_DEC : CC_INC) + s, v, a, cf);
}

H(h_inc_r) { incdec(c, i, false, false); }
H(h_dec_r) { incdec(c, i, true, false); }
H(h_incdec_rm) { incdec(c, i, i->aux == 1 || ((i->modrm >> 3) & 7) == 1, true); }

H(h_test_rm_r)
{
	int sz = i->osz;
	uint64_t r = rm_get(c, i, sz) & reg_get(c, i->reg, sz);
	cc_set(c, CC_LOGIC + sz_idx(sz), r, 0, 0);
}

H(h_test_a_i)
{
	int sz = i->osz;
	uint64_t r = reg_get(c, R_AX, sz) & i->imm & sz_mask(sz);
	cc_set(c, CC_LOGIC + sz_idx(sz), r, 0, 0);
}

/* eager flags: SF/ZF/PF from `r` of `bytes`, plus the given CF/OF/AF */
static void set_flags_szp(struct cpu *c, uint64_t r, int bytes, uint64_t other, uint64_t keep_mask)
{
	uint64_t f = 0;
	r &= sz_mask(bytes);
	if (!r)
		f |= F_ZF;
	if (r & msb(bytes))
		f |= F_SF;
	if (!__builtin_parity((unsigned)(r & 0xff)))
		f |= F_PF;
	cc_flush(c);
	c->rflags = (c->rflags & ~(F_ARITH & ~keep_mask)) | ((f | other) & ~keep_mask) |
		    (c->rflags & keep_mask);
}

/* ---- group 3: TEST, NOT, NEG, MUL, IMUL, DIV, IDIV ------------------------- */

static void mul_flags(struct cpu *c, uint64_t lo, int sz, bool ovf)
{
	set_flags_szp(c, lo, sz, ovf ? (F_CF | F_OF) : 0, 0);
}

H(h_grp3)
{
	int sz = i->osz, op = (i->modrm >> 3) & 7;
	uint64_t m = sz_mask(sz);

	switch (op) {
	case 0: case 1: {	/* TEST r/m, imm */
		uint64_t r = rm_get(c, i, sz) & i->imm & m;
		cc_set(c, CC_LOGIC + sz_idx(sz), r, 0, 0);
		return;
	}
	case 2:			/* NOT */
		if (!i->mem) {
			reg_set(c, i->rm, sz, ~reg_get(c, i->rm, sz));
		} else {
			RMW_BEGIN(c, i, sz, lin, p, a);
			RMW_END(c, i, sz, lin, p, ~a & m);
		}
		return;
	case 3: {		/* NEG = 0 - x */
		uint64_t a, r;
		if (!i->mem) {
			a = reg_get(c, i->rm, sz);
			r = (0 - a) & m;
			reg_set(c, i->rm, sz, r);
		} else {
			RMW_BEGIN(c, i, sz, lin, p, v);
			a = v;
			r = (0 - a) & m;
			RMW_END(c, i, sz, lin, p, r);
		}
		cc_set(c, CC_SUB + sz_idx(sz), r, 0, a);
		return;
	}
	}

	uint64_t src = rm_get(c, i, sz);
	switch (op) {
	case 4:			/* MUL */
		if (sz == 1) {
			uint64_t r = (c->gpr[R_AX] & 0xff) * src;
			reg_set(c, R_AX, 2, r);
			mul_flags(c, r, 1, r >> 8);
		} else if (sz == 8) {
			unsigned __int128 r = (unsigned __int128)c->gpr[R_AX] * src;
			c->gpr[R_AX] = (uint64_t)r;
			c->gpr[R_DX] = (uint64_t)(r >> 64);
			mul_flags(c, (uint64_t)r, 8, c->gpr[R_DX] != 0);
		} else {
			uint64_t r = (c->gpr[R_AX] & m) * src;
			uint64_t hi = r >> (sz * 8);
			reg_set(c, R_AX, sz, r);
			reg_set(c, R_DX, sz, hi);
			mul_flags(c, r, sz, hi != 0);
		}
		return;
	case 5:			/* IMUL */
		if (sz == 8) {
			__int128 r = (__int128)(int64_t)c->gpr[R_AX] * (int64_t)src;
			c->gpr[R_AX] = (uint64_t)r;
			c->gpr[R_DX] = (uint64_t)((unsigned __int128)r >> 64);
			mul_flags(c, (uint64_t)r, 8, r != (__int128)(int64_t)r);
		} else {
			int64_t r = sext(c->gpr[R_AX], sz) * sext(src, sz);
			bool ovf = r != sext((uint64_t)r, sz);
			if (sz == 1) {
				reg_set(c, R_AX, 2, (uint64_t)r);
			} else {
				reg_set(c, R_AX, sz, (uint64_t)r);
				reg_set(c, R_DX, sz, (uint64_t)r >> (sz * 8));
			}
			mul_flags(c, (uint64_t)r, sz, ovf);
		}
		return;
	case 6:			/* DIV */
		if (!src)
			cpu_raise(c, EXC_DE);
		if (sz == 1) {
			uint64_t n = c->gpr[R_AX] & 0xffff;
			uint64_t q = n / src, r = n % src;
			if (q > 0xff)
				cpu_raise(c, EXC_DE);
			reg_set(c, R_AX, 2, (r << 8) | q);
		} else if (sz == 8) {
			unsigned __int128 n = ((unsigned __int128)c->gpr[R_DX] << 64) | c->gpr[R_AX];
			unsigned __int128 q = n / src;
			if (q >> 64)
				cpu_raise(c, EXC_DE);
			c->gpr[R_DX] = (uint64_t)(n % src);
			c->gpr[R_AX] = (uint64_t)q;
		} else {
			uint64_t n = ((c->gpr[R_DX] & m) << (sz * 8)) | (c->gpr[R_AX] & m);
			uint64_t q = n / src, r = n % src;
			if (q > m)
				cpu_raise(c, EXC_DE);
			reg_set(c, R_AX, sz, q);
			reg_set(c, R_DX, sz, r);
		}
		return;
	default: {		/* IDIV */
		int64_t d = sext(src, sz);
		if (!d)
			cpu_raise(c, EXC_DE);
		if (sz == 8) {
			__int128 n = (__int128)(((unsigned __int128)c->gpr[R_DX] << 64) | c->gpr[R_AX]);
			if (n == (__int128)((unsigned __int128)1 << 127) && d == -1)
				cpu_raise(c, EXC_DE);
			__int128 q = n / d;
			if (q != (int64_t)q)
				cpu_raise(c, EXC_DE);
			c->gpr[R_DX] = (uint64_t)(int64_t)(n % d);
			c->gpr[R_AX] = (uint64_t)(int64_t)q;
		} else {
			int64_t n;
			if (sz == 1)
				n = (int16_t)c->gpr[R_AX];
			else
				n = (int64_t)(((uint64_t)sext(c->gpr[R_DX], sz) << (sz * 8)) | (c->gpr[R_AX] & m));
			/* INT64_MIN / -1 would trap in the emulator itself: its quotient overflows anyway */
			if (d == -1 && n == INT64_MIN)
				cpu_raise(c, EXC_DE);
			int64_t q = n / d, r = n % d;
			if (q != sext((uint64_t)q, sz))
				cpu_raise(c, EXC_DE);
			if (sz == 1) {
				reg_set(c, R_AX, 2, ((uint64_t)(r & 0xff) << 8) | (q & 0xff));
			} else {
				reg_set(c, R_AX, sz, (uint64_t)q);
				reg_set(c, R_DX, sz, (uint64_t)r);
			}
		}
		return;
	}
	}
}

static void imul2(struct cpu *c, const struct insn *i, uint64_t a, uint64_t b)
{
	int sz = i->osz;
	uint64_t lo;
	bool ovf;
	if (sz == 8) {
		__int128 r = (__int128)(int64_t)a * (int64_t)b;
		lo = (uint64_t)r;
		ovf = r != (__int128)(int64_t)r;
	} else {
		int64_t r = sext(a, sz) * sext(b, sz);
		lo = (uint64_t)r;
		ovf = r != sext(lo, sz);
	}
	reg_set(c, i->reg, sz, lo);
	mul_flags(c, lo, sz, ovf);
}

H(h_imul_r_rm)
{
	uint64_t b = rm_get(c, i, i->osz);
	imul2(c, i, reg_get(c, i->reg, i->osz), b);
}

H(h_imul_rmi)
{
	imul2(c, i, rm_get(c, i, i->osz), i->imm);
}

/* ---- shifts and rotates (group 2) ---------------------------------------- */

H(h_shift)
{
	int sz = i->osz, op = (i->modrm >> 3) & 7;
	int bits = sz * 8;
	uint64_t m = sz_mask(sz);
	unsigned cnt = i->aux == 0 ? (unsigned)i->imm : i->aux == 1 ? 1 : (unsigned)(c->gpr[R_CX] & 0xff);
	cnt &= sz == 8 ? 0x3f : 0x1f;

	uint64_t lin = 0;
	uint8_t *p = NULL;
	uint64_t a;
	if (i->mem) {
		lin = seg_lin(c, i->seg, insn_ea(c, i), sz, ACC_W);
		/* an RMW access even for a zero count (faults report W=1) */
		p = cnt ? lin_rmw_ptr(c, lin, sz) : NULL;
		a = p ? ld_host((uintptr_t)p, sz) : rmw_ld(c, lin, sz, SACC(i));
	} else {
		a = reg_get(c, i->rm, sz);
	}
	if (!cnt) {
		/* flags untouched, but a 32-bit register is still written (zero-extended) */
		if (!i->mem && sz == 4)
			reg_set(c, i->rm, 4, a);
		return;
	}

	uint64_t r = a, fl;
	cc_flush(c);
	fl = c->rflags;
	bool cf = fl & F_CF;
	switch (op) {
	case 0: {		/* ROL */
		unsigned k = cnt % bits;
		r = k ? ((a << k) | (a >> (bits - k))) & m : a;
		cf = r & 1;
		bool of = !!(r & msb(sz)) ^ cf;
		fl = (fl & ~(uint64_t)(F_CF | F_OF)) | (cf ? F_CF : 0) | (of ? F_OF : 0);
		break;
	}
	case 1: {		/* ROR */
		unsigned k = cnt % bits;
		r = k ? ((a >> k) | (a << (bits - k))) & m : a;
		cf = !!(r & msb(sz));
		bool of = cf ^ !!(r & (msb(sz) >> 1));
		fl = (fl & ~(uint64_t)(F_CF | F_OF)) | (cf ? F_CF : 0) | (of ? F_OF : 0);
		break;
	}
	case 2: {		/* RCL */
		unsigned k = cnt % (bits + 1);
		for (unsigned n = 0; n < k; n++) {
			bool out = r & msb(sz);
			r = ((r << 1) | cf) & m;
			cf = out;
		}
		bool of = !!(r & msb(sz)) ^ cf;
		fl = (fl & ~(uint64_t)(F_CF | F_OF)) | (cf ? F_CF : 0) | (of ? F_OF : 0);
		break;
	}
	case 3: {		/* RCR */
		unsigned k = cnt % (bits + 1);
		bool of = !!(a & msb(sz)) ^ cf;
		for (unsigned n = 0; n < k; n++) {
			bool out = r & 1;
			r = (r >> 1) | (cf ? msb(sz) : 0);
			cf = out;
		}
		fl = (fl & ~(uint64_t)(F_CF | F_OF)) | (cf ? F_CF : 0) | (of ? F_OF : 0);
		break;
	}
	case 4: case 6: {	/* SHL / SAL */
		r = cnt < 64 ? (a << cnt) & m : 0;
		cf = cnt <= (unsigned)bits ? (a >> (bits - cnt)) & 1 : 0;
		bool of = !!(r & msb(sz)) ^ cf;
		c->rflags = fl;
		set_flags_szp(c, r, sz, (cf ? F_CF : 0) | (of ? F_OF : 0), 0);
		fl = c->rflags;
		break;
	}
	case 5: {		/* SHR */
		r = cnt < 64 ? a >> cnt : 0;
		cf = (a >> (cnt - 1)) & 1;
		bool of = !!(a & msb(sz));
		c->rflags = fl;
		set_flags_szp(c, r, sz, (cf ? F_CF : 0) | (of ? F_OF : 0), 0);
		fl = c->rflags;
		break;
	}
	default: {		/* SAR */
		int64_t sa = sext(a, sz);
		r = (uint64_t)(sa >> (cnt > 63 ? 63 : cnt)) & m;
		cf = (uint64_t)(sa >> (cnt - 1)) & 1;
		c->rflags = fl;
		set_flags_szp(c, r, sz, cf ? F_CF : 0, 0);
		fl = c->rflags;
		break;
	}
	}
	if (i->mem) {
		if (p)
			st_host((uintptr_t)p, sz, r);
		else
			lin_st_acc(c, lin, sz, r, SACC(i));
	} else {
		reg_set(c, i->rm, sz, r);
	}
	c->rflags = fl;
	c->cc_op = CC_EAGER;
}

/* SHLD / SHRD: aux 0 = imm8 count, 1 = CL */
static void shxd(struct cpu *c, const struct insn *i, bool left)
{
	int sz = i->osz, bits = sz * 8;
	uint64_t m = sz_mask(sz);
	unsigned cnt = (i->aux == 0 ? (unsigned)i->imm : (unsigned)c->gpr[R_CX]) & (sz == 8 ? 63 : 31);
	uint64_t src = reg_get(c, i->reg, sz);
	uint64_t lin = 0;
	uint8_t *p = NULL;
	uint64_t a;
	if (i->mem) {
		lin = seg_lin(c, i->seg, insn_ea(c, i), sz, ACC_W);
		/* an RMW access even for a zero count (faults report W=1) */
		p = cnt ? lin_rmw_ptr(c, lin, sz) : NULL;
		a = p ? ld_host((uintptr_t)p, sz) : rmw_ld(c, lin, sz, SACC(i));
	} else {
		a = reg_get(c, i->rm, sz);
	}
	if (!cnt) {
		if (!i->mem && sz == 4)
			reg_set(c, i->rm, 4, a);	/* zero-extends even for count 0 */
		return;
	}
	uint64_t r;
	bool cf;
	if (bits == 16) {
		/*
		 * Counts 17..31 are undefined (SDM SHLD/SHRD); nestvm shifts the
		 * 48-bit dst:src:dst as Intel processors do (docs/cpu.md).  For
		 * counts up to 16 this is exactly the architected result.
		 */
		uint64_t v = (a << 32) | (src << 16) | a;
		if (left) {
			r = (v >> (32 - cnt)) & m;
			cf = (v >> (48 - cnt)) & 1;
		} else {
			r = (v >> cnt) & m;
			cf = (v >> (cnt - 1)) & 1;
		}
	} else if (left) {
		unsigned __int128 v = ((unsigned __int128)a << bits) | src;
		r = (uint64_t)(v >> (bits - cnt)) & m;
		cf = (a >> (bits - cnt)) & 1;
	} else {
		unsigned __int128 v = ((unsigned __int128)src << bits) | a;
		r = (uint64_t)(v >> cnt) & m;
		cf = (uint64_t)(v >> (cnt - 1)) & 1;
	}
	bool of = !!((r ^ a) & msb(sz));
	if (i->mem) {
		if (p)
			st_host((uintptr_t)p, sz, r);
		else
			lin_st_acc(c, lin, sz, r, SACC(i));
	} else {
		reg_set(c, i->rm, sz, r);
	}
	set_flags_szp(c, r, sz, (cf ? F_CF : 0) | (of ? F_OF : 0), 0);
}

H(h_shld) { shxd(c, i, true); }
H(h_shrd) { shxd(c, i, false); }

/* ---- bit operations -------------------------------------------------------- */

/* op: 0 BT, 1 BTS, 2 BTR, 3 BTC */
static void bitop(struct cpu *c, const struct insn *i, int op, int64_t off, bool reg_off)
{
	int sz = i->osz, bits = sz * 8;
	uint64_t bit, v, r;
	if (!i->mem) {
		bit = (uint64_t)off & (bits - 1);
		v = reg_get(c, i->rm, sz);
		r = op == 1 ? v | (1ULL << bit) : op == 2 ? v & ~(1ULL << bit) :
		    op == 3 ? v ^ (1ULL << bit) : v;
		if (op)
			reg_set(c, i->rm, sz, r);
	} else {
		uint64_t ea = insn_ea(c, i);
		if (reg_off) {
			/* the bit string extends beyond the operand (SDM BT) */
			int64_t q = off >> (sz == 2 ? 4 : sz == 4 ? 5 : 6);
			ea = ea_mask(ea + (uint64_t)(q * sz), i->asz);
			bit = (uint64_t)off & (bits - 1);
		} else {
			bit = (uint64_t)off & (bits - 1);
		}
		uint64_t lin = seg_lin(c, i->seg, ea, sz, op ? ACC_W : ACC_R);
		v = op ? rmw_ld(c, lin, sz, SACC(i)) : lin_ld_acc(c, lin, sz, SACC(i));
		r = op == 1 ? v | (1ULL << bit) : op == 2 ? v & ~(1ULL << bit) :
		    op == 3 ? v ^ (1ULL << bit) : v;
		if (op)
			lin_st_acc(c, lin, sz, r, SACC(i));
	}
	cc_flush(c);
	c->rflags = (c->rflags & ~(uint64_t)F_CF) | ((v >> bit) & 1);
}

H(h_bt)
{
	int64_t off = sext(reg_get(c, i->reg, i->osz), i->osz);
	bitop(c, i, i->aux, off, true);
}

H(h_bt_i)
{
	bitop(c, i, i->aux ? i->aux : ((i->modrm >> 3) & 7) - 4, (int64_t)(i->imm & 0xff), false);
}

H(h_bsf)
{
	int sz = i->osz;
	uint64_t v = rm_get(c, i, sz);
	cc_flush(c);
	if (!v) {
		c->rflags |= F_ZF;
		return;
	}
	c->rflags &= ~(uint64_t)F_ZF;
	reg_set(c, i->reg, sz, (uint64_t)__builtin_ctzll(v));
}

H(h_bsr)
{
	int sz = i->osz;
	uint64_t v = rm_get(c, i, sz);
	cc_flush(c);
	if (!v) {
		c->rflags |= F_ZF;
		return;
	}
	c->rflags &= ~(uint64_t)F_ZF;
	reg_set(c, i->reg, sz, (uint64_t)(63 - __builtin_clzll(v)));
}

H(h_tzcnt)
{
	int sz = i->osz;
	uint64_t v = rm_get(c, i, sz);
	uint64_t r = v ? (uint64_t)__builtin_ctzll(v) : (uint64_t)sz * 8;
	reg_set(c, i->reg, sz, r);
	cc_flush(c);
	c->rflags = (c->rflags & ~(uint64_t)(F_CF | F_ZF)) | (v ? 0 : F_CF) | (r ? 0 : F_ZF);
}

H(h_lzcnt)
{
	int sz = i->osz;
	uint64_t v = rm_get(c, i, sz);
	uint64_t r = v ? (uint64_t)(__builtin_clzll(v) - (64 - sz * 8)) : (uint64_t)sz * 8;
	reg_set(c, i->reg, sz, r);
	cc_flush(c);
	c->rflags = (c->rflags & ~(uint64_t)(F_CF | F_ZF)) | (v ? 0 : F_CF) | (r ? 0 : F_ZF);
}

H(h_popcnt)
{
	if (!HAS(c, FEAT_POPCNT))
		cpu_ud(c);
	int sz = i->osz;
	uint64_t v = rm_get(c, i, sz);
	reg_set(c, i->reg, sz, (uint64_t)__builtin_popcountll(v));
	cc_flush(c);
	c->rflags = (c->rflags & ~(uint64_t)F_ARITH) | (v ? 0 : F_ZF);
}

H(h_bswap)
{
	int r = i->reg;
	if (i->osz == 8)
		c->gpr[r] = __builtin_bswap64(c->gpr[r]);
	else if (i->osz == 4)
		c->gpr[r] = __builtin_bswap32((uint32_t)c->gpr[r]);
	else
		c->gpr[r] &= ~0xffffULL;	/* 16-bit BSWAP: undefined, clears (docs/cpu.md) */
}

H(h_cbw)
{
	switch (i->osz) {
	case 2: reg_set(c, R_AX, 2, (uint64_t)(int8_t)c->gpr[R_AX]); break;
	case 4: reg_set(c, R_AX, 4, (uint64_t)(int16_t)c->gpr[R_AX]); break;
	default: c->gpr[R_AX] = (uint64_t)(int32_t)c->gpr[R_AX]; break;
	}
}

H(h_cwd)
{
	int sz = i->osz;
	reg_set(c, R_DX, sz, (c->gpr[R_AX] & msb(sz)) ? ~0ULL : 0);
}

/* ---- BCD (SDM pseudo-code; undefined flags from the result) ------------- */

static void bcd_flags(struct cpu *c, uint8_t al, bool cf, bool af)
{
	set_flags_szp(c, al, 1, (cf ? F_CF : 0) | (af ? F_AF : 0), 0);
}

H(h_daa)
{
	uint8_t al = (uint8_t)c->gpr[R_AX], old = al;
	uint64_t f = cpu_get_rflags(c);
	bool cf = false, af = false, ocf = f & F_CF;
	if ((al & 0xf) > 9 || (f & F_AF)) {
		al += 6;
		cf = ocf || old > 0xf9;
		af = true;
	}
	if (old > 0x99 || ocf) {
		al += 0x60;
		cf = true;
	}
	reg_set(c, R_AX, 1, al);
	bcd_flags(c, al, cf, af);
}

H(h_das)
{
	uint8_t al = (uint8_t)c->gpr[R_AX], old = al;
	uint64_t f = cpu_get_rflags(c);
	bool cf = false, af = false, ocf = f & F_CF;
	if ((al & 0xf) > 9 || (f & F_AF)) {
		cf = ocf || al < 6;
		al -= 6;
		af = true;
	}
	if (old > 0x99 || ocf) {
		al -= 0x60;
		cf = true;
	}
	reg_set(c, R_AX, 1, al);
	bcd_flags(c, al, cf, af);
}

static void aaa_aas(struct cpu *c, bool sub)
{
	uint64_t f = cpu_get_rflags(c);
	uint16_t ax = (uint16_t)c->gpr[R_AX];
	bool adj = (ax & 0xf) > 9 || (f & F_AF);
	if (adj) {
		if (sub) {
			ax = (uint16_t)(ax - 6);
			ax = (uint16_t)((ax & 0xff) | ((((ax >> 8) - 1) & 0xff) << 8));
		} else {
			ax = (uint16_t)(ax + 0x106);
		}
	}
	ax &= 0xff0f;
	reg_set(c, R_AX, 2, ax);
	bcd_flags(c, (uint8_t)ax, adj, adj);
}

H(h_aaa) { aaa_aas(c, false); }
H(h_aas) { aaa_aas(c, true); }

H(h_aam)
{
	uint8_t base = (uint8_t)i->imm, al = (uint8_t)c->gpr[R_AX];
	if (!base)
		cpu_raise(c, EXC_DE);
	uint8_t r = al % base;
	reg_set(c, R_AX, 2, ((uint64_t)(al / base) << 8) | r);
	set_flags_szp(c, r, 1, 0, 0);
}

H(h_aad)
{
	uint8_t base = (uint8_t)i->imm;
	uint8_t al = (uint8_t)c->gpr[R_AX], ah = (uint8_t)(c->gpr[R_AX] >> 8);
	uint8_t r = (uint8_t)(al + ah * base);
	reg_set(c, R_AX, 2, r);
	set_flags_szp(c, r, 1, 0, 0);
}

H(h_salc)
{
	reg_set(c, R_AX, 1, get_cf(c) ? 0xff : 0);
}

/* ---- exchange and compare-exchange ----------------------------------------- */

H(h_xadd)
{
	int sz = i->osz;
	uint32_t cc;
	uint64_t b = reg_get(c, i->reg, sz);
	if (!i->mem) {
		uint64_t a = reg_get(c, i->rm, sz);
		uint64_t r = alu_calc(c, ALU_ADD, sz, a, b, &cc);
		reg_set(c, i->reg, sz, a);
		reg_set(c, i->rm, sz, r);
		cc_set(c, cc, r, a, b);
		return;
	}
	RMW_BEGIN(c, i, sz, lin, p, a);
	uint64_t r = alu_calc(c, ALU_ADD, sz, a, b, &cc);
	RMW_END(c, i, sz, lin, p, r);
	reg_set(c, i->reg, sz, a);
	cc_set(c, cc, r, a, b);
}

H(h_cmpxchg)
{
	int sz = i->osz;
	uint64_t acc = reg_get(c, R_AX, sz), src = reg_get(c, i->reg, sz);
	uint64_t d;
	if (!i->mem) {
		d = reg_get(c, i->rm, sz);
		if (d == acc)
			reg_set(c, i->rm, sz, src);
		else
			reg_set(c, R_AX, sz, d);
	} else {
		/* the destination is always written (SDM CMPXCHG) */
		RMW_BEGIN(c, i, sz, lin, p, old);
		d = old;
		RMW_END(c, i, sz, lin, p, d == acc ? src : d);
		if (d != acc)
			reg_set(c, R_AX, sz, d);
	}
	cc_set(c, CC_SUB + sz_idx(sz), (acc - d) & sz_mask(sz), acc, d);
}

H(h_cmpxchg8b)
{
	bool q = i->osz == 8;
	int n = q ? 16 : 8;
	if (!i->mem)
		cpu_ud(c);
	if (q && !HAS(c, FEAT_CX16))
		cpu_ud(c);
	uint64_t ea = insn_ea(c, i);
	uint64_t lin = seg_lin(c, i->seg, ea, n, ACC_W);
	if (q && (lin & 15))
		cpu_gp0(c);
	uint64_t lo, hi;
	mem_probe(c, lin, n, ACC_W | SACC(i));	/* locked RMW: write intent */
	if (q) {
		lo = lin_ld_acc(c, lin, 8, SACC(i));
		hi = lin_ld_acc(c, lin + 8, 8, SACC(i));
	} else {
		uint64_t v = lin_ld_acc(c, lin, 8, SACC(i));
		lo = v & 0xffffffff;
		hi = v >> 32;
	}
	uint64_t m = q ? ~0ULL : 0xffffffffULL;
	bool eq = lo == (c->gpr[R_AX] & m) && hi == (c->gpr[R_DX] & m);
	if (eq) {
		if (q) {
			lin_st_acc(c, lin, 8, c->gpr[R_BX], SACC(i));
			lin_st_acc(c, lin + 8, 8, c->gpr[R_CX], SACC(i));
		} else {
			lin_st_acc(c, lin, 8, (c->gpr[R_BX] & m) | (c->gpr[R_CX] << 32), SACC(i));
		}
	} else {
		if (q) {
			lin_st_acc(c, lin, 8, lo, SACC(i));
			lin_st_acc(c, lin + 8, 8, hi, SACC(i));
			c->gpr[R_AX] = lo;
			c->gpr[R_DX] = hi;
		} else {
			lin_st_acc(c, lin, 8, lo | (hi << 32), SACC(i));
			c->gpr[R_AX] = lo;
			c->gpr[R_DX] = hi;
		}
	}
	cc_flush(c);
	c->rflags = (c->rflags & ~(uint64_t)F_ZF) | (eq ? F_ZF : 0);
}

H(h_xchg_rm_r)
{
	int sz = i->osz;
	uint64_t b = reg_get(c, i->reg, sz);
	if (!i->mem) {
		uint64_t a = reg_get(c, i->rm, sz);
		reg_set(c, i->rm, sz, b);
		reg_set(c, i->reg, sz, a);
		return;
	}
	RMW_BEGIN(c, i, sz, lin, p, a);
	RMW_END(c, i, sz, lin, p, b);
	reg_set(c, i->reg, sz, a);
}

H(h_xchg_a_r)
{
	int sz = i->osz;
	uint64_t a = reg_get(c, R_AX, sz), b = reg_get(c, i->reg, sz);
	reg_set(c, R_AX, sz, b);
	reg_set(c, i->reg, sz, a);
}

/* ---- moves ------------------------------------------------------------------ */

H(h_mov_rm_r)
{
	rm_set(c, i, i->osz, reg_get(c, i->reg, i->osz));
}

H(h_mov_r_rm)
{
	reg_set(c, i->reg, i->osz, rm_get(c, i, i->osz));
}

H(h_mov_r_rm_32) { h_mov_r_rm(c, i); }
H(h_mov_r_rm_64) { h_mov_r_rm(c, i); }
H(h_mov_rm_r_32) { h_mov_rm_r(c, i); }
H(h_mov_rm_r_64) { h_mov_rm_r(c, i); }

H(h_mov_r_i)
{
	reg_set(c, i->reg, i->osz, i->imm);
}

H(h_mov_rm_i)
{
	rm_set(c, i, i->osz, i->imm);
}

H(h_mov_a_moffs)
{
	reg_set(c, R_AX, i->osz, cpu_ld(c, i->seg, ea_mask(i->imm, i->asz), i->osz));
}

H(h_mov_moffs_a)
{
	cpu_st(c, i->seg, ea_mask(i->imm, i->asz), i->osz, reg_get(c, R_AX, i->osz));
}

H(h_movzx)
{
	int ssz = i->aux;	/* 1 or 2 */
	uint64_t v = i->mem ? op_ld(c, i, ssz) : reg_get(c, i->rm, ssz);
	reg_set(c, i->reg, i->osz, v);
}

H(h_movsx)
{
	int ssz = i->aux;
	uint64_t v = i->mem ? op_ld(c, i, ssz) : reg_get(c, i->rm, ssz);
	reg_set(c, i->reg, i->osz, (uint64_t)sext(v, ssz));
}

H(h_movsxd)
{
	int ssz = i->osz == 2 ? 2 : 4;
	uint64_t v = rm_get(c, i, ssz);
	reg_set(c, i->reg, i->osz, i->osz == 8 ? (uint64_t)(int32_t)v : v);
}

H(h_lea)
{
	uint64_t ea = c->gpr[i->base] + (c->gpr[i->index] << i->scale) + i->disp;
	reg_set(c, i->reg, i->osz, ea_mask(ea, i->asz));
}

H(h_cmov)
{
	uint64_t v = rm_get(c, i, i->osz);	/* read (and fault) regardless */
	if (cc_cond(c, i->aux))
		reg_set(c, i->reg, i->osz, v);
	else if (i->osz == 4)
		c->gpr[i->reg] &= 0xffffffff;	/* 32-bit CMOV zero-extends anyway */
}

H(h_setcc)
{
	rm_set(c, i, 1, cc_cond(c, i->aux) ? 1 : 0);
}

H(h_lahf)
{
	if (cpu_long64(c) && !HAS(c, FEAT_LAHF64))
		cpu_ud(c);
	reg_set(c, R_AX | 0x20, 1, cpu_get_rflags(c) & 0xff);
}

H(h_sahf)
{
	if (cpu_long64(c) && !HAS(c, FEAT_LAHF64))
		cpu_ud(c);
	uint64_t ah = (c->gpr[R_AX] >> 8) & 0xff;
	uint64_t mask = F_SF | F_ZF | F_AF | F_PF | F_CF;
	cc_flush(c);
	c->rflags = (c->rflags & ~mask) | (ah & mask);
}

H(h_clc) { cc_flush(c); c->rflags &= ~(uint64_t)F_CF; }
H(h_stc) { cc_flush(c); c->rflags |= F_CF; }
H(h_cmc) { cc_flush(c); c->rflags ^= F_CF; }
H(h_cld) { c->rflags &= ~(uint64_t)F_DF; }
H(h_std) { c->rflags |= F_DF; }

H(h_xlat)
{
	uint64_t ea = ea_mask(c->gpr[R_BX] + (c->gpr[R_AX] & 0xff), i->asz);
	reg_set(c, R_AX, 1, cpu_ld(c, i->seg, ea, 1));
}

H(h_nop) { (void)c; (void)i; }
H(h_pause) { (void)i; cpu_pause(c); }
H(h_fence) { (void)c; (void)i; }

H(h_nop_rm)
{
	/* hint NOPs and prefetches: no memory access, no fault */
	(void)c;
	(void)i;
}

/* ---- MOVBE, CRC32, ADX ------------------------------------------------------- */

static uint64_t bswap_sz(uint64_t v, int sz)
{
	switch (sz) {
	case 2: return __builtin_bswap16((uint16_t)v);
	case 4: return __builtin_bswap32((uint32_t)v);
	default: return __builtin_bswap64(v);
	}
}

H(h_movbe)
{
	if (!HAS(c, FEAT_MOVBE))
		cpu_ud(c);
	int sz = i->osz;
	if ((i->op & 0xff) == 0xf0)
		reg_set(c, i->reg, sz, bswap_sz(op_ld(c, i, sz), sz));
	else
		op_st(c, i, sz, bswap_sz(reg_get(c, i->reg, sz), sz));
}

static uint32_t crc32c_byte(uint32_t crc, uint8_t b)
{
	crc ^= b;
	for (int k = 0; k < 8; k++)
		crc = (crc >> 1) ^ (0x82f63b78U & (0U - (crc & 1)));
	return crc;
}

H(h_crc32)
{
	if (!HAS(c, FEAT_SSE42))
		cpu_ud(c);
	int ssz = (i->op & 0xff) == 0xf0 ? 1 : (i->rex & 8) ? 8 : (i->pfx & PFX_OPSZ) ? 2 : 4;
	uint64_t v = i->mem ? op_ld(c, i, ssz) : reg_get(c, i->rm, ssz);
	uint32_t crc = (uint32_t)c->gpr[i->reg];
	for (int k = 0; k < ssz; k++)
		crc = crc32c_byte(crc, (uint8_t)(v >> (8 * k)));
	c->gpr[i->reg] = crc;	/* 32- and 64-bit forms both zero-extend */
}

H(h_adx)
{
	if (!HAS(c, FEAT_ADX))
		cpu_ud(c);
	int sz = (i->rex & 8) ? 8 : 4;
	uint64_t b = rm_get(c, i, sz), a = reg_get(c, i->reg, sz);
	cc_flush(c);
	uint64_t flag = i->mp == 1 ? F_CF : F_OF;
	bool cin = c->rflags & flag;
	unsigned __int128 r = (unsigned __int128)a + b + cin;
	bool cout = sz == 8 ? (bool)(r >> 64) : (bool)((uint64_t)r >> 32);
	reg_set(c, i->reg, sz, (uint64_t)r);
	c->rflags = (c->rflags & ~flag) | (cout ? flag : 0);
}

/* ---- BMI1 / BMI2 (VEX) -------------------------------------------------------- */

static void bmi_flags(struct cpu *c, uint64_t r, int sz, bool cf)
{
	cc_flush(c);
	uint64_t f = c->rflags & ~(uint64_t)(F_CF | F_OF | F_ZF | F_SF);
	if (!(r & sz_mask(sz)))
		f |= F_ZF;
	if (r & msb(sz))
		f |= F_SF;
	if (cf)
		f |= F_CF;
	c->rflags = f;
}

H(h_andn)
{
	if (!HAS(c, FEAT_BMI1))
		cpu_ud(c);
	int sz = i->osz;
	uint64_t r = ~reg_get(c, i->vex_v, sz) & rm_get(c, i, sz) & sz_mask(sz);
	reg_set(c, i->reg, sz, r);
	bmi_flags(c, r, sz, false);
}

H(h_bextr)
{
	if (!HAS(c, FEAT_BMI1))
		cpu_ud(c);
	int sz = i->osz, bits = sz * 8;
	uint64_t src = rm_get(c, i, sz), ctl = reg_get(c, i->vex_v, sz);
	unsigned start = ctl & 0xff, len = (ctl >> 8) & 0xff;
	uint64_t r = start < (unsigned)bits ? src >> start : 0;
	if (len < 64)
		r &= (1ULL << len) - 1;
	reg_set(c, i->reg, sz, r);
	bmi_flags(c, r, sz, false);
	c->rflags &= ~(uint64_t)F_SF;
}

H(h_bmi_grp17)
{
	if (!HAS(c, FEAT_BMI1))
		cpu_ud(c);
	int sz = i->osz, op = (i->modrm >> 3) & 7;
	uint64_t s = rm_get(c, i, sz), m = sz_mask(sz), r;
	bool cf;
	switch (op) {
	case 1: r = (s - 1) & s & m; cf = !s; break;		/* BLSR */
	case 2: r = ((s - 1) ^ s) & m; cf = !s; break;		/* BLSMSK */
	case 3: r = (0 - s) & s & m; cf = s != 0; break;	/* BLSI */
	default: cpu_ud(c);
	}
	reg_set(c, i->vex_v, sz, r);
	bmi_flags(c, r, sz, cf);
}

H(h_bzhi)
{
	if (!HAS(c, FEAT_BMI2))
		cpu_ud(c);
	int sz = i->osz, bits = sz * 8;
	uint64_t s = rm_get(c, i, sz);
	unsigned n = reg_get(c, i->vex_v, sz) & 0xff;
	uint64_t r = n < (unsigned)bits ? s & ((1ULL << n) - 1) : s;
	reg_set(c, i->reg, sz, r);
	bmi_flags(c, r, sz, n > (unsigned)bits - 1);
}

H(h_pdep)
{
	if (!HAS(c, FEAT_BMI2))
		cpu_ud(c);
	int sz = i->osz;
	uint64_t src = reg_get(c, i->vex_v, sz), mask = rm_get(c, i, sz), r = 0;
	for (uint64_t bb = 1; mask; bb <<= 1) {
		uint64_t low = mask & (0 - mask);
		if (src & bb)
			r |= low;
		mask &= mask - 1;
	}
	reg_set(c, i->reg, sz, r);
}

H(h_pext)
{
	if (!HAS(c, FEAT_BMI2))
		cpu_ud(c);
	int sz = i->osz;
	uint64_t src = reg_get(c, i->vex_v, sz), mask = rm_get(c, i, sz), r = 0;
	for (uint64_t bb = 1; mask; bb <<= 1) {
		uint64_t low = mask & (0 - mask);
		if (src & low)
			r |= bb;
		mask &= mask - 1;
	}
	reg_set(c, i->reg, sz, r);
}

H(h_mulx)
{
	if (!HAS(c, FEAT_BMI2))
		cpu_ud(c);
	int sz = i->osz;
	uint64_t s = rm_get(c, i, sz);
	uint64_t lo, hi;
	if (sz == 8) {
		unsigned __int128 r = (unsigned __int128)c->gpr[R_DX] * s;
		lo = (uint64_t)r;
		hi = (uint64_t)(r >> 64);
	} else {
		uint64_t r = (c->gpr[R_DX] & 0xffffffff) * s;
		lo = r & 0xffffffff;
		hi = r >> 32;
	}
	reg_set(c, i->vex_v, sz, lo);
	reg_set(c, i->reg, sz, hi);	/* if both name one register, it gets the high half */
}

H(h_rorx)
{
	if (!HAS(c, FEAT_BMI2))
		cpu_ud(c);
	int sz = i->osz, bits = sz * 8;
	uint64_t s = rm_get(c, i, sz);
	unsigned k = (unsigned)i->imm & (bits - 1);
	uint64_t r = k ? ((s >> k) | (s << (bits - k))) & sz_mask(sz) : s;
	reg_set(c, i->reg, sz, r);
}

H(h_shiftx)
{
	if (!HAS(c, FEAT_BMI2))
		cpu_ud(c);
	int sz = i->osz;
	uint64_t s = rm_get(c, i, sz);
	unsigned k = reg_get(c, i->vex_v, sz) & (sz == 8 ? 63 : 31);
	uint64_t r;
	switch (i->mp) {
	case 1: r = s << k; break;			/* SHLX */
	case 2: r = (uint64_t)(sext(s, sz) >> k); break;	/* SARX */
	default: r = s >> k; break;			/* SHRX */
	}
	reg_set(c, i->reg, sz, r & sz_mask(sz));
}
