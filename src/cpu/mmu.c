// SPDX-License-Identifier: MIT
/*
 * Paging (SDM Vol. 3A ch. 4) and the software TLB.
 *
 * The TLB caches, per 4 KiB linear page and per privilege set, which of
 * read / write / execute may take the fast path.  A page gets a write tag
 * only when its dirty bit is already set, it holds no decoded code, it is
 * RAM, and no data breakpoint watches it; everything else goes through
 * mem_read_slow / mem_write_slow, which walk, check and fault exactly.
 * The TLB may be flushed at any time; the architecture allows that.
 */
#include <stdlib.h>

#include "cpu.h"
#include "lapic.h"
#include "mem.h"

/* ---- physical memory ------------------------------------------------------ */

uint8_t *mmu_gpa_host(struct vm *vm, uint64_t gpa, struct memslot **slotp)
{
	for (int i = 0; i < vm->nslots; i++) {
		struct memslot *s = &vm->slots[i];
		if (gpa - s->gpa < s->size) {
			if (slotp)
				*slotp = s;
			return s->host + (gpa - s->gpa);
		}
	}
	return NULL;
}

uint64_t phys_read(struct vm *vm, uint64_t gpa, int size)
{
	uint8_t *h = mmu_gpa_host(vm, gpa, NULL);
	uint64_t v = 0;
	if (!h || !mmu_gpa_host(vm, gpa + size - 1, NULL))
		return sz_mask(size);	/* open bus */
	memcpy(&v, h, size);
	return v;
}

void phys_write(struct vm *vm, uint64_t gpa, int size, uint64_t v)
{
	struct memslot *s;
	uint8_t *h = mmu_gpa_host(vm, gpa, &s);
	if (!h || (s->flags & KVM_MEM_READONLY) || gpa - s->gpa + size > s->size)
		return;
	uint64_t pg = (gpa - s->gpa) >> 12;
	if (s->code && s->code[pg])
		code_invalidate_page(vm, gpa & ~0xfffULL, NULL);
	memcpy(h, &v, size);
}

/* ---- TLB management ------------------------------------------------------- */

static void tlb_clear_set(struct tlb_ent *t)
{
	for (unsigned i = 0; i < TLB_SIZE; i++) {
		t[i].tag_r = TLB_INVALID;
		t[i].tag_w = TLB_INVALID;
		t[i].tag_x = TLB_INVALID;
		t[i].gpa = ~0ULL;
	}
}

/* the always-empty set: every access through it takes the slow path */
static struct tlb_ent *tlb_none_set(void)
{
	static struct tlb_ent *none;
	if (!none) {
		none = malloc(sizeof(*none) * TLB_SIZE);
		if (!none) {
			fprintf(stderr, "nestvm: out of memory for the TLB\n");
			exit(1);
		}
		tlb_clear_set(none);
	}
	return none;
}

int mmu_tlb_alloc(struct cpu *c)
{
	for (int s = 0; s < TLB_NSETS; s++) {
		if (s == TLB_NONE) {
			c->tlb[s] = tlb_none_set();
			continue;
		}
		c->tlb[s] = malloc(sizeof(struct tlb_ent) * TLB_SIZE);
		if (!c->tlb[s])
			return -1;
		tlb_clear_set(c->tlb[s]);
	}
	c->tlb_epoch = 1;
	return 0;
}

void mmu_tlb_free(struct cpu *c)
{
	free(c->tlb[TLB_SUP]);
	free(c->tlb[TLB_USER]);
}

/* flush: a new epoch makes every tag stale (SDM allows flushing any time) */
void mmu_flush(struct cpu *c)
{
	if (++c->tlb_epoch > TLB_EPOCH_MAX) {
		tlb_clear_set(c->tlb[TLB_SUP]);
		tlb_clear_set(c->tlb[TLB_USER]);
		c->tlb_epoch = 1;
	}
	c->tlb_large = false;
	memset(c->jc, 0, sizeof(c->jc));
}

void mmu_flush_page(struct cpu *c, uint64_t lin)
{
	/*
	 * Entries are 4 KiB even for large pages, so INVLPG of one address of
	 * a large page must drop the whole page: flush everything then.
	 */
	if (c->tlb_large) {
		mmu_flush(c);
		return;
	}
	uint64_t tag = (lin & ~0xfffULL) | c->tlb_epoch;
	unsigned idx = (lin >> 12) & TLB_MASK;
	for (int s = TLB_SUP; s <= TLB_USER; s++) {
		struct tlb_ent *e = &c->tlb[s][idx];
		if (e->tag_r == tag || e->tag_w == tag || e->tag_x == tag)
			e->tag_r = e->tag_w = e->tag_x = TLB_INVALID;
	}
	memset(c->jc, 0, sizeof(c->jc));
}

