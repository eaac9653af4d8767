// SPDX-License-Identifier: MIT
/*
 * The machine and its deterministic scheduler.
 *
 * Time is virtual: every vCPU runs in slices of at most cfg.quantum
 * instructions (1 instruction = 1 ns = 1 TSC tick), in vCPU order, all
 * slices ending at the same virtual time.  Device timers fire at slice
 * boundaries, and slices are cut at the next device deadline, so timers
 * fire at exact virtual times.  When every vCPU is idle the clock jumps to
 * the next deadline.  Same image + same inputs = same run.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "machine.h"
#include "devices.h"
#include "snapshot.h"

#define GB4 0x100000000ULL
#define LOW_LIMIT 0xe0000000ULL

uint64_t machine_now(const struct machine *m)
{
	if (m->cur_cpu >= 0 && m->cur_cpu < m->ncpus && m->vcpu[m->cur_cpu]) {
		uint64_t t;
		if (nv_get_clock(m->vcpu[m->cur_cpu], &t) == 0)
			return t;
	}
	return m->clock;
}

void machine_register_pio(struct machine *m, uint16_t base, uint16_t len, void *opaque,
			  pio_read_fn r, pio_write_fn w)
{
	if (m->npio >= MAX_PIO) {
		fprintf(stderr, "nestvm: too many I/O port handlers\n");
		exit(1);
	}
	m->pio[m->npio++] = (struct pio_handler){ base, len, opaque, r, w };
}

void machine_register_mmio(struct machine *m, uint64_t base, uint64_t len, void *opaque,
			   mmio_read_fn r, mmio_write_fn w)
{
	if (m->nmmio >= MAX_MMIO) {
		fprintf(stderr, "nestvm: too many MMIO handlers\n");
		exit(1);
	}
	m->mmio[m->nmmio++] = (struct mmio_handler){ base, len, opaque, r, w };
}

int machine_timer_new(struct machine *m, timer_fn fn, void *opaque)
{
	for (int k = 0; k < MAX_TIMERS; k++) {
		if (!m->timers[k].used) {
			m->timers[k] = (struct mtimer){ ~0ULL, fn, opaque, true };
			return k;
		}
	}
	fprintf(stderr, "nestvm: too many device timers\n");
	exit(1);
}

void machine_timer_mod(struct machine *m, int t, uint64_t deadline)
{
	m->timers[t].deadline = deadline;
	/*
	 * A deadline inside the running slice cuts it short, as long as no
	 * vCPU has finished the slice yet (vCPU 0 is running, or none is):
	 * every vCPU must end the slice at the same virtual time.  Otherwise
	 * the timer fires at the end of this slice.
	 */
	if (deadline >= m->slice_end || m->cur_cpu > 0)
		return;
	uint64_t now = machine_now(m);
	uint64_t end = deadline > m->clock ? deadline : m->clock;
	if (m->cur_cpu == 0 && end < now)
		end = now;
	m->slice_end = end;
}

static uint64_t next_timer(const struct machine *m)
{
	uint64_t d = ~0ULL;
	for (int k = 0; k < MAX_TIMERS; k++)
		if (m->timers[k].used && m->timers[k].deadline < d)
			d = m->timers[k].deadline;
	return d;
}

static void fire_timers(struct machine *m)
{
	for (int k = 0; k < MAX_TIMERS; k++) {
		struct mtimer *t = &m->timers[k];
		if (t->used && t->deadline <= m->clock) {
			t->deadline = ~0ULL;
			t->fn(t->opaque, m->clock);
		}
	}
}

void machine_poweroff(struct machine *m, int status, const char *why)
{
	if (m->done)
		return;
	m->done = true;
	m->exit_status = status;
	if (why)
		snprintf(m->exit_msg, sizeof(m->exit_msg), "%s", why);
}

void machine_request_reset(struct machine *m)
{
	if (m->cfg.no_reboot) {
		machine_poweroff(m, 0, "guest reset with -no-reboot: stopping");
		return;
	}
	m->reset_requested = true;
}

uint8_t *machine_gpa(struct machine *m, uint64_t gpa, uint64_t len)
{
	if (gpa + len < gpa)
		return NULL;
	if (gpa + len <= m->low_ram)
		return m->ram + gpa;
	if (gpa >= GB4 && gpa - GB4 + len <= m->ram_size - m->low_ram)
		return m->ram + m->low_ram + (gpa - GB4);
	return NULL;
}

/* ---- port I/O and MMIO exits ------------------------------------------------- */

