// SPDX-License-Identifier: MIT
/*
 * x87 control and state instructions: FNINIT, FNCLEX, FLDCW, FNSTCW,
 * FNSTSW, FNSTENV/FLDENV and FNSAVE/FRSTOR in their four layouts (SDM
 * Vol. 1 8.1.10, Figures 8-9 to 8-12), FWAIT's exception check.
 *
 * These are "control instructions": they do not change FIP/FOP/FDP (SDM
 * Vol. 1 8.1.8).  The FN* forms do not wait (no #MF); FLDCW, FLDENV and
 * FRSTOR do, which the hardware confirms.
 */
#include "x87_int.h"

#define H(name) void name(struct cpu *c, const struct insn *i)

/* FLDCW: bits 7 and 13-15 read as 0, bit 6 as 1 (measured) */
static inline uint16_t fcw_load(uint16_t v)
{
	return (uint16_t)((v & 0x1f3f) | 0x40);
}

/* the full tag word, recomputed from the contents of non-empty registers */
static uint16_t tag_word(const struct cpu *c)
{
	uint16_t t = 0;
	for (int p = 0; p < 8; p++) {
		int tag = x_tag_phys(c, p);
		if (tag != TAG_EMPTY)
			tag = x_tag_of(x_reg2fx(&c->fpu.st[p]));
		t |= (uint16_t)(tag << (2 * p));
	}
	return t;
}

/* a loaded tag word only says empty / not empty (SDM Vol. 1 8.1.7) */
static void tag_load(struct cpu *c, uint16_t t)
{
	uint16_t ftw = 0;
	for (int p = 0; p < 8; p++) {
		int tag = (t >> (2 * p)) & 3;
		if (tag != TAG_EMPTY)
			tag = x_tag_of(x_reg2fx(&c->fpu.st[p]));
		ftw |= (uint16_t)(tag << (2 * p));
	}
	c->fpu.ftw = ftw;
}

static uint16_t fsw_read(const struct cpu *c)
{
	uint16_t sw = c->fpu.fsw & (uint16_t)~(SW_ES | SW_B);
	if (sw & ~c->fpu.fcw & 0x3f)
		sw |= SW_ES | SW_B;
	return sw;
}

void x87_init_state(struct cpu *c)
{
	c->fpu.fcw = 0x37f;
	c->fpu.fsw = 0;
	c->fpu.ftw = 0xffff;
	c->fpu.fop = 0;
	c->fpu.fip = c->fpu.fdp = 0;
	c->fpu.fcs = c->fpu.fds = 0;
}

/* ---- environment images ------------------------------------------------------- */

static bool real_format(const struct cpu *c)
{
	return !(c->cr0 & CR0_PE) || (c->rflags & F_VM);
}

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static uint16_t get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

/* build the 14- or 28-byte environment; returns its size */
static int env_store(const struct cpu *c, uint8_t *b, bool o32)
{
	const struct fpu_state *f = &c->fpu;
	uint16_t sw = fsw_read(c), tw = tag_word(c);
	if (!o32) {
		put16(b + 0, f->fcw);
		put16(b + 2, sw);
		put16(b + 4, tw);
		if (real_format(c)) {
			/* 20-bit linear pointers: offset + selector * 16 */
			uint32_t ip = (uint32_t)f->fip + ((uint32_t)f->fcs << 4);
			uint32_t dp = (uint32_t)f->fdp + ((uint32_t)f->fds << 4);
			put16(b + 6, (uint16_t)ip);
			put16(b + 8, (uint16_t)(((ip >> 16) & 0xf) << 12 | (f->fop & 0x7ff)));
			put16(b + 10, (uint16_t)dp);
			put16(b + 12, (uint16_t)(((dp >> 16) & 0xf) << 12));
		} else {
			put16(b + 6, (uint16_t)f->fip);
			put16(b + 8, f->fcs);
			put16(b + 10, (uint16_t)f->fdp);
			put16(b + 12, f->fds);
		}
		return 14;
	}
	/* 32-bit layouts; reserved upper halves are stored as ones (measured) */
	put32(b + 0, 0xffff0000U | f->fcw);
	put32(b + 4, 0xffff0000U | sw);
	put32(b + 8, 0xffff0000U | tw);
	if (real_format(c)) {
		uint32_t ip = (uint32_t)f->fip + ((uint32_t)f->fcs << 4);
		uint32_t dp = (uint32_t)f->fdp + ((uint32_t)f->fds << 4);
		put32(b + 12, 0xffff0000U | (ip & 0xffff));
		put32(b + 16, ((ip >> 16) << 12) | (f->fop & 0x7ff));
		put32(b + 20, 0xffff0000U | (dp & 0xffff));
		put32(b + 24, (dp >> 16) << 12);
	} else {
		put32(b + 12, (uint32_t)f->fip);
		put32(b + 16, (uint32_t)f->fcs | ((uint32_t)(f->fop & 0x7ff) << 16));
		put32(b + 20, (uint32_t)f->fdp);
		put32(b + 24, 0xffff0000U | f->fds);
	}
	return 28;
}