void mmu_flush_all_vcpus(struct vm *vm)
{
	for (int i = 0; i < vm->nvcpus; i++)
		if (vm->vcpu[i])
			mmu_flush(vm->vcpu[i]);
}

/* drop fast write tags that map a physical page (it now holds code) */
void mmu_unwrite_gpa(struct vm *vm, uint64_t gpa_page)
{
	for (int v = 0; v < vm->nvcpus; v++) {
		struct cpu *c = vm->vcpu[v];
		if (!c)
			continue;
		for (int s = TLB_SUP; s <= TLB_USER; s++)
			for (unsigned i = 0; i < TLB_SIZE; i++)
				if (c->tlb[s][i].gpa == gpa_page)
					c->tlb[s][i].tag_w = TLB_INVALID;
	}
}

bool cpu_is_user_access(const struct cpu *c)
{
	return c->cpl == 3;
}

/*
 * Choose the TLB set used by explicit data accesses.  Alignment checking
 * (CR0.AM, RFLAGS.AC, CPL 3) sends every access through the slow path.
 */
void cpu_update_tlb_sel(struct cpu *c)
{
	if (c->cpl == 3) {
		if ((c->cr0 & CR0_AM) && (c->rflags & F_AC))
			c->tlb_cur = c->tlb[TLB_NONE];
		else
			c->tlb_cur = c->tlb[TLB_USER];
	} else {
		c->tlb_cur = c->tlb[TLB_SUP];
	}
}

/* ---- page walk ------------------------------------------------------------- */

static uint64_t rsvd_hi(const struct cpu *c)
{
	/* bits 51:MAXPHYADDR of a paging-structure entry */
	uint64_t m = 0;
	for (unsigned b = c->model->maxphyaddr; b < 52; b++)
		m |= 1ULL << b;
	return m;
}

static bool canonical(const struct cpu *c, uint64_t lin)
{
	int sh = (c->cr4 & CR4_LA57) ? 7 : 16;
	return (uint64_t)((int64_t)(lin << sh) >> sh) == lin;
}

static bool read_pte(struct cpu *c, uint64_t gpa, int size, uint64_t *v)
{
	*v = phys_read(c->vm, gpa, size);
	return true;
}

static void set_ad(struct cpu *c, uint64_t gpa, uint64_t old, uint64_t bits, int size)
{
	if ((old & bits) != bits)
		phys_write(c->vm, gpa, size, old | bits);
}

int mmu_load_pdptrs(struct cpu *c, uint64_t cr3)
{
	/* SDM 4.4.1: PAE PDPTEs are loaded with CR3; reserved bits -> #GP */
	uint64_t base = cr3 & 0xffffffe0ULL;
	uint64_t p[4];
	for (int i = 0; i < 4; i++) {
		p[i] = phys_read(c->vm, base + i * 8, 8);
		if ((p[i] & 1) && (p[i] & (0x1e6ULL | rsvd_hi(c) | (0xfffULL << 52))))
			return -1;
	}
	memcpy(c->pdpte, p, sizeof(p));
	return 0;
}

/*
 * Translate `lin` for access `acc`.  On success fills w and returns true;
 * on a fault fills w->pfec and returns false.  Accessed/dirty bits are set
 * only for a successful translation.
 */
