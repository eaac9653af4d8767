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
 * by another vCPU or the VMM when it runs; since it cannot know when in
 * the current slice the store happened, it resumes at the end of that
 * slice, never before the store in virtual time (deterministic, at most
 * two scheduler slices late).
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
	bool brk = intr_break(c);
	if (brk || monitor_triggered(c)) {
		/* a store: resume no earlier than the end of this slice (see top) */
		if (!brk && c->budget_end != ~0ULL && c->clock < c->budget_end) {
			c->idle += c->budget_end - c->clock;
			c->clock = c->budget_end;
		}
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
 * PAUSE (SDM Vol. 2B: a hint that the code is a spin-wait loop).  With
 * several vCPUs the one spinning can only be released by another, which
 * runs after it in the deterministic schedule: it gives up the rest of its
 * slice (idles to its next local APIC event or the slice end), like KVM's
 * pause-loop exiting.  Every PAUSE does so - no hidden heuristic state, so
 * a run restored from a snapshot schedules the same.  A single vCPU never
 * yields: there is nobody to wait for.
 */
void cpu_pause(struct cpu *c)
{
	if (c->vm->nvcpus > 1 && c->budget_end != ~0ULL) {
		c->pause_yield = true;
		c->brk |= BRK_EVENT;
	}
}
