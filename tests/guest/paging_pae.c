/*
 * PAE paging (SDM Vol. 3A 4.4): PDPTE registers loaded with CR3 (reserved
 * bits -> #GP at MOV CR3 / MOV CR0, not a #PF; later memory changes are not
 * seen until CR3 is reloaded), 4 KiB and 2 MiB pages, reserved bits
 * 62:MAXPHYADDR and XD without EFER.NXE, NX, A/D bits.
 */
#include "paging32.h"

#define VA 0xc0000000u		/* PDPTE 3 */
#define PFEC_P 1
#define PFEC_W 2
#define PFEC_RSVD 8
#define PFEC_I 0x10
#define PAE 0x20u
#define NXE (1u << 11)

static uint64_t pdpt[4] __attribute__((aligned(32)));
static uint64_t pdpt_bad[4] __attribute__((aligned(32)));
static uint64_t pds[4][512] __attribute__((aligned(4096)));
static uint64_t pd3b[512] __attribute__((aligned(4096)));
static uint64_t pt[512] __attribute__((aligned(4096)));
static uint8_t pg[4][4096] __attribute__((aligned(4096)));

static uint32_t pa(const void *p)
{
	return (uint32_t)(uintptr_t)p;
}

static struct pgop o;

static int go(uint32_t op, uint32_t va, uint32_t efer_or)
{
	memset(&o, 0, sizeof(o));
	o.cr3 = pa(pdpt);
	o.cr4 = PAE;
	o.op = op;
	o.va = va;
	o.efer_or = efer_or;
	return pg32_run(&o);
}

static void pf(int vec, uint32_t ec, uint32_t cr2, const char *what)
{
	report(vec == 14 && x32_exc.ec == ec && x32_exc.cr2 == cr2,
	       "%s: #PF ec %#x (got %d ec %#x cr2 %#x)", what, ec, vec, x32_exc.ec, x32_exc.cr2);
}

static void setup(void)
{
	for (int d = 0; d < 4; d++) {
		pdpt[d] = pa(pds[d]) | 1;
		for (int k = 0; k < 512; k++)
			pds[d][k] = ((uint64_t)d << 30) | ((uint64_t)k << 21) | 0x87;
	}
	pds[3][0] = pa(pt) | 7;
	for (int k = 0; k < 512; k++)
		pd3b[k] = pds[3][k];
}

static void pdptes(void)
{
	uint64_t good = pdpt[3];
	static const struct { uint64_t bit; const char *what; } bad[] = {
		{ 1ULL << 1, "PDPTE bit 1 (R/W is reserved)" },
		{ 1ULL << 2, "PDPTE bit 2 (U/S is reserved)" },
		{ 1ULL << 5, "PDPTE bit 5" },
		{ 1ULL << 8, "PDPTE bit 8" },
		{ 1ULL << 39, "PDPTE bit 39 (MAXPHYADDR)" },
		{ 1ULL << 52, "PDPTE bit 52" },
		{ 1ULL << 63, "PDPTE bit 63" },
	};
	for (unsigned k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		pdpt[3] = good | bad[k].bit;
		go(PG_NONE, 0, 0);
		report(o.pg_vec == 13 && x32_exc.ec == 0, "%s: #GP(0) when CR0.PG is set (got %d)",
		       bad[k].what, (int)o.pg_vec);
	}
	pdpt[3] = good & ~1ULL;
	pdpt[3] |= 0x6;		/* reserved bits in a not-present PDPTE do not matter */
	go(PG_NONE, 0, 0);
	report(o.pg_vec == (uint32_t)-1, "reserved bits in a not-present PDPTE: no #GP");
	pf(go(PG_READ, VA + 0x10, 0), 0, VA + 0x10, "access through a not-present PDPTE: #PF(0)");
	pdpt[3] = good;

	/* MOV CR3 with paging on: #GP(0), CR3 unchanged */
	memcpy(pdpt_bad, pdpt, sizeof(pdpt));
	pdpt_bad[1] |= 1ULL << 7;
	memset(&o, 0, sizeof(o));
	o.cr3 = pa(pdpt);
	o.cr4 = PAE;
	o.op = PG_MOVCR3;
	o.val = pa(pdpt_bad);
	report(pg32_run(&o) == 13 && x32_exc.ec == 0, "MOV CR3 with a bad PDPTE: #GP(0)");
	CHECK_EQ(o.cr3_after, pa(pdpt), "... CR3 unchanged");

	/* the PDPTE registers are not re-read from memory */
	*(volatile uint32_t *)pg[0] = 0x1111;
	*(volatile uint32_t *)pg[1] = 0x2222;
	pt[0] = pa(pg[0]) | 7;
	pd3b[0] = pa(pt) | 7;
	static uint64_t pt_b[512] __attribute__((aligned(4096)));
	pt_b[0] = pa(pg[1]) | 7;
	pd3b[0] = pa(pt_b) | 7;
	memset(&o, 0, sizeof(o));
	o.cr3 = pa(pdpt);
	o.cr4 = PAE;
	o.op = PG_STORE_READ;
	o.va = VA;
	o.va2 = pa(&pdpt[3]);
	o.val = pa(pd3b) | 1;
	pg32_run(&o);
	report(x32_exc.vector == -1 && o.val == 0x1111,
	       "PDPTE changed in memory: the loaded PDPTE register is still used (%#x)", o.val);
	pdpt[3] = good;
}

