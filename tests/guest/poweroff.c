/* poweroff: "Shutdown" on port 0x8900 ends the run with exit status 0. */
// nestvm-exit: 0
#include "libguest.h"

int main(void)
{
	report(true, "about to power off through port 0x8900");
	report_summary();
	for (const char *p = "Shutdown"; *p; p++)
		outb(0x8900, (uint8_t)*p);
	printf("not ok - still running after the shutdown port\n");
	exit(1);
}
