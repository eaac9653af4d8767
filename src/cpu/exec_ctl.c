// SPDX-License-Identifier: MIT
/*
 * Near branches, the stack, and string instructions with REP prefixes
 * (SDM Vol. 2).  REP iterations count as executed instructions, so a
 * string instruction can stop between iterations at an exact instruction
 * count (RIP stays on it, RCX/RSI/RDI reflect the iterations done).
 */
#include "cpu.h"
#include "exec.h"
#include "mem.h"

#define H(name) void name(struct cpu *c, const struct insn *i)

static inline uint64_t next_rip(const struct insn *i)
{
	return i->rip + i->len;
}

static inline uint64_t osz_mask(int osz)
{
	return osz == 2 ? 0xffff : osz == 4 ? 0xffffffffULL : ~0ULL;
}

/* #GP(0) unless `target` is a valid RIP (CS limit or canonical) */
void cpu_check_target(struct cpu *c, uint64_t target)
{
	if (cpu_long64(c)) {
		int sh = (c->cr4 & CR4_LA57) ? 7 : 16;
		if ((uint64_t)((int64_t)(target << sh) >> sh) != target)
			cpu_gp0(c);
	} else if (target > c->seg[S_CS].limit) {
		cpu_gp0(c);
	}
}

/* near transfer to `target` (already masked to the operand size) */
void cpu_jump(struct cpu *c, uint64_t target)
{
	cpu_check_target(c, target);
	c->rip = target;
}

H(h_jcc)
{
	if (cc_cond(c, i->aux))
		cpu_jump(c, (next_rip(i) + i->imm) & osz_mask(i->osz));
	else
		c->rip = next_rip(i);
}

H(h_jmp_rel)
{
	cpu_jump(c, (next_rip(i) + i->imm) & osz_mask(i->osz));
}

H(h_call_rel)
{
	uint64_t t = (next_rip(i) + i->imm) & osz_mask(i->osz);
	uint64_t ret = next_rip(i) & osz_mask(i->osz);
	uint64_t sp = stk_addr(c, -i->osz);
	cpu_check_target(c, t);	/* before the push (SDM CALL) */
	cpu_st(c, S_SS, sp, i->osz, ret);
	sp_set(c, sp);
	c->rip = t;
}

H(h_call_rm)
{
	uint64_t t = rm_get(c, i, i->osz) & osz_mask(i->osz);
	uint64_t ret = next_rip(i) & osz_mask(i->osz);
	uint64_t sp = stk_addr(c, -i->osz);
	cpu_check_target(c, t);
	cpu_st(c, S_SS, sp, i->osz, ret);
	sp_set(c, sp);
	c->rip = t;
}

H(h_jmp_rm)
{
	cpu_jump(c, rm_get(c, i, i->osz) & osz_mask(i->osz));
}

H(h_ret)
{
	uint64_t t = cpu_ld(c, S_SS, sp_get(c), i->osz);
	cpu_jump(c, t);
	sp_set(c, stk_addr(c, i->osz + (i->aux ? (int64_t)(i->imm & 0xffff) : 0)));
}

H(h_loop)
{
	int a = i->asz;
	uint64_t cnt = (c->gpr[R_CX] - 1) & sz_mask(a);
	bool take = cnt != 0;
	if (i->aux == 0)
		take = take && !cc_cond(c, 4);	/* LOOPNE: ZF = 0 */
	else if (i->aux == 1)
		take = take && cc_cond(c, 4);	/* LOOPE: ZF = 1 */
	if (take)
		cpu_jump(c, (next_rip(i) + i->imm) & osz_mask(i->osz));
	else
		c->rip = next_rip(i);
	reg_set(c, R_CX, a, cnt);
}

H(h_jcxz)
{
	if (!(c->gpr[R_CX] & sz_mask(i->asz)))
		cpu_jump(c, (next_rip(i) + i->imm) & osz_mask(i->osz));
	else
		c->rip = next_rip(i);
}

/* ---- stack ------------------------------------------------------------------ */

H(h_push_r)
{
	push(c, i->osz, reg_get(c, i->reg, i->osz));
}

H(h_pop_r)
{
	uint64_t v = cpu_ld(c, S_SS, sp_get(c), i->osz);
	sp_set(c, stk_addr(c, i->osz));
	reg_set(c, i->reg, i->osz, v);
}

H(h_push_i)
{
	push(c, i->osz, i->imm);
}

H(h_push_rm)
{
	push(c, i->osz, rm_get(c, i, i->osz));
}

