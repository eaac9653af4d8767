// SPDX-License-Identifier: MIT
/*
 * Specialised handlers for the instructions compiled code runs most, chosen
 * at decode time when the operands make the general handler's work (size
 * switches, segmentation in 64-bit mode, target checks) decidable in
 * advance.  Each has exactly the semantics of its general counterpart in
 * exec_alu.c / exec_ctl.c; the differential tests run through them.
 */
#include "cpu.h"
#include "exec.h"
#include "mem.h"

#define H(name) static void name(struct cpu *c, const struct insn *i)

/* ---- 64-bit mode flat memory (ES/CS/SS/DS bases are 0) ------------------ */

static inline uint64_t ea64(const struct cpu *c, const struct insn *i)
{
	return c->gpr[i->base] + (c->gpr[i->index] << i->scale) + i->disp;
}

static inline uint64_t ld64f(struct cpu *c, const struct insn *i, uint64_t lin, int size)
{
	return lin_ld_acc(c, lin, size, i->seg == S_SS ? ACC_SS : 0);
}

static inline void st64f(struct cpu *c, const struct insn *i, uint64_t lin, int size, uint64_t v)
{
	lin_st_acc(c, lin, size, v, i->seg == S_SS ? ACC_SS : 0);
}

/* stack: SS-relative, #SS for a non-canonical address */
static inline uint64_t ld64s(struct cpu *c, uint64_t lin)
{
	return lin_ld_acc(c, lin, 8, ACC_SS);
}

static inline void st64s(struct cpu *c, uint64_t lin, uint64_t v)
{
	lin_st_acc(c, lin, 8, v, ACC_SS);
}

/* CF without computing every flag */
static inline uint64_t cf_now(const struct cpu *c)
{
	uint32_t op = c->cc_op & ~3u;
	int sz = c->cc_op & 3;
	uint64_t m = sz == 3 ? ~0ULL : (1ULL << (8 << sz)) - 1;
	switch (op) {
	case CC_EAGER: return c->rflags & F_CF;
	case CC_ADD: return (c->cc_res & m) < (c->cc_src1 & m) ? F_CF : 0;
	case CC_SUB: return (c->cc_src1 & m) < (c->cc_src2 & m) ? F_CF : 0;
	case CC_LOGIC: return 0;
	case CC_INC: case CC_DEC: return c->cc_src2 & F_CF;
	default: return cc_flags(c) & F_CF;
	}
}

/* ---- ALU, register forms -------------------------------------------------- */

#define ALU_RR(name, sz, s, expr, ccop, write) \
	H(name) \
	{ \
		uint64_t a = c->gpr[i->rm], b = c->gpr[i->reg]; \
		uint64_t r = (expr); \
		if (write) \
			c->gpr[i->rm] = r; \
		cc_set(c, ccop + s, r, a, b); \
	}

#define M32 0xffffffffULL
ALU_RR(add64_rr, 8, 3, a + b, CC_ADD, 1)
ALU_RR(sub64_rr, 8, 3, a - b, CC_SUB, 1)
ALU_RR(and64_rr, 8, 3, a & b, CC_LOGIC, 1)
ALU_RR(or64_rr, 8, 3, a | b, CC_LOGIC, 1)
ALU_RR(xor64_rr, 8, 3, a ^ b, CC_LOGIC, 1)
ALU_RR(cmp64_rr, 8, 3, a - b, CC_SUB, 0)
ALU_RR(add32_rr, 4, 2, (a + b) & M32, CC_ADD, 1)
ALU_RR(sub32_rr, 4, 2, (a - b) & M32, CC_SUB, 1)
ALU_RR(and32_rr, 4, 2, (a & b) & M32, CC_LOGIC, 1)
ALU_RR(or32_rr, 4, 2, (a | b) & M32, CC_LOGIC, 1)
ALU_RR(xor32_rr, 4, 2, (a ^ b) & M32, CC_LOGIC, 1)
ALU_RR(cmp32_rr, 4, 2, (a - b) & M32, CC_SUB, 0)

