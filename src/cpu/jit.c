// SPDX-License-Identifier: MIT
/*
 * A template compiler for hot blocks (x86-64 hosts).
 *
 * A block that has run often is turned into host code with exactly the
 * semantics of running its handlers in order: common register and memory
 * instructions (insn.fk, chosen by exec_fast.c) are emitted inline —
 * guest registers stay in struct cpu, the software TLB is probed inline —
 * and everything else calls the instruction's own handler.  Faults still
 * longjmp to the run loop with c->cur naming the instruction; the code
 * returns after any handler that raised a brk bit, and ends by calling the
 * block-end sentinel, so counting, chaining and exits are unchanged.
 *
 * Lazy flags are stored only where something can observe them: a later
 * reader in the block, a possible fault or handler call, or the block end.
 *
 * Code lives in a buffer mapped twice (writable and executable views of
 * one memfd), so no page is writable and executable at once.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cpu.h"
#include "exec.h"
#include "jit.h"
#include "mem.h"

#if defined(__x86_64__)

#define JIT_BUF (64u << 20)

struct jit {
	uint8_t *w, *x;		/* writable and executable views */
	size_t used;
	bool broken;
};

/* ---- emitter ------------------------------------------------------------------ */

enum { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11 };

struct em {
	uint8_t *p, *end;
	bool full;
};

static void b1(struct em *e, uint8_t v)
{
	if (e->p >= e->end) {
		e->full = true;
		return;
	}
	*e->p++ = v;
}

static void b4(struct em *e, uint32_t v)
{
	for (int k = 0; k < 4; k++)
		b1(e, (uint8_t)(v >> (8 * k)));
}

static void b8(struct em *e, uint64_t v)
{
	for (int k = 0; k < 8; k++)
		b1(e, (uint8_t)(v >> (8 * k)));
}

/* REX + opcode + ModRM for reg, [rbx + disp32] */
static void rm_cpu(struct em *e, bool w, const uint8_t *op, int n, int reg, int32_t disp)
{
	uint8_t rex = 0x40 | (w ? 8 : 0) | ((reg & 8) ? 4 : 0);
	if (rex != 0x40)
		b1(e, rex);
	for (int k = 0; k < n; k++)
		b1(e, op[k]);
	b1(e, (uint8_t)(0x80 | ((reg & 7) << 3) | RBX));
	b4(e, (uint32_t)disp);
}

/* REX + opcode + ModRM for reg, [base] (base not RSP/RBP/R12/R13) */
static void rm_ind(struct em *e, bool w, uint8_t op, int reg, int base, int32_t disp)
{
	uint8_t rex = 0x40 | (w ? 8 : 0) | ((reg & 8) ? 4 : 0) | ((base & 8) ? 1 : 0);
	if (rex != 0x40)
		b1(e, rex);
	b1(e, op);
	b1(e, (uint8_t)(0x80 | ((reg & 7) << 3) | (base & 7)));
	b4(e, (uint32_t)disp);
}

/* reg-reg: op r/m=dst, reg=src */
static void rr(struct em *e, bool w, uint8_t op, int dst, int src)
{
	uint8_t rex = 0x40 | (w ? 8 : 0) | ((src & 8) ? 4 : 0) | ((dst & 8) ? 1 : 0);
	if (rex != 0x40)
		b1(e, rex);
	b1(e, op);
	b1(e, (uint8_t)(0xc0 | ((src & 7) << 3) | (dst & 7)));
}

#define OFF(f) ((int32_t)offsetof(struct cpu, f))
#define GPR(n) ((int32_t)(offsetof(struct cpu, gpr) + 8 * (n)))

static void ld64(struct em *e, int reg, int32_t off)
{
	static const uint8_t op[] = { 0x8b };
	rm_cpu(e, true, op, 1, reg, off);
}

static void ld32(struct em *e, int reg, int32_t off)
{
	static const uint8_t op[] = { 0x8b };
	rm_cpu(e, false, op, 1, reg, off);
}

static void st64(struct em *e, int32_t off, int reg)
{
	static const uint8_t op[] = { 0x89 };
	rm_cpu(e, true, op, 1, reg, off);
}