H(h_pop_rm)
{
	uint64_t v = cpu_ld(c, S_SS, sp_get(c), i->osz);
	uint64_t nsp = stk_addr(c, i->osz);
	if (!i->mem) {
		sp_set(c, nsp);
		reg_set(c, i->rm, i->osz, v);
		return;
	}
	/* the address is computed with the incremented stack pointer */
	uint64_t save = c->gpr[R_SP];
	sp_set(c, nsp);
	uint64_t ea = insn_ea(c, i);
	uint64_t after = c->gpr[R_SP];
	c->gpr[R_SP] = save;
	cpu_st(c, i->seg, ea, i->osz, v);
	c->gpr[R_SP] = after;
}

H(h_pusha)
{
	int sz = i->osz;
	uint64_t sp0 = c->gpr[R_SP];
	uint64_t top = stk_addr(c, -8 * sz);
	uint64_t lin = seg_lin(c, S_SS, top, 8 * sz, ACC_W);
	(void)lin;
	for (int r = 0; r < 8; r++) {
		uint64_t v = r == R_SP ? sp0 : c->gpr[r];
		cpu_st(c, S_SS, ea_mask(top + (7 - r) * sz, stack_asz(c)), sz, v);
	}
	sp_set(c, top);
}

H(h_popa)
{
	int sz = i->osz;
	uint64_t base = sp_get(c), v[8];
	for (int r = 0; r < 8; r++)
		v[r] = cpu_ld(c, S_SS, ea_mask(base + (7 - r) * sz, stack_asz(c)), sz);
	for (int r = 0; r < 8; r++)
		if (r != R_SP)
			reg_set(c, r, sz, v[r]);
	sp_set(c, stk_addr(c, 8 * sz));
}

H(h_pushf)
{
	uint64_t f = cpu_get_rflags(c);
	if (c->rflags & F_VM) {
		if (((f >> 12) & 3) < 3) {
			if (!(c->cr4 & CR4_VME) || i->osz != 2)
				cpu_gp0(c);
			/* VME: IF image from VIF, IOPL reads as 3 */
			f = (f & ~(uint64_t)F_IF) | ((f & F_VIF) ? F_IF : 0) | F_IOPL;
		}
	}
	f &= ~(uint64_t)(F_VM | F_RF);
	push(c, i->osz, f);
}

/*
 * POPF (SDM POPF): which flags change depends on mode, CPL and IOPL.
 * mask: the bits of `v` that may be written.
 */
void cpu_set_rflags(struct cpu *c, uint64_t v, uint64_t mask)
{
	uint64_t old = cpu_get_rflags(c);
	uint64_t nf = (old & ~mask) | (v & mask);
	nf = (nf & 0x3f7fd5ULL) | F_FIXED;
	c->rflags = nf;
	c->cc_op = CC_EAGER;
	if ((old ^ nf) & (F_IF | F_TF | F_AC | F_RF | F_VM | F_IOPL))
		c->brk |= BRK_EVENT | BRK_MODE;
	if ((old ^ nf) & F_AC)
		cpu_update_tlb_sel(c);
}

H(h_popf)
{
	int sz = i->osz;
	uint64_t v = cpu_ld(c, S_SS, sp_get(c), sz);
	uint64_t mask;
	int iopl = (cpu_get_rflags(c) >> 12) & 3;

	if (c->rflags & F_VM) {
		if (iopl < 3) {
			if (!(c->cr4 & CR4_VME) || sz != 2)
				cpu_gp0(c);
			/* VME: IF goes to VIF; #GP if it would set VIF with VIP */
			if ((v & F_TF) || ((v & F_IF) && (c->rflags & F_VIP)))
				cpu_gp0(c);
			sp_set(c, stk_addr(c, sz));
			uint64_t keep = cpu_get_rflags(c);
			uint64_t nf = (keep & ~0xffffULL) | (v & 0xffff & ~(uint64_t)(F_IF | F_IOPL)) | (keep & (F_IF | F_IOPL));
			nf = (nf & ~(uint64_t)F_VIF) | ((v & F_IF) ? F_VIF : 0);
			cpu_set_rflags(c, nf, ~0ULL);
			c->rip = next_rip(i);
			return;
		}
		mask = 0x3f7fd5ULL & ~(uint64_t)(F_IOPL | F_VM | F_VIP | F_VIF);
	} else if (c->cpl == 0) {
		mask = 0x3f7fd5ULL & ~(uint64_t)(F_VM | F_VIP | F_VIF);
	} else {
		mask = 0x3f7fd5ULL & ~(uint64_t)(F_VM | F_VIP | F_VIF | F_IOPL);
		if (c->cpl > iopl)
			mask &= ~(uint64_t)F_IF;
	}
	if (sz == 2)
		mask &= 0xffff;
	mask &= ~(uint64_t)F_RF;
	sp_set(c, stk_addr(c, sz));
	cpu_set_rflags(c, v, mask);
	c->rflags &= ~(uint64_t)F_RF;
	c->rip = next_rip(i);
}

