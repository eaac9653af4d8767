/*
 * API suite: KVM_SET_GUEST_DEBUG single-stepping and KVM_TRANSLATE, on the
 * emulator and on /dev/kvm.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmt.h"

#define X(v) ((unsigned long long)(v))

static void test_singlestep(struct vmt *t)
{
	static const uint8_t code[] = {
		0x48, 0xff, 0xc0,	/* inc %rax */
		0x48, 0xff, 0xc3,	/* inc %rbx */
		0x90,			/* nop */
		0xf4,
	};
	vmt_write(t, VMT_CODE, code, sizeof(code));
	struct kvm_regs r;
	memset(&r, 0, sizeof(r));
	r.rip = VMT_CODE;
	r.rsp = VMT_STACK;
	r.rflags = 2;
	nv_set_regs(t->v, &r);
	struct kvm_guest_debug d;
	memset(&d, 0, sizeof(d));
	d.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP;
	tap_ok(nv_set_guest_debug(t->v, &d) == 0, "SET_GUEST_DEBUG ENABLE | SINGLESTEP");
	static const uint64_t next[] = { VMT_CODE + 3, VMT_CODE + 6, VMT_CODE + 7 };
	for (int k = 0; k < 3; k++) {
		int ret = vmt_nv_run(t);
		struct kvm_run *run = t->run;
		nv_get_regs(t->v, &r);
		tap_ok(ret == 0 && run->exit_reason == KVM_EXIT_DEBUG && run->debug.arch.exception == 1 &&
		       run->debug.arch.pc == next[k] && r.rip == next[k],
		       "step %d: KVM_EXIT_DEBUG, #DB, pc = rip = %llx (exit %u, pc %llx)", k + 1,
		       X(next[k]), run->exit_reason, X(run->debug.arch.pc));
		tap_ok((run->debug.arch.dr6 & 0x4000) && (run->debug.arch.dr6 & 0xffff0ff0ULL) ==
		       0xffff0ff0ULL, "step %d: debug.arch.dr6 has BS and the fixed bits (%llx)", k + 1,
		       X(run->debug.arch.dr6));
	}
	tap_ok(r.rax == 1 && r.rbx == 1, "each step executed one instruction");
	struct kvm_debugregs dr;
	nv_get_debugregs(t->v, &dr);
	tap_ok((dr.dr6 & 0x4000) == 0, "the guest's DR6 is untouched by the host's steps (%llx)",
	       X(dr.dr6));
	struct kvm_vcpu_events ev;
	nv_get_vcpu_events(t->v, &ev);
	tap_ok(!ev.exception.injected && !ev.exception.pending, "no #DB is queued for the guest");
	d.control = 0;
	tap_ok(nv_set_guest_debug(t->v, &d) == 0, "SET_GUEST_DEBUG 0 (off)");
	int why = vmt_run_continue(t, &r);
	tap_ok(why == KVM_EXIT_HLT && r.rip == VMT_CODE + 8, "without it the run goes to HLT (%d)",
	       why);
	d.control = KVM_GUESTDBG_SINGLESTEP;	/* without ENABLE: nothing */
	tap_ok(nv_set_guest_debug(t->v, &d) == 0, "SINGLESTEP without ENABLE is accepted");
	d.control = 0x40000000 | KVM_GUESTDBG_ENABLE;
	tap_ok(nv_set_guest_debug(t->v, &d) == 0, "an unknown control bit is ignored, as KVM does");
	/* INJECT_DB: a #DB queued for the guest; -EBUSY while one is queued */
	d.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_INJECT_DB;
	tap_ok(nv_set_guest_debug(t->v, &d) == 0, "INJECT_DB");
	d.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_INJECT_BP;
	tap_ok(nv_set_guest_debug(t->v, &d) == -EBUSY, "INJECT_BP with #DB still queued: -EBUSY");
	d.control = 0;
	nv_set_guest_debug(t->v, &d);
	uint32_t zero = 0;
	vmt_write(t, VMT_EXC_VEC, &zero, 4);
	struct kvm_mp_state mp = { KVM_MP_STATE_RUNNABLE };
	nv_set_mp_state(t->v, &mp);
	vmt_nv_run(t);
	tap_ok(vmt_exception(t) == 1, "the guest takes the injected #DB (%d)", vmt_exception(t));
	d.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_SW_BP;
	int r2 = nv_set_guest_debug(t->v, &d);
	if (t->eng == NV_ENGINE_EMU && r2 == -EINVAL)
		tap_skip("USE_SW_BP is not implemented by the emulator (docs/kvm.md D8)");
	else
		tap_ok(r2 == 0, "USE_SW_BP accepted (%d)", r2);
	d.control = 0;
	nv_set_guest_debug(t->v, &d);
}