/* r, r/m forms (0x03 etc.) with a register source: dst is reg */
#define ALU_RR2(name, s, expr, ccop, write, mask) \
	H(name) \
	{ \
		uint64_t a = c->gpr[i->reg], b = c->gpr[i->rm]; \
		uint64_t r = (expr) & (mask); \
		if (write) \
			c->gpr[i->reg] = r; \
		cc_set(c, ccop + s, r, a, b); \
	}
ALU_RR2(add64_r2, 3, a + b, CC_ADD, 1, ~0ULL)
ALU_RR2(xor64_r2, 3, a ^ b, CC_LOGIC, 1, ~0ULL)
ALU_RR2(or64_r2, 3, a | b, CC_LOGIC, 1, ~0ULL)
ALU_RR2(and64_r2, 3, a & b, CC_LOGIC, 1, ~0ULL)
ALU_RR2(xor32_r2, 2, a ^ b, CC_LOGIC, 1, M32)
ALU_RR2(or32_r2, 2, a | b, CC_LOGIC, 1, M32)
ALU_RR2(and32_r2, 2, a & b, CC_LOGIC, 1, M32)
ALU_RR2(sub64_r2, 3, a - b, CC_SUB, 1, ~0ULL)
ALU_RR2(cmp64_r2, 3, a - b, CC_SUB, 0, ~0ULL)
ALU_RR2(add32_r2, 2, a + b, CC_ADD, 1, M32)
ALU_RR2(sub32_r2, 2, a - b, CC_SUB, 1, M32)
ALU_RR2(cmp32_r2, 2, a - b, CC_SUB, 0, M32)

/* register, immediate (group 1) */
#define ALU_RI(name, s, expr, ccop, write, mask) \
	H(name) \
	{ \
		uint64_t a = c->gpr[i->rm], b = i->imm & (mask); \
		uint64_t r = (expr) & (mask); \
		if (write) \
			c->gpr[i->rm] = r; \
		cc_set(c, ccop + s, r, a, b); \
	}
ALU_RI(add64_ri, 3, a + b, CC_ADD, 1, ~0ULL)
ALU_RI(sub64_ri, 3, a - b, CC_SUB, 1, ~0ULL)
ALU_RI(and64_ri, 3, a & b, CC_LOGIC, 1, ~0ULL)
ALU_RI(cmp64_ri, 3, a - b, CC_SUB, 0, ~0ULL)
ALU_RI(add32_ri, 2, a + b, CC_ADD, 1, M32)
ALU_RI(sub32_ri, 2, a - b, CC_SUB, 1, M32)
ALU_RI(and32_ri, 2, a & b, CC_LOGIC, 1, M32)
ALU_RI(cmp32_ri, 2, a - b, CC_SUB, 0, M32)

H(test64_rr)
{
	cc_set(c, CC_LOGIC + 3, c->gpr[i->rm] & c->gpr[i->reg], 0, 0);
}

H(test32_rr)
{
	cc_set(c, CC_LOGIC + 2, (c->gpr[i->rm] & c->gpr[i->reg]) & M32, 0, 0);
}

/* compare with a memory operand (64-bit mode): CMP r/m, r and CMP r, r/m */
H(cmp64_mr)
{
	uint64_t a = ld64f(c, i, ea64(c, i), 8), b = c->gpr[i->reg];
	cc_set(c, CC_SUB + 3, a - b, a, b);
}

H(cmp32_mr)
{
	uint64_t a = ld64f(c, i, ea64(c, i), 4), b = c->gpr[i->reg] & M32;
	cc_set(c, CC_SUB + 2, (a - b) & M32, a, b);
}

H(cmp8_mi)
{
	uint64_t a = ld64f(c, i, ea64(c, i), 1), b = i->imm & 0xff;
	cc_set(c, CC_SUB + 0, (a - b) & 0xff, a, b);
}

H(add64_rm)	/* add r64, [mem] */
{
	uint64_t b = ld64f(c, i, ea64(c, i), 8), a = c->gpr[i->reg];
	uint64_t r = a + b;
	c->gpr[i->reg] = r;
	cc_set(c, CC_ADD + 3, r, a, b);
}

