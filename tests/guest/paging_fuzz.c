/*
 * 4-level paging against a reference model written from the SDM (Vol. 3A
 * 4.5-4.8): random paging-structure entries (present, R/W, U/S, XD, PS at
 * each level, protection keys, reserved bits) and random controls (CR0.WP,
 * CR4.SMEP/SMAP/PKE, EFER.NXE, RFLAGS.AC, PKRU) for reads, writes and
 * fetches at CPL 0 and 3.  The #PF error code and CR2, or success with the
 * accessed/dirty bits, must match the model exactly.
 */
#include "sys.h"

#define VA_BASE 0x0000020000000000ULL	/* PML4 slot 4 */
#define N 4000

static uint64_t pdpt[512] __attribute__((aligned(4096)));
static uint64_t pd[512] __attribute__((aligned(4096)));
static uint64_t pt[512] __attribute__((aligned(4096)));
static uint8_t pg[4096] __attribute__((aligned(4096)));
static uint8_t ustack[4096] __attribute__((aligned(4096)));
static uint64_t seed = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	seed ^= seed << 13;
	seed ^= seed >> 7;
	seed ^= seed << 17;
	return seed;
}

static bool chance(int n)	/* 1 in n */
{
	return rnd() % n == 0;
}

asm(".pushsection .text\n\t.balign 4096\n"
"u_pf:\n"
"u_rd:\n\tmovq (%rdi), %rax\n\tint $0x81\n"
"u_wr:\n\tmovq $7, (%rdi)\n\tint $0x81\n"
"u_ex:\n\tcall *%rdi\n\tint $0x81\n"
	".balign 4096\n\t"
	".popsection");
extern char u_pf[], u_rd[], u_wr[], u_ex[];

uint64_t ex_saved;

static int kaccess(int kind, uint64_t va)
{
	exc_clear();
	switch (kind) {
	case 0:
		asm volatile(ASM_TRY("1f") "movq (%0), %%rax\n1:" :: "r"(va) : "rax", "memory");
		break;
	case 1:
		asm volatile(ASM_TRY("1f") "movq $7, (%0)\n1:" :: "r"(va) : "memory");
		break;
	default:
		asm volatile("mov %%rsp, ex_saved\n\t" ASM_TRY("1f") "call *%0\n1:\tmov ex_saved, %%rsp"
			     :: "r"(va) : "rax", "memory");
		break;
	}
	return exc_last.vector;
}

struct ctl {
	bool wp, smep, smap, pke, nxe, ac, user;
	uint32_t pkru;
	int kind;		/* 0 read, 1 write, 2 fetch */
};

/*
 * The model: the error code of the #PF, or -1 for success.  e[0..3] are
 * PML4E, PDPTE, PDE, PTE; levels below a large page are unused.
 */
static int model(const uint64_t *e, const struct ctl *k)
{
	const uint64_t hi_rsvd = 0x000fff8000000000ULL;	/* bits 51:39, MAXPHYADDR 39 */
	bool w = true, u = true, nx = false;
	uint32_t ec = (k->kind == 1 ? 2 : 0) | (k->user ? 4 : 0) |
		      (k->kind == 2 && (k->nxe || k->smep) ? 0x10 : 0);
	int leaf = -1;
	for (int l = 0; l < 4; l++) {
		uint64_t x = e[l];
		if (!(x & PTE_P))
			return ec;
		uint64_t rs = hi_rsvd | (k->nxe ? 0 : PTE_NX);
		if (l == 0)
			rs |= PTE_PS;
		if (l == 1 && (x & PTE_PS))
			rs |= 0x3fffe000ULL;
		if (l == 2 && (x & PTE_PS))
			rs |= 0x1fe000ULL;
		if (x & rs)
			return ec | 1 | 8;
		w &= !!(x & PTE_W);
		u &= !!(x & PTE_U);
		nx |= !!(x & PTE_NX);
		if (l == 3 || ((l == 1 || l == 2) && (x & PTE_PS))) {
			leaf = l;
			break;
		}
	}
	ec |= 1;
	if (k->kind == 2) {
		if (k->nxe && nx)
			return ec;
		if (k->user ? !u : (u && k->smep))
			return ec;
		return -1;
	}
	if (k->user) {
		if (!u || (k->kind == 1 && !w))
			return ec;
	} else {
		if (u && k->smap && !k->ac)
			return ec;
		if (k->kind == 1 && !w && k->wp)
			return ec;
	}
	if (k->pke && u) {
		int key = (int)((e[leaf] >> 59) & 0xf);
		int bits = (k->pkru >> (2 * key)) & 3;
		if ((bits & 1) || (k->kind == 1 && (bits & 2) && (k->user || k->wp)))
			return ec | 0x20;
	}
	return -1;
}

static uint64_t flags(bool leaf)
{
	uint64_t f = 0;
	if (!chance(12))
		f |= PTE_P;
	if (!chance(5))
		f |= PTE_W;
	if (!chance(4))
		f |= PTE_U;
	if (chance(6))
		f |= PTE_NX;
	if (chance(20))
		f |= 1ULL << (39 + rnd() % 13);		/* reserved address bit */
	if (leaf && chance(2))
		f |= (rnd() & 0xf) << 59;		/* protection key */
	return f;
}

