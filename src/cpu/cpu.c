// SPDX-License-Identifier: MIT
/*
 * The vCPU run loop, faults, reset, and control-register writes.
 *
 * cpu_run executes until an exit for the VMM, the instruction budget or
 * shutdown.  At each instruction boundary it services events (event.c);
 * then it runs a block of decoded instructions.  Faults longjmp back here
 * with RIP restored to the faulting instruction and become pending
 * exceptions; a snapshot can be taken at any return.
 */
#include <errno.h>
#include <stdlib.h>

#include "cpu.h"
#include "exec.h"
#include "lapic.h"
#include "mem.h"
#include "jit.h"

enum { JMP_NONE, JMP_FAULT, JMP_EXIT };

NORETURN static void raise_full(struct cpu *c, int vec, bool has_ec, uint32_t ec,
				bool has_payload, uint64_t payload)
{
	c->flt.vec = vec;
	c->flt.has_ec = has_ec;
	c->flt.ec = ec;
	c->flt.has_payload = has_payload;
	c->flt.payload = payload;
	longjmp(c->jb, JMP_FAULT);
}

NORETURN void cpu_raise(struct cpu *c, int vec)
{
	raise_full(c, vec, false, 0, false, 0);
}

NORETURN void cpu_raise_ec(struct cpu *c, int vec, uint32_t ec)
{
	raise_full(c, vec, true, ec, false, 0);
}

NORETURN void cpu_raise_pf(struct cpu *c, uint64_t lin, uint32_t ec)
{
	raise_full(c, EXC_PF, true, ec, true, lin);
}

NORETURN void cpu_raise_db(struct cpu *c, uint64_t dr6_bits)
{
	raise_full(c, EXC_DB, false, 0, true, dr6_bits);
}

NORETURN void cpu_ud(struct cpu *c)
{
	cpu_raise(c, EXC_UD);
}

NORETURN void cpu_gp0(struct cpu *c)
{
	cpu_raise_ec(c, EXC_GP, 0);
}

NORETURN void cpu_exit_now(struct cpu *c)
{
	longjmp(c->jb, JMP_EXIT);
}

NORETURN void cpu_internal_error(struct cpu *c, const char *why)
{
	struct kvm_run *r = c->run;
	r->exit_reason = KVM_EXIT_INTERNAL_ERROR;
	r->internal.suberror = KVM_INTERNAL_ERROR_EMULATION;
	r->internal.ndata = 0;
	c->internal_why = why;
	cpu_exit_now(c);
}

void cpu_request_exit(struct cpu *c, uint32_t reason)
{
	c->run->exit_reason = reason;
	c->brk |= BRK_EXIT;
}

/* ---- control registers (SDM 2.5, 4.1) --------------------------------------- */

void cpu_set_cr0(struct cpu *c, uint64_t v)
{
	uint64_t old = c->cr0;
	if (v >> 32)
		cpu_gp0(c);
	/* reserved bits 28:19, 17, 15:6 are ignored and read as 0 (SDM 2.5) */
	v &= CR0_PE | CR0_MP | CR0_EM | CR0_TS | CR0_NE | CR0_WP | CR0_AM |
	     CR0_NW | CR0_CD | CR0_PG;
	v |= CR0_ET;
	if ((v & CR0_PG) && !(v & CR0_PE))
		cpu_gp0(c);
	if ((v & CR0_NW) && !(v & CR0_CD))
		cpu_gp0(c);
	if ((v & CR0_PG) && !(old & CR0_PG) && (c->efer & EFER_LME)) {
		if (!(c->cr4 & CR4_PAE))
			cpu_gp0(c);
		if (c->seg[S_CS].ar & AR_L)
			cpu_gp0(c);
	}
	if (!(v & CR0_PG) && (old & CR0_PG) && cpu_long64(c))
		cpu_gp0(c);
	if (!(v & CR0_PG) && (c->cr4 & CR4_PCIDE) && (old & CR0_PG))
		cpu_gp0(c);
	if ((v & CR0_PG) && (c->cr4 & CR4_PAE) && !(c->efer & EFER_LME) &&
	    ((v ^ old) & (CR0_PG | CR0_CD | CR0_NW)) && mmu_load_pdptrs(c, c->cr3))
		cpu_gp0(c);
	c->cr0 = v;
	if ((v & CR0_PG) && (c->efer & EFER_LME))
		c->efer |= EFER_LMA;
	else if (!(v & CR0_PG))
		c->efer &= ~EFER_LMA;
	if ((old ^ v) & (CR0_PG | CR0_WP | CR0_PE | CR0_CD | CR0_NW))
		mmu_flush(c);
	cpu_update_mode(c);
	c->brk |= BRK_MODE;
}