H(h_enter)
{
	int sz = i->osz, ssz = stack_asz(c);
	uint64_t alloc = i->imm & 0xffff;
	int level = i->imm2 & 31;
	uint64_t fp = c->gpr[R_BP];
	uint64_t sp = stk_addr(c, -sz);
	uint64_t frame = sp;
	/* check the whole new frame first */
	cpu_st(c, S_SS, sp, sz, fp);
	uint64_t cur_sp = sp;
	if (level > 0) {
		uint64_t bp = fp;
		for (int k = 1; k < level; k++) {
			bp = ea_mask(bp - sz, ssz);
			uint64_t v = cpu_ld(c, S_SS, bp, sz);
			cur_sp = ea_mask(cur_sp - sz, ssz);
			cpu_st(c, S_SS, cur_sp, sz, v);
		}
		cur_sp = ea_mask(cur_sp - sz, ssz);
		cpu_st(c, S_SS, cur_sp, sz, frame);
	}
	uint64_t nsp = ea_mask(cur_sp - alloc, ssz);
	/*
	 * SDM ENTER: #SS or #PF "if a write using the final value of the
	 * stack pointer would cause" one: probe it as a write.
	 */
	if (alloc)
		mem_probe(c, seg_lin(c, S_SS, nsp, 1, ACC_W), 1, ACC_W | ACC_SS);
	reg_set(c, R_BP, sz, frame);
	reg_set(c, R_SP, ssz, nsp);
}

H(h_leave)
{
	int sz = i->osz, ssz = stack_asz(c);
	uint64_t bp = ea_mask(c->gpr[R_BP], ssz);
	uint64_t v = cpu_ld(c, S_SS, bp, sz);
	reg_set(c, R_SP, ssz, ea_mask(bp + sz, ssz));
	reg_set(c, R_BP, sz, v);
}

/* ---- strings ------------------------------------------------------------------ */

/* how many more executed instructions this run may take (>= 1) */
static uint64_t rep_room(struct cpu *c)
{
	uint64_t now = c->clock + (uint64_t)(c->cur - c->cur_blk->insn);
	uint64_t end = c->stop_at;
	return end > now ? end - now : 1;
}

struct rep {
	int a;		/* address size */
	uint64_t m;	/* address mask */
	int64_t step;
	bool rep;
	uint64_t cnt;
	uint64_t room;
	uint64_t done;
};

static void rep_begin(struct cpu *c, const struct insn *i, struct rep *r, int sz)
{
	r->a = i->asz;
	r->m = sz_mask(i->asz);
	r->step = (c->rflags & F_DF) ? -sz : sz;
	r->rep = i->pfx & (PFX_REP | PFX_REPNE);
	r->cnt = c->gpr[R_CX] & r->m;
	r->room = rep_room(c);
	r->done = 0;
}

/* after one iteration: true to continue */
static bool rep_next(struct cpu *c, const struct insn *i, struct rep *r)
{
	r->done++;
	c->rep_done = r->done;
	io_retire(c);
	if (!r->rep)
		return false;
	r->cnt = (r->cnt - 1) & r->m;
	reg_set(c, R_CX, r->a, r->cnt);
	if (!r->cnt)
		return false;
	if (r->done >= r->room || (c->brk & (BRK_EXIT | BRK_SMC | BRK_EVENT))) {
		/* stop between iterations: re-execute for the rest */
		c->rip = i->rip;
		c->brk |= BRK_REP;
		return false;
	}
	return true;
}

static void rep_end(struct cpu *c, struct rep *r)
{
	c->rep_done = 0;
	if (r->done > 1) {
		c->clock += r->done - 1;
		/*
		 * The block's instruction limit was fixed when it started and
		 * counts this instruction once: end the block here so the run
		 * loop recomputes the room, keeping the budget and timer
		 * deadlines exact.
		 */
		c->brk |= BRK_EVENT;
	}
}

