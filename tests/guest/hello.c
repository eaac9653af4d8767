/*
 * hello: prints over the UART, shows its command line and exits with 0
 * (process exit status 1).
 */
#include "libguest.h"

int main(int argc, char **argv)
{
	printf("Hello from a nestvm guest!\n");
	for (int k = 0; k < argc; k++)
		printf("argv[%d] = %s\n", k, argv[k]);
	report(argc >= 1, "argv[0] is the kernel path");
	return report_summary();
}