void cpu_set_cr3(struct cpu *c, uint64_t v)
{
	uint64_t pcid_noflush = 0;
	if (c->cr4 & CR4_PCIDE)
		pcid_noflush = v & (1ULL << 63);
	v &= ~pcid_noflush;
	if ((c->efer & EFER_LMA)) {
		uint64_t rs = 0;
		for (unsigned b = c->model->maxphyaddr; b < 64; b++)
			rs |= 1ULL << b;
		if (v & rs)
			cpu_gp0(c);
	} else if ((c->cr0 & CR0_PG) && (c->cr4 & CR4_PAE)) {
		if (mmu_load_pdptrs(c, v))
			cpu_gp0(c);
	}
	c->cr3 = v;
	mmu_flush(c);
}

/* CR4 bits this CPU model implements; the others are reserved (#GP) */
uint64_t cpu_cr4_valid_bits(const struct cpu *c)
{
	uint64_t m = CR4_VME | CR4_PVI | CR4_TSD | CR4_DE | CR4_PSE | CR4_PAE |
		     CR4_MCE | CR4_PGE | CR4_PCE | CR4_OSFXSR | CR4_OSXMMEXCPT;
	if (HAS(c, FEAT_UMIP)) m |= CR4_UMIP;
	if (HAS(c, FEAT_LA57)) m |= CR4_LA57;
	if (HAS(c, FEAT_VMX)) m |= CR4_VMXE;
	if (HAS(c, FEAT_FSGSBASE)) m |= CR4_FSGSBASE;
	if (HAS(c, FEAT_PCID)) m |= CR4_PCIDE;
	if (HAS(c, FEAT_XSAVE)) m |= CR4_OSXSAVE;
	if (HAS(c, FEAT_SMEP)) m |= CR4_SMEP;
	if (HAS(c, FEAT_SMAP)) m |= CR4_SMAP;
	if (HAS(c, FEAT_PKU)) m |= CR4_PKE;
	return m;
}

void cpu_set_cr4(struct cpu *c, uint64_t v)
{
	uint64_t old = c->cr4;
	if (v & ~cpu_cr4_valid_bits(c))
		cpu_gp0(c);
	if ((c->efer & EFER_LMA) && !(v & CR4_PAE))
		cpu_gp0(c);
	if ((c->efer & EFER_LMA) && ((v ^ old) & CR4_LA57))
		cpu_gp0(c);
	if ((v & CR4_PCIDE) && !(old & CR4_PCIDE) &&
	    (!(c->efer & EFER_LMA) || (c->cr3 & 0xfff)))
		cpu_gp0(c);
	if ((c->cr0 & CR0_PG) && (v & CR4_PAE) && !(c->efer & EFER_LMA) &&
	    ((v ^ old) & (CR4_PAE | CR4_PGE | CR4_PSE | CR4_SMEP | CR4_SMAP)) &&
	    mmu_load_pdptrs(c, c->cr3))
		cpu_gp0(c);
	c->cr4 = v;
	mmu_flush(c);
	cpu_update_mode(c);
	c->brk |= BRK_MODE;
}

void cpu_set_efer(struct cpu *c, uint64_t v)
{
	c->efer = (v & ~EFER_LMA) | (c->efer & EFER_LMA);
	mmu_flush(c);
	cpu_update_mode(c);
}

/* ---- reset ----------------------------------------------------------------- */

static void set_seg(struct seg *s, uint16_t sel, uint64_t base, uint32_t limit, uint32_t ar)
{
	s->sel = sel;
	s->base = base;
	s->limit = limit;
	s->ar = ar;
}

