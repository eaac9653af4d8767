/* System-architecture helpers for guest tests (see sys.h). */
#include "sys.h"

/* ---- descriptors ---- */

uint64_t seg_desc(uint32_t base, uint32_t limit, uint16_t flags)
{
	return (limit & 0xffffULL) | ((uint64_t)(base & 0xffffff) << 16) |
	       ((uint64_t)(flags & 0xff) << 40) | ((uint64_t)((limit >> 16) & 0xf) << 48) |
	       ((uint64_t)((flags >> 12) & 0xf) << 52) | ((uint64_t)(base >> 24) << 56);
}

uint64_t gate_desc(uint16_t sel, uint32_t off, int type, int dpl, int params)
{
	return (off & 0xffffULL) | ((uint64_t)sel << 16) | ((uint64_t)(params & 0x1f) << 32) |
	       ((uint64_t)(0x80 | (dpl << 5) | type) << 40) | ((uint64_t)(off >> 16) << 48);
}

uint64_t sys_desc64_lo(uint64_t base, uint32_t limit, int type, int dpl)
{
	return seg_desc((uint32_t)base, limit, (uint16_t)(0x80 | (dpl << 5) | type));
}

uint64_t gate64_lo(uint16_t sel, uint64_t off, int type, int dpl, int ist)
{
	return (off & 0xffffULL) | ((uint64_t)sel << 16) | ((uint64_t)(ist & 7) << 32) |
	       ((uint64_t)(0x80 | (dpl << 5) | type) << 40) | (((off >> 16) & 0xffff) << 48);
}

void gdt_set(int sel, uint64_t desc)
{
	gdt64[sel >> 3] = desc;
}

uint64_t gdt_get(int sel)
{
	return gdt64[sel >> 3];
}

void gdt_set16(int sel, uint64_t lo, uint64_t hi)
{
	gdt64[sel >> 3] = lo;
	gdt64[(sel >> 3) + 1] = hi;
}

/* ---- 32-bit excursions ---- */

uint64_t x32_idt[256] __attribute__((aligned(16)));
struct { uint16_t limit; uint32_t base; } __attribute__((packed)) x32_idt_desc;
uint32_t x32_handlers[256];
volatile struct x32_rec x32_exc;
struct tss32 x32_tss __attribute__((aligned(128)));
static uint8_t x32_stack0[8192] __attribute__((aligned(16)));
static bool x32_ready;

uint32_t call32_asm(void *fn, uint32_t arg, uint64_t cr3, uint64_t cr4);
extern volatile uint32_t x32_unexpected;

static void x32_init(void);

void x32_set_gate(int vec, uint32_t off, uint16_t sel, int type, int dpl)
{
	if (!x32_ready)
		x32_init();
	x32_idt[vec] = gate_desc(sel, off, type, dpl, 0);
}

uint64_t x32_get_gate(int vec)
{
	if (!x32_ready)
		x32_init();
	return x32_idt[vec];
}

static uint64_t x32_default_gate(int vec)
{
	return gate_desc(SEL_KCODE32, (uint32_t)(uintptr_t)(x32_isr_table + 16 * vec), 0xe, 0, 0);
}

void x32_restore_gate(int vec)
{
	if (!x32_ready)
		x32_init();
	x32_idt[vec] = x32_default_gate(vec);
}

static void x32_init(void)
{
	for (int v = 0; v < 256; v++)
		x32_idt[v] = x32_default_gate(v);
	x32_idt_desc.limit = sizeof(x32_idt) - 1;
	x32_idt_desc.base = (uint32_t)(uintptr_t)x32_idt;
	memset(&x32_tss, 0, sizeof(x32_tss));
	x32_tss.esp0 = (uint32_t)(uintptr_t)(x32_stack0 + sizeof(x32_stack0));
	x32_tss.ss0 = SEL_KDATA32;
	x32_tss.iomap = sizeof(x32_tss);
	gdt_set(SEL_X32_TSS, seg_desc((uint32_t)(uintptr_t)&x32_tss, sizeof(x32_tss) - 1, 0x89));
	x32_ready = true;
}