/* ---- shifts by an immediate, register forms (C1 /4 /5 /7) ---------------------- */

/* flags as h_shift computes them (AF = 0, OF by the count-1 formula) */
H(shl64_ri)
{
	unsigned n = i->imm & 63;
	if (!n)
		return;
	uint64_t a = c->gpr[i->rm], r = a << n;
	c->gpr[i->rm] = r;
	cc_set(c, CC_SHL + 3, r, a, n);
}

H(shr64_ri)
{
	unsigned n = i->imm & 63;
	if (!n)
		return;
	uint64_t a = c->gpr[i->rm], r = a >> n;
	c->gpr[i->rm] = r;
	cc_set(c, CC_SHR + 3, r, a, n);
}

H(sar64_ri)
{
	unsigned n = i->imm & 63;
	if (!n)
		return;
	uint64_t a = c->gpr[i->rm], r = (uint64_t)((int64_t)a >> n);
	c->gpr[i->rm] = r;
	cc_set(c, CC_SAR + 3, r, a, n);
}

H(shl32_ri)
{
	unsigned n = i->imm & 31;
	if (!n) {
		c->gpr[i->rm] &= M32;	/* a 32-bit destination is written even so */
		return;
	}
	uint64_t a = c->gpr[i->rm] & M32, r = (a << n) & M32;
	c->gpr[i->rm] = r;
	cc_set(c, CC_SHL + 2, r, a, n);
}

H(shr32_ri)
{
	unsigned n = i->imm & 31;
	if (!n) {
		c->gpr[i->rm] &= M32;	/* a 32-bit destination is written even so */
		return;
	}
	uint64_t a = c->gpr[i->rm] & M32, r = a >> n;
	c->gpr[i->rm] = r;
	cc_set(c, CC_SHR + 2, r, a, n);
}

H(sar32_ri)
{
	unsigned n = i->imm & 31;
	if (!n) {
		c->gpr[i->rm] &= M32;	/* a 32-bit destination is written even so */
		return;
	}
	uint64_t a = c->gpr[i->rm] & M32, r = (uint64_t)((int32_t)a >> n) & M32;
	c->gpr[i->rm] = r;
	cc_set(c, CC_SAR + 2, r, a, n);
}

/* ---- INC / DEC ------------------------------------------------------------------ */

H(inc64_r)
{
	uint64_t cf = cf_now(c);
	uint64_t a = c->gpr[i->rm], r = a + 1;
	c->gpr[i->rm] = r;
	cc_set(c, CC_INC + 3, r, a, cf);
}

H(dec64_r)
{
	uint64_t cf = cf_now(c);
	uint64_t a = c->gpr[i->rm], r = a - 1;
	c->gpr[i->rm] = r;
	cc_set(c, CC_DEC + 3, r, a, cf);
}

H(inc32_r)
{
	uint64_t cf = cf_now(c);
	uint64_t a = c->gpr[i->rm] & M32, r = (a + 1) & M32;
	c->gpr[i->rm] = r;
	cc_set(c, CC_INC + 2, r, a, cf);
}

H(dec32_r)
{
	uint64_t cf = cf_now(c);
	uint64_t a = c->gpr[i->rm] & M32, r = (a - 1) & M32;
	c->gpr[i->rm] = r;
	cc_set(c, CC_DEC + 2, r, a, cf);
}

/* ---- moves ---------------------------------------------------------------------- */

H(mov64_rr) { c->gpr[i->rm] = c->gpr[i->reg]; }
H(mov32_rr) { c->gpr[i->rm] = c->gpr[i->reg] & M32; }
H(mov64_r2) { c->gpr[i->reg] = c->gpr[i->rm]; }
H(mov32_r2) { c->gpr[i->reg] = c->gpr[i->rm] & M32; }
H(mov64_ri) { c->gpr[i->reg] = i->imm; }
H(mov32_ri) { c->gpr[i->reg] = i->imm & M32; }

