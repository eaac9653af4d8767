// SPDX-License-Identifier: MIT
/*
 * Port I/O and MMIO as KVM exits (KVM_EXIT_IO / KVM_EXIT_MMIO).
 *
 * A read leaves the instruction unretired: the exit goes to the VMM, and
 * on the next run the instruction executes again and takes the VMM's data
 * (reads happen in a fixed order, so several reads replay correctly).
 * Writes are queued and reported after the instruction retires, one exit
 * per write, in order.
 */
#include <errno.h>

#include "cpu.h"

#define RUN_DATA_OFFSET 4096

static void *run_data(struct cpu *c)
{
	return (uint8_t *)c->run + RUN_DATA_OFFSET;
}

void io_retire(struct cpu *c)
{
	c->io_nresp = 0;
	c->io_used = 0;
}

/*
 * I/O breakpoints (SDM 17.2.4: R/W = 10 with CR4.DE = 1) are traps, like
 * data breakpoints: recorded here, reported after the instruction.
 */
static void io_bp(struct cpu *c, uint16_t port, int size)
{
	uint64_t dr7 = c->dr[7];
	if (!(c->cr4 & CR4_DE) || !(dr7 & 0xff))
		return;
	for (int n = 0; n < 4; n++) {
		if (!((dr7 >> (n * 2)) & 3) || ((dr7 >> (16 + n * 4)) & 3) != 2)
			continue;
		int ln = (dr7 >> (18 + n * 4)) & 3;
		uint64_t len = ln == 0 ? 1 : ln == 1 ? 2 : ln == 2 ? 8 : 4;
		uint64_t a = (c->dr[n] & 0xffff) & ~(len - 1);
		if (port <= a + len - 1 && a <= (uint64_t)port + size - 1) {
			c->evt.pending_dbg |= 1ULL << n;
			c->brk |= BRK_EVENT;
		}
	}
}

static bool take_resp(struct cpu *c, uint64_t *v)
{
	if (c->io_used < c->io_nresp) {
		*v = c->io_resp[c->io_used++];
		c->brk |= BRK_IO;
		return true;
	}
	return false;
}

NORETURN static void read_exit(struct cpu *c, int size)
{
	if (c->io_nresp >= IO_MAXQ)
		cpu_internal_error(c, "too many I/O reads in one instruction");
	c->io_in_pending = size;
	cpu_exit_now(c);
}

uint64_t io_in(struct cpu *c, uint16_t port, int size)
{
	uint64_t v;
	io_bp(c, port, size);
	if (take_resp(c, &v))
		return v;
	struct kvm_run *r = c->run;
	r->exit_reason = KVM_EXIT_IO;
	r->io.direction = KVM_EXIT_IO_IN;
	r->io.size = (uint8_t)size;
	r->io.port = port;
	r->io.count = 1;
	r->io.data_offset = RUN_DATA_OFFSET;
	memset(run_data(c), 0, 8);
	read_exit(c, size);
}

uint64_t mmio_read(struct cpu *c, uint64_t gpa, int size)
{
	uint64_t v;
	if (take_resp(c, &v))
		return v;
	struct kvm_run *r = c->run;
	r->exit_reason = KVM_EXIT_MMIO;
	r->mmio.phys_addr = gpa;
	r->mmio.len = (uint32_t)size;
	r->mmio.is_write = 0;
	memset(r->mmio.data, 0, sizeof(r->mmio.data));
	read_exit(c, size);
}

static void queue_write(struct cpu *c, uint64_t addr, int size, uint64_t v, bool io)
{
	if (c->wq_n >= (int)(sizeof(c->wq) / sizeof(c->wq[0])))
		cpu_internal_error(c, "too many MMIO writes in one instruction");
	c->wq[c->wq_n].addr = addr;
	c->wq[c->wq_n].data = v;
	c->wq[c->wq_n].size = (uint8_t)size;
	c->wq[c->wq_n].is_io = io;
	c->wq_n++;
	if (c->wq_n == 1) {
		c->wq_pos = 0;
		io_emit_write(c);
	}
	c->brk |= BRK_EXIT;
}

void io_out(struct cpu *c, uint16_t port, int size, uint64_t v)
{
	io_bp(c, port, size);
	queue_write(c, port, size, v, true);
}

void mmio_write(struct cpu *c, uint64_t gpa, int size, uint64_t v)
{
	queue_write(c, gpa, size, v, false);
}

/* put the next queued write into the run page */
void io_emit_write(struct cpu *c)
{
	struct kvm_run *r = c->run;
	if (c->wq_pos >= c->wq_n)
		return;
	typeof(c->wq[0]) *w = &c->wq[c->wq_pos++];
	if (w->is_io) {
		r->exit_reason = KVM_EXIT_IO;
		r->io.direction = KVM_EXIT_IO_OUT;
		r->io.size = w->size;
		r->io.port = (uint16_t)w->addr;
		r->io.count = 1;
		r->io.data_offset = RUN_DATA_OFFSET;
		memcpy(run_data(c), &w->data, 8);
	} else {
		r->exit_reason = KVM_EXIT_MMIO;
		r->mmio.phys_addr = w->addr;
		r->mmio.len = w->size;
		r->mmio.is_write = 1;
		memset(r->mmio.data, 0, sizeof(r->mmio.data));
		memcpy(r->mmio.data, &w->data, w->size);
	}
}

/* on re-entry: collect the VMM's answer to a read exit */
void io_complete(struct cpu *c)
{
	struct kvm_run *r = c->run;
	int size = c->io_in_pending;
	if (!size)
		return;
	c->io_in_pending = 0;
	uint64_t v = 0;
	if (r->exit_reason == KVM_EXIT_IO)
		memcpy(&v, run_data(c), size);
	else if (r->exit_reason == KVM_EXIT_MMIO)
		memcpy(&v, r->mmio.data, size);
	c->io_resp[c->io_nresp++] = v;
	c->io_used = 0;
}