static inline uint64_t si_ea(const struct cpu *c, const struct rep *r)
{
	return c->gpr[R_SI] & r->m;
}

static inline uint64_t di_ea(const struct cpu *c, const struct rep *r)
{
	return c->gpr[R_DI] & r->m;
}

static inline void adv(struct cpu *c, int reg, const struct rep *r)
{
	reg_set(c, reg, r->a, (c->gpr[reg] + (uint64_t)r->step) & r->m);
}

H(h_movs)
{
	struct rep r;
	int sz = i->osz;
	rep_begin(c, i, &r, sz);
	if (r.rep && !r.cnt)
		return;
	/* fast path: forward copies within pages through host pointers */
	do {
		if (r.rep && r.step > 0 && r.cnt > 1) {
			uint64_t sl = seg_lin(c, i->seg, si_ea(c, &r), sz, ACC_R);
			uint64_t dl = seg_lin(c, S_ES, di_ea(c, &r), sz, ACC_W);
			uintptr_t hs = tlb_host_r(c, sl, sz), hd = tlb_host_w(c, dl, sz);
			if (hs && hd) {
				uint64_t n = r.cnt - 1;
				uint64_t sroom = (0x1000 - (sl & 0xfff)) / sz;
				uint64_t droom = (0x1000 - (dl & 0xfff)) / sz;
				uint64_t lim = r.room > r.done + 1 ? r.room - r.done - 1 : 0;
				if (n > sroom) n = sroom;
				if (n > droom) n = droom;
				if (n > lim) n = lim;
				uint64_t sm = c->gpr[R_SI] & r.m, dm = c->gpr[R_DI] & r.m;
				if (sm + n * sz > r.m || dm + n * sz > r.m)
					n = 0;
				/* the whole run must pass the segment checks */
				if (!((c->seg_fast >> i->seg) & 1) || !((c->seg_fast_w >> S_ES) & 1) ||
				    sm + n * sz > c->seg_elim[i->seg] || dm + n * sz > c->seg_elim[S_ES])
					n = 0;
				if (n > 1) {
					uint8_t *s = (uint8_t *)hs;
					uint8_t *d = (uint8_t *)hd;
					size_t bytes = n * sz;
					if (d >= s + bytes || s >= d + bytes || d < s) {
						memmove(d, s, bytes);
					} else {
						/*
						 * Destination ahead of the source within the
						 * copy: element by element, each read before
						 * its own write, as the loop of SDM MOVS does.
						 */
						for (size_t k = 0; k < bytes; k += sz)
							st_host((uintptr_t)(d + k), sz,
								ld_host((uintptr_t)(s + k), sz));
					}
					reg_set(c, R_SI, r.a, (c->gpr[R_SI] + bytes) & r.m);
					reg_set(c, R_DI, r.a, (c->gpr[R_DI] + bytes) & r.m);
					r.cnt -= n;
					reg_set(c, R_CX, r.a, r.cnt);
					r.done += n;
					c->rep_done = r.done;
					/* one more element below; rep_next accounts for it */
				}
			}
		}
		uint64_t v = cpu_ld(c, i->seg, si_ea(c, &r), sz);
		cpu_st(c, S_ES, di_ea(c, &r), sz, v);
		adv(c, R_SI, &r);
		adv(c, R_DI, &r);
	} while (rep_next(c, i, &r));
	rep_end(c, &r);
}

H(h_stos)
{
	struct rep r;
	int sz = i->osz;
	uint64_t v = reg_get(c, R_AX, sz);
	rep_begin(c, i, &r, sz);
	if (r.rep && !r.cnt)
		return;
	do {
		if (r.rep && r.step > 0 && r.cnt > 1) {
			uint64_t dl = seg_lin(c, S_ES, di_ea(c, &r), sz, ACC_W);
			uintptr_t hd = tlb_host_w(c, dl, sz);
			if (hd) {
				uint64_t n = r.cnt - 1;
				uint64_t droom = (0x1000 - (dl & 0xfff)) / sz;
				uint64_t lim = r.room > r.done + 1 ? r.room - r.done - 1 : 0;
				if (n > droom) n = droom;
				if (n > lim) n = lim;
				if ((c->gpr[R_DI] & r.m) + n * sz > r.m)
					n = 0;
				if (!((c->seg_fast_w >> S_ES) & 1) ||
				    (c->gpr[R_DI] & r.m) + n * sz > c->seg_elim[S_ES])
					n = 0;
				if (n > 1) {
					uint8_t *d = (uint8_t *)hd;
					if (sz == 1)
						memset(d, (int)v, n);
					else
						for (uint64_t k = 0; k < n; k++)
							st_host((uintptr_t)(d + k * sz), sz, v);
					reg_set(c, R_DI, r.a, (c->gpr[R_DI] + n * sz) & r.m);
					r.cnt -= n;
					reg_set(c, R_CX, r.a, r.cnt);
					r.done += n;
					c->rep_done = r.done;
					/* one more element below; rep_next accounts for it */
				}
			}
		}
		cpu_st(c, S_ES, di_ea(c, &r), sz, v);
		adv(c, R_DI, &r);
	} while (rep_next(c, i, &r));
	rep_end(c, &r);
}

