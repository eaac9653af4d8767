// SPDX-License-Identifier: MIT
/*
 * x87 FPU.  Placeholder until the x87 module lands: every x87 opcode
 * decodes to #UD, which is what a CPU without an FPU would do.
 */
#include "cpu.h"
#include "exec.h"

insn_fn x87_lookup(uint8_t opcode, uint8_t modrm)
{
	(void)opcode;
	(void)modrm;
	return NULL;
}

void cpu_x87_check(struct cpu *c)
{
	(void)c;
}
