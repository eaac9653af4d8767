// SPDX-License-Identifier: MIT
/*
 * ACPI (ACPI 6.x specification, chapters 5.2 "ACPI System Description
 * Tables" and 4.8 "Fixed hardware"): the tables firmware would leave in
 * memory, and the PIIX4-style fixed hardware at I/O 0x600.
 *
 * Tables live at 0xf0000-0xfdfff (reserved in the e820 map; the Multiboot
 * loader's GDT is at 0xfe000): RSDP (on a 16-byte boundary, found by the
 * usual scan of 0xe0000-0xfffff), RSDT and XSDT, FADT, FACS, a DSDT whose
 * only object is \_S5 (SLP_TYP 0, as QEMU's), and the MADT with one local
 * APIC (or local x2APIC for IDs >= 255) per vCPU, the IOAPIC, QEMU's
 * interrupt source overrides (IRQ 0 -> GSI 2; 5, 9, 10, 11 level, active
 * high) and LINT1 as NMI.
 *
 * Fixed hardware: PM1a event block 0x600 (status, enable), PM1a control
 * 0x604 (SCI_EN always set: there is no SMI_CMD; SLP_EN with SLP_TYP 0 =
 * S5 powers off, status 0), PM timer 0x608: a 24-bit counter at
 * 3.579545 MHz of virtual time, TMR_STS / SCI (IRQ 9) on bit-23 carries.
 */
#include <string.h>

#include "devices.h"
#include "snapshot.h"

#define RSDT_ADDR 0xf0040u
#define XSDT_ADDR 0xf0080u
#define FADT_ADDR 0xf0100u
#define FACS_ADDR 0xf0200u
#define DSDT_ADDR 0xf0240u
#define MADT_ADDR 0xf0300u

#define PM1_STS 0
#define PM1_EN 2
#define PM1_CNT 4
#define PM_TMR 8

#define STS_TMR 0x0001
#define STS_WAK 0x8000
#define CNT_SCI_EN 0x0001
#define CNT_SLP_EN 0x2000

static void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static uint8_t csum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	while (n--)
		s += *p++;
	return (uint8_t)-s;
}

static void header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(t, sig, 4);
	put32(t + 4, len);
	t[8] = rev;
	memcpy(t + 10, "NESTVM", 6);
	memcpy(t + 16, "NESTVMPC", 8);
	put32(t + 24, 1);
	memcpy(t + 28, "NSTV", 4);
	put32(t + 32, 1);
	t[9] = 0;
	t[9] = csum(t, len);
}

/* Generic Address Structure (5.2.3.2): system I/O */
static void gas_io(uint8_t *p, uint16_t port, uint8_t bits)
{
	p[0] = 1;		/* system I/O */
	p[1] = bits;
	p[2] = 0;
	p[3] = bits >= 32 ? 3 : bits >= 16 ? 2 : 1;	/* access size */
	put64(p + 4, port);
}

static uint32_t build_madt(struct machine *m, uint8_t *t)
{
	uint32_t o = 44;
	put32(t + 36, 0xfee00000u);	/* local APIC address */
	put32(t + 40, 1);		/* PCAT_COMPAT: dual 8259 present */
	for (int k = 0; k < m->ncpus; k++) {
		if (k < 255) {
			t[o] = 0;		/* processor local APIC */
			t[o + 1] = 8;
			t[o + 2] = (uint8_t)k;	/* ACPI processor UID */
			t[o + 3] = (uint8_t)k;	/* APIC ID */
			put32(t + o + 4, 1);	/* enabled */
			o += 8;
		} else {
			t[o] = 9;		/* processor local x2APIC */
			t[o + 1] = 16;
			put32(t + o + 4, (uint32_t)k);
			put32(t + o + 8, 1);
			put32(t + o + 12, (uint32_t)k);
			o += 16;
		}
	}
	t[o] = 1;			/* I/O APIC */
	t[o + 1] = 12;
	t[o + 2] = 0;			/* IOAPIC ID */
	put32(t + o + 4, 0xfec00000u);
	put32(t + o + 8, 0);		/* GSI base */
	o += 12;
	static const uint8_t level_irqs[] = { 5, 9, 10, 11 };
	t[o] = 2;			/* interrupt source override: IRQ 0 -> GSI 2 */
	t[o + 1] = 10;
	t[o + 3] = 0;
	put32(t + o + 4, 2);
	put16(t + o + 8, 0);		/* conforms to the bus */
	o += 10;
	for (size_t k = 0; k < sizeof(level_irqs); k++) {
		t[o] = 2;
		t[o + 1] = 10;
		t[o + 3] = level_irqs[k];
		put32(t + o + 4, level_irqs[k]);
		put16(t + o + 8, 0x000d);	/* active high, level triggered */
		o += 10;
	}
	t[o] = 4;			/* local APIC NMI: all processors, LINT1 */
	t[o + 1] = 6;
	t[o + 2] = 0xff;
	put16(t + o + 3, 0);
	t[o + 5] = 1;
	o += 6;
	if (m->ncpus > 255) {
		t[o] = 10;		/* local x2APIC NMI */
		t[o + 1] = 12;
		put16(t + o + 2, 0);
		put32(t + o + 4, 0xffffffffu);
		t[o + 8] = 1;
		o += 12;
	}
	return o;
}

