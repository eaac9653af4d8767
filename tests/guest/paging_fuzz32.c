/*
 * 32-bit and PAE paging against a reference model written from the SDM
 * (Vol. 3A 4.3, 4.4, 4.6, 4.7): random PDEs/PTEs (present, R/W, U/S, PS,
 * XD, reserved bits, PSE-36 bits), random CR0.WP and EFER.NXE, reads,
 * writes and fetches at CPL 0 and 3 in 32-bit protected mode.  #PF error
 * codes and CR2, or success with the accessed/dirty bits, must match.
 */
#include "paging32.h"

#define N 1200
#define VA32 0x80000000u	/* PDE 0x200 */
#define VAPAE 0xc0000000u	/* PDPTE 3, PDE 0 */

static uint32_t pd32[1024] __attribute__((aligned(4096)));
static uint32_t pt32[1024] __attribute__((aligned(4096)));
static uint64_t pdpt[4] __attribute__((aligned(32)));
static uint64_t pds[3][512] __attribute__((aligned(4096)));
static uint64_t pd3[512] __attribute__((aligned(4096)));
static uint64_t pt64[512] __attribute__((aligned(4096)));
static uint8_t pg[4096] __attribute__((aligned(4096)));
static uint64_t seed = 0x853c49e6748fea9bULL;

static uint64_t rnd(void)
{
	seed ^= seed << 13;
	seed ^= seed >> 7;
	seed ^= seed << 17;
	return seed;
}

static bool chance(int n)
{
	return rnd() % n == 0;
}

static uint32_t pa(const void *p)
{
	return (uint32_t)(uintptr_t)p;
}

/* access kinds in pgop terms */
static const uint32_t ops[2][3] = { { PG_READ, PG_WRITE, PG_EXEC }, { PG_UREAD, PG_UWRITE, PG_UEXEC } };

static int model32(uint32_t pde, uint32_t pte, int kind, bool user, bool wp)
{
	uint32_t ec = (kind == 1 ? 2 : 0) | (user ? 4 : 0);
	if (!(pde & 1))
		return (int)ec;
	bool w = pde & 2, u = pde & 4;
	if (pde & 0x80) {
		/* 4 MiB: bit 21 reserved, PA bits 39+ (bit 20) beyond MAXPHYADDR 39 */
		if (pde & (3u << 20))
			return (int)(ec | 9);
	} else {
		if (!(pte & 1))
			return (int)ec;
		w &= !!(pte & 2);
		u &= !!(pte & 4);
	}
	ec |= 1;
	if (kind == 2)
		return user && !u ? (int)ec : -1;
	if (user)
		return (!u || (kind == 1 && !w)) ? (int)ec : -1;
	return (kind == 1 && !w && wp) ? (int)ec : -1;
}

static int modelpae(uint64_t pde, uint64_t pte, int kind, bool user, bool wp, bool nxe)
{
	uint32_t ec = (kind == 1 ? 2 : 0) | (user ? 4 : 0) | (kind == 2 && nxe ? 0x10 : 0);
	uint64_t rs = 0x7fffff8000000000ULL | (nxe ? 0 : 1ULL << 63);	/* 62:39, XD */
	if (!(pde & 1))
		return (int)ec;
	if (pde & rs)
		return (int)(ec | 9);
	bool w = pde & 2, u = pde & 4, nx = pde >> 63;
	if (pde & 0x80) {
		if (pde & 0x1fe000ULL)
			return (int)(ec | 9);
	} else {
		if (!(pte & 1))
			return (int)ec;
		if (pte & rs)
			return (int)(ec | 9);
		w &= !!(pte & 2);
		u &= !!(pte & 4);
		nx |= pte >> 63;
	}
	ec |= 1;
	if (kind == 2) {
		if (nxe && nx)
			return (int)ec;
		return user && !u ? (int)ec : -1;
	}
	if (user)
		return (!u || (kind == 1 && !w)) ? (int)ec : -1;
	return (kind == 1 && !w && wp) ? (int)ec : -1;
}

static uint64_t rflags_(bool big)
{
	uint64_t f = 0;
	if (!chance(10))
		f |= 1;
	if (!chance(4))
		f |= 2;
	if (!chance(4))
		f |= 4;
	if (big)
		f |= 0x80;
	return f;
}