/* power-on reset or INIT (SDM 10.1, table 10-1) */
void cpu_reset(struct cpu *c, bool init)
{
	uint64_t keep_cr0 = c->cr0 & (CR0_CD | CR0_NW);
	memset(c->gpr, 0, sizeof(c->gpr));
	{
		uint32_t r[4];
		cpuid_query(c, 1, 0, r);
		c->gpr[R_DX] = r[0];	/* processor signature */
	}
	c->rip = 0xfff0;
	c->rflags = F_FIXED;
	c->cc_op = CC_EAGER;
	set_seg(&c->seg[S_CS], 0xf000, 0xffff0000ULL, 0xffff, AR_P | AR_S | 0xb);
	for (int s = S_ES; s <= S_GS; s++)
		if (s != S_CS)
			set_seg(&c->seg[s], 0, 0, 0xffff, AR_P | AR_S | 3);
	set_seg(&c->seg[S_LDTR], 0, 0, 0xffff, AR_P | 2);
	set_seg(&c->seg[S_TR], 0, 0, 0xffff, AR_P | 0xb);
	c->gdtr.base = 0;
	c->gdtr.limit = 0xffff;
	c->idtr.base = 0;
	c->idtr.limit = 0xffff;
	c->cr0 = CR0_ET | CR0_CD | CR0_NW;
	if (init)
		c->cr0 = CR0_ET | keep_cr0;
	c->cr2 = c->cr3 = c->cr4 = 0;
	c->efer = 0;
	memset(c->dr, 0, sizeof(c->dr));
	c->dr[6] = DR6_ACTIVE_LOW;
	c->dr[7] = 0x400;
	c->cpl = 0;
	c->halted = false;
	c->shutdown = false;
	c->pkru = 0;
	c->extint_pending = false;
	evt_reset(c);
	if (!init) {
		memset(&c->fpu, 0, sizeof(c->fpu));
		c->fpu.fcw = 0x40;
		c->fpu.mxcsr = 0x1f80;
		c->fpu.xcr0 = 1;
		c->msr.pat = 0x0007040600070406ULL;
		c->msr.tsc_offset = 0;
	}
	c->msr.sysenter_cs = c->msr.sysenter_esp = c->msr.sysenter_eip = 0;
	c->msr.star = c->msr.lstar = c->msr.cstar = c->msr.fmask = 0;
	c->msr.kernel_gs_base = 0;
	c->msr.misc_enable = 1;	/* fast strings */
	c->mode = MODE_CS16 | MODE_REAL;
	lapic_reset(c, init);
	mmu_flush(c);
	cpu_update_mode(c);
}

struct cpu *cpu_create(struct vm *vm, int id)
{
	struct cpu *c = aligned_alloc(64, (sizeof(struct cpu) + 63) & ~(size_t)63);
	if (!c)
		return NULL;
	memset(c, 0, sizeof(*c));
	c->id = id;
	c->vm = vm;
	c->model = &vm->model;
	c->gpr[R_NONE] = 0;
	c->budget_end = ~0ULL;
	c->eoi_exit_vector = -1;
	c->apic = lapic_create(c);
	if (!c->apic || mmu_tlb_alloc(c) < 0) {
		lapic_destroy(c->apic);
		mmu_tlb_free(c);
		free(c);
		return NULL;
	}
	cpu_reset(c, false);
	c->mp_state = id == 0 ? KVM_MP_STATE_RUNNABLE : KVM_MP_STATE_UNINITIALIZED;
	return c;
}

void cpu_destroy(struct cpu *c)
{
	if (!c)
		return;
	lapic_destroy(c->apic);
	mmu_tlb_free(c);
	free(c);
}

/* ---- INIT / SIPI (SDM 9.4, 11.6.1), MWAIT wake-up ----------------------------- */

/*
 * Act on a latched INIT, then a latched SIPI (KVM: kvm_apic_accept_events).
 * Both may have arrived before the vCPU runs again; a SIPI that came
 * before the INIT was already dropped when the INIT was delivered.
 */