static void st32i(struct em *e, int32_t off, uint32_t imm)
{
	static const uint8_t op[] = { 0xc7 };
	rm_cpu(e, false, op, 1, 0, off);
	b4(e, imm);
}

static void movabs(struct em *e, int reg, uint64_t imm)
{
	if (imm <= 0xffffffffULL) {
		if (reg & 8)
			b1(e, 0x41);
		b1(e, (uint8_t)(0xb8 | (reg & 7)));	/* mov r32, imm32 (zero-extends) */
		b4(e, (uint32_t)imm);
		return;
	}
	b1(e, (uint8_t)(0x48 | ((reg & 8) ? 1 : 0)));
	b1(e, (uint8_t)(0xb8 | (reg & 7)));
	b8(e, imm);
}

static void call_abs(struct em *e, const void *fn)
{
	movabs(e, RAX, (uint64_t)(uintptr_t)fn);
	b1(e, 0xff);
	b1(e, 0xd0);		/* call rax */
}

/* jcc/jmp with a 32-bit displacement; returns the patch position */
static uint8_t *jcc32(struct em *e, int cc)
{
	b1(e, 0x0f);
	b1(e, (uint8_t)(0x80 | cc));
	uint8_t *p = e->p;
	b4(e, 0);
	return p;
}

static uint8_t *jmp32(struct em *e)
{
	b1(e, 0xe9);
	uint8_t *p = e->p;
	b4(e, 0);
	return p;
}

static void patch(struct em *e, uint8_t *at)
{
	if (!at || e->full)
		return;
	int32_t d = (int32_t)(e->p - (at + 4));
	memcpy(at, &d, 4);
}

/* host condition codes */
enum { CC_O_, CC_NO_, CC_B_, CC_AE_, CC_E_, CC_NE_, CC_BE_, CC_A_, CC_S_, CC_NS_,
       CC_P_, CC_NP_, CC_L_, CC_GE_, CC_LE_, CC_G_ };

/* ---- code generation ---------------------------------------------------------- */

struct gen {
	struct em e;
	struct cpu *c;
	struct blk *b;
	uint8_t *exits[256];	/* "brk set: return" jumps */
	int nexits;
	/*
	 * A slow-path access may ask the block to stop (a replayed MMIO read
	 * consumed, a data breakpoint, a store into cached code): the
	 * instruction must still complete, so the check follows its last step.
	 */
	bool brk_at_end;
	/* static knowledge of the last flags producer in this block */
	int cc_known;		/* cc_op value, or -1 */
};

static void set_cur(struct gen *g, const struct insn *i)
{
	movabs(&g->e, RAX, (uint64_t)(uintptr_t)i);
	st64(&g->e, OFF(cur), RAX);
}

static void brk_check(struct gen *g)
{
	/* cmp dword [rbx + brk], 0; jne exit */
	static const uint8_t op[] = { 0x83 };
	rm_cpu(&g->e, false, op, 1, 7, OFF(brk));
	b1(&g->e, 0);
	if (g->nexits < 256)
		g->exits[g->nexits++] = jcc32(&g->e, CC_NE_);
	else
		g->e.full = true;
}

static void call_handler(struct gen *g, const struct insn *i)
{
	set_cur(g, i);
	rr(&g->e, true, 0x89, RDI, RBX);	/* mov rdi, rbx */
	movabs(&g->e, RSI, (uint64_t)(uintptr_t)i);
	call_abs(&g->e, (const void *)i->fn);
	brk_check(g);
	g->cc_known = -1;
}

static void store_flags(struct gen *g, int ccop, int res, int s1, int s2, bool live)
{
	if (live) {
		st32i(&g->e, OFF(cc_op), (uint32_t)ccop);
		st64(&g->e, OFF(cc_res), res);
		if (s1 >= 0)
			st64(&g->e, OFF(cc_src1), s1);
		if (s2 >= 0)
			st64(&g->e, OFF(cc_src2), s2);
	}
	g->cc_known = ccop;
}