bool mmu_translate(struct cpu *c, uint64_t lin, int acc, struct walk *w)
{
	int kind = acc & 3;
	bool user = acc & ACC_USER;
	bool write = kind == ACC_W, fetch = kind == ACC_X;
	uint64_t ent_gpa[5], ent_val[5];
	int ent_size[5], nent = 0;
	bool u = true, rw = true, nx = false, large = false;
	uint64_t leaf = 0, pa = 0, psize = 4096;
	uint32_t pfec = (write ? PFEC_W : 0) | (user ? PFEC_U : 0);

	memset(w, 0, sizeof(*w));
	if (fetch && ((c->cr4 & CR4_SMEP) ||
		      ((c->cr4 & CR4_PAE) && (c->efer & EFER_NXE))))
		pfec |= PFEC_I;

	if (!(c->cr0 & CR0_PG)) {
		w->gpa = (c->efer & EFER_LMA) ? lin : (lin & 0xffffffffULL);
		w->writable = w->user = w->dirty = true;
		w->page_size = 4096;
		return true;
	}

	if (!(c->cr4 & CR4_PAE)) {
		/* 32-bit paging, SDM 4.3 */
		uint64_t pde_a = (c->cr3 & 0xfffff000ULL) | ((lin >> 20) & 0xffc);
		uint64_t pde;
		read_pte(c, pde_a, 4, &pde);
		if (!(pde & 1))
			goto notpresent;
		ent_gpa[nent] = pde_a; ent_val[nent] = pde; ent_size[nent++] = 4;
		u &= !!(pde & 4);
		rw &= !!(pde & 2);
		if ((pde & 0x80) && (c->cr4 & CR4_PSE)) {
			/* 4 MiB page; bits 20:13 are PA 39:32 (PSE-36) */
			uint64_t hi = (pde >> 13) & 0xff;
			uint64_t rs = 0;
			for (unsigned b = c->model->maxphyaddr; b < 40; b++)
				rs |= 1ULL << (b - 32 + 13);
			if ((pde & (1ULL << 21)) || (pde & rs))
				goto rsvd;
			pa = (pde & 0xffc00000ULL) | (hi << 32) | (lin & 0x3fffff);
			leaf = pde;
			psize = 4ULL << 20;
			large = true;
		} else {
			uint64_t pte_a = (pde & 0xfffff000ULL) | ((lin >> 10) & 0xffc);
			uint64_t pte;
			read_pte(c, pte_a, 4, &pte);
			if (!(pte & 1))
				goto notpresent;
			ent_gpa[nent] = pte_a; ent_val[nent] = pte; ent_size[nent++] = 4;
			u &= !!(pte & 4);
			rw &= !!(pte & 2);
			pa = (pte & 0xfffff000ULL) | (lin & 0xfff);
			leaf = pte;
		}
	} else {
		uint64_t rs = rsvd_hi(c);
		uint64_t nxr = (c->efer & EFER_NXE) ? 0 : (1ULL << 63);
		uint64_t table;
		int level;
		if (c->efer & EFER_LMA) {
			level = (c->cr4 & CR4_LA57) ? 5 : 4;
			table = c->cr3 & 0x000ffffffffff000ULL & ~rs;
		} else {
			/*
			 * PAE: PDPTE from the registers loaded with CR3; bits
			 * 62:MAXPHYADDR of every entry are reserved (SDM 4.4.2)
			 */
			rs |= 0x7ffULL << 52;
			uint64_t pdpte = c->pdpte[(lin >> 30) & 3];
			if (!(pdpte & 1))
				goto notpresent;
			table = pdpte & 0x000ffffffffff000ULL;
			level = 2;
		}
		for (; level >= 1; level--) {
			int shift = 12 + 9 * (level - 1);
			uint64_t ea = table + ((lin >> shift) & 0x1ff) * 8;
			uint64_t e;
			read_pte(c, ea, 8, &e);
			if (!(e & 1))
				goto notpresent;
			if (e & (rs | nxr))
				goto rsvd;
			ent_gpa[nent] = ea; ent_val[nent] = e; ent_size[nent++] = 8;
			u &= !!(e & 4);
			rw &= !!(e & 2);
			if (e & (1ULL << 63))
				nx = true;
			if (level >= 4 && (e & 0x80))
				goto rsvd;
			if ((level == 3 || level == 2) && (e & 0x80)) {
				if (level == 3 && !HAS(c, FEAT_PDPE1GB))
					goto rsvd;
				uint64_t lowrs = level == 3 ? 0x3fffe000ULL : 0x1fe000ULL;
				if (e & lowrs)
					goto rsvd;
				psize = 1ULL << shift;
				pa = (e & 0x000ffffffffff000ULL & ~(psize - 1)) | (lin & (psize - 1));
				leaf = e;
				large = true;
				break;
			}
			if (level == 1) {
				pa = (e & 0x000ffffffffff000ULL) | (lin & 0xfff);
				leaf = e;
				break;
			}
			table = e & 0x000ffffffffff000ULL;
		}
	}

	/* permission checks, SDM 4.6 */
	pfec |= PFEC_P;
	if (fetch) {
		if (nx)
			goto fault;
		if (user) {
			if (!u)
				goto fault;
		} else if (u && (c->cr4 & CR4_SMEP)) {
			goto fault;
		}
	} else {
		if (user) {
			if (!u || (write && !rw))
				goto fault;
		} else {
			if (u && (c->cr4 & CR4_SMAP) &&
			    ((acc & ACC_IMPLICIT) || !(c->rflags & F_AC)))
				goto fault;
			if (write && !rw && (c->cr0 & CR0_WP))
				goto fault;
		}
		if ((c->cr4 & CR4_PKE) && (c->efer & EFER_LMA) && u) {
			uint32_t key = (leaf >> 59) & 0xf;
			uint32_t bits = (c->pkru >> (key * 2)) & 3;
			w->pkey = key;
			if ((bits & 1) ||
			    (write && (bits & 2) && (user || (c->cr0 & CR0_WP)))) {
				pfec |= PFEC_PK;
				goto fault;
			}
		}
	}

	/* accessed and dirty bits (SDM 4.8) */
	if (!(acc & ACC_NOSET)) {
		for (int i = 0; i < nent; i++) {
			uint64_t bits = 0x20;
			if (i == nent - 1 && write)
				bits |= 0x40;
			set_ad(c, ent_gpa[i], ent_val[i], bits, ent_size[i]);
		}
		if (write)
			leaf |= 0x40;
	}
	w->gpa = pa;
	w->user = u;
	w->writable = rw;
	w->nx = nx;
	w->dirty = !!(leaf & 0x40);
	w->global = !!(leaf & 0x100);
	w->page_size = psize;
	w->large = large;
	return true;

notpresent:
	w->pfec = pfec & ~PFEC_P;
	w->fault = true;
	return false;
rsvd:
	pfec |= PFEC_RSVD | PFEC_P;
fault:
	w->pfec = pfec;
	w->fault = true;
	return false;
}