static void entries(void)
{
	*(volatile uint32_t *)pg[0] = 0x1234;
	pt[0] = pa(pg[0]) | 7;
	memset(&o, 0, sizeof(o));
	report(go(PG_READ, VA, 0) == -1 && o.val == 0x1234, "read through a PAE 4 KiB page");
	CHECK_EQ(pt[0] & 0x60, 0x20, "PAE: A set in the PTE");
	CHECK_EQ(pds[3][0] & 0x20, 0x20, "PAE: A set in the PDE");
	CHECK_EQ(pdpt[3], pa(pds[3]) | 1, "PAE: the PDPTE is not written");
	report(go(PG_WRITE, VA, 0) == -1 && (pt[0] & 0x40), "PAE: D set on a write");

	static const struct { uint64_t bit; const char *what; } rsvd[] = {
		{ 1ULL << 39, "PTE bit 39 (MAXPHYADDR)" },
		{ 1ULL << 51, "PTE bit 51" },
		{ 1ULL << 52, "PTE bit 52 (62:MAXPHYADDR reserved in PAE paging)" },
		{ 1ULL << 62, "PTE bit 62" },
		{ 1ULL << 63, "PTE XD with EFER.NXE = 0" },
	};
	for (unsigned k = 0; k < sizeof(rsvd) / sizeof(rsvd[0]); k++) {
		pt[0] = pa(pg[0]) | 7 | rsvd[k].bit;
		pf(go(PG_READ, VA, 0), PFEC_P | PFEC_RSVD, VA, rsvd[k].what);
	}
	pt[0] = pa(pg[0]) | 7;
	pds[3][0] |= 1ULL << 52;
	pf(go(PG_WRITE, VA, 0), PFEC_P | PFEC_W | PFEC_RSVD, VA, "PDE bit 52");
	pds[3][0] &= ~(1ULL << 52);

	/* NX */
	pg[0][0x10] = 0xc3;
	pt[0] = pa(pg[0]) | 7 | (1ULL << 63);
	report(go(PG_READ, VA, NXE) == -1, "XD with EFER.NXE: read allowed");
	pf(go(PG_EXEC, VA + 0x10, NXE), PFEC_P | PFEC_I, VA + 0x10, "XD with EFER.NXE: fetch");
	pt[0] = pa(pg[0]) | 7;
	pf(go(PG_EXEC, VA + 0x1010, NXE), PFEC_I, VA + 0x1010, "PAE, NXE: not-present fetch has I");
	report(go(PG_EXEC, VA + 0x10, NXE) == -1, "fetch without XD");

	/* 2 MiB pages */
	uint32_t base = pa(pg) & ~0x1fffffu, off = pa(pg[2]) - base;
	*(volatile uint32_t *)pg[2] = 0x2222222;
	pds[3][1] = base | 0x87;
	report(go(PG_READ, VA + 0x200000 + off, 0) == -1 && o.val == 0x2222222, "read through a PAE 2 MiB page");
	CHECK_EQ(pds[3][1] & 0x60, 0x20, "2 MiB: A in the PDE");
	pds[3][1] = base | 0x87 | (1u << 13);
	pf(go(PG_READ, VA + 0x200000 + off, 0), PFEC_P | PFEC_RSVD, VA + 0x200000 + off, "2 MiB PDE bit 13");
	pds[3][1] = base | 0x87 | (1u << 12);
	report(go(PG_READ, VA + 0x200000 + off, 0) == -1, "2 MiB PDE bit 12 (PAT)");
}

int main(int argc, char **argv)
{
	setup();
	pdptes();
	entries();
	return report_summary();
}
