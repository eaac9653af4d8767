// SPDX-License-Identifier: MIT
/*
 * Wait states of a vCPU and the events that end them: HLT (SDM Vol. 2A
 * HLT), MONITOR/MWAIT (Vol. 2B; Vol. 3A 9.10.4 "MONITOR/MWAIT"), and the
 * wait-for-SIPI state of an application processor (Vol. 3A 9.4, 11.6.1),
 * and PAUSE as a spin-wait hint.
 *
 * The monitored range is one 64-byte line (CPUID.05H reports 64 as both
 * the smallest and the largest line size).  A store to it is detected by
 * comparing the line with the copy taken at MONITOR time, so a store that
 * leaves the bytes unchanged is not seen.  A waiting vCPU notices a store
 * by another vCPU or the VMM when it next runs and resumes there, in its
 * own timeline: when the storing vCPU ran earlier in the same scheduler
 * slice, that can be before the store in virtual time (by less than one
 * slice).  Deterministic, and independent of where a snapshot stops.
 */
#include "cpu.h"
#include "lapic.h"

#define LINE 64

static bool line_read(struct cpu *c, uint8_t *buf)
{
	uint8_t *p = mmu_gpa_host(c->vm, c->monitor_addr, NULL);
	if (!p)
		return false;
	memcpy(buf, p, LINE);
	return true;
}

/* has the monitored line been written since MONITOR? */
static bool monitor_triggered(struct cpu *c)
{
	uint8_t now[LINE];
	if (!c->mwait_armed)
		return true;
	if (!line_read(c, now))
		return false;	/* not RAM: nothing can store to it that we see */
	return memcmp(now, c->monitor_line, LINE) != 0;
}

void cpu_monitor(struct cpu *c, uint64_t gpa)
{
	c->monitor_addr = gpa & ~(uint64_t)(LINE - 1);
	c->mwait_armed = true;
	if (!line_read(c, c->monitor_line))
		memset(c->monitor_line, 0, LINE);
}

/*
 * MWAIT: wait unless the monitor is not armed or already triggered.
 * `brk` = ECX[0]: a pending interrupt ends the wait even with IF = 0.
 */
void cpu_mwait(struct cpu *c, bool brk)
{
	if (monitor_triggered(c)) {
		c->mwait_armed = false;
		return;
	}
	c->halted = true;
	c->mp_state = KVM_MP_STATE_HALTED;
	c->mwait_wait = true;
	c->mwait_break = brk;
	c->brk |= BRK_EVENT;	/* leave the block loop: the vCPU waits now */
}

static bool intr_break(struct cpu *c)
{
	return c->mwait_break && !(c->rflags & F_IF) && evt_intr_pending(c);
}

static bool mwait_would_wake(struct cpu *c)
{
	return monitor_triggered(c) || intr_break(c);
}

/*
 * In MWAIT: a store to the line or (ECX[0], IF = 0) a pending interrupt
 * resumes execution after MWAIT without delivering anything.  Interrupts
 * with IF = 1, NMIs and INIT end the wait through event delivery.
 */
void cpu_mwait_check(struct cpu *c)
{
	if (!c->halted) {
		c->mwait_wait = false;
		return;
	}
	if (mwait_would_wake(c)) {
		c->halted = false;
		c->mwait_wait = false;
		c->mwait_armed = false;
		c->mp_state = KVM_MP_STATE_RUNNABLE;
	}
}

/*
 * The earliest virtual time at which this vCPU has something to do: now
 * if a pending event ends its wait state, else its next local APIC event.
 * The scheduler uses it to skip idle time.
 */
uint64_t cpu_next_event(struct cpu *c)
{
	bool waiting = c->halted || c->mp_state == KVM_MP_STATE_UNINITIALIZED ||
		       c->mp_state == KVM_MP_STATE_INIT_RECEIVED;
	if (!waiting)
		return lapic_next_deadline(c);
	if (c->init_pending)
		return c->clock;
	if (c->sipi_pending && c->mp_state == KVM_MP_STATE_INIT_RECEIVED)
		return c->clock;
	if (c->halted && c->mp_state != KVM_MP_STATE_UNINITIALIZED &&
	    c->mp_state != KVM_MP_STATE_INIT_RECEIVED) {
		if (evt_need_service(c))
			return c->clock;
		if (c->mwait_wait && mwait_would_wake(c))
			return c->clock;
	}
	return lapic_next_deadline(c);
}

/*
 * PAUSE (SDM Vol. 2B: a hint that the code is a spin-wait loop; it
 * delays for an implementation-specific time).  With several vCPUs the
 * one spinning can only be released by another, which runs after it in
 * the deterministic schedule, so the delay is long here: PAUSE_IDLE_NS of
 * virtual time, spent idle (no instructions execute, as KVM's pause-loop
 * exiting yields the physical CPU).  An interrupt or NMI ends it early.
 * The delay is persistent state (nv_private_state.pause_until) and does
 * not depend on how the run is sliced, so snapshots see the same run.  A
 * VM with one vCPU has nobody to wait for: PAUSE takes one tick there.
 */
#define PAUSE_IDLE_NS 1000

void cpu_pause(struct cpu *c)
{
	if (c->vm->nvcpus < 2)
		return;
	uint64_t t = c->clock;
	if (c->cur && c->cur_blk)
		t += (uint64_t)(c->cur - c->cur_blk->insn);
	c->pause_until = t + 1 + PAUSE_IDLE_NS;
	c->brk |= BRK_EVENT;
}