static void build_tables(struct machine *m)
{
	uint8_t *area = machine_gpa(m, ACPI_RSDP_ADDR, ACPI_AREA_END - ACPI_RSDP_ADDR);
	if (!area)
		return;		/* not enough RAM (-m below 1 MiB cannot happen) */
	memset(area, 0, ACPI_AREA_END - ACPI_RSDP_ADDR);
#define AT(a) (area + ((a) - ACPI_RSDP_ADDR))

	/* FACS (5.2.10): no checksum, 64-byte aligned */
	uint8_t *facs = AT(FACS_ADDR);
	memcpy(facs, "FACS", 4);
	put32(facs + 4, 64);
	facs[32] = 2;			/* version */

	/* DSDT: Name (_S5, Package (4) { 0, 0, 0, 0 }) */
	static const uint8_t aml[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x06, 0x04,
				       0x00, 0x00, 0x00, 0x00 };
	uint8_t *dsdt = AT(DSDT_ADDR);
	memcpy(dsdt + 36, aml, sizeof(aml));
	header(dsdt, "DSDT", 36 + sizeof(aml), 2);

	/* FADT (5.2.9), revision 3 (ACPI 2.0 layout, 244 bytes) */
	uint8_t *f = AT(FADT_ADDR);
	put32(f + 36, FACS_ADDR);
	put32(f + 40, DSDT_ADDR);
	put16(f + 46, 9);		/* SCI_INT */
	put32(f + 48, 0);		/* SMI_CMD: none, ACPI mode is always on */
	put32(f + 56, PM_BASE + PM1_STS);
	put32(f + 64, PM_BASE + PM1_CNT);
	put32(f + 76, PM_BASE + PM_TMR);
	f[88] = 4;			/* PM1_EVT_LEN */
	f[89] = 2;			/* PM1_CNT_LEN */
	f[91] = 4;			/* PM_TMR_LEN */
	put16(f + 96, 0xfff);		/* no C2 */
	put16(f + 98, 0xfff);		/* no C3 */
	f[108] = 0x32;			/* CENTURY: CMOS index */
	put16(f + 109, 0x0001);		/* IAPC_BOOT_ARCH: legacy devices */
	/* WBINVD, PROC_C1, PWR_BUTTON and SLP_BUTTON absent, RESET_REG_SUP */
	put32(f + 112, (1u << 0) | (1u << 2) | (1u << 4) | (1u << 5) | (1u << 10));
	gas_io(f + 116, 0xcf9, 8);	/* RESET_REG */
	f[128] = 0x06;			/* RESET_VALUE */
	put64(f + 132, FACS_ADDR);
	put64(f + 140, DSDT_ADDR);
	gas_io(f + 148, PM_BASE + PM1_STS, 32);
	gas_io(f + 172, PM_BASE + PM1_CNT, 16);
	gas_io(f + 208, PM_BASE + PM_TMR, 32);
	header(f, "FACP", 244, 3);

	/* MADT (5.2.12) */
	uint8_t *madt = AT(MADT_ADDR);
	uint32_t mlen = build_madt(m, madt);
	header(madt, "APIC", mlen, 3);

	/* RSDT / XSDT */
	uint8_t *rsdt = AT(RSDT_ADDR), *xsdt = AT(XSDT_ADDR);
	put32(rsdt + 36, FADT_ADDR);
	put32(rsdt + 40, MADT_ADDR);
	header(rsdt, "RSDT", 44, 1);
	put64(xsdt + 36, FADT_ADDR);
	put64(xsdt + 44, MADT_ADDR);
	header(xsdt, "XSDT", 52, 1);

	/* RSDP (5.2.5), ACPI 2.0+ */
	uint8_t *r = AT(ACPI_RSDP_ADDR);
	memcpy(r, "RSD PTR ", 8);
	memcpy(r + 9, "NESTVM", 6);
	r[15] = 2;
	put32(r + 16, RSDT_ADDR);
	put32(r + 20, 36);
	put64(r + 24, XSDT_ADDR);
	r[8] = csum(r, 20);
	r[32] = csum(r, 36);
#undef AT
}

/* ---- fixed hardware ------------------------------------------------------ */

static struct acpi_pm *pm(struct machine *m)
{
	return &m->dev->pm;
}

static uint64_t pm_ticks(uint64_t ns)
{
	return dev_muldiv(ns, PM_TIMER_HZ, 1000000000ULL);
}

/* TMR_STS: bit 23 of the counter changed since the status was cleared */
static void update_tmr_sts(struct acpi_pm *p, uint64_t now)
{
	if ((pm_ticks(now) >> 23) != (pm_ticks(p->tmr_sts_ns) >> 23))
		p->pm1_sts |= STS_TMR;
	p->tmr_sts_ns = now;
}

