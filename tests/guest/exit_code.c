/*
 * exit_code: exits with the code given as the first -append word (used by
 * tests/cli/cli.t to check the (code << 1) | 1 mapping); 0 by default.
 */
#include "libguest.h"

int main(int argc, char **argv)
{
	int code = argc > 1 ? (int)strtol(argv[1], NULL, 0) : 0;
	report(true, "exiting with code %d", code);
	report_summary();
	exit(code);
}