static void do_pio(struct machine *m, struct kvm_run *run)
{
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	for (uint32_t n = 0; n < run->io.count; n++, data += run->io.size) {
		uint16_t port = run->io.port;
		struct pio_handler *h = NULL;
		for (int k = 0; k < m->npio; k++)
			if ((uint16_t)(port - m->pio[k].base) < m->pio[k].len) {
				h = &m->pio[k];
				break;
			}
		if (run->io.direction == KVM_EXIT_IO_OUT) {
			uint32_t v = 0;
			memcpy(&v, data, run->io.size);
			if (h && h->write)
				h->write(h->opaque, port, run->io.size, v);
		} else {
			uint32_t v = 0xffffffff;	/* unassigned ports read all ones */
			if (h && h->read)
				v = h->read(h->opaque, port, run->io.size);
			memcpy(data, &v, run->io.size);
		}
	}
}

static void do_mmio(struct machine *m, struct kvm_run *run)
{
	uint64_t a = run->mmio.phys_addr;
	struct mmio_handler *h = NULL;
	for (int k = 0; k < m->nmmio; k++)
		if (a - m->mmio[k].base < m->mmio[k].len) {
			h = &m->mmio[k];
			break;
		}
	if (run->mmio.is_write) {
		uint64_t v = 0;
		memcpy(&v, run->mmio.data, run->mmio.len > 8 ? 8 : run->mmio.len);
		if (h && h->write)
			h->write(h->opaque, a - h->base, (int)run->mmio.len, v);
	} else {
		uint64_t v = 0;	/* unassigned memory reads as 0 (as QEMU) */
		if (h && h->read)
			v = h->read(h->opaque, a - h->base, (int)run->mmio.len);
		memcpy(run->mmio.data, &v, run->mmio.len > 8 ? 8 : run->mmio.len);
	}
}

/* ---- setup ---------------------------------------------------------------------- */

static int setup_memory(struct machine *m)
{
	m->ram_size = m->cfg.ram_size;
	m->low_ram = m->ram_size > LOW_LIMIT ? LOW_LIMIT : m->ram_size;
	m->ram_map_size = m->ram_size;
	m->ram = mmap(NULL, m->ram_size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m->ram == MAP_FAILED) {
		m->ram = NULL;
		fprintf(stderr, "nestvm: cannot allocate %llu MiB of guest RAM\n",
			(unsigned long long)(m->ram_size >> 20));
		return -1;
	}
	struct kvm_userspace_memory_region r = {
		.slot = 0, .guest_phys_addr = 0, .memory_size = m->low_ram,
		.userspace_addr = (uintptr_t)m->ram,
	};
	if (nv_set_user_memory_region(m->vm, &r) < 0) {
		fprintf(stderr, "nestvm: cannot map guest RAM\n");
		return -1;
	}
	if (m->ram_size > m->low_ram) {
		r.slot = 1;
		r.guest_phys_addr = GB4;
		r.memory_size = m->ram_size - m->low_ram;
		r.userspace_addr = (uintptr_t)(m->ram + m->low_ram);
		if (nv_set_user_memory_region(m->vm, &r) < 0) {
			fprintf(stderr, "nestvm: cannot map high guest RAM\n");
			return -1;
		}
	}
	return 0;
}

/*
 * The VM capabilities every machine runs with (and the snapshot loader's
 * scratch VM too): exception payloads, triple-fault events, the FRED
 * nested flag, and strict mode when asked for.  Fails only when strict
 * mode is asked of an engine without it.
 */
int machine_enable_caps(struct nv_vm *vm, const struct config *cfg)
{
	struct kvm_enable_cap cap = { .cap = KVM_CAP_EXCEPTION_PAYLOAD, .args = { 1 } };
	nv_enable_cap(vm, &cap);
	cap.cap = KVM_CAP_X86_TRIPLE_FAULT_EVENT;
	nv_enable_cap(vm, &cap);
	cap.cap = nv_nested_flag_cap(vm);
	nv_enable_cap(vm, &cap);
	if (!cfg->strict)
		return 0;
	cap.cap = NV_CAP_STRICT_SDM;
	return nv_enable_cap(vm, &cap) < 0 ? -1 : 0;
}

