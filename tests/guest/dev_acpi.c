/*
 * ACPI tables and fixed hardware (ACPI 6.x, 5.2 and 4.8): the RSDP found
 * by scanning 0xe0000-0xfffff, checksums of every table, RSDT/XSDT
 * contents, FADT fields, FACS, the DSDT's \_S5, the MADT's CPUs (one per
 * vCPU), IOAPIC and overrides; the PM timer's value at exact virtual
 * times, TMR_STS and the SCI; and finally the S5 power-off through
 * PM1a_CNT, which ends the run with status 0.
 */
// nestvm-args: -smp 3
// nestvm-exit: 0
#include "smp.h"

#define NCPU 3
#define PM_HZ 3579545ULL
#define NS 1000000000ULL
#define IOAPIC 0xfec00000UL

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static uint16_t get16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}

static uint8_t sum(const uint8_t *p, uint32_t n)
{
	uint8_t s = 0;
	while (n--)
		s += *p++;
	return s;
}

static const uint8_t *find_rsdp(void)
{
	for (uintptr_t a = 0xe0000; a < 0x100000; a += 16)
		if (!memcmp((const void *)a, "RSD PTR ", 8))
			return (const uint8_t *)a;
	return NULL;
}

static const uint8_t *table(const uint8_t *rsdt, const char *sig)
{
	uint32_t n = (get32(rsdt + 4) - 36) / 4;
	for (uint32_t k = 0; k < n; k++) {
		const uint8_t *t = (const uint8_t *)(uintptr_t)get32(rsdt + 36 + 4 * k);
		if (!memcmp(t, sig, 4))
			return t;
	}
	return NULL;
}

static const uint8_t *fadt;

static void test_tables(void)
{
	const uint8_t *rsdp = find_rsdp();
	report(rsdp != NULL, "RSDP found by scanning 0xe0000-0xfffff (at %p)", rsdp);
	if (!rsdp)
		return;
	CHECK_EQ(sum(rsdp, 20), 0, "RSDP checksum (20 bytes)");
	CHECK_EQ(rsdp[15], 2, "RSDP revision 2");
	CHECK_EQ(get32(rsdp + 20), 36, "RSDP length 36");
	CHECK_EQ(sum(rsdp, 36), 0, "RSDP extended checksum");
	const uint8_t *rsdt = (const uint8_t *)(uintptr_t)get32(rsdp + 16);
	const uint8_t *xsdt = (const uint8_t *)(uintptr_t)get64(rsdp + 24);
	report(!memcmp(rsdt, "RSDT", 4) && sum(rsdt, get32(rsdt + 4)) == 0, "RSDT signature and checksum");
	report(!memcmp(xsdt, "XSDT", 4) && sum(xsdt, get32(xsdt + 4)) == 0, "XSDT signature and checksum");
	uint32_t nr = (get32(rsdt + 4) - 36) / 4, nx = (get32(xsdt + 4) - 36) / 8;
	bool same = nr == nx;
	for (uint32_t k = 0; same && k < nr; k++)
		same = get32(rsdt + 36 + 4 * k) == get64(xsdt + 36 + 8 * k);
	report(same && nr == 2, "RSDT and XSDT list the same 2 tables");

	fadt = table(rsdt, "FACP");
	report(fadt && sum(fadt, get32(fadt + 4)) == 0, "FADT present, checksum");
	if (!fadt)
		return;
	CHECK_EQ(get32(fadt + 4), 244, "FADT length 244 (revision 3+ layout)");
	CHECK_EQ(get16(fadt + 46), 9, "SCI_INT 9");
	CHECK_EQ(get32(fadt + 48), 0, "no SMI_CMD (ACPI mode always on)");
	CHECK_EQ(get32(fadt + 56), 0x600, "PM1a_EVT_BLK 0x600");
	CHECK_EQ(get32(fadt + 64), 0x604, "PM1a_CNT_BLK 0x604");
	CHECK_EQ(get32(fadt + 76), 0x608, "PM_TMR_BLK 0x608");
	CHECK_EQ(fadt[91], 4, "PM_TMR_LEN 4");
	CHECK_EQ(get32(fadt + 112) & (1u << 8), 0, "TMR_VAL_EXT clear: 24-bit PM timer");
	CHECK_EQ(get64(fadt + 208 + 4), 0x608, "X_PM_TMR_BLK 0x608");
	CHECK_EQ(fadt[108], 0x32, "CENTURY at CMOS 0x32");
	const uint8_t *facs = (const uint8_t *)(uintptr_t)get32(fadt + 36);
	report(!memcmp(facs, "FACS", 4) && get32(facs + 4) == 64 && !((uintptr_t)facs & 63),
	       "FACS: signature, length 64, 64-byte aligned");
	CHECK_EQ(get64(fadt + 132), (uintptr_t)facs, "X_FIRMWARE_CTRL = FIRMWARE_CTRL");
	const uint8_t *dsdt = (const uint8_t *)(uintptr_t)get32(fadt + 40);
	report(!memcmp(dsdt, "DSDT", 4) && sum(dsdt, get32(dsdt + 4)) == 0, "DSDT signature and checksum");
	CHECK_EQ(get64(fadt + 140), (uintptr_t)dsdt, "X_DSDT = DSDT");
	bool s5 = false;
	for (uint32_t k = 36; k + 4 <= get32(dsdt + 4); k++)
		if (!memcmp(dsdt + k, "_S5_", 4) && dsdt[k + 4] == 0x12 && dsdt[k + 7] == 0x00)
			s5 = true;
	report(s5, "DSDT: \\_S5 package, SLP_TYP 0");

	const uint8_t *madt = table(rsdt, "APIC");
	report(madt && sum(madt, get32(madt + 4)) == 0, "MADT present, checksum");
	if (!madt)
		return;
	CHECK_EQ(get32(madt + 36), 0xfee00000, "local APIC address");
	CHECK_EQ(get32(madt + 40) & 1, 1, "PCAT_COMPAT");
	int cpus = 0, ioapics = 0, nmis = 0;
	uint32_t cpu_ids = 0;
	bool irq0 = false, sci = false;
	for (uint32_t o = 44; o < get32(madt + 4); o += madt[o + 1]) {
		const uint8_t *e = madt + o;
		switch (e[0]) {
		case 0:
			if (get32(e + 4) & 1) {
				cpus++;
				cpu_ids |= 1u << e[3];
			}
			break;
		case 1:
			if (get32(e + 4) == 0xfec00000 && get32(e + 8) == 0)
				ioapics++;
			break;
		case 2:
			if (e[3] == 0 && get32(e + 4) == 2)
				irq0 = true;
			if (e[3] == 9 && get32(e + 4) == 9 && get16(e + 8) == 0x000d)
				sci = true;
			break;
		case 4:
			if (e[2] == 0xff && e[5] == 1)
				nmis++;
			break;
		}
		if (!e[1])
			break;
	}
	CHECK_EQ(cpus, NCPU, "MADT: one enabled local APIC per vCPU");
	CHECK_EQ(cpu_ids, (1u << NCPU) - 1, "MADT: APIC IDs 0..N-1");
	CHECK_EQ(ioapics, 1, "MADT: IOAPIC at 0xfec00000, GSI base 0");
	report(irq0, "MADT: IRQ 0 -> GSI 2 override");
	report(sci, "MADT: SCI (IRQ 9) level, active high");
	CHECK_EQ(nmis, 1, "MADT: LINT1 is NMI on every processor");
	/* the loader's boot GDT at 0xfe000 is untouched by the tables */
	report(get32(rsdp + 16) < 0xfe000 && (uintptr_t)madt + get32(madt + 4) <= 0xfe000,
	       "tables below the boot GDT at 0xfe000");
}

