/*
 * Run-loop robustness.  A guest whose exception handler faults at once delivers exceptions
 * forever without retiring an instruction.  nv_run must still come back to
 * the VMM (KVM_EXIT_INTR) instead of spinning inside the emulator, and the
 * vCPU must be resumable.  (Decoder robustness: found by decode_diff.)
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "vmt.h"

static void on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "not ok - nv_run did not return within 10 s\n1..1\n";
	(void)!write(1, msg, sizeof(msg) - 1);
	_exit(1);
}

int main(void)
{
	struct vmt t;
	if (vmt_init(&t, NV_ENGINE_EMU, 16 << 20) < 0) {
		tap_skip_all("cannot create a VM");
		return 0;
	}
	signal(SIGALRM, on_alarm);
	alarm(10);
	/* every IDT entry: IST1 (TSS at linear 0), handler = ud2 at 0x8000 */
	uint64_t ist = 0x9f000;
	vmt_write(&t, 0x24, &ist, 8);
	static const uint8_t ud2[] = { 0x0f, 0x0b };
	vmt_write(&t, 0x8000, ud2, 2);
	for (int v = 0; v < 256; v++) {
		uint64_t h = 0x8000;
		uint64_t lo = (h & 0xffff) | (0x08ULL << 16) | (0x8eULL << 40) | (1ULL << 32) |
			      ((h >> 16 & 0xffff) << 48);
		vmt_write(&t, VMT_IDT + v * 16, &lo, 8);
	}
	vmt_write(&t, VMT_CODE, ud2, 2);
	struct kvm_regs r;
	memset(&r, 0, sizeof(r));
	r.rip = VMT_CODE;
	r.rsp = VMT_STACK;
	r.rflags = 2;
	nv_set_regs(t.v, &r);
	int ret = nv_run(t.v);
	tap_ok(ret == -EINTR && t.run->exit_reason == KVM_EXIT_INTR,
	       "exception storm: nv_run returns -EINTR / KVM_EXIT_INTR (ret %d, exit %u)", ret,
	       t.run->exit_reason);
	nv_get_regs(t.v, &r);
	tap_ok(r.rip == 0x8000 && r.rsp < 0x9f000 && r.rsp >= 0x9f000 - 48,
	       "stopped at an instruction boundary in the handler (rip %llx rsp %llx)",
	       (unsigned long long)r.rip, (unsigned long long)r.rsp);
	/* it can be resumed, and comes back again */
	ret = nv_run(t.v);
	tap_ok(ret == -EINTR && t.run->exit_reason == KVM_EXIT_INTR, "and again after resuming");
	/* fix the handler: the storm ends with HLT */
	static const uint8_t hlt[] = { 0xf4 };
	vmt_write(&t, 0x8000, hlt, 1);
	ret = nv_run(t.v);
	tap_ok(ret == 0 && t.run->exit_reason == KVM_EXIT_HLT, "a working handler ends it (exit %u)",
	       t.run->exit_reason);

	/*
	 * The instruction budget is exact with REP in the middle of a block:
	 * rep lodsd (3 iterations) then NOPs, budget 4 = 3 iterations + 1 NOP.
	 */
	static const uint8_t rep[] = { 0xf3, 0xad, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0xf4 };
	for (int b = 1; b <= 7; b++) {
		vmt_write(&t, VMT_CODE, rep, sizeof(rep));
		memset(&r, 0, sizeof(r));
		r.rip = VMT_CODE;
		r.rsp = VMT_STACK;
		r.rsi = 0x200000;
		r.rcx = 3;
		r.rflags = 2;
		nv_set_regs(t.v, &r);
		struct kvm_mp_state mp = { KVM_MP_STATE_RUNNABLE };
		nv_set_mp_state(t.v, &mp);
		uint64_t ic0, ic1;
		nv_get_icount(t.v, &ic0);
		nv_set_budget(t.v, (uint64_t)b);
		ret = nv_run(t.v);
		nv_get_icount(t.v, &ic1);
		nv_get_regs(t.v, &r);
		nv_set_budget(t.v, 0);
		/* b < 3: stopped between iterations, RIP stays on the REP */
		uint64_t want_rip = b < 3 ? VMT_CODE : VMT_CODE + 2 + (uint64_t)(b - 3);
		tap_ok(ret == -EINTR && ic1 - ic0 == (uint64_t)b && r.rip == want_rip &&
		       r.rcx == (uint64_t)(b < 3 ? 3 - b : 0),
		       "budget %d with REP LODSD x3: %llu executed, rip +%llu, rcx %llu", b,
		       (unsigned long long)(ic1 - ic0), (unsigned long long)(r.rip - VMT_CODE),
		       (unsigned long long)r.rcx);
	}
	vmt_destroy(&t);
	return tap_done();
}