/* ---- slow-path accesses ------------------------------------------------ */

static int access_mode(const struct cpu *c, int acc)
{
	if (!(acc & (ACC_IMPLICIT | ACC_FORCE_SUP)) && c->cpl == 3)
		acc |= ACC_USER;
	return acc;
}

NORETURN static void noncanonical(struct cpu *c, int acc)
{
	cpu_raise_ec(c, (acc & ACC_SS) ? EXC_SS : EXC_GP, 0);
}

/*
 * Data breakpoints (SDM 17.2.4): R/W = 01 write, 11 read or write; length
 * 1, 2, 8, 4 bytes.  Matches are recorded and reported as a trap after the
 * instruction completes.
 */
static void check_data_bp(struct cpu *c, uint64_t lin, int size, bool write)
{
	uint64_t dr7 = c->dr[7];
	if (!(dr7 & 0xff))
		return;
	for (int n = 0; n < 4; n++) {
		if (!((dr7 >> (n * 2)) & 3))
			continue;
		int rw = (dr7 >> (16 + n * 4)) & 3;
		int ln = (dr7 >> (18 + n * 4)) & 3;
		if (rw == 0 || rw == 2)
			continue;
		if (rw == 1 && !write)
			continue;
		uint64_t len = ln == 0 ? 1 : ln == 1 ? 2 : ln == 2 ? 8 : 4;
		uint64_t a = c->dr[n] & ~(len - 1);
		if (lin <= a + len - 1 && a <= lin + size - 1) {
			c->evt.pending_dbg |= 1ULL << n;
			c->brk |= BRK_EVENT;	/* trap after this instruction */
		}
	}
}

static bool page_watched(const struct cpu *c, uint64_t pg)
{
	uint64_t dr7 = c->dr[7];
	if (!(dr7 & 0xff))
		return false;
	for (int n = 0; n < 4; n++) {
		if (!((dr7 >> (n * 2)) & 3))
			continue;
		int rw = (dr7 >> (16 + n * 4)) & 3;
		if (rw == 1 || rw == 3)
			if ((c->dr[n] & ~0xfffULL) == pg)
				return true;
	}
	return false;
}

static void tlb_fill(struct cpu *c, uint64_t lin, int acc, const struct walk *w,
		     struct memslot *slot, uint8_t *host)
{
	if (acc & (ACC_IMPLICIT | ACC_NOSET | ACC_PROBE))
		return;
	int set = (acc & ACC_USER) ? TLB_USER : TLB_SUP;
	uint64_t pg = lin & ~0xfffULL;
	uint64_t tag = pg | c->tlb_epoch;
	uint64_t gpg = w->gpa & ~0xfffULL;
	struct tlb_ent *e = &c->tlb[set][(lin >> 12) & TLB_MASK];
	bool user = acc & ACC_USER;
	bool paging = c->cr0 & CR0_PG;
	bool r_ok = true, w_ok, x_ok;

