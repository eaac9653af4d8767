// SPDX-License-Identifier: MIT
/*
 * The machine's run loop on the /dev/kvm engine (docs/kvm.md).
 *
 * KVM has no instruction budget: a KVM_RUN returns at an exit the VMM must
 * handle, or when a signal arrives.  So the vCPUs take turns on this one
 * thread in time slices of host time: a one-shot ITIMER_REAL ends each
 * slice with SIGALRM, whose handler sets the running vCPU's
 * kvm_run.immediate_exit (KVM's answer to the race between the signal
 * and entering KVM_RUN: if the signal comes first, the next KVM_RUN
 * returns -EINTR at once).  A vCPU halted in KVM's in-kernel local APIC
 * blocks in KVM_RUN until an interrupt or the slice's end.
 *
 * Time: the machine clock (machine_now, device timers) is host time since
 * the start, in ns.  It is not deterministic, unlike the emulator's.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "machine.h"
#include "devices.h"
#include "vcpu_state.h"

#define SLICE_NS 1000000ULL		/* a running vCPU's turn */
#define IDLE_SLICE_NS 100000ULL		/* a halted or waiting vCPU's turn */
#define MIN_SLICE_NS 20000ULL

static struct kvm_run *volatile kvm_cur_run;

static void slice_end(int sig)
{
	struct kvm_run *r = kvm_cur_run;
	(void)sig;
	if (r)
		r->immediate_exit = 1;
}

static void arm(uint64_t ns)
{
	struct itimerval it;
	memset(&it, 0, sizeof(it));
	it.it_value.tv_sec = (time_t)(ns / 1000000000ULL);
	it.it_value.tv_usec = (suseconds_t)((ns % 1000000000ULL) / 1000);
	if (!it.it_value.tv_sec && !it.it_value.tv_usec)
		it.it_value.tv_usec = 1;
	setitimer(ITIMER_REAL, &it, NULL);
}

static void disarm(void)
{
	struct itimerval it;
	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);
}

static uint64_t host_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

static bool waiting(struct nv_vcpu *v)
{
	struct kvm_mp_state mp;
	if (nv_get_mp_state(v, &mp) < 0)
		return false;
	return mp.mp_state != KVM_MP_STATE_RUNNABLE;
}

/*
 * Nothing can ever run again: every vCPU halted or waiting for INIT/SIPI
 * with interrupts off and no NMI pending, no device timer armed and no
 * input to come.  (IF = 1 keeps the machine alive: the in-kernel LAPIC's
 * timer may still fire.)
 */
static bool dead(struct machine *m, uint64_t next_timer)
{
	if (next_timer != ~0ULL || dev_input_possible(m))
		return false;
	for (int k = 0; k < m->ncpus; k++) {
		struct kvm_regs r;
		struct kvm_vcpu_events ev;
		if (!waiting(m->vcpu[k]) || nv_get_regs(m->vcpu[k], &r) < 0 ||
		    nv_get_vcpu_events(m->vcpu[k], &ev) < 0)
			return false;
		if ((r.rflags & 0x200) || ev.nmi.pending || ev.nmi.injected ||
		    ev.exception.injected || ev.exception.pending || ev.interrupt.injected)
			return false;
	}
	return true;
}

