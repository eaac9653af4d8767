/*
 * triple_fault: an exception with an empty IDT escalates to a triple fault;
 * with -no-reboot the machine stops with exit status 0 (platform.md §4).
 */
// nestvm-exit: 0
// nestvm-stderr: triple fault
#include "libguest.h"

int main(void)
{
	report(true, "about to triple fault");
	report_summary();
	struct { uint16_t lim; uint64_t base; } __attribute__((packed)) d = { 0, 0 };
	asm volatile("lidt %0; ud2" :: "m"(d));
	printf("not ok - survived a triple fault\n");
	exit(1);
}