void cpu_accept_init_sipi(struct cpu *c)
{
	if (c->init_pending) {
		c->mwait_wait = false;
		c->init_pending = false;
		cpu_reset(c, true);
		c->mp_state = lapic_get_base(c) & (1ULL << 8) ? KVM_MP_STATE_RUNNABLE :
			      KVM_MP_STATE_INIT_RECEIVED;
		if (c->mp_state == KVM_MP_STATE_INIT_RECEIVED)
			c->halted = true;
	}
	if (c->sipi_pending) {
		c->sipi_pending = false;
		if (c->mp_state == KVM_MP_STATE_INIT_RECEIVED) {
			c->mp_state = KVM_MP_STATE_SIPI_RECEIVED;
		}
	}
	if (c->mp_state == KVM_MP_STATE_SIPI_RECEIVED) {
		c->seg[S_CS].sel = (uint16_t)(c->sipi_vector << 8);
		c->seg[S_CS].base = (uint64_t)c->sipi_vector << 12;
		c->rip = 0;
		c->halted = false;
		c->mp_state = KVM_MP_STATE_RUNNABLE;
		cpu_update_mode(c);
	}
}

/* ---- the run loop ----------------------------------------------------------- */

static bool debug_single_step(const struct cpu *c)
{
	return (c->rflags & (F_TF | F_RF)) || c->evt.shadow || (c->dr[7] & 0xff) ||
	       c->guest_debug_ss || c->evt.pending_dbg;
}

/* instruction breakpoints (SDM 17.3.1.1): fault before the instruction */
static void check_code_bp(struct cpu *c)
{
	uint64_t dr7 = c->dr[7];
	if (!(dr7 & 0xff) || (c->rflags & F_RF))
		return;
	uint64_t lin = (c->seg_ebase[S_CS] + c->rip) & c->lin_mask;
	uint64_t hit = 0;
	for (int n = 0; n < 4; n++) {
		if (!((dr7 >> (n * 2)) & 3))
			continue;
		if ((dr7 >> (16 + n * 4)) & 3)
			continue;	/* not an execute breakpoint */
		if (c->dr[n] == lin)
			hit |= 1ULL << n;
	}
	if (hit)
		cpu_raise_db(c, hit);
}

/* run up to `room` instructions of block b */
static void exec_block(struct cpu *c, struct blk *b, uint64_t room)
{
	const struct insn *i = b->insn;
	const struct insn *end = i + (room < b->n ? room : b->n);

	c->cur_blk = b;
	for (; i < end; i++) {
		c->cur = i;
		i->fn(c, i);
		if (unlikely(c->brk)) {
			i++;
			break;
		}
	}
	const struct insn *last = i - 1;
	uint64_t k = (uint64_t)(i - b->insn);
	c->clock += k;
	if (!last->end && !(c->brk & BRK_REP))
		c->rip = (last->rip + last->len) & rip_mask(c);
	c->cur = NULL;
}

/*
 * The block-end sentinel (the extra instruction after every cached block):
 * account for the block, then chain straight into the next one unless the
 * run must stop or the boundary checks of cpu_run are needed.
 */
/* after a block is accounted for: chain to the next one, or stop */
void blk_chain(struct cpu *c, struct blk *b)
{
	if (unlikely(c->evt.shadow_next | c->io_nresp) || c->clock >= c->stop_at) {
		c->brk |= BRK_BLKEND;
		return;
	}
	if (unlikely(++b->hot == c->vm->jit_threshold) && !b->jit && !c->vm->jit_off) {
		b->jit = jit_compile(c, b);
		if (c->brk) {	/* the code buffer was full: everything was flushed */
			c->brk |= BRK_BLKEND;
			return;
		}
	}
	/* a block looping on itself, while its translation is still cached */
	struct blk *nb = c->rip == b->rip && c->jc[blk_jc_idx(c->rip)] == b ? b : blk_next(c, b);
	if (unlikely(c->clock + nb->n > c->stop_at || c->brk)) {
		c->brk |= BRK_BLKEND;
		return;
	}
	c->cur_blk = nb;
	c->ip = nb->insn;
	c->brk = BRK_CHAIN;
}

void h_blk_end(struct cpu *c, const struct insn *i)
{
	struct blk *b = (struct blk *)(uintptr_t)i->imm;

	c->cur = NULL;
	c->clock += b->n;
	if (!b->ends_branch)
		c->rip = i->disp;	/* the RIP after the block */
	blk_chain(c, b);
}

