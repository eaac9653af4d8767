/*
 * An instruction whose memory access takes the slow path completes fully
 * (destination register, flags, RSP) even when that access also ends the
 * run of compiled code: a replayed MMIO read (the VMM's data arrives and
 * the instruction runs again), a data breakpoint hit (SDM 17.3.1.2: a trap,
 * taken after the instruction).  The instructions sit in small functions
 * called thousands of times, so they run both interpreted and compiled.
 */
#include "libguest.h"

#define N 3000

static volatile uint32_t watched;
static uint64_t popbuf[4096] __attribute__((aligned(64)));
static volatile unsigned db_hits;

__attribute__((noinline)) static uint32_t load32(volatile uint32_t *p)
{
	return *p;
}

__attribute__((noinline)) static uint64_t movzx16(volatile uint16_t *p)
{
	uint64_t v;
	asm volatile("movzwl %1, %k0" : "=r"(v) : "m"(*p));
	return v;
}

/* CMP m32, r32 (opcode 39): the flags come from the memory operand */
__attribute__((noinline)) static bool cmp_eq(volatile uint32_t *p, uint32_t v)
{
	bool r;
	asm volatile("cmpl %2, %1; sete %0" : "=q"(r) : "m"(*p), "r"(v) : "cc");
	return r;
}

/* POP from *slot with RSP moved there: returns what was popped and the new RSP */
__attribute__((noinline)) static uint64_t pop_from(uint64_t *slot, uint64_t *rsp_after)
{
	uint64_t v, r;
	asm volatile("mov %%rsp, %%r8\n\t"
		     "mov %2, %%rsp\n\t"
		     "pop %0\n\t"
		     "mov %%rsp, %1\n\t"
		     "mov %%r8, %%rsp"
		     : "=&r"(v), "=&r"(r) : "r"(slot) : "r8", "memory");
	*rsp_after = r;
	return v;
}

static void db_handler(struct exc_frame *f)
{
	(void)f;
	db_hits++;
	write_dr6(0);
}

int main(void)
{
	/* MMIO: the same instructions read the local APIC (inside the CPU, no
	 * exit, so the code gets hot) and unassigned memory (an exit and a
	 * replay), which reads 0 */
	volatile uint32_t *apic_ver = (volatile uint32_t *)0xfee00030UL;
	volatile uint32_t *hole = (volatile uint32_t *)0xe0000000UL;
	uint32_t ver = load32(apic_ver);
	unsigned bad_apic = 0, bad_hole = 0, bad16 = 0;
	for (int k = 0; k < N; k++) {
		if (k % 50 == 49) {
			bad_hole += load32(hole) != 0;
			bad16 += movzx16((volatile uint16_t *)hole) != 0;
		} else {
			bad_apic += load32(apic_ver) != ver;
			bad16 += movzx16((volatile uint16_t *)apic_ver) != (ver & 0xffff);
		}
	}
	report(bad_apic == 0, "MOV from the APIC version register: %u wrong", bad_apic);
	report(bad_hole == 0, "MOV from unassigned memory after a replayed read: %u wrong", bad_hole);
	report(bad16 == 0, "MOVZX m16 from both: %u wrong", bad16);

	/* data breakpoints: DR0 on `watched` (4 bytes, read/write), DR1 on a stack slot */
	set_handler(1, db_handler);
	uint64_t *slot = &popbuf[4000];
	write_dr0((uint64_t)&watched);
	write_dr1((uint64_t)slot);
	write_dr7(0x1 | 0x4 | (0x3ULL << 16) | (0x3ULL << 18) | (0x3ULL << 20) | (0x2ULL << 22));
	unsigned bad_ld = 0, bad_cmp = 0, bad_pop = 0, bad_rsp = 0;
	for (int k = 0; k < N; k++) {
		watched = (uint32_t)k * 2654435761u;
		uint32_t want = (uint32_t)k * 2654435761u;
		bad_ld += load32(&watched) != want;
		bad_cmp += !cmp_eq(&watched, want);
		bad_cmp += cmp_eq(&watched, want + 1);
		*slot = 0x1234567800000000ULL | (uint64_t)k;
		uint64_t rsp;
		bad_pop += pop_from(slot, &rsp) != (0x1234567800000000ULL | (uint64_t)k);
		bad_rsp += rsp != (uint64_t)(slot + 1);
	}
	write_dr7(0);
	unsigned want_hits = N * 6;	/* write, load, 2 compares; slot write, pop */
	report(db_hits == want_hits, "every access trapped (%u #DB, want %u)", db_hits, want_hits);
	report(bad_ld == 0, "MOV from a watched location: %u wrong", bad_ld);
	report(bad_cmp == 0, "CMP with a watched memory operand: %u wrong flags", bad_cmp);
	report(bad_pop == 0, "POP from a watched stack slot: %u wrong values", bad_pop);
	report(bad_rsp == 0, "POP from a watched stack slot: %u wrong RSP", bad_rsp);
	return report_summary();
}
