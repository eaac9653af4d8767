// SPDX-License-Identifier: MIT
/*
 * Device set-up, the firmware hand-off state, and the interrupt plumbing
 * between devices and vCPUs (KVM split-irqchip model: the local APICs are
 * in the vCPUs, the PIC and IOAPIC here).
 *
 * ISA IRQ / GSI lines: line N (0-15) goes to PIC input N and IOAPIC pin N,
 * except line 0 (the PIT) which is IOAPIC pin 2, as on QEMU's pc machine
 * (and as the MADT's interrupt source override says); lines 16-23 are
 * IOAPIC pins only.  The PIC's output is injected into vCPU 0 with
 * KVM_INTERRUPT when it can take it, otherwise an interrupt window is
 * requested.  The IOAPIC sends MSIs; level-triggered EOIs come back as
 * KVM_EXIT_IOAPIC_EOI.
 */
#include <stdlib.h>
#include <string.h>

#include "devices.h"

uint64_t dev_muldiv(uint64_t a, uint64_t mul, uint64_t div)
{
	return (uint64_t)(((unsigned __int128)a * mul) / div);
}

/* ---- the MSI window 0xfee00000-0xfeefffff ------------------------------------ */

/*
 * A vCPU whose xAPIC page is not there (APIC disabled, x2APIC mode, page
 * moved) reaches this region: reads return all ones and a 32-bit write
 * is an MSI (address = the written address, data = the value), as QEMU's
 * "apic-msi" region under KVM.  PCI devices' MSIs would arrive here too.
 */
static uint64_t msi_read(void *opaque, uint64_t off, int size)
{
	(void)opaque;
	(void)off;
	return size >= 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
}

static void msi_write(void *opaque, uint64_t off, int size, uint64_t v)
{
	struct machine *m = opaque;
	if (size != 4)
		return;
	struct kvm_msi msi = { .address_lo = (uint32_t)(0xfee00000u + off), .data = (uint32_t)v };
	nv_signal_msi(m->vm, &msi);
}

/* ---- firmware hand-off state ------------------------------------------------- */

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

/*
 * What SeaBIOS leaves in the local APICs: xAPIC mode at 0xfee00000, and on
 * the BSP the APIC software-enabled (SPIV 0x1ff) with LINT0 as ExtINT and
 * LINT1 as NMI (virtual wire mode), so PIC interrupts reach vCPU 0.  The
 * other vCPUs wait for INIT / SIPI.
 */
static void firmware_cpu(struct machine *m, int k, bool reset)
{
	struct nv_vcpu *v = m->vcpu[k];
	struct kvm_sregs s;
	struct kvm_lapic_state l;
	bool bsp = k == 0;

	if (nv_get_sregs(v, &s) == 0) {
		s.apic_base = 0xfee00000ULL | (1ULL << 11) | (bsp ? 1ULL << 8 : 0);
		nv_set_sregs(v, &s);
	}
	if (nv_get_lapic(v, &l) == 0) {
		uint8_t ver[4];
		memcpy(ver, l.regs + 0x30, 4);
		memset(l.regs, 0, sizeof(l.regs));
		put32((uint8_t *)l.regs + 0x20, (uint32_t)k << 24);
		memcpy(l.regs + 0x30, ver, 4);
		put32((uint8_t *)l.regs + 0xe0, 0xffffffff);
		put32((uint8_t *)l.regs + 0xf0, bsp ? 0x1ff : 0xff);
		for (int off = 0x320; off <= 0x370; off += 0x10)
			put32((uint8_t *)l.regs + off, 0x10000);
		if (bsp) {
			put32((uint8_t *)l.regs + 0x350, 0x8700);	/* ExtINT, level */
			put32((uint8_t *)l.regs + 0x360, 0x8400);	/* NMI, level */
		}
		nv_set_lapic(v, &l);
	}
	if (reset) {
		struct kvm_vcpu_events ev;
		memset(&ev, 0, sizeof(ev));
		nv_set_vcpu_events(v, &ev);
		struct kvm_mp_state mp = {
			.mp_state = bsp ? KVM_MP_STATE_RUNNABLE : KVM_MP_STATE_UNINITIALIZED,
		};
		nv_set_mp_state(v, &mp);
	}
}

