/*
 * 32-bit paging (SDM Vol. 3A 4.3): 4 KiB pages, 4 MiB pages (CR4.PSE),
 * PSE-36 address bits and their reserved bits, PS ignored without
 * CR4.PSE, accessed/dirty bits, U/S and R/W (with CR0.WP), and the #PF
 * error code and CR2 of each fault (no I bit without NX/SMEP).
 */
#include "paging32.h"

#define VA 0x80000000u
#define VA4M 0x80400000u
#define PFEC_P 1
#define PFEC_W 2
#define PFEC_U 4
#define PFEC_RSVD 8

static uint32_t pd[1024] __attribute__((aligned(4096)));
static uint32_t pt[1024] __attribute__((aligned(4096)));
static uint32_t pd2[1024] __attribute__((aligned(4096)));
static uint32_t pt2[1024] __attribute__((aligned(4096)));
static uint32_t ids[16][1024] __attribute__((aligned(4096)));
static uint8_t pg[4][4096] __attribute__((aligned(4096)));

static uint32_t pa(const void *p)
{
	return (uint32_t)(uintptr_t)p;
}

static int go(uint32_t op, uint32_t va, uint32_t *val, uint32_t cr4, uint32_t cr0_or)
{
	static struct pgop o;
	memset(&o, 0, sizeof(o));
	o.cr3 = pa(pd);
	o.cr4 = cr4;
	o.op = op;
	o.va = va;
	o.val = val ? *val : 0;
	o.cr0_or = cr0_or;
	int v = pg32_run(&o);
	if (val)
		*val = o.val;
	return v;
}

static void pf(int vec, uint32_t ec, uint32_t cr2, const char *what)
{
	report(vec == 14 && x32_exc.ec == ec && x32_exc.cr2 == cr2,
	       "%s: #PF ec %#x cr2 %#x (got %d ec %#x cr2 %#x)", what, ec, cr2, vec, x32_exc.ec,
	       x32_exc.cr2);
}

#define PSE 0x10u
#define WP (1u << 16)

static void small(void)
{
	uint32_t v;
	*(volatile uint32_t *)pg[0] = 0x3210;
	pt[0] = pa(pg[0]) | 7;
	pd[0x200] = pa(pt) | 7;
	v = 0;
	report(go(PG_READ, VA + 0, &v, PSE, 0) == -1 && v == 0x3210, "read through a 4 KiB page");
	CHECK_EQ(pd[0x200] & 0x20, 0x20, "read: A set in the PDE");
	CHECK_EQ(pt[0] & 0x60, 0x20, "read: A, not D, in the PTE");
	v = 0x4444;
	report(go(PG_WRITE, VA + 4, &v, PSE, 0) == -1 && *(volatile uint32_t *)(pg[0] + 4) == 0x4444,
	       "write through a 4 KiB page");
	CHECK_EQ(pt[0] & 0x40, 0x40, "write: D set in the PTE");
	CHECK_EQ(pd[0x200] & 0x40, 0, "write: D not set in the PDE");

	pt[1] = pa(pg[1]);
	pf(go(PG_READ, VA + 0x1008, NULL, PSE, 0), 0, VA + 0x1008, "read of a not-present page");
	pf(go(PG_WRITE, VA + 0x1008, NULL, PSE, 0), PFEC_W, VA + 0x1008, "write to a not-present page");
	pf(go(PG_EXEC, VA + 0x1008, NULL, PSE, 0), 0, VA + 0x1008, "fetch from a not-present page: no I bit");
	pf(go(PG_UREAD, VA + 0x1008, NULL, PSE, 0), PFEC_U, VA + 0x1008, "user read of a not-present page");

	pt[1] = pa(pg[1]) | 1 | 4;	/* read-only user page */
	report(go(PG_WRITE, VA + 0x1000, NULL, PSE, 0) == -1, "CR0.WP = 0: supervisor write to a read-only page");
	pf(go(PG_WRITE, VA + 0x1000, NULL, PSE, WP), PFEC_P | PFEC_W, VA + 0x1000, "CR0.WP = 1: supervisor write");
	pf(go(PG_UWRITE, VA + 0x1000, NULL, PSE, 0), PFEC_P | PFEC_W | PFEC_U, VA + 0x1000,
	   "user write to a read-only user page");
	report(go(PG_UREAD, VA + 0x1000, NULL, PSE, 0) == -1, "user read of a user page");
	pt[1] = pa(pg[1]) | 3;		/* supervisor page */
	pf(go(PG_UREAD, VA + 0x1000, NULL, PSE, 0), PFEC_P | PFEC_U, VA + 0x1000, "user read of a supervisor page");
	pg[1][0] = 0xc3;
	pf(go(PG_UEXEC, VA + 0x1000, NULL, PSE, 0), PFEC_P | PFEC_U, VA + 0x1000, "user fetch from a supervisor page");
	report(go(PG_EXEC, VA + 0x1000, NULL, PSE, 0) == -1, "supervisor fetch");
	pt[1] = pa(pg[1]) | 7;
	pd[0x200] = pa(pt) | 3;		/* U = 0 in the PDE */
	pf(go(PG_UREAD, VA + 0x1000, NULL, PSE, 0), PFEC_P | PFEC_U, VA + 0x1000, "user read with U = 0 in the PDE");
	pd[0x200] = pa(pt) | 5;		/* R/W = 0 in the PDE */
	pf(go(PG_UWRITE, VA + 0x1000, NULL, PSE, 0), PFEC_P | PFEC_W | PFEC_U, VA + 0x1000,
	   "user write with R/W = 0 in the PDE");
	pd[0x200] = pa(pt) | 7;
}