/* rax = effective address of the memory operand (64-bit addressing) */
static void gen_ea(struct gen *g, const struct insn *i)
{
	ld64(&g->e, RAX, GPR(i->base));
	if (i->index != R_NONE) {
		ld64(&g->e, RCX, GPR(i->index));
		/* lea rax, [rax + rcx*scale] */
		b1(&g->e, 0x48);
		b1(&g->e, 0x8d);
		b1(&g->e, 0x04);
		b1(&g->e, (uint8_t)((i->scale << 6) | (RCX << 3) | RAX));
	}
	if (i->disp) {
		if ((int64_t)i->disp == (int32_t)i->disp) {
			b1(&g->e, 0x48);	/* add rax, imm32 */
			b1(&g->e, 0x05);
			b4(&g->e, (uint32_t)i->disp);
		} else {
			movabs(&g->e, RDX, i->disp);
			rr(&g->e, true, 0x01, RAX, RDX);
		}
	}
}

/*
 * Translate rax (linear) through the TLB for `size` bytes: on the fast path
 * rax = host address; otherwise jump to the returned slow label (patched
 * by the caller).  Clobbers rcx, rdx.
 */
static uint8_t *gen_tlb(struct gen *g, int size, bool write, uint8_t **slow2)
{
	struct em *e = &g->e;
	/* rdx = ((rax >> 12) & MASK) * 40 */
	rr(e, true, 0x89, RDX, RAX);			/* mov rdx, rax */
	b1(e, 0x48); b1(e, 0xc1); b1(e, 0xea); b1(e, 12);	/* shr rdx, 12 */
	b1(e, 0x81); b1(e, 0xe2); b4(e, TLB_MASK);	/* and edx, MASK */
	b1(e, 0x48); b1(e, 0x8d); b1(e, 0x14); b1(e, 0x92);	/* lea rdx, [rdx + rdx*4] */
	b1(e, 0x48); b1(e, 0xc1); b1(e, 0xe2); b1(e, 3);	/* shl rdx, 3 */
	ld64(e, RCX, OFF(tlb_cur));
	rr(e, true, 0x01, RCX, RDX);			/* add rcx, rdx: the entry */
	/* rdx = (rax & ~0xfff) | epoch */
	rr(e, true, 0x89, RDX, RAX);
	b1(e, 0x48); b1(e, 0x81); b1(e, 0xe2); b4(e, 0xfffff000);	/* and rdx, ~0xfff */
	static const uint8_t orop[] = { 0x0b };
	rm_cpu(e, true, orop, 1, RDX, OFF(tlb_epoch));	/* or rdx, [epoch] */
	/* cmp rdx, [rcx + tag] */
	rm_ind(e, true, 0x3b, RDX, RCX, write ? 8 : 0);
	uint8_t *slow = jcc32(e, CC_NE_);
	*slow2 = NULL;
	if (size > 1) {
		/* page-crossing: (eax & 0xfff) > 0x1000 - size -> slow */
		b1(e, 0x89); b1(e, 0xc2);			/* mov edx, eax */
		b1(e, 0x81); b1(e, 0xe2); b4(e, 0xfff);	/* and edx, 0xfff */
		b1(e, 0x81); b1(e, 0xfa); b4(e, (uint32_t)(0x1000 - size));	/* cmp edx, .. */
		*slow2 = jcc32(e, CC_A_);
	}
	rm_ind(e, true, 0x03, RAX, RCX, 24);		/* add rax, [rcx + addend] */
	return slow;
}

/* load `size` bytes (zero-extended) from linear rax into rax */
static void gen_load(struct gen *g, const struct insn *i, int size, bool ss)
{
	struct em *e = &g->e;
	rr(e, true, 0x89, RSI, RAX);	/* keep the linear address in rsi */
	uint8_t *s2;
	uint8_t *slow = gen_tlb(g, size, false, &s2);
	switch (size) {
	case 1: b1(e, 0x0f); b1(e, 0xb6); b1(e, 0x00); break;	/* movzx eax, byte [rax] */
	case 2: b1(e, 0x0f); b1(e, 0xb7); b1(e, 0x00); break;	/* movzx eax, word [rax] */
	case 4: b1(e, 0x8b); b1(e, 0x00); break;		/* mov eax, [rax] */
	default: b1(e, 0x48); b1(e, 0x8b); b1(e, 0x00); break;
	}
	uint8_t *done = jmp32(e);
	patch(e, slow);
	patch(e, s2);
	rr(e, true, 0x89, RDI, RBX);
	movabs(e, RDX, (uint64_t)size);
	movabs(e, RCX, (uint64_t)(ACC_R | (ss ? ACC_SS : 0)));
	call_abs(e, (const void *)mem_read_slow);
	g->brk_at_end = true;
	patch(e, done);
	(void)i;
}