int machine_init(struct machine *m, const struct config *cfg)
{
	int err;
	memset(m, 0, sizeof(*m));
	m->cfg = *cfg;
	m->cur_cpu = -1;
	m->vm = nv_create_vm(cfg->engine, &err);
	if (!m->vm) {
		fprintf(stderr, "nestvm: %s\n", nv_last_error()[0] ? nv_last_error() :
			"cannot create the virtual machine");
		return -1;
	}
	if (nv_set_cpu_model(m->vm, cfg->cpu_model ? cfg->cpu_model : "intel") < 0) {
		fprintf(stderr, "nestvm: -cpu: %s\n", nv_last_error());
		return -1;
	}
	if (machine_enable_caps(m->vm, cfg) < 0) {
		fprintf(stderr, "nestvm: -machine strict=on needs the emulator engine (accel=tcg)\n");
		return -1;
	}
	if (setup_memory(m) < 0)
		return -1;
	m->ncpus = cfg->smp;
	for (int k = 0; k < m->ncpus; k++) {
		m->vcpu[k] = nv_create_vcpu(m->vm, (unsigned)k, &err);
		if (!m->vcpu[k]) {
			fprintf(stderr, "nestvm: cannot create vCPU %d: %s\n", k, strerror(-err));
			return -1;
		}
	}
	dev_init_all(m);
	return 0;
}

void machine_destroy(struct machine *m)
{
	snapshot_destroy(m);
	if (m->vm)
		nv_destroy_vm(m->vm);
	if (m->ram)
		munmap(m->ram, m->ram_map_size);
	free(m->dev);
	m->dev = NULL;
	m->vm = NULL;
	m->ram = NULL;
}

/* ---- running ----------------------------------------------------------------- */

static void handle_exit(struct machine *m, int k, struct kvm_run *run)
{
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		do_pio(m, run);
		break;
	case KVM_EXIT_MMIO:
		do_mmio(m, run);
		break;
	case KVM_EXIT_SHUTDOWN:
		if (m->cfg.no_reboot) {
			char msg[96];
			snprintf(msg, sizeof(msg), "vCPU %d: triple fault (shutdown); -no-reboot: stopping", k);
			machine_poweroff(m, 0, msg);
		} else {
			machine_request_reset(m);
		}
		break;
	case KVM_EXIT_IOAPIC_EOI:
		dev_eoi(m, run->eoi.vector);
		break;
	case KVM_EXIT_IRQ_WINDOW_OPEN:
		break;
	case KVM_EXIT_HLT:
		break;
	case KVM_EXIT_INTERNAL_ERROR: {
		char msg[160];
		snprintf(msg, sizeof(msg), "vCPU %d: internal error (suberror %u): the emulator cannot continue", k,
			 run->internal.suberror);
		machine_poweroff(m, 1, msg);
		break;
	}
	default: {
		char msg[96];
		snprintf(msg, sizeof(msg), "vCPU %d: unexpected exit reason %u", k, run->exit_reason);
		machine_poweroff(m, 1, msg);
		break;
	}
	}
}

/* run vCPU k until its slice ends; returns false if the machine stopped */
static bool run_vcpu_slice(struct machine *m, int k)
{
	struct nv_vcpu *v = m->vcpu[k];
	struct kvm_run *run = nv_vcpu_run_page(v);
	m->cur_cpu = k;
	/* a restored snapshot resumes between two nv_run calls of this slice */
	bool resume = snapshot_resuming(m, k);
	for (;;) {
		if (!resume)
			dev_pre_run(m, k);
		resume = false;
		nv_set_budget_until(v, m->slice_end);
		int r = snapshot_run(m, k);
		if (r == -EINTR)
			return true;
		if (r < 0) {
			char msg[96];
			snprintf(msg, sizeof(msg), "vCPU %d: run failed: %s", k, strerror(-r));
			machine_poweroff(m, 1, msg);
			return false;
		}
		handle_exit(m, k, run);
		if (m->done || m->reset_requested)
			return false;
	}
}

static bool all_idle(struct machine *m)
{
	for (int k = 0; k < m->ncpus; k++) {
		struct kvm_mp_state mp;
		nv_get_mp_state(m->vcpu[k], &mp);
		if (mp.mp_state == KVM_MP_STATE_RUNNABLE)
			return false;
	}
	return true;
}

static uint64_t next_vcpu_deadline(struct machine *m)
{
	uint64_t d = ~0ULL;
	for (int k = 0; k < m->ncpus; k++) {
		uint64_t t;
		if (nv_next_deadline(m->vcpu[k], &t) == 0 && t < d)
			d = t;
	}
	return d;
}

/*
 * Every vCPU waits, and none can take a maskable interrupt (HLT or MWAIT
 * with IF = 0 and no ECX[0] break, or wait-for-SIPI): timers may still
 * fire, but only an NMI or INIT could wake anyone (SDM 9.1 / 6.7: HLT
 * resumes on NMI, SMI, INIT, or an interrupt when IF = 1).  Those come only
 * from IOAPIC entries so programmed or from messages already in flight;
 * without either the machine is stuck for good (real hardware would hang
 * silently; ending the run says so at once).
 */