static uint32_t pmtmr_at(uint64_t *t)
{
	uint32_t lo, hi, v;
	asm volatile("rdtsc\n\t"
		     "movl %%eax, %0\n\t"
		     "movl %%edx, %1\n\t"
		     "movl $0x608, %%edx\n\t"
		     "inl %%dx, %%eax\n\t"
		     "movl %%eax, %2"
		     : "=&r"(lo), "=&r"(hi), "=&r"(v)
		     :
		     : "rax", "rdx", "memory");
	*t = (((uint64_t)hi << 32) | lo) + 4;
	return v;
}

static volatile int scis;
static volatile uint64_t sci_tsc;

static void sci_isr(int vec, struct irq_frame *f, uint64_t tsc)
{
	scis++;
	sci_tsc = tsc - IRQ_TSC_SKEW;
	outw(0x600, 0x0001);		/* clear TMR_STS: the level SCI drops */
	apic_eoi();
}

static void test_pm(void)
{
	bool ok = true;
	for (int k = 0; k < 10; k++) {
		uint64_t t;
		uint32_t v = pmtmr_at(&t);
		if (v != (uint32_t)((t * PM_HZ / NS) & 0xffffff))
			ok = false;
		for (volatile int d = 0; d < 1000 * k; d++)
			;
	}
	report(ok, "PM timer = floor(t * 3.579545 MHz) mod 2^24 at every read");
	uint64_t t;
	uint32_t v = pmtmr_at(&t);
	CHECK_EQ(v >> 24, 0, "PM timer is 24 bits wide");
	CHECK_EQ(inw(0x604) & 1, 1, "PM1_CNT.SCI_EN set");
	/* TMR_STS and the SCI on the next carry into bit 23 */
	outw(0x600, 0xffff);
	CHECK_EQ(inw(0x600) & 1, 0, "TMR_STS cleared by writing 1");
	set_irq(0x99, sci_isr);
	*(volatile uint32_t *)IOAPIC = 0x11 + 2 * 9;
	*(volatile uint32_t *)(IOAPIC + 0x10) = 0;
	*(volatile uint32_t *)IOAPIC = 0x10 + 2 * 9;
	*(volatile uint32_t *)(IOAPIC + 0x10) = 0x99 | (1u << 15);	/* level */
	outw(0x602, 0x0001);		/* TMR_EN */
	uint64_t now = rdtsc();
	sti();
	while (!scis)
		asm volatile("hlt");
	cli();
	uint64_t ticks = now * PM_HZ / NS;
	uint64_t carry = ((ticks >> 23) + 1) << 23;
	uint64_t want = (carry * NS + PM_HZ - 1) / PM_HZ;
	report(scis == 1 && sci_tsc == want, "SCI (IRQ 9, level) at the exact bit-23 carry of the PM timer");
	outw(0x602, 0);
	*(volatile uint32_t *)IOAPIC = 0x10 + 2 * 9;
	*(volatile uint32_t *)(IOAPIC + 0x10) = 0x10000;
}

int main(int argc, char **argv)
{
	test_tables();
	test_pm();
	/* S5: SLP_TYP 0 | SLP_EN.  The plan goes out first: the run ends here. */
	int fails = report_summary();
	if (fails)
		exit(1);
	outw(0x604, (0 << 10) | (1 << 13));
	printf("not ok - still running after the S5 power-off\n");
	exit(1);
}