/* store the value in r8 (`size` bytes) to linear rax */
static void gen_store(struct gen *g, int size, bool ss)
{
	struct em *e = &g->e;
	rr(e, true, 0x89, RSI, RAX);
	uint8_t *s2;
	uint8_t *slow = gen_tlb(g, size, true, &s2);
	switch (size) {
	case 1: b1(e, 0x44); b1(e, 0x88); b1(e, 0x00); break;		/* mov [rax], r8b */
	case 2: b1(e, 0x66); b1(e, 0x44); b1(e, 0x89); b1(e, 0x00); break;
	case 4: b1(e, 0x44); b1(e, 0x89); b1(e, 0x00); break;
	default: b1(e, 0x4c); b1(e, 0x89); b1(e, 0x00); break;
	}
	uint8_t *done = jmp32(e);
	patch(e, slow);
	patch(e, s2);
	rr(e, true, 0x89, RDI, RBX);
	movabs(e, RDX, (uint64_t)size);
	rr(e, true, 0x89, RCX, R8);
	movabs(e, R8, (uint64_t)(ACC_W | (ss ? ACC_SS : 0)));
	call_abs(e, (const void *)mem_write_slow);
	g->brk_at_end = true;
	patch(e, done);
}

static uint8_t alu_opc(int op)
{
	static const uint8_t o[8] = { 0x01, 0x09, 0x11, 0x19, 0x21, 0x29, 0x31, 0x39 };
	return o[op];
}

static int alu_cc(int op)
{
	switch (op) {
	case ALU_ADD: return CC_ADD;
	case ALU_SUB: case ALU_CMP: return CC_SUB;
	default: return CC_LOGIC;
	}
}

/* rcx = rax OP rdx at operand size; op is ADD/OR/AND/SUB/XOR/CMP */
static void gen_alu(struct gen *g, int op, bool w)
{
	rr(&g->e, true, 0x89, RCX, RAX);
	int o = op == ALU_CMP ? ALU_SUB : op;
	rr(&g->e, w, alu_opc(o), RCX, RDX);
}

/* a Jcc whose producer is known statically: host jump on the same condition */
static bool gen_cond_jump(struct gen *g, int cc, uint8_t **taken)
{
	struct em *e = &g->e;
	int k = g->cc_known;
	if (k < 0)
		return false;
	int grp = k & ~3, sz = k & 3;
	int sh = 64 - (8 << sz);
	int hcc;
	if (grp == CC_SUB) {
		switch (cc >> 1) {
		case 1: case 2: case 3: case 6: case 7: break;
		default: return false;
		}
		ld64(e, RAX, OFF(cc_src1));
		ld64(e, RDX, OFF(cc_src2));
		if (sh) {
			b1(e, 0x48); b1(e, 0xc1); b1(e, 0xe0); b1(e, (uint8_t)sh);	/* shl rax */
			b1(e, 0x48); b1(e, 0xc1); b1(e, 0xe2); b1(e, (uint8_t)sh);	/* shl rdx */
		}
		rr(e, true, 0x39, RAX, RDX);	/* cmp rax, rdx */
		hcc = cc;
	} else if (grp == CC_LOGIC) {
		switch (cc >> 1) {
		case 2: case 4: case 6: case 7: break;
		default: return false;
		}
		ld64(e, RAX, OFF(cc_res));
		if (sh) {
			b1(e, 0x48); b1(e, 0xc1); b1(e, 0xe0); b1(e, (uint8_t)sh);
		}
		rr(e, true, 0x85, RAX, RAX);	/* test rax, rax: OF = CF = 0 as LOGIC */
		hcc = cc;
	} else {
		return false;
	}
	*taken = jcc32(e, hcc);
	return true;
}

