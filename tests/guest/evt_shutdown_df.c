/*
 * evt_shutdown_df: T05 — a fault while delivering #DF shuts the processor
 * down: #GP whose gate is unusable -> #GP while delivering it -> #DF, whose
 * gate is not present -> #NP during #DF delivery -> triple fault.  With
 * -no-reboot the machine stops (exit status 0, message on stderr).
 */
// nestvm-exit: 0
// nestvm-stderr: triple fault
#include "libguest.h"

int main(void)
{
	uint64_t lo, hi;
	report(true, "about to shut down through a fault during #DF delivery");
	report_summary();
	get_idt_raw(13, &lo, &hi);
	set_idt_raw(13, (lo & ~0xffff0000ULL) | (0x1f8ULL << 16), hi);	/* #GP: bad CS */
	get_idt_raw(8, &lo, &hi);
	set_idt_raw(8, lo & ~(1ULL << 47), hi);				/* #DF: not present */
	asm volatile("movabs $0x8000000000000000, %%rax; movq (%%rax), %%rax" ::: "rax");
	printf("not ok - survived a fault during #DF delivery\n");
	exit(1);
}