int main(int argc, char **argv)
{
	int bad = 0, bad_ad = 0, ok = 0, faults = 0;
	uint64_t cr0 = read_cr0(), cr4 = read_cr4(), efer = rdmsr(0xc0000080);
	uint64_t pgpa = (uint64_t)(uintptr_t)pg;

	set_user((uint64_t)(uintptr_t)u_pf);
	set_user((uint64_t)(uintptr_t)ustack);
	pg[0x123] = 0xc3;	/* RET for fetches */
	uint64_t *pml4e = pte_get(VA_BASE, 4);

	for (int n = 0; n < N; n++) {
		struct ctl k = {
			.wp = rnd() & 1, .smep = rnd() & 1, .smap = rnd() & 1, .pke = rnd() & 1,
			.nxe = rnd() & 1, .ac = rnd() & 1, .user = rnd() & 1,
			.pkru = (uint32_t)rnd() & ~3u, .kind = (int)(rnd() % 3),
		};
		/* one path: PML4E -> PDPT -> (1 GiB | PD -> (2 MiB | PT -> 4 KiB)) */
		uint64_t e[4];
		int size = (int)(rnd() % 6);	/* 0: 1 GiB, 1-2: 2 MiB, else 4 KiB */
		uint64_t off;
		e[0] = (uint64_t)(uintptr_t)pdpt | flags(false);
		if (chance(25))
			e[0] |= PTE_PS;
		if (size == 0) {
			e[1] = flags(true) | PTE_PS;	/* 1 GiB at 0 */
			if (chance(10))
				e[1] |= 1ULL << (13 + rnd() % 17);
			off = pgpa;
			e[2] = e[3] = 0;
		} else if (size <= 2) {
			e[1] = (uint64_t)(uintptr_t)pd | flags(false);
			uint64_t base = pgpa & ~0x1fffffULL;
			e[2] = base | flags(true) | PTE_PS;
			if (chance(10))
				e[2] |= 1ULL << (13 + rnd() % 8);
			off = pgpa - base;
			e[3] = 0;
		} else {
			e[1] = (uint64_t)(uintptr_t)pd | flags(false);
			e[2] = (uint64_t)(uintptr_t)pt | flags(false);
			e[3] = pgpa | flags(true);
			off = 0;
		}
		off += k.kind == 2 ? 0x123 : 0x100;
		uint64_t va = VA_BASE + off;
		*pml4e = e[0];
		pdpt[(va >> 30) & 0x1ff] = e[1];
		pd[(va >> 21) & 0x1ff] = e[2];
		pt[(va >> 12) & 0x1ff] = e[3];

		write_cr0(k.wp ? cr0 | (1u << 16) : cr0 & ~(1u << 16));
		wrmsr(0xc0000080, k.nxe ? efer | (1u << 11) : efer & ~(1u << 11));
		uint64_t c4 = cr4 & ~((1u << 20) | (1u << 21) | (1u << 22));
		c4 |= (k.smep ? 1u << 20 : 0) | (k.smap ? 1u << 21 : 0) | (k.pke ? 1u << 22 : 0);
		write_cr4(c4);
		if (k.pke)
			asm volatile("wrpkru" :: "a"(k.pkru), "c"(0), "d"(0) : "memory");
		flush_tlb();

		int want = model(e, &k);
		int got;
		if (k.user) {
			static void *const ufn[3] = { u_rd, u_wr, u_ex };
			exc_clear();
			run_user64(ufn[k.kind], va, ustack + sizeof(ustack));
			got = exc_last.vector;
		} else {
			if (k.ac)
				asm volatile("stac" ::: "memory");
			got = kaccess(k.kind, va);
			asm volatile("clac" ::: "memory");
		}
		if (k.pke)
			asm volatile("wrpkru" :: "a"(0), "c"(0), "d"(0) : "memory");
		write_cr4(cr4);
		write_cr0(cr0);
		wrmsr(0xc0000080, efer);

		bool match = want < 0 ? got == -1 :
			     got == 14 && exc_last.error_code == (uint64_t)want && exc_last.cr2 == va;
		if (!match && bad++ < 8)
			diag("#%d kind %d user %d wp %d smep %d smap %d ac %d pke %d nxe %d pkru %#x "
			     "e %#llx %#llx %#llx %#llx: want %d got %d ec %#llx", n, k.kind, k.user, k.wp,
			     k.smep, k.smap, k.ac, k.pke, k.nxe, k.pkru, (unsigned long long)e[0],
			     (unsigned long long)e[1], (unsigned long long)e[2], (unsigned long long)e[3],
			     want, got, (unsigned long long)exc_last.error_code);
		if (match && want < 0) {
			ok++;
			/* A on every level used, D on the leaf of a write */
			uint64_t now[4] = { *pml4e, pdpt[(va >> 30) & 0x1ff], pd[(va >> 21) & 0x1ff],
					    pt[(va >> 12) & 0x1ff] };
			int leaf = size == 0 ? 1 : size <= 2 ? 2 : 3;
			for (int l = 0; l <= leaf; l++) {
				uint64_t d = (l == leaf && k.kind == 1) ? PTE_D : 0;
				if ((now[l] & (PTE_A | PTE_D)) != (PTE_A | d) && bad_ad++ < 5)
					diag("#%d level %d: %#llx after kind %d", n, l,
					     (unsigned long long)now[l], k.kind);
			}
		} else if (match) {
			faults++;
		}
	}
	*pml4e = 0;
	flush_tlb();
	report(bad == 0, "faults and error codes match the model (%d mismatches; %d ok, %d faults)",
	       bad, ok, faults);
	report(bad_ad == 0, "accessed/dirty bits match (%d)", bad_ad);
	report(ok > N / 10 && faults > N / 10, "both outcomes exercised");
	return report_summary();
}
