// SPDX-License-Identifier: MIT
/*
 * SSE / AVX.  Placeholder until the SSE module lands: SSE opcodes and the
 * state-save instructions decode to #UD.
 */
#include "cpu.h"
#include "exec.h"

insn_fn sse_lookup(int map, uint8_t opcode, int mp, uint8_t modrm, bool vex,
		   const struct insn *i)
{
	(void)map; (void)opcode; (void)mp; (void)modrm; (void)vex; (void)i;
	return NULL;
}

#define UDH(name) void name(struct cpu *c, const struct insn *i) { (void)i; cpu_ud(c); }
UDH(h_fxsave) UDH(h_fxrstor) UDH(h_ldmxcsr) UDH(h_stmxcsr) UDH(h_xsave) UDH(h_xrstor)
UDH(h_xsaveopt) UDH(h_xsavec) UDH(h_xsaves) UDH(h_xrstors)