H(h_lods)
{
	struct rep r;
	int sz = i->osz;
	rep_begin(c, i, &r, sz);
	if (r.rep && !r.cnt)
		return;
	do {
		uint64_t v = cpu_ld(c, i->seg, si_ea(c, &r), sz);
		reg_set(c, R_AX, sz, v);
		adv(c, R_SI, &r);
	} while (rep_next(c, i, &r));
	rep_end(c, &r);
}

/* CMPS / SCAS: REPE stops on ZF = 0, REPNE on ZF = 1 */
static bool rep_cmp_stop(const struct insn *i, uint64_t a, uint64_t b)
{
	if (i->pfx & PFX_REP)
		return a != b;
	if (i->pfx & PFX_REPNE)
		return a == b;
	return false;
}

H(h_cmps)
{
	struct rep r;
	int sz = i->osz;
	rep_begin(c, i, &r, sz);
	if (r.rep && !r.cnt)
		return;
	for (;;) {
		uint64_t a = cpu_ld(c, i->seg, si_ea(c, &r), sz);
		uint64_t b = cpu_ld(c, S_ES, di_ea(c, &r), sz);
		alu_op(c, ALU_CMP, sz, a, b);
		adv(c, R_SI, &r);
		adv(c, R_DI, &r);
		if (rep_cmp_stop(i, a, b)) {
			r.done++;
			c->rep_done = r.done;
			io_retire(c);
			if (r.rep) {
				r.cnt = (r.cnt - 1) & r.m;
				reg_set(c, R_CX, r.a, r.cnt);
			}
			break;
		}
		if (!rep_next(c, i, &r))
			break;
	}
	rep_end(c, &r);
}

H(h_scas)
{
	struct rep r;
	int sz = i->osz;
	uint64_t a = reg_get(c, R_AX, sz);
	rep_begin(c, i, &r, sz);
	if (r.rep && !r.cnt)
		return;
	for (;;) {
		uint64_t b = cpu_ld(c, S_ES, di_ea(c, &r), sz);
		alu_op(c, ALU_CMP, sz, a, b);
		adv(c, R_DI, &r);
		if (rep_cmp_stop(i, a, b)) {
			r.done++;
			c->rep_done = r.done;
			io_retire(c);
			if (r.rep) {
				r.cnt = (r.cnt - 1) & r.m;
				reg_set(c, R_CX, r.a, r.cnt);
			}
			break;
		}
		if (!rep_next(c, i, &r))
			break;
	}
	rep_end(c, &r);
}

H(h_ins)
{
	struct rep r;
	int sz = i->osz > 4 ? 4 : i->osz;
	uint16_t port = (uint16_t)c->gpr[R_DX];
	io_perm_check(c, port, sz);
	rep_begin(c, i, &r, sz);
	if (r.rep && !r.cnt)
		return;
	do {
		/* the destination is checked before the port is read */
		uint64_t lin = seg_lin(c, S_ES, di_ea(c, &r), sz, ACC_W);
		mem_probe(c, lin, sz, ACC_W);
		uint64_t v = io_in(c, port, sz);
		cpu_st(c, S_ES, di_ea(c, &r), sz, v);
		adv(c, R_DI, &r);
	} while (rep_next(c, i, &r));
	rep_end(c, &r);
}

H(h_outs)
{
	struct rep r;
	int sz = i->osz > 4 ? 4 : i->osz;
	uint16_t port = (uint16_t)c->gpr[R_DX];
	io_perm_check(c, port, sz);
	rep_begin(c, i, &r, sz);
	if (r.rep && !r.cnt)
		return;
	do {
		uint64_t v = cpu_ld(c, i->seg, si_ea(c, &r), sz);
		io_out(c, port, sz, v);
		adv(c, R_SI, &r);
	} while (rep_next(c, i, &r));
	rep_end(c, &r);
}