static void big(void)
{
	uint32_t v;
	uint32_t base = pa(pg) & 0xffc00000u, off = pa(pg[2]) - base;
	*(volatile uint32_t *)pg[2] = 0x4444aaaa;
	pd[0x201] = base | 0x87;
	report(go(PG_READ, VA4M + off, &v, PSE, 0) == -1 && v == 0x4444aaaa, "read through a 4 MiB page");
	CHECK_EQ(pd[0x201] & 0x60, 0x20, "4 MiB: A in the PDE");
	report(go(PG_WRITE, VA4M + off, &v, PSE, 0) == -1 && (pd[0x201] & 0x40), "4 MiB: D on a write");
	pd[0x201] = base | 0x87 | (1u << 21);
	pf(go(PG_READ, VA4M + off, NULL, PSE, 0), PFEC_P | PFEC_RSVD, VA4M + off, "4 MiB PDE bit 21");
	pd[0x201] = base | 0x87 | (1u << 20);	/* PA bit 39 >= MAXPHYADDR */
	pf(go(PG_READ, VA4M + off, NULL, PSE, 0), PFEC_P | PFEC_RSVD, VA4M + off,
	   "PSE-36: PA bit 39 (beyond MAXPHYADDR 39)");
	pd[0x201] = base | 0x87 | (1u << 13);	/* PA bit 32 */
	v = 0;
	report(go(PG_READ, VA4M + off, &v, PSE, 0) == -1 && v != 0x4444aaaa,
	       "PSE-36: PA bit 32 selects memory above 4 GiB (%#x)", v);
	pd[0x201] = base | 0x87;
	/* 4 KiB page tables have no reserved bits */
	pt[2] = pa(pg[2]) | 7 | 0x180;		/* PAT, G */
	report(go(PG_READ, VA + 0x2000, NULL, PSE, 0) == -1, "PTE PAT and G bits are not reserved");
}

/* CR4.PSE = 0: PS in a PDE is ignored (the PDE points to a page table) */
static void no_pse(void)
{
	for (int t = 0; t < 16; t++) {
		for (int k = 0; k < 1024; k++)
			ids[t][k] = ((t * 1024 + k) << 12) | 7;
		pd2[t] = pa(ids[t]) | 7;
	}
	pt2[0] = pa(pg[3]) | 7;
	pd2[0x200] = pa(pt2) | 0x87;
	*(volatile uint32_t *)pg[3] = 0x9999;
	static struct pgop o;
	memset(&o, 0, sizeof(o));
	o.cr3 = pa(pd2);
	o.cr4 = 0;
	o.op = PG_READ;
	o.va = VA;
	report(pg32_run(&o) == -1 && o.val == 0x9999, "CR4.PSE = 0: PDE.PS ignored, page table used");
	CHECK_EQ(pd2[0x200] & 0x40, 0, "... and the PDE is not marked dirty");
}

int main(int argc, char **argv)
{
	for (int k = 0; k < 1024; k++)
		pd[k] = (k << 22) | 0x87;
	small();
	big();
	no_pse();
	return report_summary();
}
