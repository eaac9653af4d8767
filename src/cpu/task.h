/* SPDX-License-Identifier: MIT */
/* Hardware task switching (SDM Vol. 3A ch. 7), 16- and 32-bit TSS. */
#ifndef NV_TASK_H
#define NV_TASK_H

#include "cpu.h"

enum { TS_JMP, TS_CALL, TS_IRET, TS_GATE_INT };

/*
 * Switch to the task whose TSS selector is `sel`.  `ret_rip` is the EIP
 * saved in the old TSS; for TS_GATE_INT with has_ec the error code is
 * pushed on the new task's stack.  `ext` is the EXT bit for faults.
 */
void task_switch(struct cpu *c, uint16_t sel, int reason, bool has_ec,
		 uint32_t ec, uint64_t ret_rip, bool ext);

#endif