/* run blocks chained by their sentinels; b->n must fit the stop time */
static void exec_chain(struct cpu *c, struct blk *b)
{
	const struct insn *i = b->insn;
	c->cur_blk = b;
	for (;;) {
		if (i == b->insn && b->jit) {
			/* compiled: the whole block, then its sentinel */
			b->jit(c);
		} else {
			c->cur = i;
			i->fn(c, i);
			if (likely(!c->brk)) {
				i++;
				continue;
			}
		}
		if (c->brk != BRK_CHAIN)
			break;
		c->brk = 0;
		b = (struct blk *)c->cur_blk;
		i = c->ip;
	}
	if (c->brk & BRK_BLKEND) {
		c->brk &= ~BRK_BLKEND;
		c->cur = NULL;
		return;
	}
	/* stopped inside a block, after instruction c->cur */
	const struct insn *last = c->cur;
	uint64_t k = (uint64_t)(last - c->cur_blk->insn) + 1;
	c->clock += k;
	if (!last->end && !(c->brk & BRK_REP))
		c->rip = (last->rip + last->len) & rip_mask(c);
	c->cur = NULL;
}

static void after_fault(struct cpu *c)
{
	/*
	 * The faulting instruction did not retire but was executed: it counts
	 * as one step (with the REP iterations it completed), so a budget can
	 * stop with its exception pending, payload unwritten.
	 */
	if (c->cur) {
		uint64_t k = (uint64_t)(c->cur - c->cur_blk->insn) + 1 + c->rep_done;
		/* after a commit point (task switch) RIP is the new context's */
		if (!c->flt_keep_rip)
			c->rip = c->cur->rip;
		c->clock += k;
		c->faults++;	/* counted, but not retired (storm detection) */
		c->cur = NULL;
	}
	c->flt_keep_rip = false;
	c->rep_done = 0;
	c->wq_n = c->wq_pos = 0;
	io_retire(c);
	c->evt.shadow_next = 0;
	c->evt.pending_dbg &= ~(DR6_B0_3 | DR6_BS);	/* no trap for a faulting instruction */
	c->sw_int = false;
	c->rf_keep = false;
	c->brk &= ~(BRK_REP | BRK_IO | BRK_SMC | BRK_MODE);
}

static uint64_t next_stop(struct cpu *c)
{
	uint64_t s = c->budget_end;
	uint64_t d = lapic_next_deadline(c);
	if (c->pause_until && c->pause_until < s)
		s = c->pause_until;
	return d < s ? d : s;
}

static bool vcpu_waiting(const struct cpu *c)
{
	return c->halted || c->mp_state == KVM_MP_STATE_UNINITIALIZED ||
	       c->mp_state == KVM_MP_STATE_INIT_RECEIVED || c->pause_until;
}

/*
 * Exception deliveries in a row without a retired instruction before the
 * run returns to the VMM: a handler that faults at once (or whose fetch
 * does) delivers forever, and neither the clock nor the budget advances.
 */
#define CPU_STORM_MAX 4096