static void x32_clear(void)
{
	x32_exc.vector = -1;
	x32_exc.ec = 0;
	x32_exc.count = 0;
	x32_exc.esp = x32_exc.ss = 0;
	x32_exc.es = x32_exc.ds = x32_exc.fs = x32_exc.gs = 0;
	x32_fixup = 0;
	x32_unexpected = 0;
}

uint32_t call32_cr(void *fn, uint32_t arg, uint64_t cr3, uint64_t cr4)
{
	if (!x32_ready)
		x32_init();
	x32_clear();
	uint32_t r = call32_asm(fn, arg, cr3, cr4);
	if (x32_unexpected)
		report(false, "unexpected exception %d (error code %#x) in 32-bit code at %#x:%#x",
		       x32_exc.vector, x32_exc.ec, x32_exc.cs, x32_exc.eip);
	return r;
}

uint32_t call32(void *fn, uint32_t arg)
{
	return call32_cr(fn, arg, read_cr3(), read_cr4());
}

/* ---- paging ---- */

static uint64_t *table_of(uint64_t e)
{
	return (uint64_t *)(uintptr_t)(e & PTE_ADDR);
}

uint64_t *pte_get(uint64_t va, int level)
{
	int top = (read_cr4() & (1ULL << 12)) ? 5 : 4;
	uint64_t *t = (uint64_t *)(uintptr_t)(read_cr3() & PTE_ADDR);
	for (int l = top;; l--) {
		uint64_t *e = &t[(va >> (12 + 9 * (l - 1))) & 0x1ff];
		if (l == level)
			return e;
		if (!(*e & PTE_P)) {
			uint64_t *n = alloc_page();
			*e = (uint64_t)(uintptr_t)n | PTE_P | PTE_W | PTE_U;
		} else if (*e & PTE_PS) {
			/* split: same attributes, next level (PS stays for a PDE) */
			uint64_t *n = alloc_page();
			uint64_t step = 1ULL << (12 + 9 * (l - 2));
			uint64_t attr = *e & ~PTE_ADDR & ~(l == 2 ? PTE_PS : 0);
			uint64_t base = *e & PTE_ADDR & ~((step << 9) - 1);
			if (l == 2)
				attr = (attr & ~0x1000ULL) | ((*e & 0x1000ULL) ? 0x80 : 0);	/* PAT bit */
			for (int k = 0; k < 512; k++)
				n[k] = (base + k * step) | attr;
			*e = (uint64_t)(uintptr_t)n | (*e & (PTE_P | PTE_W | PTE_U | PTE_A)) |
			     PTE_P;
			flush_tlb();
		}
		t = table_of(*e);
	}
}

void map_page(uint64_t va, uint64_t pa, uint64_t flags)
{
	uint64_t *e = pte_get(va, 1);
	*e = (pa & PTE_ADDR) | flags | PTE_P;
	invlpg((void *)(uintptr_t)va);
}

void set_user(uint64_t va)
{
	int top = (read_cr4() & (1ULL << 12)) ? 5 : 4;
	pte_get(va, 1);		/* split large pages: only this 4 KiB page */
	for (int l = top; l >= 1; l--)
		*pte_get(va, l) |= PTE_U;
	flush_tlb();
}

/* ---- ring 3 in 32-bit protected mode ---- */

extern char x32_to_user[], x32_user_back[];
static struct { uint32_t fn, arg; } x32_user_args;

uint32_t call32_user(void *fn, uint32_t arg)
{
	x32_set_gate(0x82, (uint32_t)(uintptr_t)(x32_isr_table + 16 * 0x82), SEL_KCODE32, 0xe, 3);
	x32_handlers[0x82] = (uint32_t)(uintptr_t)x32_user_back;
	x32_user_args.fn = (uint32_t)(uintptr_t)fn;
	x32_user_args.arg = arg;
	return call32(x32_to_user, (uint32_t)(uintptr_t)&x32_user_args);
}
