/*
 * snapshot_events: a guest busy with events for the snapshot torture runs
 * (tests/torture): a periodic x2APIC timer with divide 16 (deadlines off
 * APIC-tick boundaries), HLT waits, REP STOSB, STI shadows and RDRAND.  It
 * prints exact counts and TSC deltas, so a restore that moves an event by
 * one instruction changes the output.
 */
#include "libguest.h"

static volatile unsigned ticks;
static volatile uint64_t tsc_at[8];

static void eoi(void)
{
	wrmsr(0x80b, 0);
}

static void timer(struct exc_frame *f)
{
	(void)f;
	if (ticks < 8)
		tsc_at[ticks] = rdtsc();
	ticks++;
	eoi();
}

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	uint32_t r[4];
	cpuid2(1, 0, r);
	bool has_rdrand = r[2] & (1u << 30);
	report(r[2] & (1u << 21), "x2APIC is available");
	set_handler(0x40, timer);
	wrmsr(0x1b, rdmsr(0x1b) | (3u << 10));	/* x2APIC on */
	wrmsr(0x80f, 0x1ff);			/* SVR: enabled */
	wrmsr(0x83e, 0x3);			/* divide by 16 */
	wrmsr(0x832, 0x40 | (1u << 17));	/* periodic, vector 0x40 */
	wrmsr(0x838, 37);			/* 592 ns */

	static uint8_t buf[256];
	uint64_t x = 1, rnd = 0;
	sti();
	for (int i = 0; i < 600; i++) {
		x = x * 31 + (uint64_t)i;
		asm volatile("rep stosb" : "+D"((uint8_t *){ buf }), "+c"((uint64_t){ 64 + (i & 127) })
			     : "a"((uint8_t)i) : "memory");
		if (i % 50 == 7)
			asm volatile("sti; hlt");	/* wait for the next tick */
		if (i % 13 == 5) {
			cli();
			asm volatile("sti; nop");	/* a tick may arrive after the shadow */
		}
		if (has_rdrand && i % 100 == 1) {
			uint64_t v;
			asm volatile("rdrand %0" : "=r"(v) :: "cc");
			rnd = rnd * 7 + v;
		}
	}
	cli();
	wrmsr(0x838, 0);
	printf("# ticks %u x %#llx rnd %#llx buf %#x\n", ticks,
	       (unsigned long long)x, (unsigned long long)rnd, buf[17]);
	for (int k = 1; k < 8; k++)
		printf("# tick %d after %llu ns\n", k, (unsigned long long)(tsc_at[k] - tsc_at[k - 1]));
	report(ticks > 10, "the timer ticked (%u)", ticks);
	report(tsc_at[2] - tsc_at[1] >= 592, "ticks at least a period apart");
	return report_summary();
}