H(mov64_load) { c->gpr[i->reg] = ld64f(c, i, ea64(c, i), 8); }
H(mov32_load) { c->gpr[i->reg] = ld64f(c, i, ea64(c, i), 4); }
H(mov64_store) { st64f(c, i, ea64(c, i), 8, c->gpr[i->reg]); }
H(mov32_store) { st64f(c, i, ea64(c, i), 4, c->gpr[i->reg]); }
H(mov8_store_i) { st64f(c, i, ea64(c, i), 1, i->imm); }
H(mov32_store_i) { st64f(c, i, ea64(c, i), 4, i->imm); }
H(mov64_store_i) { st64f(c, i, ea64(c, i), 8, i->imm); }
H(movzx32_load8) { c->gpr[i->reg] = ld64f(c, i, ea64(c, i), 1); }
H(movzx32_load16) { c->gpr[i->reg] = ld64f(c, i, ea64(c, i), 2); }

H(movzx8_rr) { c->gpr[i->reg] = reg_get(c, i->rm, 1); }
H(movzx16_rr) { c->gpr[i->reg] = c->gpr[i->rm] & 0xffff; }
H(lea64) { c->gpr[i->reg] = ea64(c, i); }
H(lea32) { c->gpr[i->reg] = ea64(c, i) & M32; }

/* ---- branches (64-bit mode; targets precomputed into disp and checked) ---- */

static inline bool cond_fast(const struct cpu *c, int cc)
{
	uint32_t op = c->cc_op;
	if ((op & ~3u) == CC_SUB) {
		int sz = op & 3;
		int sh = 64 - (8 << sz);
		uint64_t a = c->cc_src1 << sh, b = c->cc_src2 << sh;
		bool r;
		switch (cc >> 1) {
		case 1: r = a < b; break;
		case 2: r = a == b; break;
		case 3: r = a <= b; break;
		case 6: r = (int64_t)a < (int64_t)b; break;
		case 7: r = (int64_t)a <= (int64_t)b; break;
		default: return cc_cond(c, cc);
		}
		return (cc & 1) ? !r : r;
	}
	return cc_cond(c, cc);
}

