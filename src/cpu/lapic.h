/* SPDX-License-Identifier: MIT */
/*
 * Local APIC (SDM Vol. 3A ch. 11), part of the CPU like KVM's in-kernel
 * LAPIC.  xAPIC MMIO and x2APIC MSRs, interrupt acceptance, the timer.
 */
#ifndef NV_LAPIC_H
#define NV_LAPIC_H

#include "cpu.h"

struct lapic *lapic_create(struct cpu *c);
void lapic_destroy(struct lapic *a);
void lapic_reset(struct cpu *c, bool init);

/* page base of the xAPIC MMIO window, ~0 when not in xAPIC mode */
uint64_t lapic_xapic_base(const struct cpu *c);
uint64_t lapic_mmio_access(struct cpu *c, uint32_t off, int size, bool write, uint64_t v);

/* IA32_APIC_BASE; false = #GP (invalid transition / reserved bits) */
uint64_t lapic_get_base(const struct cpu *c);
bool lapic_set_base(struct cpu *c, uint64_t v, bool host);

/* x2APIC MSRs 0x800..0x8ff; false = #GP */
bool lapic_msr_read(struct cpu *c, uint32_t msr, uint64_t *v);
bool lapic_msr_write(struct cpu *c, uint32_t msr, uint64_t v);

/* CR8 <-> TPR[7:4] */
uint64_t lapic_get_cr8(const struct cpu *c);
void lapic_set_cr8(struct cpu *c, uint64_t v);

/*
 * Interrupt acceptance: the highest-priority fixed interrupt the APIC
 * would present to the core now (IRR above PPR), or -1.  lapic_ack moves
 * it from IRR to ISR (the INTA cycle).
 */
int lapic_pending_vector(const struct cpu *c);
void lapic_ack(struct cpu *c, int vector);
/* ExtINT accepted from the PIC through LINT0 (or with the APIC disabled) */
bool lapic_accept_pic(const struct cpu *c);

/*
 * Deliver an interrupt message (IPI, MSI, IOAPIC redirection) to the APICs
 * of `vm`.  dest/dest_mode/shorthand as in the ICR; `src` is the sender
 * (NULL for MSIs).  delivery: 0 fixed, 1 lowest priority, 2 SMI, 4 NMI,
 * 5 INIT, 6 SIPI, 7 ExtINT.  Returns how many APICs accepted it (as KVM's
 * kvm_irq_delivery_to_apic counts: 0 for a software-disabled APIC).
 */
int lapic_send(struct vm *vm, struct cpu *src, uint32_t dest, bool logical,
	       int shorthand, int delivery, int vector, bool level, bool trig_level);
/* an interrupt from an MSI address/data pair; returns the APICs that took it */
int lapic_msi(struct vm *vm, uint64_t addr, uint32_t data);

/*
 * Local events: the next timer expiry or in-flight message on the vCPU
 * clock (~0 if none); lapic_timer_check runs the ones that are due.
 */
uint64_t lapic_next_deadline(const struct cpu *c);
void lapic_timer_check(struct cpu *c);

/* state for KVM_GET/SET_LAPIC (register page layout as KVM's) */
void lapic_get_state(const struct cpu *c, struct kvm_lapic_state *s);
int lapic_set_state(struct cpu *c, const struct kvm_lapic_state *s);

/* TSC_DEADLINE MSR written */
void lapic_tsc_deadline_written(struct cpu *c);
/* exact timer state (snapshots): kvm_lapic_state rounds to APIC ticks */
void lapic_get_timer(const struct cpu *c, uint64_t *deadline, uint64_t *period);
void lapic_set_timer(struct cpu *c, uint64_t deadline, uint64_t period);

/* a level-triggered vector was EOIed: the VMM's IOAPIC must know */
#define LAPIC_EOI_NONE -1
int lapic_take_eoi_exit(struct cpu *c);

/* messages in flight and pending errors for nv_get/set_private_state */
void lapic_get_private(const struct cpu *c, struct nv_private_state *p);
int lapic_check_private(const struct nv_private_state *p);	/* -1: invalid */
void lapic_set_private(struct cpu *c, const struct nv_private_state *p);

/* wait states (smp.c) */
void cpu_monitor(struct cpu *c, uint64_t gpa);
void cpu_mwait(struct cpu *c, bool brk);
void cpu_mwait_check(struct cpu *c);
uint64_t cpu_next_event(struct cpu *c);
void cpu_pause(struct cpu *c);

#endif
