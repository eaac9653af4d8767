/*
 * Paging in 32-bit protected mode for guest tests (paging_32, paging_pae):
 * pg32_run() turns paging on with the given CR3/CR4 bits, performs one
 * access (supervisor or, through call32_user's machinery, user), records a
 * fault in x32_exc and turns paging off again.
 */
#ifndef GUEST_PAGING32_H
#define GUEST_PAGING32_H

#include "sys.h"

/* PG_STORE_READ: write val to va2 (no fault expected), then read va into val */
enum { PG_READ, PG_WRITE, PG_EXEC, PG_MOVCR3, PG_UREAD, PG_UWRITE, PG_UEXEC, PG_NONE,
       PG_STORE_READ };

struct pgop {
	uint32_t cr3, cr4, op, va, val, cr0_or, efer_or;
	uint32_t pg_vec;	/* vector of a fault while enabling paging, -1 none */
	uint32_t cr3_after;
	uint32_t va2;
};

/* returns the vector of the access's exception (-1 none); val in/out */
int pg32_run(struct pgop *op);

#endif