/* can this instruction raise a fault or observe flags through a call? */
static bool reads_flags(const struct insn *i)
{
	switch (i->fk) {
	case FK_MOV_RR: case FK_MOV_R2: case FK_MOV_RI: case FK_LEA: case FK_JMP:
	case FK_MOVZX_RR:
		return false;
	case FK_ALU_RR: case FK_ALU_R2: case FK_ALU_RI: case FK_TEST_RR: case FK_SHIFT_RI:
		return false;
	case FK_INC: case FK_DEC:
		return false;	/* handled specially */
	default:
		return true;	/* memory (may fault), calls, Jcc */
	}
}

static bool writes_all_flags(const struct insn *i)
{
	switch (i->fk) {
	case FK_ALU_RR: case FK_ALU_R2: case FK_ALU_RI: case FK_TEST_RR:
		return true;
	case FK_SHIFT_RI:
		return (i->imm & (i->osz == 8 ? 63 : 31)) != 0;
	default:
		return false;
	}
}

static bool gen_insn(struct gen *g, const struct insn *i, bool flags_live)
{
	struct em *e = &g->e;
	bool w = i->osz == 8;
	int s = w ? 3 : 2;

	switch (i->fk) {
	case FK_ALU_RR:
	case FK_ALU_R2:
	case FK_ALU_RI: {
		int op = i->aux;
		int dst = i->fk == FK_ALU_R2 ? i->reg : i->rm;
		ld64(e, RAX, GPR(dst));
		if (i->fk == FK_ALU_RI)
			movabs(e, RDX, i->imm & sz_mask(i->osz));
		else
			ld64(e, RDX, GPR(i->fk == FK_ALU_R2 ? i->rm : i->reg));
		gen_alu(g, op, w);
		if (op != ALU_CMP)
			st64(e, GPR(dst), RCX);
		store_flags(g, alu_cc(op) + s, RCX, RAX, RDX, flags_live);
		return true;
	}
	case FK_TEST_RR:
		ld64(e, RAX, GPR(i->rm));
		ld64(e, RDX, GPR(i->reg));
		rr(e, true, 0x21, RAX, RDX);	/* and rax, rdx */
		if (!w) {
			b1(e, 0x89); b1(e, 0xc0);	/* mov eax, eax */
		}
		if (flags_live) {
			st32i(e, OFF(cc_op), (uint32_t)(CC_LOGIC + s));
			st64(e, OFF(cc_res), RAX);
			movabs(e, RDX, 0);
			st64(e, OFF(cc_src1), RDX);
			st64(e, OFF(cc_src2), RDX);
		}
		g->cc_known = CC_LOGIC + s;
		return true;
	case FK_MOV_RR:
	case FK_MOV_R2: {
		int dst = i->fk == FK_MOV_RR ? i->rm : i->reg;
		int src = i->fk == FK_MOV_RR ? i->reg : i->rm;
		if (w)
			ld64(e, RAX, GPR(src));
		else
			ld32(e, RAX, GPR(src));
		st64(e, GPR(dst), RAX);
		return true;
	}
	case FK_MOVZX_RR:
		if (i->rm & 0x20) {	/* AH, CH, DH, BH */
			ld64(e, RAX, GPR(i->rm & 3));
			b1(e, 0x0f); b1(e, 0xb6); b1(e, 0xc4);	/* movzx eax, ah */
		} else {
			ld64(e, RAX, GPR(i->rm));
			b1(e, 0x0f);
			b1(e, (i->op & 0xff) == 0xb6 ? 0xb6 : 0xb7);
			b1(e, 0xc0);				/* movzx eax, al|ax */
		}
		st64(e, GPR(i->reg), RAX);
		return true;
	case FK_MOV_RI:
		movabs(e, RAX, w ? i->imm : (i->imm & 0xffffffffULL));
		st64(e, GPR(i->reg), RAX);
		return true;
	case FK_LEA:
		if (i->asz != 8)
			return false;
		gen_ea(g, i);
		if (!w) {
			b1(e, 0x89); b1(e, 0xc0);
		}
		st64(e, GPR(i->reg), RAX);
		return true;
	case FK_SHIFT_RI: {
		unsigned n = (unsigned)(i->imm & (w ? 63 : 31));
		if (!n) {
			if (!w) {	/* the 32-bit destination is still written */
				ld32(e, RAX, GPR(i->rm));
				st64(e, GPR(i->rm), RAX);
			}
			return true;
		}
		int sub = (i->modrm >> 3) & 7;
		int ext = sub == 6 ? 4 : sub;	/* SAL = SHL */
		int cc = ext == 4 ? CC_SHL : ext == 5 ? CC_SHR : CC_SAR;
		ld64(e, RAX, GPR(i->rm));
		if (!w) {
			b1(e, 0x89); b1(e, 0xc0);	/* a = low 32 bits */
		}
		rr(e, true, 0x89, RCX, RAX);
		if (w)
			b1(e, 0x48);
		b1(e, 0xc1);
		b1(e, (uint8_t)(0xc0 | (ext << 3) | RCX));
		b1(e, (uint8_t)n);
		st64(e, GPR(i->rm), RCX);
		if (flags_live) {
			movabs(e, RDX, n);
			store_flags(g, cc + s, RCX, RAX, RDX, true);
		} else {
			g->cc_known = cc + s;
		}
		return true;
	}
	case FK_INC:
	case FK_DEC:
		if (flags_live)
			return false;	/* needs the preserved CF: the handler computes it */
		ld64(e, RAX, GPR(i->rm));
		if (w)
			b1(e, 0x48);
		b1(e, 0xff);
		b1(e, i->fk == FK_INC ? 0xc0 : 0xc8);	/* inc/dec eax|rax */
		st64(e, GPR(i->rm), RAX);
		g->cc_known = -1;
		return true;
	case FK_LOAD:
	case FK_MOVZX_LOAD: {
		int size = i->fk == FK_LOAD ? i->osz : ((i->op & 0xff) == 0xb6 ? 1 : 2);
		set_cur(g, i);
		gen_ea(g, i);
		gen_load(g, i, size, i->seg == S_SS);
		st64(e, GPR(i->reg), RAX);
		return true;
	}
	case FK_STORE:
	case FK_STORE_I: {
		int size = (i->op & 0xff) == 0xc6 ? 1 : i->osz;
		set_cur(g, i);
		gen_ea(g, i);
		if (i->fk == FK_STORE)
			ld64(e, R8, GPR(i->reg));
		else
			movabs(e, R8, i->imm);
		gen_store(g, size, i->seg == S_SS);
		return true;
	}
	case FK_CMP_MR:
	case FK_CMP8_MI: {
		int size = i->fk == FK_CMP8_MI ? 1 : i->osz;
		set_cur(g, i);
		gen_ea(g, i);
		gen_load(g, i, size, i->seg == S_SS);
		if (i->fk == FK_CMP8_MI)
			movabs(e, RDX, i->imm & 0xff);
		else
			ld64(e, RDX, GPR(i->reg));
		if (size == 4) {
			b1(e, 0x89); b1(e, 0xd2);	/* mov edx, edx: b is 32 bits */
		}
		rr(e, true, 0x89, RCX, RAX);
		rr(e, true, 0x29, RCX, RDX);	/* sub rcx, rdx */
		if (size != 8) {
			movabs(e, R8, sz_mask(size));
			rr(e, true, 0x21, RCX, R8);
		}
		store_flags(g, CC_SUB + (size == 1 ? 0 : size == 4 ? 2 : 3), RCX, RAX, RDX, true);
		return true;
	}
	case FK_JCC: {
		/* last in the block: RIP = taken ? target : next */
		uint64_t next = i->rip + i->len;
		uint8_t *taken;
		if (!gen_cond_jump(g, i->aux, &taken)) {
			rr(e, true, 0x89, RDI, RBX);
			movabs(e, RSI, (uint64_t)i->aux);
			call_abs(e, (const void *)cc_cond);
			b1(e, 0x84); b1(e, 0xc0);		/* test al, al */
			taken = jcc32(e, CC_NE_);
		}
		movabs(e, RAX, next);
		st64(e, OFF(rip), RAX);
		uint8_t *done = jmp32(e);
		patch(e, taken);
		movabs(e, RAX, i->disp);
		st64(e, OFF(rip), RAX);
		patch(e, done);
		return true;
	}
	case FK_JMP:
		movabs(e, RAX, i->disp);
		st64(e, OFF(rip), RAX);
		return true;
	case FK_PUSH:
		set_cur(g, i);
		ld64(e, RAX, GPR(R_SP));
		b1(e, 0x48); b1(e, 0x83); b1(e, 0xe8); b1(e, 8);	/* sub rax, 8 */
		ld64(e, R8, GPR(i->reg));
		/* keep the new RSP across the store in a cpu field: reload after */
		st64(e, OFF(jit_tmp), RAX);
		gen_store(g, 8, true);
		ld64(e, RAX, OFF(jit_tmp));
		st64(e, GPR(R_SP), RAX);
		return true;
	case FK_POP:
		set_cur(g, i);
		ld64(e, RAX, GPR(R_SP));
		gen_load(g, i, 8, true);
		st64(e, OFF(jit_tmp), RAX);
		ld64(e, RAX, GPR(R_SP));
		b1(e, 0x48); b1(e, 0x83); b1(e, 0xc0); b1(e, 8);	/* add rax, 8 */
		st64(e, GPR(R_SP), RAX);
		ld64(e, RAX, OFF(jit_tmp));
		st64(e, GPR(i->reg), RAX);
		return true;
	default:
		return false;
	}
}

