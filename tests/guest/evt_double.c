/*
 * evt_double: faults during event delivery (spec §1.3, T01-T04, T06): the
 * double-fault table (benign / contributory / page fault), #DF error code
 * 0, serial handling, CR2 of a #PF detected while delivering a #PF, and the
 * EXT bit of error codes (Intel sets it for exceptions, AMD only for
 * external events).
 */
#include "util.h"

static bool intel(void)
{
	uint32_t r[4];
	cpuid2(0, 0, r);
	return r[1] == 0x756e6547;	/* "Genu" */
}

static uint64_t saved_lo[256], saved_hi[256];

static void save_gate(int v)
{
	get_idt_raw(v, &saved_lo[v], &saved_hi[v]);
}

static void restore_gate(int v)
{
	set_idt_raw(v, saved_lo[v], saved_hi[v]);
}

static void set_gate_sel(int v, uint16_t sel)
{
	uint64_t lo, hi;
	get_idt_raw(v, &lo, &hi);
	lo = (lo & ~0xffff0000ULL) | ((uint64_t)sel << 16);
	set_idt_raw(v, lo, hi);
}

static void set_gate_ist(int v, int ist)
{
	uint64_t lo, hi;
	get_idt_raw(v, &lo, &hi);
	lo = (lo & ~(7ULL << 32)) | ((uint64_t)ist << 32);
	set_idt_raw(v, lo, hi);
}

static void set_gate_present(int v, bool p)
{
	uint64_t lo, hi;
	get_idt_raw(v, &lo, &hi);
	lo = p ? lo | (1ULL << 47) : lo & ~(1ULL << 47);
	set_idt_raw(v, lo, hi);
}

