/* SPDX-License-Identifier: MIT */
/* Template compiler for hot blocks (jit.c). */
#ifndef NV_JIT_H
#define NV_JIT_H

#include "cpu.h"

#define JIT_THRESHOLD 16	/* executions before a block is compiled */

/* host code for block b, or NULL (not compilable, or no JIT on this host) */
jit_fn jit_compile(struct cpu *c, struct blk *b);
void jit_reset(struct vm *vm);	/* all compiled code is discarded */
void jit_destroy(struct vm *vm);

#endif