static int env_load(struct cpu *c, const uint8_t *b, bool o32)
{
	struct fpu_state *f = &c->fpu;
	uint16_t tw;
	if (!o32) {
		f->fcw = fcw_load(get16(b + 0));
		f->fsw = get16(b + 2);
		tw = get16(b + 4);
		if (real_format(c)) {
			f->fip = get16(b + 6) | (uint32_t)(get16(b + 8) >> 12) << 16;
			f->fop = get16(b + 8) & 0x7ff;
			f->fdp = get16(b + 10) | (uint32_t)(get16(b + 12) >> 12) << 16;
			f->fcs = f->fds = 0;
		} else {
			f->fip = get16(b + 6);
			f->fcs = get16(b + 8);
			f->fdp = get16(b + 10);
			f->fds = get16(b + 12);
			f->fop = 0;	/* no FOP in this layout: cleared (measured) */
		}
	} else {
		f->fcw = fcw_load(get16(b + 0));
		f->fsw = get16(b + 4);
		tw = get16(b + 8);
		if (real_format(c)) {
			f->fip = get16(b + 12) | (get32(b + 16) >> 12 & 0xffff) << 16;
			f->fop = get32(b + 16) & 0x7ff;
			f->fdp = get16(b + 20) | (get32(b + 24) >> 12 & 0xffff) << 16;
			f->fcs = f->fds = 0;
		} else {
			f->fip = get32(b + 12);
			f->fcs = get16(b + 16);
			f->fop = (get32(b + 16) >> 16) & 0x7ff;
			f->fdp = get32(b + 20);
			f->fds = get16(b + 24);
		}
	}
	tag_load(c, tw);
	x_update_es(c);
	return o32 ? 28 : 14;
}

static inline bool o32(const struct insn *i)
{
	return i->osz != 2;
}

/* linear address of a block memory operand, checked for all its bytes */
static uint64_t blk_lin(struct cpu *c, const struct insn *i, int n, int acc)
{
	uint64_t lin = seg_lin(c, i->seg, insn_ea(c, i), n, acc);
	mem_probe(c, lin, n, acc | (i->seg == S_SS ? ACC_SS : 0));
	return lin;
}

static inline int sacc(const struct insn *i)
{
	return i->seg == S_SS ? ACC_SS : 0;
}

H(x87_h_fnstenv)
{
	x_nm(c);
	uint8_t b[28];
	int n = env_store(c, b, o32(i));
	uint64_t lin = blk_lin(c, i, n, ACC_W);
	mem_write_bytes(c, lin, b, n, sacc(i));
	/* then all exceptions are masked (SDM Vol. 2 FSTENV) */
	c->fpu.fcw |= 0x3f;
	x_update_es(c);
}

H(x87_h_fldenv)
{
	x_wait(c);
	uint8_t b[28];
	int n = o32(i) ? 28 : 14;
	uint64_t lin = blk_lin(c, i, n, ACC_R);
	mem_read_bytes(c, lin, b, n, ACC_R | sacc(i));
	env_load(c, b, o32(i));
}

H(x87_h_fnsave)
{
	x_nm(c);
	uint8_t b[108];
	int n = env_store(c, b, o32(i));
	for (int k = 0; k < 8; k++) {
		const struct x87_reg *r = &c->fpu.st[x_phys(c, k)];
		memcpy(b + n + 10 * k, &r->mant, 8);
		memcpy(b + n + 10 * k + 8, &r->exp, 2);
	}
	n += 80;
	uint64_t lin = blk_lin(c, i, n, ACC_W);
	mem_write_bytes(c, lin, b, n, sacc(i));
	x87_init_state(c);
}

H(x87_h_frstor)
{
	x_wait(c);
	uint8_t b[108];
	int n = (o32(i) ? 28 : 14) + 80;
	uint64_t lin = blk_lin(c, i, n, ACC_R);
	mem_read_bytes(c, lin, b, n, ACC_R | sacc(i));
	int env = o32(i) ? 28 : 14;
	/* registers first: the tag word is evaluated against the new contents */
	uint16_t fsw = get16(b + (o32(i) ? 4 : 2));
	int top = (fsw >> 11) & 7;
	for (int k = 0; k < 8; k++) {
		struct x87_reg *r = &c->fpu.st[(top + k) & 7];
		memcpy(&r->mant, b + env + 10 * k, 8);
		memcpy(&r->exp, b + env + 10 * k + 8, 2);
	}
	env_load(c, b, o32(i));
}

H(x87_h_fldcw)
{
	x_wait(c);
	uint16_t v = (uint16_t)op_ld(c, i, 2);
	c->fpu.fcw = fcw_load(v);
	x_update_es(c);
}

H(x87_h_fnstcw)
{
	x_nm(c);
	op_st(c, i, 2, c->fpu.fcw);
}

H(x87_h_fnstsw_m)
{
	x_nm(c);
	op_st(c, i, 2, fsw_read(c));
}

H(x87_h_fnstsw_ax)
{
	x_nm(c);
	reg_set(c, R_AX, 2, fsw_read(c));
}

H(x87_h_fninit)
{
	x_nm(c);
	x87_init_state(c);
}

H(x87_h_fnclex)
{
	x_nm(c);
	c->fpu.fsw &= 0x7f00;	/* flags, SF, ES and B */
}

/* FNENI, FNDISI, FNSETPM: 8087/287 leftovers, no operation now */
H(x87_h_fnop_nowait)
{
	x_nm(c);
}

/* reserved x87 encodings: #NM first (an ESC opcode), then #UD */
H(x87_h_ud)
{
	x_nm(c);
	cpu_ud(c);
}

void cpu_x87_check(struct cpu *c)
{
	if (c->fpu.fsw & ~c->fpu.fcw & 0x3f)
		cpu_raise(c, EXC_MF);
}