int cpu_run(struct cpu *c)
{
	struct kvm_run *run = c->run;
	volatile int ret = 0;
	volatile unsigned storm = 0;
	volatile uint64_t storm_icount = cpu_icount(c) - c->faults;

	c->vm->run_gen++;	/* the VMM may have written guest memory */
	io_complete(c);
	if (c->wq_pos < c->wq_n) {
		io_emit_write(c);
		return 0;
	}
	c->wq_n = c->wq_pos = 0;
	/*
	 * immediate_exit (KVM api.rst, KVM_RUN): KVM first completes a
	 * pending I/O or MMIO read, i.e. the instruction waiting for the
	 * VMM's data runs, then returns -EINTR without executing anything
	 * else and without touching exit_reason.
	 */
	const bool imm = run->immediate_exit;
	const uint32_t imm_reason = run->exit_reason;
	const uint64_t imm_budget = c->budget_end;
	if (imm) {
		if (!c->io_nresp)
			return -EINTR;
		c->budget_end = c->clock + 1;
	}
	c->brk = 0;
	run->exit_reason = KVM_EXIT_UNKNOWN;

	switch (setjmp(c->jb)) {
	case JMP_NONE:
		break;
	case JMP_FAULT:
		after_fault(c);
		evt_queue_exception(c, c->flt.vec, c->flt.has_ec, c->flt.ec,
				    c->flt.has_payload, c->flt.payload);
		c->in_delivery = false;
		break;
	case JMP_EXIT:
		/* an exit in the middle of an instruction: it re-executes */
		if (c->cur) {
			uint64_t k = (uint64_t)(c->cur - c->cur_blk->insn) + c->rep_done;
			c->clock += k;
			c->rip = c->cur->rip;
			c->cur = NULL;
		}
		c->rep_done = 0;
		c->flt_keep_rip = false;	/* the instruction re-executes from its start */
		c->in_delivery = false;
		c->brk = 0;
		ret = 0;
		goto out;
	}

	for (;;) {
		if (c->brk & BRK_EXIT) {
			c->brk = 0;
			ret = 0;
			goto out;
		}
		c->brk = 0;
		/* local APIC events first: they may be an INIT or a SIPI */
		if (c->clock >= lapic_next_deadline(c))
			lapic_timer_check(c);
		if (c->init_pending || c->sipi_pending || c->mp_state == KVM_MP_STATE_SIPI_RECEIVED)
			cpu_accept_init_sipi(c);
		if (unlikely(c->mwait_wait))
			cpu_mwait_check(c);
		if (unlikely(c->pause_until) && c->clock >= c->pause_until)
			c->pause_until = 0;	/* the PAUSE delay is over (smp.c) */
		c->stop_at = next_stop(c);
		if (c->eoi_exit_vector >= 0) {
			run->exit_reason = KVM_EXIT_IOAPIC_EOI;
			run->eoi.vector = (uint8_t)c->eoi_exit_vector;
			c->eoi_exit_vector = lapic_take_eoi_exit(c);
			ret = 0;
			goto out;
		}
		if (c->clock >= c->budget_end) {
			run->exit_reason = KVM_EXIT_INTR;
			ret = -EINTR;
			goto out;
		}
		/* an instruction waiting for its I/O data completes before any event */
		if (c->mp_state != KVM_MP_STATE_UNINITIALIZED &&
		    c->mp_state != KVM_MP_STATE_INIT_RECEIVED && !c->io_nresp &&
		    evt_need_service(c)) {
			bool was_halted = c->halted;
			bool did = evt_service(c);
			if (c->brk & BRK_EXIT)
				continue;
			if (!c->halted && was_halted)
				c->mp_state = KVM_MP_STATE_RUNNABLE;
			/*
			 * An event delivered through a task gate into a TSS with
			 * the T bit: #DB before the new task's first instruction
			 * (SDM 7.2.1), not after it.
			 */
			if (did && (c->evt.pending_dbg & DR6_BT)) {
				uint64_t bits = c->evt.pending_dbg;
				c->evt.pending_dbg = 0;
				evt_queue_exception(c, EXC_DB, false, 0, true, bits);
			}
			if (did) {
				c->pause_until = 0;	/* an event cuts a PAUSE delay short */
				if (cpu_icount(c) - c->faults != storm_icount) {
					storm_icount = cpu_icount(c) - c->faults;
					storm = 0;
				} else if (++storm >= CPU_STORM_MAX) {
					/* back to the VMM at this boundary; nv_run resumes */
					run->exit_reason = KVM_EXIT_INTR;
					ret = -EINTR;
					goto out;
				}
				continue;
			}
		}
		if (run->request_interrupt_window && (c->rflags & F_IF) && !c->evt.shadow &&
		    !c->extint_pending && !vcpu_waiting(c) && lapic_accept_pic(c)) {
			run->exit_reason = KVM_EXIT_IRQ_WINDOW_OPEN;
			ret = 0;
			goto out;
		}
		if (vcpu_waiting(c)) {
			/* nothing runs until an event: skip to the next stop */
			if (c->stop_at == ~0ULL) {
				run->exit_reason = KVM_EXIT_HLT;
				ret = 0;
				goto out;
			}
			c->idle += c->stop_at - c->clock;
			c->clock = c->stop_at;
			continue;
		}

		c->single_step = debug_single_step(c);
		uint64_t room = c->stop_at - c->clock;
		if (c->single_step) {
			bool tf = c->rflags & F_TF;
			uint8_t old_shadow = c->evt.shadow;
			check_code_bp(c);
			struct blk *b = blk_lookup(c);
			c->sw_int = false;
			c->rf_keep = false;
			exec_block(c, b, 1);
			if (!(c->brk & BRK_REP)) {
				if (!c->rf_keep)
					c->rflags &= ~(uint64_t)F_RF;
				/*
				 * TF set when the instruction began: trap after it,
				 * also after INT n (SDM 17.3.1.4: stepping INT n
				 * enters the handler with a #DB before its first
				 * instruction)
				 */
				if (tf)
					c->evt.pending_dbg |= DR6_BS;
			}
			c->evt.shadow = old_shadow ? 0 : c->evt.shadow_next;
			c->evt.shadow_next = 0;
			if (c->guest_debug_ss) {
				/* as KVM: linear PC, DR6 = BS over its fixed bits */
				run->exit_reason = KVM_EXIT_DEBUG;
				run->debug.arch.pc = (c->seg_ebase[S_CS] + c->rip) & c->lin_mask;
				run->debug.arch.exception = EXC_DB;
				run->debug.arch.dr6 = DR6_BS | DR6_ACTIVE_LOW;
				c->brk |= BRK_EXIT;
			}
		} else {
			/*
			 * The fast path: blocks back to back, following cached
			 * successors, until something needs the boundary checks
			 * above (any brk bit), a new shadow, or the stop time.
			 */
			struct blk *b = blk_lookup(c);
			if (b->n <= room)
				exec_chain(c, b);
			else
				exec_block(c, b, room);
			if (c->evt.shadow_next) {
				c->evt.shadow = c->evt.shadow_next;
				c->evt.shadow_next = 0;
			}
			c->rf_keep = false;
		}
		if (c->io_nresp)
			io_retire(c);
		/* trap-like debug exceptions wait out a MOV SS shadow (§1.5) */
		if (c->evt.pending_dbg && !(c->evt.shadow & KVM_X86_SHADOW_INT_MOV_SS)) {
			uint64_t bits = c->evt.pending_dbg;
			c->evt.pending_dbg = 0;
			evt_queue_exception(c, EXC_DB, false, 0, true, bits);
		}
		c->stat_blocks++;
	}
out:
	if (imm) {
		c->budget_end = imm_budget;
		if (ret == -EINTR)
			run->exit_reason = imm_reason;
	}
	run->if_flag = !!(c->rflags & F_IF);
	/* KVM: the PIC's ExtINT can be injected only if LINT0 takes it */
	run->ready_for_interrupt_injection = (c->rflags & F_IF) && !c->evt.shadow &&
					     !c->extint_pending && lapic_accept_pic(c);
	c->vm->now = c->clock;
	run->cr8 = lapic_get_cr8(c);
	run->apic_base = lapic_get_base(c);
	run->flags = c->guest_mode ? KVM_RUN_X86_GUEST_MODE : 0;
	return ret;
}