static void update_sci(struct machine *m)
{
	struct acpi_pm *p = pm(m);
	uint64_t now = machine_now(m);
	update_tmr_sts(p, now);
	bool sci = (p->pm1_sts & p->pm1_en & 0x0521) != 0;
	if (sci != p->sci) {
		p->sci = sci;
		machine_set_irq(m, 9, sci);
	}
	uint64_t next = ~0ULL;
	if ((p->pm1_en & STS_TMR) && !(p->pm1_sts & STS_TMR)) {
		/* the next carry out of bit 22 into bit 23 */
		uint64_t n = ((pm_ticks(now) >> 23) + 1) << 23;
		next = (uint64_t)(((unsigned __int128)n * 1000000000ULL + PM_TIMER_HZ - 1) /
				  PM_TIMER_HZ);
	}
	machine_timer_mod(m, p->timer, next);
}

static void pm_timer_cb(void *opaque, uint64_t now)
{
	(void)now;
	update_sci(opaque);
}

static uint32_t pm_reg_bytes(struct machine *m, uint8_t *b)
{
	struct acpi_pm *p = pm(m);
	uint64_t now = machine_now(m);
	update_tmr_sts(p, now);
	memset(b, 0, 16);
	put16(b + PM1_STS, p->pm1_sts);
	put16(b + PM1_EN, p->pm1_en);
	put16(b + PM1_CNT, (uint16_t)((p->pm1_cnt & ~CNT_SLP_EN) | CNT_SCI_EN));
	put32(b + PM_TMR, (uint32_t)(pm_ticks(now) & 0xffffff));
	return 16;
}

static uint32_t pm_read(void *opaque, uint16_t port, int size)
{
	struct machine *m = opaque;
	uint8_t b[16];
	pm_reg_bytes(m, b);
	uint32_t off = port - PM_BASE, v = 0;
	for (int k = 0; k < size; k++)
		if (off + k < 16)
			v |= (uint32_t)b[off + k] << (8 * k);
	return v;
}

static void pm_write(void *opaque, uint16_t port, int size, uint32_t v)
{
	struct machine *m = opaque;
	struct acpi_pm *p = pm(m);
	uint32_t off = port - PM_BASE;
	update_tmr_sts(p, machine_now(m));
	for (int k = 0; k < size; k++, off++) {
		uint16_t byte = (uint16_t)((v >> (8 * k)) & 0xff);
		int sh = (off & 1) * 8;
		switch (off & ~1u) {
		case PM1_STS:
			p->pm1_sts &= (uint16_t)~(byte << sh);	/* write 1 to clear */
			break;
		case PM1_EN:
			p->pm1_en = (uint16_t)((p->pm1_en & ~(0xff << sh)) | ((byte << sh) & 0x0521));
			break;
		case PM1_CNT:
			p->pm1_cnt = (uint16_t)((p->pm1_cnt & ~(0xff << sh)) | (byte << sh));
			if (sh && (byte << sh) & CNT_SLP_EN) {
				int typ = (p->pm1_cnt >> 10) & 7;
				p->pm1_cnt &= (uint16_t)~CNT_SLP_EN;
				if (typ == 0)
					machine_poweroff(m, 0, NULL);	/* S5 (\_S5 = 0) */
			}
			break;
		default:
			break;	/* the timer is read-only */
		}
	}
	update_sci(m);
}

/* snapshot section "dev:acpi" v1: the PM registers (the tables are in RAM) */
static void pm_save(struct machine *m, void *opaque, struct snap_buf *b)
{
	struct acpi_pm *p = pm(m);
	(void)opaque;
	snap_put_u16(b, p->pm1_sts);
	snap_put_u16(b, p->pm1_en);
	snap_put_u16(b, p->pm1_cnt);
	snap_put_u64(b, p->tmr_sts_ns);
	snap_put_u8(b, p->sci);
}

static int pm_load(struct machine *m, void *opaque, struct snap_in *in, uint32_t version,
		   char *err, size_t errlen)
{
	struct acpi_pm t = *pm(m);
	(void)opaque;
	(void)version;
	t.pm1_sts = snap_get_u16(in);
	t.pm1_en = snap_get_u16(in);
	t.pm1_cnt = snap_get_u16(in);
	t.tmr_sts_ns = snap_get_u64(in);
	t.sci = snap_get_bool(in);
	if (!snap_in_done(in) || (t.pm1_en & ~0x0521) || (t.pm1_cnt & CNT_SLP_EN)) {
		snprintf(err, errlen, "malformed state");
		return -1;
	}
	*pm(m) = t;
	return 0;
}

void dev_acpi_reset(struct machine *m)
{
	struct acpi_pm *p = pm(m);
	int t = p->timer;
	memset(p, 0, sizeof(*p));
	p->timer = t;
	p->tmr_sts_ns = machine_now(m);
	machine_timer_mod(m, t, ~0ULL);
	build_tables(m);
}

void dev_acpi_init(struct machine *m)
{
	pm(m)->timer = machine_timer_new(m, pm_timer_cb, m);
	machine_register_pio(m, PM_BASE, 16, m, pm_read, pm_write);
	snapshot_register(m, "acpi", 1, m, pm_save, pm_load);
	dev_acpi_reset(m);
}