int main(void)
{
	bool is_intel = intel();
	uint64_t at;
	for (int v = 0; v < 32; v++)
		save_gate(v);
	save_gate(0x40);
	/* #DF always on a good stack of its own */
	set_gate_ist(8, 3);

	/* T01: INT 0x40 -> gate not present -> #NP; its handler's CS is beyond
	 * the GDT limit -> #GP while delivering #NP -> #DF (error code 0) */
	set_gate_present(0x40, false);
	set_gate_sel(11, 0x1f8);
	exc_clear();
	asm volatile(ASM_TRY("1f") "int $0x40\n1:" ::: "memory");
	CHECK_EQ(exc_last.vector, 8, "T01: #GP while delivering #NP becomes #DF");
	CHECK_EQ(exc_last.error_code, 0, "T01: #DF error code is 0");
	CHECK_EQ(exc_last.count, 1, "T01: one event reaches a handler");
	restore_gate(11);
	restore_gate(0x40);

	/* T04: #PF gate with a null CS -> #GP while delivering #PF -> #DF */
	uint64_t hole = 0x20000000;	/* 512 MiB, inside the identity map */
	uint64_t *pte = pte_4k(hole);
	uint64_t old_pte = *pte;
	*pte &= ~1ULL;
	invlpg(hole);
	set_gate_sel(14, 0);
	exc_clear();
	asm volatile(ASM_TRY("1f") "movq (%0), %%rax\n1:" :: "r"(hole) : "rax", "memory");
	CHECK_EQ(exc_last.vector, 8, "T04: #GP while delivering #PF becomes #DF");
	CHECK_EQ(exc_last.error_code, 0, "T04: #DF error code is 0");
	restore_gate(14);

	/* T02: the #PF handler's IST stack is not present: #PF while
	 * delivering #PF -> #DF, CR2 = the stack address (architecture) */
	uint64_t ist2_top = tss.ist[1];
	uint64_t *spte = pte_4k(ist2_top - 8);
	uint64_t old_spte = *spte;
	*spte &= ~1ULL;
	invlpg(ist2_top - 8);
	set_gate_ist(14, 2);
	exc_clear();
	asm volatile(ASM_TRY("1f") "movq (%0), %%rax\n1:" :: "r"(hole) : "rax", "memory");
	CHECK_EQ(exc_last.vector, 8, "T02: #PF while delivering #PF becomes #DF");
	CHECK_EQ(exc_last.error_code, 0, "T02: #DF error code is 0");
	report((exc_last.cr2 & ~0xfffULL) == ((ist2_top - 8) & ~0xfffULL),
	       "T02: CR2 holds the stack address of the second #PF (%#llx)",
	       (unsigned long long)exc_last.cr2);
	restore_gate(14);

	/* T03: #GP on an unmapped IST stack -> #PF while delivering #GP: handled
	 * serially, the #PF is delivered (saved RIP = the faulting instruction) */
	set_gate_ist(13, 2);
	exc_clear();
	asm volatile(ASM_TRY("1f") "lea 2f(%%rip), %0\n\t"
		     "movabs $0x8000000000000000, %%rax\n\t"
		     "2: movq (%%rax), %%rax\n1:" : "=&r"(at) :: "rax", "memory");
	CHECK_EQ(exc_last.vector, 14, "T03: #PF while delivering #GP is delivered as #PF");
	CHECK_EQ(exc_last.rip, at, "T03: its saved RIP is the instruction that raised #GP");
	report((exc_last.cr2 & ~0xfffULL) == ((ist2_top - 8) & ~0xfffULL),
	       "T03: CR2 = the IST stack address (%#llx)", (unsigned long long)exc_last.cr2);
	CHECK_EQ(exc_last.error_code, 0x2, "T03: #PF error code: write, not present, supervisor");
	restore_gate(13);
	/* and with the stack back, the restarted instruction raises #GP */
	*spte = old_spte;
	invlpg(ist2_top - 8);
	set_gate_ist(13, 2);
	exc_clear();
	asm volatile(ASM_TRY("1f") "movabs $0x8000000000000000, %%rax\n\t"
		     "movq (%%rax), %%rax\n1:" ::: "rax", "memory");
	CHECK_EQ(exc_last.vector, 13, "T03: the #GP itself is delivered once the stack is back");
	restore_gate(13);

	/* #UD (benign) while delivering: serial. #UD gate points at a
	 * not-present #NP-style condition: vector 6 not present -> #NP(6*8+2+EXT) */
	set_gate_present(6, false);
	exc_clear();
	asm volatile(ASM_TRY("1f") "ud2\n1:" ::: "memory");
	CHECK_EQ(exc_last.vector, 11, "#UD through a not-present gate raises #NP (serial)");
	CHECK_EQ(exc_last.error_code, 6 * 8 + 2 + (is_intel ? 1 : 0),
		 is_intel ? "#NP error code 0x33: IDT + EXT (Intel)" : "#NP error code 0x32: IDT, no EXT (AMD)");
	restore_gate(6);

	/* T06 shape: #SS (contributory) whose gate is not present: the #NP
	 * (contributory) raised while delivering it becomes #DF */
	set_gate_present(12, false);
	exc_clear();
	asm volatile(ASM_TRY("1f") "movabs $0x8000000000000000, %%rbp\n\t"
		     "movq (%%rbp), %%rax\n1:" ::: "rax", "rbp", "memory");
	CHECK_EQ(exc_last.vector, 8, "T06: #SS whose delivery raises #NP becomes #DF");
	CHECK_EQ(exc_last.error_code, 0, "T06: #DF error code 0");
	restore_gate(12);
	/* the #SS itself, with its gate present: error code 0 for a non-canonical stack access */
	exc_clear();
	asm volatile(ASM_TRY("1f") "movabs $0x8000000000000000, %%rbp\n\t"
		     "movq (%%rbp), %%rax\n1:" ::: "rax", "rbp", "memory");
	CHECK_EQ(exc_last.vector, 12, "non-canonical RBP-based access raises #SS");
	CHECK_EQ(exc_last.error_code, 0, "#SS error code 0");

	/* #PF then #GP: contributory after page fault -> #DF; #GP then #GP -> #DF */
	set_gate_sel(13, 0x1f8);		/* #GP gate unusable */
	exc_clear();
	asm volatile(ASM_TRY("1f") "movabs $0x8000000000000000, %%rax\n\t"
		     "movq (%%rax), %%rax\n1:" ::: "rax", "memory");
	CHECK_EQ(exc_last.vector, 8, "#GP while delivering #GP becomes #DF");
	restore_gate(13);

	*pte = old_pte;
	invlpg(hole);
	return report_summary();
}