int main(int argc, char **argv)
{
	int bad = 0, bad_ad = 0, ok = 0, faults = 0;
	static struct pgop o;
	uint32_t base4m = pa(pg) & 0xffc00000u, base2m = pa(pg) & ~0x1fffffu;

	pg[0x123] = 0xc3;
	for (int k = 0; k < 1024; k++)
		pd32[k] = (k << 22) | 0x87;
	for (int d = 0; d < 3; d++) {
		pdpt[d] = pa(pds[d]) | 1;
		for (int k = 0; k < 512; k++)
			pds[d][k] = ((uint64_t)d << 30) | ((uint64_t)k << 21) | 0x87;
	}
	pdpt[3] = pa(pd3) | 1;
	for (int n = 0; n < N; n++) {
		bool pae = rnd() & 1, user = rnd() & 1, wp = rnd() & 1, nxe = pae && (rnd() & 1);
		bool big = chance(3);
		int kind = (int)(rnd() % 3);
		uint32_t off = kind == 2 ? 0x123 : 0x100;
		int want;
		uint64_t e_pde, e_pte;
		memset(&o, 0, sizeof(o));
		if (!pae) {
			uint32_t pde = big ? base4m | (uint32_t)rflags_(true) : pa(pt32) | (uint32_t)rflags_(false);
			uint32_t pte = pa(pg) | (uint32_t)rflags_(false);
			if (big && chance(8))
				pde |= 1u << (20 + (rnd() & 1));
			if (big && kind != 2 && chance(8))
				pde |= 1u << (13 + rnd() % 7);	/* PA bits 38:32: above RAM, not reserved */
			if (big)
				off += pa(pg) - base4m;
			pd32[0x200] = pde;
			pt32[0] = pte;
			e_pde = pde;
			e_pte = pte;
			want = model32(pde, pte, kind, user, wp);
			o.cr3 = pa(pd32);
			o.cr4 = 0x10;
			o.va = VA32 + off;
			if (big && (pde & (0x7fu << 13)) && want < 0)
				want = -2;	/* memory above 4 GiB: do not check the access */
		} else {
			uint64_t pde = big ? base2m | rflags_(true) : pa(pt64) | rflags_(false);
			uint64_t pte = pa(pg) | rflags_(false);
			if (chance(5))
				pde |= 1ULL << 63;
			if (chance(5))
				pte |= 1ULL << 63;
			if (chance(12))
				pde |= 1ULL << (39 + rnd() % 24);
			if (chance(12))
				pte |= 1ULL << (39 + rnd() % 24);
			if (big && chance(8))
				pde |= 1ULL << (13 + rnd() % 8);
			if (big)
				off += pa(pg) - base2m;
			pd3[0] = pde;
			pt64[0] = pte;
			e_pde = pde;
			e_pte = pte;
			want = modelpae(pde, pte, kind, user, wp, nxe);
			o.cr3 = pa(pdpt);
			o.cr4 = 0x20;
			o.va = VAPAE + off;
			o.efer_or = nxe ? 1u << 11 : 0;
		}
		o.op = ops[user][kind];
		o.cr0_or = wp ? 1u << 16 : 0;
		int got = pg32_run(&o);
		if (want == -2)
			continue;
		bool match = want < 0 ? got == -1 :
			     got == 14 && x32_exc.ec == (uint32_t)want && x32_exc.cr2 == o.va;
		if (!match && bad++ < 8)
			diag("#%d pae %d kind %d user %d wp %d nxe %d pde %#llx pte %#llx: want %d got %d ec %#x",
			     n, pae, kind, user, wp, nxe, (unsigned long long)e_pde,
			     (unsigned long long)e_pte, want, got, x32_exc.ec);
		if (!match || want >= 0) {
			faults += match;
			continue;
		}
		ok++;
		uint64_t pde_now = pae ? pd3[0] : pd32[0x200], pte_now = pae ? pt64[0] : pt32[0];
		bool leaf_pde = e_pde & 0x80;
		uint64_t want_pde = e_pde | 0x20 | (leaf_pde && kind == 1 ? 0x40 : 0);
		uint64_t want_pte = leaf_pde ? e_pte : e_pte | 0x20 | (kind == 1 ? 0x40 : 0);
		if ((pde_now != want_pde || pte_now != want_pte) && bad_ad++ < 5)
			diag("#%d A/D: pde %#llx pte %#llx", n, (unsigned long long)pde_now,
			     (unsigned long long)pte_now);
		if (pae && pdpt[3] != (pa(pd3) | 1) && bad_ad++ < 5)
			diag("#%d PDPTE written", n);
	}
	report(bad == 0, "32-bit/PAE faults and error codes match the model (%d; %d ok, %d faults)",
	       bad, ok, faults);
	report(bad_ad == 0, "accessed/dirty bits match (%d)", bad_ad);
	report(ok > N / 10 && faults > N / 10, "both outcomes exercised");
	return report_summary();
}