static struct jit *jit_of(struct vm *vm)
{
	struct jit *j = vm->jit;
	if (j || vm->jit_off)
		return j;
	j = calloc(1, sizeof(*j));
	if (!j)
		goto fail;
	int fd = memfd_create("nestvm-jit", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, JIT_BUF) < 0) {
		if (fd >= 0)
			close(fd);
		goto fail;
	}
	j->w = mmap(NULL, JIT_BUF, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	j->x = mmap(NULL, JIT_BUF, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
	close(fd);
	if (j->w == MAP_FAILED || j->x == MAP_FAILED)
		goto fail;
	vm->jit = j;
	return j;
fail:
	free(j);
	vm->jit_off = true;	/* no executable memory here: interpret */
	return NULL;
}

jit_fn jit_compile(struct cpu *c, struct blk *b)
{
	struct jit *j = jit_of(c->vm);
	if (!j)
		return NULL;
	if (j->used + 64 * 1024 > JIT_BUF) {
		code_flush_all(c->vm);	/* also resets the code buffer */
		return NULL;
	}
	struct gen g;
	memset(&g, 0, sizeof(g));
	g.c = c;
	g.b = b;
	g.cc_known = -1;
	g.e.p = j->w + j->used;
	g.e.end = j->w + JIT_BUF;
	uint8_t *start = g.e.p;

	/* flags liveness, backwards from the block end (live there) */
	bool live[BLK_MAX_INSNS];
	bool l = true;
	for (int k = b->n - 1; k >= 0; k--) {
		const struct insn *i = &b->insn[k];
		live[k] = l;
		if (reads_flags(i) || i->fk == FK_NONE)
			l = true;
		else if (writes_all_flags(i))
			l = false;
		else if (i->fk == FK_INC || i->fk == FK_DEC)
			l = l;	/* preserves CF: inlined only when dead after */
	}

	b1(&g.e, 0x53);				/* push rbx */
	rr(&g.e, true, 0x89, RBX, RDI);		/* mov rbx, rdi */
	uint8_t *top = g.e.p;
	for (int k = 0; k < b->n; k++) {
		const struct insn *i = &b->insn[k];
		if (i->fk == FK_NONE || !gen_insn(&g, i, live[k]))
			call_handler(&g, i);
		if (g.brk_at_end) {
			brk_check(&g);
			g.brk_at_end = false;
		}
	}
	/*
	 * Block end: account for it (as h_blk_end does), and when the block
	 * loops on itself with time left, go round again without leaving the
	 * code; otherwise let blk_chain decide.
	 */
	{
		struct em *e = &g.e;
		static const uint8_t addop[] = { 0x81 };
		movabs(e, RAX, 0);
		st64(e, OFF(cur), RAX);			/* c->cur = NULL */
		rm_cpu(e, true, addop, 1, 0, OFF(clock));	/* add qword [clock], n */
		b4(e, (uint32_t)b->n);
		if (!b->ends_branch) {
			movabs(e, RAX, b->insn[b->n].disp);
			st64(e, OFF(rip), RAX);
		}
		/* self loop: rip == b->rip && clock + n <= stop_at && no shadow/io */
		ld64(e, RAX, OFF(rip));
		movabs(e, RDX, b->rip);
		rr(e, true, 0x39, RAX, RDX);
		uint8_t *not_self = jcc32(e, CC_NE_);
		/* ... and its translation is still cached (no TLB flush since) */
		movabs(e, RDX, (uint64_t)(uintptr_t)b);
		static const uint8_t cmpq[] = { 0x3b };
		rm_cpu(e, true, cmpq, 1, RDX,
		       (int32_t)(offsetof(struct cpu, jc) + 8 * (size_t)blk_jc_idx(b->rip)));
		uint8_t *flushed = jcc32(e, CC_NE_);
		ld64(e, RAX, OFF(clock));
		b1(e, 0x48); b1(e, 0x05); b4(e, (uint32_t)b->n);	/* add rax, n */
		static const uint8_t cmpop[] = { 0x3b };
		rm_cpu(e, true, cmpop, 1, RAX, OFF(stop_at));	/* cmp rax, [stop_at] */
		uint8_t *no_time = jcc32(e, CC_A_);
		static const uint8_t cmpb[] = { 0x80 };
		rm_cpu(e, false, cmpb, 1, 7, OFF(evt.shadow_next));	/* cmp byte [shadow_next], 0 */
		b1(e, 0);
		uint8_t *sh = jcc32(e, CC_NE_);
		static const uint8_t cmpd[] = { 0x83 };
		rm_cpu(e, false, cmpd, 1, 7, OFF(io_nresp));	/* cmp dword [io_nresp], 0 */
		b1(e, 0);
		uint8_t *io = jcc32(e, CC_NE_);
		/* jmp top */
		b1(e, 0xe9);
		b4(e, (uint32_t)(int32_t)(top - (e->p + 4)));
		patch(e, not_self);
		patch(e, flushed);
		patch(e, no_time);
		patch(e, sh);
		patch(e, io);
		rr(e, true, 0x89, RDI, RBX);
		movabs(e, RSI, (uint64_t)(uintptr_t)b);
		call_abs(e, (const void *)blk_chain);
	}
	uint8_t *exit = g.e.p;
	b1(&g.e, 0x5b);				/* pop rbx */
	b1(&g.e, 0xc3);				/* ret */
	for (int k = 0; k < g.nexits; k++) {
		uint8_t *at = g.exits[k];
		if (!g.e.full) {
			int32_t d = (int32_t)(exit - (at + 4));
			memcpy(at, &d, 4);
		}
	}
	if (g.e.full)
		return NULL;
	size_t len = (size_t)(g.e.p - start);
	size_t off = j->used;
	j->used += (len + 15) & ~(size_t)15;
	return (jit_fn)(void *)(j->x + off);
}

void jit_reset(struct vm *vm)
{
	struct jit *j = vm->jit;
	if (j)
		j->used = 0;
}

void jit_destroy(struct vm *vm)
{
	struct jit *j = vm->jit;
	if (!j)
		return;
	munmap(j->w, JIT_BUF);
	munmap(j->x, JIT_BUF);
	free(j);
	vm->jit = NULL;
}

#else	/* not an x86-64 host: the interpreter does everything */

jit_fn jit_compile(struct cpu *c, struct blk *b)
{
	(void)c;
	(void)b;
	return NULL;
}

void jit_reset(struct vm *vm)
{
	(void)vm;
}

void jit_destroy(struct vm *vm)
{
	(void)vm;
}

#endif