	if (gpg == lapic_xapic_base(c))
		return;
	if (paging && !user && w->user && (c->cr4 & CR4_SMAP))
		r_ok = false;	/* depends on RFLAGS.AC: always check */
	if (paging && w->user && (c->cr4 & CR4_PKE) && (c->efer & EFER_LMA))
		r_ok = false;	/* depends on PKRU */
	if (page_watched(c, pg))
		r_ok = false;
	w_ok = r_ok && !(slot->flags & KVM_MEM_READONLY) && w->dirty;
	if (paging && !w->writable && (user || (c->cr0 & CR0_WP)))
		w_ok = false;
	if (slot->code && slot->code[(w->gpa - slot->gpa) >> 12])
		w_ok = false;
	x_ok = !w->nx && !(paging && !user && w->user && (c->cr4 & CR4_SMEP));

	/* an entry caches one page: drop a stale one sharing the slot */
	if (e->tag_r != tag && e->tag_w != tag && e->tag_x != tag)
		e->tag_r = e->tag_w = e->tag_x = TLB_INVALID;
	e->addend = (uintptr_t)(host - (w->gpa & 0xfff)) - pg;
	e->gpa = gpg;
	e->tag_r = r_ok ? tag : TLB_INVALID;
	e->tag_w = w_ok ? tag : TLB_INVALID;
	e->tag_x = x_ok ? tag : TLB_INVALID;
	if (w->large)
		c->tlb_large = true;
}

/* translate one page-contained access, faulting as the SDM says */
static uint64_t xlate(struct cpu *c, uint64_t lin, int acc)
{
	struct walk w;
	if ((c->efer & EFER_LMA) && c->lin_mask == ~0ULL && !canonical(c, lin))
		noncanonical(c, acc);
	if (!mmu_translate(c, lin, acc, &w)) {
		if (acc & ACC_PROBE)
			return ~0ULL;
		cpu_raise_pf(c, lin, w.pfec);
	}
	return w.gpa;
}

uint64_t mmu_lin_to_gpa(struct cpu *c, uint64_t lin, int acc)
{
	return xlate(c, lin & c->lin_mask, access_mode(c, acc));
}

static void check_align(struct cpu *c, uint64_t lin, int size, int acc)
{
	/* SDM 6.15 #AC: CPL 3 data access, CR0.AM and RFLAGS.AC */
	if ((acc & ACC_USER) && size > 1 && (lin & (size - 1)) &&
	    (c->cr0 & CR0_AM) && (c->rflags & F_AC) && !(acc & ACC_IMPLICIT))
		cpu_raise_ec(c, EXC_AC, 0);
}

static uint64_t read_page(struct cpu *c, uint64_t lin, int size, int acc)
{
	struct walk w;
	struct memslot *slot = NULL;
	uint8_t *host;
	uint64_t v = 0;

	if ((c->efer & EFER_LMA) && c->lin_mask == ~0ULL && !canonical(c, lin))
		noncanonical(c, acc);
	if (!mmu_translate(c, lin, acc, &w))
		cpu_raise_pf(c, lin, w.pfec);
	check_data_bp(c, lin, size, false);
	uint64_t gpg = w.gpa & ~0xfffULL;
	if (gpg == lapic_xapic_base(c))
		return lapic_mmio_access(c, w.gpa & 0xfff, size, false, 0);
	host = mmu_gpa_host(c->vm, w.gpa, &slot);
	if (!host)
		return mmio_read(c, w.gpa, size);
	tlb_fill(c, lin, acc, &w, slot, host);
	memcpy(&v, host, size);
	return v;
}

