/*
 * Local APIC registers (SDM 11.4-11.8, 11.12): version, ID, TPR/PPR/APR
 * and CR8, LDR/DFR, SPIV, ISR/IRR/TMR, ESR, LVT masks, EOI, self IPIs in
 * both modes, IA32_APIC_BASE enable/disable/relocate and the
 * xAPIC <-> x2APIC transitions, x2APIC MSR access rules (#GP).
 */
#include "smp.h"

#define VEC_A 0x41
#define VEC_B 0x52
#define VEC_ERR 0x6e

static int wrmsr_safe(uint32_t msr, uint64_t v)
{
	exc_clear();
	asm volatile(ASM_TRY("1f") "wrmsr\n1:"
		     :: "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "memory");
	return exc_last.vector;
}

static int rdmsr_safe(uint32_t msr, uint64_t *v)
{
	uint32_t lo = 0, hi = 0;
	exc_clear();
	asm volatile(ASM_TRY("1f") "rdmsr\n1:" : "+a"(lo), "+d"(hi) : "c"(msr) : "memory");
	*v = lo | ((uint64_t)hi << 32);
	return exc_last.vector;
}

static uint32_t mmio32(uint64_t addr)
{
	return *(volatile uint32_t *)addr;
}

static volatile int got_a, got_b, got_err, seq, seq_a, seq_b;
static volatile uint32_t isr_in_a, ppr_in_a, tmr_in_a;

static void isr_a(int vec, struct irq_frame *f, uint64_t tsc)
{
	got_a++;
	seq_a = ++seq;
	isr_in_a = apic_read(APIC_ISR + (VEC_A / 32) * 0x10);
	tmr_in_a = apic_read(APIC_TMR + (VEC_A / 32) * 0x10);
	ppr_in_a = apic_read(APIC_PPR);
	apic_eoi();
}

static void isr_b(int vec, struct irq_frame *f, uint64_t tsc)
{
	got_b++;
	seq_b = ++seq;
	apic_eoi();
}

static void isr_err(int vec, struct irq_frame *f, uint64_t tsc)
{
	got_err++;
	apic_eoi();
}

static void reset_xapic(void)
{
	uint64_t b = rdmsr(APIC_BASE_MSR);
	wrmsr(APIC_BASE_MSR, b & ~(APIC_EN | APIC_EXTD));
	wrmsr(APIC_BASE_MSR, (b & ~(APIC_EN | APIC_EXTD)) | APIC_EN);
	apic_write(APIC_SPIV, 0x1ff);
}

static void test_basics(void)
{
	uint32_t ver = apic_read(APIC_VER);
	CHECK_EQ(ver & 0xff, 0x14, "version 0x14 (integrated APIC)");
	CHECK_EQ((ver >> 16) & 0xff, 5, "max LVT entry 5 (six LVTs)");
	report(ver & (1u << 24), "directed EOI (suppress EOI broadcast) supported");
	CHECK_EQ(apic_read(APIC_ID) >> 24, 0, "BSP APIC ID 0");
	uint32_t r[4];
	cpuid2(1, 0, r);
	CHECK_EQ(r[1] >> 24, 0, "CPUID.1:EBX[31:24] = initial APIC ID");
	report(r[3] & (1u << 9), "CPUID.1:EDX.APIC set");
	report(r[2] & (1u << 21), "CPUID.1:ECX.x2APIC set");
	/* firmware hand-off: virtual wire mode on the BSP */
	CHECK_EQ(apic_read(APIC_LVT0), 0x8700, "LINT0: ExtINT, level (firmware state)");
	CHECK_EQ(apic_read(APIC_LVT1), 0x8400, "LINT1: NMI, level (firmware state)");
	CHECK_EQ(rdmsr(APIC_BASE_MSR), 0xfee00900, "IA32_APIC_BASE: 0xfee00000, EN, BSP");
	/* partial reads of a register */
	CHECK_EQ(*(volatile uint8_t *)(APIC_MMIO + APIC_VER), 0x14, "byte read of VER");
	CHECK_EQ(*(volatile uint16_t *)(APIC_MMIO + APIC_VER + 2), 0x0105, "word read of VER[31:16]");
}

static void test_masks(void)
{
	apic_write(APIC_LDR, 0xffffffff);
	CHECK_EQ(apic_read(APIC_LDR), 0xff000000, "LDR: only bits 31:24");
	apic_write(APIC_LDR, 0);
	apic_write(APIC_DFR, 0);
	CHECK_EQ(apic_read(APIC_DFR), 0x0fffffff, "DFR: model bits 31:28, others read 1");
	apic_write(APIC_DFR, 0xffffffff);
	apic_write(APIC_SPIV, 0xffffffff);
	CHECK_EQ(apic_read(APIC_SPIV), 0x13ff, "SPIV: vector, enable, focus, EOI suppression");
	apic_write(APIC_SPIV, 0x1ff);
	apic_write(APIC_TPR, 0xffffffff);
	CHECK_EQ(apic_read(APIC_TPR), 0xff, "TPR: bits 7:0");
	apic_write(APIC_TPR, 0);
	static const struct { unsigned reg; uint32_t mask; const char *name; } lvts[] = {
		{ APIC_LVTT, 0x700ff, "LVT timer" }, { APIC_LVTTHMR, 0x107ff, "LVT thermal" },
		{ APIC_LVTPC, 0x107ff, "LVT perf" }, { APIC_LVT0, 0x1a7ff, "LVT LINT0" },
		{ APIC_LVT1, 0x1a7ff, "LVT LINT1" }, { APIC_LVTERR, 0x100ff, "LVT error" },
	};
	for (unsigned k = 0; k < sizeof(lvts) / sizeof(lvts[0]); k++) {
		uint32_t old = apic_read(lvts[k].reg);
		apic_write(lvts[k].reg, 0xffffffff);
		uint32_t v = apic_read(lvts[k].reg);
		apic_write(lvts[k].reg, old);
		report(v == lvts[k].mask, "%s writable bits %#x (got %#x)", lvts[k].name, lvts[k].mask, v);
	}
	apic_write(APIC_TDCR, 0xffffffff);
	CHECK_EQ(apic_read(APIC_TDCR), 0xb, "TDCR: bits 3, 1:0");
	apic_write(APIC_TDCR, 0xb);
	/* delivery status is read-only (always idle here) */
	apic_write(APIC_ICR2, 0x12345678);
	CHECK_EQ(apic_read(APIC_ICR2), 0x12000000, "ICR2: destination bits 31:24");
	apic_write(APIC_ICR2, 0);
	/* read-only registers ignore writes */
	apic_write(APIC_VER, 0);
	CHECK_EQ(apic_read(APIC_VER) & 0xff, 0x14, "VER is read-only");
	apic_write(APIC_PPR, 0xff);
	CHECK_EQ(apic_read(APIC_PPR), 0, "PPR is read-only");
}

static void test_tpr_cr8(void)
{
	write_cr8(5);
	CHECK_EQ(apic_read(APIC_TPR), 0x50, "MOV CR8 = 5 sets TPR = 0x50");
	CHECK_EQ(apic_read(APIC_PPR), 0x50, "PPR follows TPR");
	apic_write(APIC_TPR, 0x37);
	CHECK_EQ(read_cr8(), 3, "CR8 reads TPR[7:4]");
	CHECK_EQ(apic_read(APIC_PPR), 0x37, "PPR = TPR when no interrupt is in service");
	write_cr8(0);

	/* TPR blocks interrupts of its class and below */
	got_a = 0;
	write_cr8(VEC_A >> 4);		/* class 4 */
	apic_icr(ICR_SELF | ICR_FIXED | VEC_A, 0);
	asm volatile("nop");
	report(got_a == 0, "TPR class 4 blocks vector 0x41");
	CHECK_EQ(apic_read(APIC_IRR + (VEC_A / 32) * 0x10) & (1u << (VEC_A % 32)),
		 1u << (VEC_A % 32), "blocked vector stays in IRR");
	CHECK_EQ(apic_read(APIC_APR) & 0xf0, 0x40, "APR: max(TPR, IRRV) class");
	write_cr8(3);
	asm volatile("nop");
	report(got_a == 1, "lowering TPR delivers it");
	CHECK_EQ(isr_in_a, 1u << (VEC_A % 32), "ISR bit set in the handler");
	CHECK_EQ(ppr_in_a, 0x40, "PPR = ISRV class in the handler");
	CHECK_EQ(tmr_in_a, 0, "TMR clear for an edge-triggered IPI");
	CHECK_EQ(apic_read(APIC_ISR + (VEC_A / 32) * 0x10), 0, "EOI cleared ISR");
	write_cr8(0);
}

static void test_isr_order(void)
{
	/* two pending: higher vector first, the lower one after its EOI */
	got_a = got_b = 0;
	cli();
	apic_icr(ICR_SELF | VEC_A, 0);
	apic_icr(ICR_SELF | VEC_B, 0);
	uint32_t irr_a = apic_read(APIC_IRR + (VEC_A / 32) * 0x10);
	uint32_t irr_b = apic_read(APIC_IRR + (VEC_B / 32) * 0x10);
	report((irr_a & (1u << (VEC_A % 32))) && (irr_b & (1u << (VEC_B % 32))),
	       "both IPIs pending in IRR with IF = 0");
	sti();
	asm volatile("nop");
	report(got_a == 1 && got_b == 1 && seq_b < seq_a,
	       "both delivered after STI, the higher vector first");
	/* level-triggered self IPI: TMR set */
	got_a = 0;
	apic_icr(ICR_SELF | ICR_LEVEL | ICR_ASSERT | VEC_A, 0);
	asm volatile("nop");
	report(got_a == 1 && tmr_in_a == (1u << (VEC_A % 32)), "level-triggered IPI sets TMR");
}

static void test_esr(void)
{
	got_err = 0;
	apic_write(APIC_LVTERR, VEC_ERR);
	apic_write(APIC_ESR, 0);
	CHECK_EQ(apic_read(APIC_ESR), 0, "ESR clear");
	apic_icr(ICR_SELF | 0x05, 0);		/* illegal vector */
	asm volatile("nop");
	CHECK_EQ(apic_read(APIC_ESR), 0, "ESR shows nothing before it is written");
	apic_write(APIC_ESR, 0);
	CHECK_EQ(apic_read(APIC_ESR), 0x20, "send illegal vector");
	report(got_err == 1, "error LVT interrupt");
	apic_write(APIC_ESR, 0);
	CHECK_EQ(apic_read(APIC_ESR), 0, "ESR write clears the errors");
	(void)mmio32(APIC_MMIO + 0x3f0);	/* SELF IPI: x2APIC only */
	apic_write(APIC_ESR, 0);
	CHECK_EQ(apic_read(APIC_ESR), 0x80, "illegal register address");
	apic_write(APIC_LVTT, 0x03);		/* timer with an illegal vector */
	apic_write(APIC_TDCR, 0xb);
	apic_write(APIC_TMICT, 10);
	uint64_t t0 = rdtsc();
	while (rdtsc() - t0 < 100)
		;
	apic_write(APIC_ESR, 0);
	CHECK_EQ(apic_read(APIC_ESR), 0x40, "receive illegal vector (LVT timer vector 3)");
	apic_write(APIC_LVTT, 0x10000);
	apic_write(APIC_LVTERR, 0x10000);
	apic_write(APIC_ESR, 0);
}

static void test_sw_disable(void)
{
	got_a = 0;
	apic_write(APIC_SPIV, 0xff);
	report((apic_read(APIC_LVT0) & 0x10000) && (apic_read(APIC_LVT1) & 0x10000),
	       "software disable masks the LVTs");
	apic_write(APIC_LVTERR, VEC_ERR);
	CHECK_EQ(apic_read(APIC_LVTERR), 0x10000 | VEC_ERR, "LVT mask cannot be cleared while disabled");
	apic_icr(ICR_SELF | VEC_A, 0);
	asm volatile("nop");
	report(got_a == 0 && !(apic_read(APIC_IRR + (VEC_A / 32) * 0x10) & (1u << (VEC_A % 32))),
	       "software-disabled APIC does not accept fixed interrupts");
	apic_write(APIC_SPIV, 0x1ff);
	apic_write(APIC_LVTERR, 0x10000);
	apic_write(APIC_LVT0, 0x8700);
	apic_write(APIC_LVT1, 0x8400);
}

static void test_apic_base(void)
{
	uint64_t base = rdmsr(APIC_BASE_MSR);
	uint32_t r[4];

	/* xAPIC ID is writable; disable + enable restores the initial one */
	apic_write(APIC_ID, 0x05000000);
	CHECK_EQ(apic_read(APIC_ID), 0x05000000, "xAPIC ID writable");
	apic_write(APIC_TPR, 0x20);
	wrmsr(APIC_BASE_MSR, base & ~APIC_EN);
	cpuid2(1, 0, r);
	report(!(r[3] & (1u << 9)), "APIC disabled: CPUID.1:EDX.APIC clear");
	CHECK_EQ(mmio32(APIC_MMIO + APIC_VER), 0xffffffff, "APIC disabled: the MMIO page reads all ones");
	write_cr8(7);
	CHECK_EQ(read_cr8(), 7, "CR8 still works with the APIC disabled");
	wrmsr(APIC_BASE_MSR, base);
	cpuid2(1, 0, r);
	report(r[3] & (1u << 9), "re-enabled: CPUID.1:EDX.APIC set");
	CHECK_EQ(apic_read(APIC_ID), 0, "re-enabled: initial APIC ID");
	CHECK_EQ(apic_read(APIC_SPIV), 0xff, "re-enabled: SPIV in its reset state");
	CHECK_EQ(apic_read(APIC_LVT0), 0x10000, "re-enabled: LVTs masked");
	CHECK_EQ(apic_read(APIC_TPR), 0x70, "TPR kept the CR8 value written while disabled");
	write_cr8(0);
	apic_write(APIC_SPIV, 0x1ff);

	/* relocation */
	wrmsr(APIC_BASE_MSR, 0xfed40000ULL | APIC_EN | (1 << 8));
	CHECK_EQ(mmio32(0xfed40000ULL + APIC_VER) & 0xff, 0x14, "APIC relocated to 0xfed40000");
	CHECK_EQ(mmio32(APIC_MMIO + APIC_VER), 0xffffffff, "old page no longer the APIC");
	wrmsr(APIC_BASE_MSR, base);
	CHECK_EQ(mmio32(APIC_MMIO + APIC_VER) & 0xff, 0x14, "moved back");

	/* reserved bits */
	report(wrmsr_safe(APIC_BASE_MSR, base | 1) == 13, "reserved bit 0: #GP");
	report(wrmsr_safe(APIC_BASE_MSR, base | (1ULL << 39)) == 13, "bit above MAXPHYADDR (39): #GP");
	report(wrmsr_safe(APIC_BASE_MSR, (base & ~APIC_EN) | APIC_EXTD) == 13,
	       "EXTD without EN: #GP");
}

static void test_x2apic(void)
{
	uint64_t base = rdmsr(APIC_BASE_MSR), v;
	report(rdmsr_safe(0x802, &v) == 13, "x2APIC MSR in xAPIC mode: #GP");
	report(wrmsr_safe(APIC_BASE_MSR, base | APIC_EXTD) == -1, "xAPIC -> x2APIC");
	CHECK_EQ(rdmsr(0x802), 0, "x2APIC ID (MSR 0x802) = 0");
	CHECK_EQ(rdmsr(0x80d), 1, "x2APIC LDR derived: cluster 0, bit 0");
	CHECK_EQ(rdmsr(0x803) & 0xff, 0x14, "VER through MSR 0x803");
	CHECK_EQ(mmio32(APIC_MMIO + APIC_VER), 0xffffffff, "x2APIC mode: no MMIO page");
	report(wrmsr_safe(0x802, 0) == 13, "write to ID: #GP");
	report(wrmsr_safe(0x80d, 0) == 13, "write to LDR: #GP");
	report(wrmsr_safe(0x803, 0) == 13, "write to VER: #GP");
	report(wrmsr_safe(0x80a, 0) == 13, "write to PPR: #GP");
	report(wrmsr_safe(0x839, 0) == 13, "write to TMCCT: #GP");
	report(rdmsr_safe(0x80b, &v) == 13, "read of EOI: #GP");
	report(rdmsr_safe(0x83f, &v) == 13, "read of SELF IPI: #GP");
	report(rdmsr_safe(0x80e, &v) == 13, "DFR does not exist: #GP");
	report(rdmsr_safe(0x831, &v) == 13, "ICR2 does not exist: #GP");
	report(rdmsr_safe(0x809, &v) == 13, "APR does not exist: #GP");
	report(rdmsr_safe(0x8ff, &v) == 13, "reserved MSR 0x8ff: #GP");
	report(wrmsr_safe(0x808, 0x100) == 13, "TPR reserved bits: #GP");
	report(wrmsr_safe(0x80b, 1) == 13, "non-zero EOI write: #GP");
	report(wrmsr_safe(0x828, 1) == 13, "non-zero ESR write: #GP");
	report(wrmsr_safe(0x83f, 0x100) == 13, "SELF IPI reserved bits: #GP");
	report(wrmsr_safe(0x830, 0x1000ULL | VEC_B) == 13, "ICR bit 12 reserved: #GP");
	report(wrmsr_safe(0x808, 0x20) == -1 && read_cr8() == 2, "TPR through MSR 0x808");
	wrmsr(0x808, 0);

	/* self IPI through SELF IPI and through the 64-bit ICR */
	got_a = got_b = 0;
	wrmsr(0x83f, VEC_A);
	asm volatile("nop");
	report(got_a == 1, "SELF IPI MSR delivers");
	wrmsr(0x830, ((uint64_t)0 << 32) | VEC_B);
	asm volatile("nop");
	report(got_b == 1, "64-bit ICR, physical destination 0");
	CHECK_EQ(rdmsr(0x830), VEC_B, "ICR reads back as one 64-bit register");
	got_b = 0;
	wrmsr(0x830, (0xffffffffULL << 32) | VEC_B);
	asm volatile("nop");
	report(got_b == 1, "x2APIC broadcast destination 0xffffffff");
	got_b = 0;
	wrmsr(0x830, (0x00000001ULL << 32) | ICR_LOGICAL | VEC_B);
	asm volatile("nop");
	report(got_b == 1, "x2APIC logical destination cluster 0, bit 0");
	got_b = 0;
	wrmsr(0x830, (0x00010001ULL << 32) | ICR_LOGICAL | VEC_B);
	asm volatile("nop");
	report(got_b == 0, "x2APIC logical destination cluster 1: not us");

	/* transitions */
	report(wrmsr_safe(APIC_BASE_MSR, (base & ~APIC_EXTD) | APIC_EN) == 13, "x2APIC -> xAPIC: #GP");
	report(wrmsr_safe(APIC_BASE_MSR, base & ~(APIC_EN | APIC_EXTD)) == -1, "x2APIC -> disabled");
	report(wrmsr_safe(APIC_BASE_MSR, (base & ~APIC_EN) | APIC_EXTD) == 13, "disabled -> invalid: #GP");
	report(wrmsr_safe(APIC_BASE_MSR, base | APIC_EN | APIC_EXTD) == 13, "disabled -> x2APIC: #GP");
	report(wrmsr_safe(APIC_BASE_MSR, (base & ~APIC_EXTD) | APIC_EN) == -1, "disabled -> xAPIC");
	CHECK_EQ(apic_read(APIC_ID), 0, "back in xAPIC mode with the 8-bit ID");
	apic_write(APIC_SPIV, 0x1ff);
}

int main(int argc, char **argv)
{
	set_irq(VEC_A, isr_a);
	set_irq(VEC_B, isr_b);
	set_irq(VEC_ERR, isr_err);
	sti();
	test_basics();
	test_masks();
	test_tpr_cr8();
	test_isr_order();
	test_esr();
	test_sw_disable();
	test_apic_base();
	test_x2apic();
	reset_xapic();
	cli();
	return report_summary();
}
