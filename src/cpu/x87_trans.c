// SPDX-License-Identifier: MIT
/* x87 transcendentals (placeholder) */
#include "x87_int.h"

void x87_trans(struct cpu *c, const struct insn *i, int op)
{
	(void)op;
	x_wait(c);
	(void)i;
	cpu_ud(c);
}