/* ---- set-up ---------------------------------------------------------------------- */

void dev_init_all(struct machine *m)
{
	if (!m->dev) {
		m->dev = calloc(1, sizeof(*m->dev));
		if (!m->dev) {
			fprintf(stderr, "nestvm: out of memory\n");
			exit(1);
		}
	}
	dev_uart_init(m);
	dev_fwcfg_init(m);
	if (m->cfg.pc_testdev)
		dev_testdev_init(m);
	dev_misc_init(m);
	dev_pic_init(m);
	dev_ioapic_init(m);
	dev_pit_init(m);
	dev_rtc_init(m);
	dev_acpi_init(m);
	dev_pci_init(m);
	machine_register_mmio(m, 0xfee00000ULL, 0x100000, m, msi_read, msi_write);
	dev_pci_init_bars(m);	/* last: the BAR catch-alls */
	for (int k = 0; k < m->ncpus; k++)
		firmware_cpu(m, k, false);
}

/* system reset: RAM is already cleared; the image is loaded after this */
void dev_reset_all(struct machine *m)
{
	struct dev_state *d = m->dev;
	FILE *out = d->com1.out;
	memset(&d->com1, 0, sizeof(d->com1));
	d->com1.out = out;
	memset(&d->fwcfg, 0, sizeof(d->fwcfg));
	memset(&d->testdev, 0, sizeof(d->testdev));
	d->shutdown_len = 0;
	d->port92 = 0;
	dev_pic_reset(m);
	dev_ioapic_reset(m);
	dev_pit_reset(m);
	dev_rtc_reset(m);
	dev_acpi_reset(m);
	dev_pci_reset(m);
	for (int k = 0; k < m->ncpus; k++)
		firmware_cpu(m, k, true);
}

/* ---- interrupt routing ------------------------------------------------------------ */

void machine_set_irq(struct machine *m, int irq, int level)
{
	if (irq < 0 || irq >= IOAPIC_PINS)
		return;
	if (level)
		m->dev->isa_lines |= 1u << irq;
	else
		m->dev->isa_lines &= ~(1u << irq);
	if (irq < 16)
		pic_set_irq(m, irq, level);
	ioapic_set_irq(m, irq == 0 ? 2 : irq, level);
}

void dev_eoi(struct machine *m, int vector)
{
	ioapic_eoi(m, vector);
}

/*
 * Before vCPU 0 runs: the PIC's INT output becomes an ExtINT injection
 * (the INTA cycle happens now) if the vCPU can take one, else the vCPU
 * exits as soon as it can (KVM_EXIT_IRQ_WINDOW_OPEN).
 */
void dev_pre_run(struct machine *m, int cpu)
{
	if (cpu != 0)
		return;
	struct nv_vcpu *v = m->vcpu[0];
	struct kvm_run *run = nv_vcpu_run_page(v);
	if (!pic_output(m)) {
		run->request_interrupt_window = 0;
		return;
	}
	if (run->ready_for_interrupt_injection) {
		struct kvm_interrupt irq = { .irq = (uint32_t)pic_ack(m) };
		if (nv_interrupt(v, &irq) == 0) {
			run->ready_for_interrupt_injection = 0;
			run->request_interrupt_window = pic_output(m);
			return;
		}
	}
	run->request_interrupt_window = 1;
}

/*
 * With every vCPU idle and no timer armed: could a device still wake one?
 * Only the PIC, if vCPU 0 can take its interrupt.
 */
bool dev_input_possible(struct machine *m)
{
	struct kvm_run *run = nv_vcpu_run_page(m->vcpu[0]);
	return pic_output(m) && run->ready_for_interrupt_injection;
}