static bool stuck_with_if0(struct machine *m)
{
	if (ioapic_may_send_nmi_init(m))
		return false;
	for (int k = 0; k < m->ncpus; k++) {
		struct nv_vcpu *v = m->vcpu[k];
		struct kvm_mp_state mp;
		struct kvm_regs r;
		struct nv_private_state p;
		uint64_t d;
		memset(&p, 0, sizeof(p));
		p.version = NV_PRIVATE_STATE_VERSION;
		p.size = sizeof(p);
		if (nv_get_mp_state(v, &mp) < 0 || nv_get_regs(v, &r) < 0 ||
		    nv_get_private_state(v, &p) < 0 || nv_next_deadline(v, &d) < 0)
			return false;
		if (mp.mp_state == KVM_MP_STATE_RUNNABLE || p.pause_until || p.nmsgs)
			return false;
		if (d <= m->clock)
			return false;	/* something is already due: it wakes */
		if (mp.mp_state == KVM_MP_STATE_HALTED &&
		    ((r.rflags & 0x200) || (p.flags & NV_PRIV_MWAIT_BREAK)))
			return false;
	}
	return true;
}

static int machine_reset(struct machine *m)
{
	char err[256];
	m->reset_requested = false;
	memset(m->ram, 0, m->low_ram);
	dev_reset_all(m);
	if (load_multiboot(m, err, sizeof(err)) < 0) {
		fprintf(stderr, "nestvm: %s\n", err);
		return -1;
	}
	return 0;
}

/* the /dev/kvm run loop (run_kvm.c) shares these */
void machine_handle_exit(struct machine *m, int k, struct kvm_run *run)
{
	handle_exit(m, k, run);
}

uint64_t machine_next_timer(const struct machine *m)
{
	return next_timer(m);
}

void machine_fire_timers(struct machine *m)
{
	fire_timers(m);
}

int machine_reset_devices_and_image(struct machine *m)
{
	return machine_reset(m);
}

int machine_run(struct machine *m)
{
	if (nv_vm_engine(m->vm) == NV_ENGINE_KVM)
		return machine_run_kvm(m);
	while (!m->done) {
		if (m->reset_requested) {
			if (nv_vm_engine(m->vm) != NV_ENGINE_EMU || machine_reset(m) < 0)
				machine_poweroff(m, 1, "reset failed");
			continue;
		}
		if (m->cur_cpu < 0 || m->cur_cpu >= m->ncpus) {
			/* a new slice */
			uint64_t q = m->cfg.quantum;
			m->slice_end = m->clock + q;
			uint64_t t = next_timer(m);
			if (t < m->slice_end)
				m->slice_end = t > m->clock ? t : m->clock + 1;
			if (all_idle(m)) {
				/* nothing runs: jump to the next event */
				uint64_t d = next_vcpu_deadline(m);
				uint64_t e = t < d ? t : d;
				if (e == ~0ULL && !dev_input_possible(m)) {
					machine_poweroff(m, 3, "all vCPUs are halted and nothing can wake them");
					break;
				}
				if (stuck_with_if0(m)) {
					machine_poweroff(m, 3, "all vCPUs are halted with interrupts "
						     "disabled and nothing can send them an NMI or INIT");
					break;
				}
				if (e != ~0ULL && e > m->slice_end)
					m->slice_end = e;
			}
			m->cur_cpu = 0;
		}
		while (m->cur_cpu < m->ncpus) {
			if (!run_vcpu_slice(m, m->cur_cpu))
				break;
			m->cur_cpu++;
		}
		if (m->done || m->reset_requested) {
			m->cur_cpu = -1;
			continue;
		}
		m->clock = m->slice_end;
		m->cur_cpu = -1;
		fire_timers(m);
	}
	if (m->serial_out)
		fflush(m->serial_out);
	if (m->cfg.stats) {
		uint64_t total = 0, n;
		for (int k = 0; k < m->ncpus; k++)
			if (nv_get_icount(m->vcpu[k], &n) == 0)
				total += n;
		fprintf(stderr, "nestvm: instructions: %llu, virtual time: %llu ns\n",
			(unsigned long long)total, (unsigned long long)m->clock);
	}
	if (m->exit_msg[0])
		fprintf(stderr, "nestvm: %s\n", m->exit_msg);
	return m->exit_status;
}