#define JCC(n) \
	H(jcc64_##n) \
	{ \
		c->rip = cond_fast(c, n) ? i->disp : i->rip + i->len; \
	}
JCC(0) JCC(1) JCC(2) JCC(3) JCC(4) JCC(5) JCC(6) JCC(7)
JCC(8) JCC(9) JCC(10) JCC(11) JCC(12) JCC(13) JCC(14) JCC(15)
static const insn_fn jcc64[16] = {
	jcc64_0, jcc64_1, jcc64_2, jcc64_3, jcc64_4, jcc64_5, jcc64_6, jcc64_7,
	jcc64_8, jcc64_9, jcc64_10, jcc64_11, jcc64_12, jcc64_13, jcc64_14, jcc64_15,
};

H(jmp64) { c->rip = i->disp; }

H(call64)
{
	uint64_t sp = c->gpr[R_SP] - 8;
	st64s(c, sp, i->rip + i->len);
	c->gpr[R_SP] = sp;
	c->rip = i->disp;
}

H(ret64)
{
	uint64_t sp = c->gpr[R_SP];
	uint64_t t = ld64s(c, sp);
	cpu_check_target(c, t);
	c->gpr[R_SP] = sp + 8;
	c->rip = t;
}

H(push64_r)
{
	uint64_t sp = c->gpr[R_SP] - 8;
	st64s(c, sp, c->gpr[i->reg]);
	c->gpr[R_SP] = sp;
}

H(pop64_r)
{
	uint64_t sp = c->gpr[R_SP];
	uint64_t v = ld64s(c, sp);
	c->gpr[R_SP] = sp + 8;
	c->gpr[i->reg] = v;
}

/* ---- selection ---------------------------------------------------------------- */

static bool canonical48(const struct cpu *c, uint64_t v)
{
	int sh = (c->cr4 & CR4_LA57) ? 7 : 16;
	return (uint64_t)((int64_t)(v << sh) >> sh) == v;
}

/*
 * A specialised handler for *i, or NULL.  Called by the decoder once the
 * instruction is complete and the general handler chosen.  Stack and
 * memory forms are used only in 64-bit mode with a flat segment and a
 * 64-bit address size; LOCK keeps the general path.
 */
static insn_fn fast_select_fn(struct cpu *c, struct insn *i)
{
	bool l64 = cpu_long64(c);
	int op = i->op & 0xff;
	int osz = i->osz;
	bool r64 = osz == 8, r32 = osz == 4;
	bool flatmem = l64 && i->mem && i->asz == 8 && i->seg < S_FS;

	if (i->pfx & PFX_LOCK)
		return NULL;
	if (!l64)
		return NULL;	/* 16/32-bit code keeps the general handlers for now */

	if (i->map == 0) {
		/* ALU r/m, r: 01 09 21 29 31 39 */
		if (!i->mem && (r64 || r32) && (op & 0xc7) == 0x01) {
			static const insn_fn f64[8] = { add64_rr, or64_rr, NULL, NULL, and64_rr, sub64_rr, xor64_rr, cmp64_rr };
			static const insn_fn f32[8] = { add32_rr, or32_rr, NULL, NULL, and32_rr, sub32_rr, xor32_rr, cmp32_rr };
			return (r64 ? f64 : f32)[op >> 3];
		}
		/* ALU r, r/m (register source): 03 0b 23 2b 33 3b */
		if (!i->mem && (r64 || r32) && (op & 0xc7) == 0x03) {
			static const insn_fn f64[8] = { add64_r2, or64_r2, NULL, NULL, and64_r2, sub64_r2, xor64_r2, cmp64_r2 };
			static const insn_fn f32[8] = { add32_r2, or32_r2, NULL, NULL, and32_r2, sub32_r2, xor32_r2, cmp32_r2 };
			return (r64 ? f64 : f32)[op >> 3];
		}
		if (flatmem && op == 0x39 && (r64 || r32))
			return r64 ? cmp64_mr : cmp32_mr;
		if (flatmem && op == 0x03 && r64)
			return add64_rm;
		/* group 1 with a register operand: 81, 83 */
		if (!i->mem && (r64 || r32) && (op == 0x81 || op == 0x83)) {
			switch ((i->modrm >> 3) & 7) {
			case 0: return r64 ? add64_ri : add32_ri;
			case 4: return r64 ? and64_ri : and32_ri;
			case 5: return r64 ? sub64_ri : sub32_ri;
			case 7: return r64 ? cmp64_ri : cmp32_ri;
			}
		}
		if (flatmem && op == 0x80 && ((i->modrm >> 3) & 7) == 7)
			return cmp8_mi;
		if (!i->mem && (r64 || r32) && op == 0xc1) {
			switch ((i->modrm >> 3) & 7) {
			case 4: case 6: return r64 ? shl64_ri : shl32_ri;
			case 5: return r64 ? shr64_ri : shr32_ri;
			case 7: return r64 ? sar64_ri : sar32_ri;
			}
		}
		if (!i->mem && (r64 || r32) && op == 0x85)
			return r64 ? test64_rr : test32_rr;
		/* MOV */
		if (op == 0x89 && (r64 || r32))
			return i->mem ? (flatmem ? (r64 ? mov64_store : mov32_store) : NULL) :
			       (r64 ? mov64_rr : mov32_rr);
		if (op == 0x8b && (r64 || r32))
			return i->mem ? (flatmem ? (r64 ? mov64_load : mov32_load) : NULL) :
			       (r64 ? mov64_r2 : mov32_r2);
		if (op >= 0xb8 && op <= 0xbf && (r64 || r32))
			return r64 ? mov64_ri : mov32_ri;
		if (flatmem && op == 0xc6 && ((i->modrm >> 3) & 7) == 0)
			return mov8_store_i;
		if (flatmem && op == 0xc7 && ((i->modrm >> 3) & 7) == 0 && (r64 || r32))
			return r64 ? mov64_store_i : mov32_store_i;
		if (op == 0x8d && i->asz == 8 && (r64 || r32))
			return r64 ? lea64 : lea32;
		if (op == 0xff && !i->mem && (r64 || r32)) {
			int sub = (i->modrm >> 3) & 7;
			if (sub == 0)
				return r64 ? inc64_r : inc32_r;
			if (sub == 1)
				return r64 ? dec64_r : dec32_r;
		}
		/* branches with a checked, precomputed target */
		if ((op >= 0x70 && op <= 0x7f) || op == 0xeb || op == 0xe9 || op == 0xe8) {
			if (osz != 8)
				return NULL;
			uint64_t t = i->rip + i->len + i->imm;
			if (!canonical48(c, t))
				return NULL;
			i->disp = t;
			if (op == 0xe8)
				return call64;
			if (op == 0xeb || op == 0xe9)
				return jmp64;
			return jcc64[op & 0xf];
		}
		if (op == 0xc3 && osz == 8)
			return ret64;
		if (op >= 0x50 && op <= 0x57 && osz == 8)
			return push64_r;
		if (op >= 0x58 && op <= 0x5f && osz == 8)
			return pop64_r;
	} else if (i->map == 2) {
		if (op >= 0x80 && op <= 0x8f && osz == 8) {
			uint64_t t = i->rip + i->len + i->imm;
			if (!canonical48(c, t))
				return NULL;
			i->disp = t;
			return jcc64[op & 0xf];
		}
		if (!i->mem && op == 0xb6 && (r64 || r32))
			return movzx8_rr;
		if (!i->mem && op == 0xb7 && (r64 || r32))
			return movzx16_rr;
		if (flatmem && op == 0xb6 && (r64 || r32))
			return movzx32_load8;
		if (flatmem && op == 0xb7 && (r64 || r32))
			return movzx32_load16;
	}
	return NULL;
}

/* the kind of a specialised handler, for the JIT */
static int fast_kind(const struct insn *i, insn_fn f)
{
	int op = i->op & 0xff;
	if (i->map == 2) {
		if (op >= 0x80 && op <= 0x8f)
			return FK_JCC;
		return i->mem ? FK_MOVZX_LOAD : FK_MOVZX_RR;
	}
	if ((op & 0xc7) == 0x01 && !i->mem)
		return FK_ALU_RR;
	if ((op & 0xc7) == 0x03)
		return i->mem ? FK_ADD_RM : FK_ALU_R2;
	if (op == 0x39)
		return FK_CMP_MR;
	if (op == 0x81 || op == 0x83)
		return FK_ALU_RI;
	if (op == 0x80)
		return FK_CMP8_MI;
	if (op == 0x85)
		return FK_TEST_RR;
	if (op == 0x89)
		return i->mem ? FK_STORE : FK_MOV_RR;
	if (op == 0x8b)
		return i->mem ? FK_LOAD : FK_MOV_R2;
	if (op >= 0xb8 && op <= 0xbf)
		return FK_MOV_RI;
	if (op == 0xc6 || op == 0xc7)
		return FK_STORE_I;
	if (op == 0x8d)
		return FK_LEA;
	if (op == 0xff)
		return ((i->modrm >> 3) & 7) ? FK_DEC : FK_INC;
	if (op == 0xc1)
		return FK_SHIFT_RI;
	if (op >= 0x70 && op <= 0x7f)
		return FK_JCC;
	if (op == 0xeb || op == 0xe9)
		return FK_JMP;
	if (op == 0xe8)
		return FK_CALL;
	if (op == 0xc3)
		return FK_RET;
	if (op >= 0x50 && op <= 0x57)
		return FK_PUSH;
	if (op >= 0x58 && op <= 0x5f)
		return FK_POP;
	(void)f;
	return FK_NONE;
}

insn_fn fast_select(struct cpu *c, struct insn *i)
{
	insn_fn f = fast_select_fn(c, i);
	i->fk = f ? (uint8_t)fast_kind(i, f) : FK_NONE;
	return f;
}