void cpu_dump(struct cpu *c, FILE *f)
{
	static const char *const rn[16] = {
		"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
		"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
	};
	fprintf(f, "vCPU %d: rip=%016llx rflags=%016llx cpl=%d mode=%u\n", c->id,
		(unsigned long long)c->rip, (unsigned long long)cpu_get_rflags(c), c->cpl,
		c->mode);
	for (int r = 0; r < 16; r++)
		fprintf(f, "  %-3s=%016llx%s", rn[r], (unsigned long long)c->gpr[r],
			(r % 4 == 3) ? "\n" : "");
	static const char *const sn[8] = { "es", "cs", "ss", "ds", "fs", "gs", "ldtr", "tr" };
	for (int s = 0; s < S_NSEG; s++)
		fprintf(f, "  %-4s sel=%04x base=%016llx limit=%08x ar=%05x\n", sn[s],
			c->seg[s].sel, (unsigned long long)c->seg[s].base, c->seg[s].limit,
			c->seg[s].ar);
	fprintf(f, "  cr0=%llx cr2=%llx cr3=%llx cr4=%llx efer=%llx\n",
		(unsigned long long)c->cr0, (unsigned long long)c->cr2,
		(unsigned long long)c->cr3, (unsigned long long)c->cr4,
		(unsigned long long)c->efer);
	fprintf(f, "  gdt=%llx/%x idt=%llx/%x icount=%llu\n",
		(unsigned long long)c->gdtr.base, c->gdtr.limit,
		(unsigned long long)c->idtr.base, c->idtr.limit,
		(unsigned long long)cpu_icount(c));
}