/* vCPU k's turn; false if the machine stopped or must reset */
static bool run_slice(struct machine *m, int k, uint64_t t0, uint64_t ns)
{
	struct nv_vcpu *v = m->vcpu[k];
	struct kvm_run *run = nv_vcpu_run_page(v);
	bool ok = true;
	m->cur_cpu = k;
	kvm_cur_run = run;
	arm(ns);
	for (;;) {
		dev_pre_run(m, k);
		int r = nv_run(v);
		m->clock = host_ns() - t0;
		if (r == -EAGAIN)
			continue;	/* a waiting vCPU took INIT / SIPI: enter again */
		if (r == -EINTR)
			break;
		if (r < 0) {
			char msg[96];
			snprintf(msg, sizeof(msg), "vCPU %d: KVM_RUN failed: %s", k, strerror(-r));
			machine_poweroff(m, 1, msg);
			ok = false;
			break;
		}
		if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR) {
			char msg[200], bytes[64] = "";
			struct kvm_regs regs;
			uint64_t rip = nv_get_regs(v, &regs) == 0 ? regs.rip : 0;
			/*
			 * An emulation failure may carry the instruction: flags
			 * (bit 0) in data[0], then a length byte and 15 bytes
			 * (KVM's struct emulation_failure).
			 */
			if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION &&
			    run->internal.ndata >= 3 && (run->internal.data[0] & 1)) {
				const uint8_t *b = (const uint8_t *)&run->internal.data[1] + 1;
				unsigned n = (unsigned)(run->internal.data[1] & 0xff);
				size_t o = 0;
				for (unsigned i = 0; i < n && i < 15 && o + 4 < sizeof(bytes); i++)
					o += (size_t)snprintf(bytes + o, sizeof(bytes) - o, " %02x", b[i]);
			}
			snprintf(msg, sizeof(msg),
				 "vCPU %d: KVM internal error (suberror %u) at RIP %#llx%s%s: "
				 "this host's KVM cannot run the guest", k, run->internal.suberror,
				 (unsigned long long)rip, bytes[0] ? ", instruction" : "", bytes);
			machine_poweroff(m, 1, msg);
			ok = false;
			break;
		}
		machine_handle_exit(m, k, run);
		if (m->done || m->reset_requested) {
			ok = false;
			break;
		}
	}
	disarm();
	kvm_cur_run = NULL;
	run->immediate_exit = 0;
	return ok;
}

/*
 * A guest reset without -no-reboot: every vCPU goes back to the state it
 * had before it first ran (KVM cannot reset a vCPU itself), then RAM,
 * devices and the image are set up again as at start.
 */
static int reset(struct machine *m, struct vcpu_state **boot)
{
	char err[200];
	m->reset_requested = false;
	for (int k = 0; k < m->ncpus; k++) {
		if (vcpu_state_set(m->vcpu[k], boot[k], VCPU_STATE_KEEP_CPUID, err, sizeof(err)) < 0) {
			fprintf(stderr, "nestvm: reset of vCPU %d: %s\n", k, err);
			return -1;
		}
	}
	return machine_reset_devices_and_image(m);
}

int machine_run_kvm(struct machine *m)
{
	if (m->cfg.snapshot_save || m->cfg.snapshot_load || m->cfg.torture) {
		fprintf(stderr, "nestvm: snapshots need the emulator (-accel tcg), not kvm\n");
		return 2;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = slice_end;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);	/* no SA_RESTART: KVM_RUN returns -EINTR */

	struct vcpu_state **boot = calloc((size_t)m->ncpus, sizeof(*boot));
	char err[200];
	for (int k = 0; boot && k < m->ncpus; k++) {
		boot[k] = malloc(sizeof(**boot));
		if (!boot[k] || vcpu_state_get(m->vm, m->vcpu[k], boot[k], err, sizeof(err)) < 0) {
			free(boot[k]);
			boot[k] = NULL;
			machine_poweroff(m, 1, "cannot record the vCPUs' start state");
			break;
		}
	}

	uint64_t t0 = host_ns();
	while (!m->done) {
		if (m->reset_requested) {
			if (reset(m, boot) < 0)
				machine_poweroff(m, 1, "reset failed");
			continue;
		}
		m->clock = host_ns() - t0;
		machine_fire_timers(m);
		uint64_t t = machine_next_timer(m);
		bool all_waiting = true;
		for (int k = 0; k < m->ncpus && !m->done && !m->reset_requested; k++) {
			uint64_t ns = waiting(m->vcpu[k]) ? IDLE_SLICE_NS : SLICE_NS;
			if (t != ~0ULL) {
				uint64_t now = host_ns() - t0;
				uint64_t left = t > now ? t - now : 0;
				if (left < ns)
					ns = left > MIN_SLICE_NS ? left : MIN_SLICE_NS;
			}
			if (!run_slice(m, k, t0, ns))
				break;
			if (!waiting(m->vcpu[k]))
				all_waiting = false;
		}
		if (all_waiting && !m->done && !m->reset_requested && dead(m, machine_next_timer(m)))
			machine_poweroff(m, 3, "all vCPUs are halted and nothing can wake them");
	}
	for (int k = 0; boot && k < m->ncpus; k++)
		free(boot[k]);
	free(boot);
	if (m->serial_out)
		fflush(m->serial_out);
	if (m->exit_msg[0])
		fprintf(stderr, "nestvm: %s\n", m->exit_msg);
	return m->exit_status;
}