static void test_translate(struct vmt *t)
{
	struct kvm_translation tr = { .linear_address = VMT_DATA + 0x123 };
	tap_ok(nv_translate(t->v, &tr) == 0 && tr.valid && tr.physical_address == VMT_DATA + 0x123,
	       "KVM_TRANSLATE of a mapped address: valid, identity (%llx)",
	       X(tr.physical_address));
	tap_ok(tr.writeable == 1 && tr.usermode == 0, "writeable 1, usermode 0 (%u %u)",
	       tr.writeable, tr.usermode);
	tr.linear_address = 0x40000000ULL + 0x5000;	/* PDPT[1] is empty */
	tap_ok(nv_translate(t->v, &tr) == 0 && !tr.valid,
	       "an unmapped address: valid 0 (pa %llx)", X(tr.physical_address));
	tap_ok(tr.physical_address == ~0ULL, "its physical_address reads all ones");
	tr.linear_address = 0x0000800000000000ULL;
	tap_ok(nv_translate(t->v, &tr) == 0 && !tr.valid, "a non-canonical address: valid 0");
	/* a read-only user page: KVM reports writeable 1 / usermode 0 anyway */
	uint64_t pde;
	memcpy(&pde, vmt_ptr(t, 0x3000 + 8 * 8), 8);	/* 16-18 MiB */
	uint64_t ro = (pde & ~2ULL) | 4;
	vmt_write(t, 0x3000 + 8 * 8, &ro, 8);
	tr.linear_address = 0x1000000ULL + 0x10;
	tap_ok(nv_translate(t->v, &tr) == 0 && tr.valid && tr.physical_address == 0x1000010ULL,
	       "a read-only user page translates");
	tap_ok(tr.writeable == 1 && tr.usermode == 0,
	       "and reports writeable 1, usermode 0 as KVM does (%u %u)", tr.writeable, tr.usermode);
	vmt_write(t, 0x3000 + 8 * 8, &pde, 8);
	/* with paging off the linear address is the physical one */
	struct kvm_sregs s, keep;
	nv_get_sregs(t->v, &s);
	keep = s;
	s.cr0 &= ~0x80000000ULL;
	s.efer &= ~0x400ULL;
	s.cs.l = 0;
	s.cs.db = 1;
	tap_ok(nv_set_sregs(t->v, &s) == 0, "SET_SREGS: protected mode, paging off");
	tr.linear_address = 0x12345678;
	tap_ok(nv_translate(t->v, &tr) == 0 && tr.valid && tr.physical_address == 0x12345678,
	       "paging off: physical = linear (%llx)", X(tr.physical_address));
	nv_set_sregs(t->v, &keep);
}

static void suite(enum nv_engine eng)
{
	struct vmt t;
	if (vmt_init(&t, eng, 64 << 20) < 0) {
		tap_ok(false, "vmt_init");
		return;
	}
	test_singlestep(&t);
	test_translate(&t);
	vmt_destroy(&t);
}

int main(void)
{
	vmt_each_engine(suite);
	return tap_done();
}