static void write_page(struct cpu *c, uint64_t lin, uint64_t gpa, int size,
		       uint64_t v, int acc)
{
	struct memslot *slot = NULL;
	uint8_t *host;

	check_data_bp(c, lin, size, true);
	if ((gpa & ~0xfffULL) == lapic_xapic_base(c)) {
		lapic_mmio_access(c, gpa & 0xfff, size, true, v);
		return;
	}
	host = mmu_gpa_host(c->vm, gpa, &slot);
	if (!host || (slot->flags & KVM_MEM_READONLY)) {
		mmio_write(c, gpa, size, v);
		return;
	}
	uint64_t pg = (gpa - slot->gpa) >> 12;
	if (slot->code && slot->code[pg]) {
		uint64_t chunk_lo = (gpa & 0xfff) >> 6;
		uint64_t chunk_hi = ((gpa & 0xfff) + size - 1) >> 6;
		uint64_t m = 0;
		for (uint64_t k = chunk_lo; k <= chunk_hi && k < 64; k++)
			m |= 1ULL << k;
		if (slot->code[pg] & m)
			code_invalidate_range(c->vm, gpa, size, c);
	}
	memcpy(host, &v, size);
}

uint64_t mem_read_slow(struct cpu *c, uint64_t lin, int size, int acc)
{
	acc = access_mode(c, acc);
	check_align(c, lin, size, acc);
	if (tlb_fits(lin, size))
		return read_page(c, lin, size, acc);
	/* crosses a page: both halves (first page's faults first) */
	int n1 = 0x1000 - (lin & 0xfff);
	uint64_t lo = read_page(c, lin, n1, acc);
	uint64_t hi = read_page(c, (lin + n1) & c->lin_mask, size - n1, acc);
	return lo | (hi << (n1 * 8));
}

void mem_write_slow(struct cpu *c, uint64_t lin, int size, uint64_t v, int acc)
{
	acc = access_mode(c, acc);
	check_align(c, lin, size, acc);
	if (tlb_fits(lin, size)) {
		struct walk w;
		struct memslot *slot;
		if ((c->efer & EFER_LMA) && c->lin_mask == ~0ULL && !canonical(c, lin))
			noncanonical(c, acc);
		if (!mmu_translate(c, lin, acc, &w))
			cpu_raise_pf(c, lin, w.pfec);
		write_page(c, lin, w.gpa, size, v, acc);
		uint8_t *host = mmu_gpa_host(c->vm, w.gpa, &slot);
		if (host && (w.gpa & ~0xfffULL) != lapic_xapic_base(c))
			tlb_fill(c, lin, acc, &w, slot, host);
		return;
	}
	/* both pages are checked before either is written */
	int n1 = 0x1000 - (lin & 0xfff);
	uint64_t lin2 = (lin + n1) & c->lin_mask;
	uint64_t g1 = xlate(c, lin, acc);
	uint64_t g2 = xlate(c, lin2, acc);
	write_page(c, lin, g1, n1, v, acc);
	write_page(c, lin2, g2, size - n1, v >> (n1 * 8), acc);
}

void mem_read_bytes(struct cpu *c, uint64_t lin, void *dst, int n, int acc)
{
	uint8_t *d = dst;
	while (n > 0) {
		int chunk = n >= 8 ? 8 : n >= 4 ? 4 : n >= 2 ? 2 : 1;
		uint64_t v = mem_read_slow(c, lin, chunk, acc);
		memcpy(d, &v, chunk);
		d += chunk;
		lin = (lin + chunk) & c->lin_mask;
		n -= chunk;
	}
}

void mem_write_bytes(struct cpu *c, uint64_t lin, const void *src, int n, int acc)
{
	const uint8_t *s = src;
	mem_probe(c, lin, n, acc | ACC_W);
	while (n > 0) {
		int chunk = n >= 8 ? 8 : n >= 4 ? 4 : n >= 2 ? 2 : 1;
		uint64_t v = 0;
		memcpy(&v, s, chunk);
		mem_write_slow(c, lin, chunk, v, acc);
		s += chunk;
		lin = (lin + chunk) & c->lin_mask;
		n -= chunk;
	}
}

/* fault now if any byte of [lin, lin+n) is not accessible for acc */
void mem_probe(struct cpu *c, uint64_t lin, int n, int acc)
{
	acc = access_mode(c, acc) | ACC_NOSET;
	uint64_t end = lin + (uint64_t)n - 1;
	uint64_t pg = lin & ~0xfffULL;
	for (;;) {
		uint64_t a = pg < lin ? lin : pg;
		struct walk w;
		a &= c->lin_mask;
		if ((c->efer & EFER_LMA) && c->lin_mask == ~0ULL && !canonical(c, a))
			noncanonical(c, acc);
		if (!mmu_translate(c, a, acc, &w))
			cpu_raise_pf(c, a, w.pfec);
		if ((end & ~0xfffULL) == pg || n <= 0)
			break;
		pg += 0x1000;
	}
}
