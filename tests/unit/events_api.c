/*
 * vCPU events through the API (spec §6.2-6.5, T08-T21, T63-T65): pending
 * vs injected, payload deferral (CR2/DR6 written only on delivery), the
 * legacy ABI without KVM_CAP_EXCEPTION_PAYLOAD, triple-fault events, the
 * FRED nested flag capability, NMI/shadow state, and every -EINVAL case.
 */
#include <errno.h>
#include <string.h>

#include "vmt.h"

static struct vmt t;

static int enable(long cap, int on)
{
	struct kvm_enable_cap c = { .cap = (uint32_t)cap, .args = { (uint64_t)on } };
	return nv_enable_cap(t.vm, &c);
}

static void get_ev(struct kvm_vcpu_events *e)
{
	memset(e, 0xaa, sizeof(*e));
	nv_get_vcpu_events(t.v, e);
}

static uint64_t cr2_now(void)
{
	struct kvm_sregs s;
	nv_get_sregs(t.v, &s);
	return s.cr2;
}

static void set_cr2(uint64_t v)
{
	struct kvm_sregs s;
	nv_get_sregs(t.v, &s);
	s.cr2 = v;
	nv_set_sregs(t.v, &s);
}

static void clear_events(void)
{
	struct kvm_vcpu_events e;
	memset(&e, 0, sizeof(e));
	e.flags = KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW;
	nv_set_vcpu_events(t.v, &e);
}

/* like vmt_run but without resetting RIP/registers (keeps queued events) */
static int resume(struct kvm_regs *r)
{
	uint32_t zero = 0;
	vmt_write(&t, VMT_EXC_VEC, &zero, 4);
	struct kvm_mp_state mp = { KVM_MP_STATE_RUNNABLE };
	nv_set_mp_state(t.v, &mp);
	for (int k = 0; k < 100000; k++) {
		int ret = nv_run(t.v);
		if (ret < 0 && ret != -EINTR)
			return -1;
		if (t.run->exit_reason == KVM_EXIT_IO)
			continue;
		nv_get_regs(t.v, r);
		return (int)t.run->exit_reason;
	}
	return -1;
}

static void prepare_at(uint64_t rip)
{
	struct kvm_regs r;
	memset(&r, 0, sizeof(r));
	r.rip = rip;
	r.rsp = VMT_STACK;
	r.rflags = 2;
	nv_set_regs(t.v, &r);
}

int main(void)
{
	struct kvm_vcpu_events e, g;
	struct kvm_regs r;
	static const uint8_t nops_hlt[] = { 0x90, 0x90, 0x90, 0xf4 };

	if (vmt_init(&t, NV_ENGINE_EMU, 64 << 20) < 0) {
		tap_skip_all("cannot create a VM");
		return 0;
	}
	tap_ok(nv_check_extension(t.vm, KVM_CAP_EXCEPTION_PAYLOAD) == 1, "KVM_CAP_EXCEPTION_PAYLOAD present");
	tap_ok(nv_check_extension(t.vm, KVM_CAP_X86_TRIPLE_FAULT_EVENT) == 1, "KVM_CAP_X86_TRIPLE_FAULT_EVENT present");
	tap_ok(nv_check_extension(t.vm, NV_CAP_EXCEPTION_NESTED_FLAG_DEFAULT) == 1,
	       "nested-flag capability present under its default number (%d)",
	       NV_CAP_EXCEPTION_NESTED_FLAG_DEFAULT);
	tap_ok(nv_nested_flag_cap(t.vm) == NV_CAP_EXCEPTION_NESTED_FLAG_DEFAULT, "nv_nested_flag_cap");

	/* ---- T16: flag validation ---- */
	memset(&e, 0, sizeof(e));
	e.flags = KVM_VCPUEVENT_VALID_PAYLOAD;
	tap_ok(nv_set_vcpu_events(t.v, &e) == -EINVAL, "T16: PAYLOAD flag without the capability -> EINVAL");
	e.flags = KVM_VCPUEVENT_VALID_TRIPLE_FAULT;
	tap_ok(nv_set_vcpu_events(t.v, &e) == -EINVAL, "T16: TRIPLE_FAULT flag without the capability -> EINVAL");
	e.flags = KVM_VCPUEVENT_VALID_NESTED_FLAG;
	tap_ok(nv_set_vcpu_events(t.v, &e) == -EINVAL, "T16/T64: NESTED_FLAG without the capability -> EINVAL");
	e.flags = 0x80;
	tap_ok(nv_set_vcpu_events(t.v, &e) == -EINVAL, "T16: unknown flag 0x80 -> EINVAL");

	/* ---- T15: vector validation ---- */
	memset(&e, 0, sizeof(e));
	e.exception.injected = 1;
	e.exception.nr = 2;
	tap_ok(nv_set_vcpu_events(t.v, &e) == -EINVAL, "T15: NMI vector as an exception -> EINVAL");
	e.exception.nr = 32;
	tap_ok(nv_set_vcpu_events(t.v, &e) == -EINVAL, "T15: vector 32 -> EINVAL");
	e.exception.injected = 0;
	e.exception.nr = 40;
	tap_ok(nv_set_vcpu_events(t.v, &e) == 0, "T15: vector 40 neither injected nor pending is accepted");
	get_ev(&g);
	tap_ok(!g.exception.injected && !g.exception.pending, "T15: ... and nothing is queued");

	/* GET flags without capabilities */
	get_ev(&g);
	tap_ok(g.flags == (KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW |
			   KVM_VCPUEVENT_VALID_SMM), "GET flags = NMI_PENDING|SHADOW|SMM (%#x)", g.flags);
	tap_ok(g.sipi_vector == 0, "GET never reports a SIPI vector");

	/* ---- capabilities on ---- */
	tap_ok(enable(KVM_CAP_EXCEPTION_PAYLOAD, 1) == 0, "enable KVM_CAP_EXCEPTION_PAYLOAD");
	tap_ok(enable(KVM_CAP_X86_TRIPLE_FAULT_EVENT, 1) == 0, "enable KVM_CAP_X86_TRIPLE_FAULT_EVENT");
	get_ev(&g);
	tap_ok((g.flags & (KVM_VCPUEVENT_VALID_PAYLOAD | KVM_VCPUEVENT_VALID_TRIPLE_FAULT)) ==
	       (KVM_VCPUEVENT_VALID_PAYLOAD | KVM_VCPUEVENT_VALID_TRIPLE_FAULT),
	       "GET flags gain PAYLOAD and TRIPLE_FAULT");
	tap_ok(enable(12345, 1) == -EINVAL, "enabling an unknown capability -> EINVAL");

	/* ---- T08: a pending #PF with payload; CR2 written only on delivery ---- */
	vmt_write(&t, VMT_CODE, nops_hlt, sizeof(nops_hlt));
	prepare_at(VMT_CODE);
	set_cr2(0x1111);
	memset(&e, 0, sizeof(e));
	e.flags = KVM_VCPUEVENT_VALID_PAYLOAD;
	e.exception.pending = 1;
	e.exception.nr = 14;
	e.exception.has_error_code = 1;
	e.exception.error_code = 0x2;
	e.exception_has_payload = 1;
	e.exception_payload = 0xdead000;
	tap_ok(nv_set_vcpu_events(t.v, &e) == 0, "T08: SET pending #PF with payload");
	get_ev(&g);
	tap_ok(g.exception.pending == 1 && g.exception.injected == 0 && g.exception.nr == 14,
	       "T08: GET reports it pending, not injected");
	tap_ok(g.exception_has_payload == 1 && g.exception_payload == 0xdead000,
	       "T08: GET reports the payload");
	tap_ok(cr2_now() == 0x1111, "T08: CR2 untouched before delivery");
	int why = resume(&r);
	tap_ok(why == KVM_EXIT_HLT && vmt_exception(&t) == 14, "T08: running delivers #PF (vector %d)",
	       vmt_exception(&t));
	tap_ok(cr2_now() == 0xdead000, "T08: CR2 = payload after delivery (%#llx)",
	       (unsigned long long)cr2_now());
	tap_ok(vmt_exc_errcode(&t, &r) == 0x2, "T08: error code pushed");
	tap_ok(vmt_exc_rip(&t, &r) == VMT_CODE, "T08: saved RIP = RIP at injection");
	get_ev(&g);
	tap_ok(!g.exception.pending && !g.exception.injected, "T08: nothing queued afterwards");

	/* ---- T09: the legacy ABI (capability off) commits the payload at GET ---- */
	prepare_at(VMT_CODE);
	set_cr2(0x2222);
	tap_ok(nv_set_vcpu_events(t.v, &e) == 0, "T09: SET pending #PF with payload (cap on)");
	enable(KVM_CAP_EXCEPTION_PAYLOAD, 0);
	get_ev(&g);
	tap_ok(g.exception.injected == 1 && g.exception.pending == 0,
	       "T09: without the capability a pending exception reads as injected");
	tap_ok(!(g.flags & KVM_VCPUEVENT_VALID_PAYLOAD), "T09: no PAYLOAD flag");
	tap_ok(cr2_now() == 0xdead000, "T09: CR2 committed by GET (legacy)");
	enable(KVM_CAP_EXCEPTION_PAYLOAD, 1);
	clear_events();

	/* ---- T17: pending wins over injected ---- */
	memset(&e, 0, sizeof(e));
	e.flags = KVM_VCPUEVENT_VALID_PAYLOAD;
	e.exception.pending = 1;
	e.exception.injected = 1;
	e.exception.nr = 13;
	e.exception.has_error_code = 1;
	nv_set_vcpu_events(t.v, &e);
	get_ev(&g);
	tap_ok(g.exception.pending == 1 && g.exception.injected == 0, "T17: pending = 1, injected = 0");

	/* ---- T18: SET_REGS drops a pending exception, not an injected one ---- */
	prepare_at(VMT_CODE);
	get_ev(&g);
	tap_ok(!g.exception.pending && !g.exception.injected, "T18: SET_REGS dropped the pending #GP");
	memset(&e, 0, sizeof(e));
	e.flags = KVM_VCPUEVENT_VALID_PAYLOAD;
	e.exception.injected = 1;
	e.exception.nr = 14;
	e.exception.has_error_code = 1;
	e.exception.error_code = 4;
	e.exception_has_payload = 1;	/* normalised away: only pending exceptions carry one */
	e.exception_payload = 0x999;
	nv_set_vcpu_events(t.v, &e);
	prepare_at(VMT_CODE);
	get_ev(&g);
	tap_ok(g.exception.injected == 1 && g.exception.nr == 14, "T18: an injected #PF survives SET_REGS");
	tap_ok(g.exception_has_payload == 0, "an injected exception carries no payload");
	set_cr2(0x3333);
	why = resume(&r);
	tap_ok(vmt_exception(&t) == 14 && cr2_now() == 0x3333,
	       "injected #PF is delivered as is; CR2 untouched (vector %d, cr2 %#llx)",
	       vmt_exception(&t), (unsigned long long)cr2_now());

	/* ---- T19: injected soft exceptions are not reported ---- */
	prepare_at(VMT_CODE);
	memset(&e, 0, sizeof(e));
	e.exception.injected = 1;
	e.exception.nr = 3;
	nv_set_vcpu_events(t.v, &e);
	get_ev(&g);
	tap_ok(g.exception.injected == 0 && g.exception.pending == 0, "T19: injected #BP reads back as not injected");
	clear_events();

	/* ---- T14: NMI pending clamp ---- */
	memset(&e, 0, sizeof(e));
	e.flags = KVM_VCPUEVENT_VALID_NMI_PENDING;
	e.nmi.pending = 5;
	nv_set_vcpu_events(t.v, &e);
	get_ev(&g);
	tap_ok(g.nmi.pending == 2, "T14: nmi.pending 5 reads back 2 (got %d)", g.nmi.pending);
	e.nmi.masked = 1;
	nv_set_vcpu_events(t.v, &e);
	get_ev(&g);
	tap_ok(g.nmi.pending == 1 && g.nmi.masked == 1, "T14: masked: pending reads back 1 (got %d)", g.nmi.pending);
	clear_events();
	memset(&e, 0, sizeof(e));
	e.flags = KVM_VCPUEVENT_VALID_NMI_PENDING;
	nv_set_vcpu_events(t.v, &e);

	/* ---- T13 via the API: inside the NMI handler NMIs are masked ---- */
	prepare_at(VMT_CODE);
	nv_nmi(t.v);
	why = resume(&r);
	tap_ok(vmt_exception(&t) == 2, "NMI delivered (vector %d)", vmt_exception(&t));
	get_ev(&g);
	tap_ok(g.nmi.masked == 1 && g.nmi.pending == 0, "T13: NMI masked in its handler");
	nv_nmi(t.v);
	nv_nmi(t.v);
	nv_nmi(t.v);
	get_ev(&g);
	tap_ok(g.nmi.pending == 1, "T13: three NMIs while masked latch as one (got %d)", g.nmi.pending);
	clear_events();
	memset(&e, 0, sizeof(e));
	e.flags = KVM_VCPUEVENT_VALID_NMI_PENDING;
	nv_set_vcpu_events(t.v, &e);

	/* ---- T11: the STI shadow is visible between STI and the next instruction ---- */
	static const uint8_t sti_code[] = { 0xfb, 0x90, 0x90, 0xf4 };	/* sti; nop; nop; hlt */
	vmt_write(&t, VMT_CODE, sti_code, sizeof(sti_code));
	prepare_at(VMT_CODE);
	struct kvm_mp_state mp = { KVM_MP_STATE_RUNNABLE };
	nv_set_mp_state(t.v, &mp);
	nv_set_budget(t.v, 1);
	int ret = nv_run(t.v);
	nv_get_regs(t.v, &r);
	tap_ok(ret == -EINTR && t.run->exit_reason == KVM_EXIT_INTR && r.rip == VMT_CODE + 1,
	       "budget of 1 instruction stops after STI (rip %#llx)", (unsigned long long)r.rip);
	get_ev(&g);
	tap_ok((g.flags & KVM_VCPUEVENT_VALID_SHADOW) && g.interrupt.shadow == KVM_X86_SHADOW_INT_STI,
	       "T11: GET reports the STI shadow (%#x)", g.interrupt.shadow);
	/* an NMI arriving in the STI shadow waits for the shadow to end (KVM) */
	nv_nmi(t.v);
	nv_set_budget(t.v, 0);
	why = resume(&r);
	tap_ok(vmt_exception(&t) == 2 && vmt_exc_rip(&t, &r) == VMT_CODE + 2,
	       "NMI in the STI shadow is delivered after the next instruction (rip %#llx)",
	       (unsigned long long)vmt_exc_rip(&t, &r));
	clear_events();
	memset(&e, 0, sizeof(e));
	e.flags = KVM_VCPUEVENT_VALID_NMI_PENDING;
	nv_set_vcpu_events(t.v, &e);

	/* a shadow set through the API blocks the NMI for one instruction */
	vmt_write(&t, VMT_CODE, nops_hlt, sizeof(nops_hlt));
	prepare_at(VMT_CODE);
	memset(&e, 0, sizeof(e));
	e.flags = KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_NMI_PENDING;
	e.interrupt.shadow = KVM_X86_SHADOW_INT_MOV_SS;
	e.nmi.pending = 1;
	nv_set_vcpu_events(t.v, &e);
	get_ev(&g);
	tap_ok(g.interrupt.shadow == KVM_X86_SHADOW_INT_MOV_SS, "SET/GET round-trips a MOV SS shadow");
	why = resume(&r);
	tap_ok(vmt_exception(&t) == 2 && vmt_exc_rip(&t, &r) == VMT_CODE + 1,
	       "MOV SS shadow from SET delays the NMI by one instruction");
	clear_events();
	memset(&e, 0, sizeof(e));
	e.flags = KVM_VCPUEVENT_VALID_NMI_PENDING;
	nv_set_vcpu_events(t.v, &e);

	/* ---- a pending #DB with a DR6 payload (T10 rule through the API) ---- */
	prepare_at(VMT_CODE);
	struct kvm_debugregs d;
	nv_get_debugregs(t.v, &d);
	d.dr6 = 0xffff0ff1;	/* stale B0 */
	nv_set_debugregs(t.v, &d);
	memset(&e, 0, sizeof(e));
	e.flags = KVM_VCPUEVENT_VALID_PAYLOAD;
	e.exception.pending = 1;
	e.exception.nr = 1;
	e.exception_has_payload = 1;
	e.exception_payload = (1 << 14) | (1 << 16);	/* BS + RTM (positive polarity) */
	nv_set_vcpu_events(t.v, &e);
	nv_get_debugregs(t.v, &d);
	tap_ok(d.dr6 == 0xffff0ff1, "pending #DB: DR6 untouched before delivery");
	why = resume(&r);
	nv_get_debugregs(t.v, &d);
	tap_ok(vmt_exception(&t) == 1 && d.dr6 == 0xfffe4ff0,
	       "T10: #DB payload BS+RTM gives DR6 = 0xfffe4ff0 (got %#llx)", (unsigned long long)d.dr6);

	/* ---- T20: triple-fault event ---- */
	prepare_at(VMT_CODE);
	memset(&e, 0, sizeof(e));
	e.flags = KVM_VCPUEVENT_VALID_TRIPLE_FAULT;
	e.triple_fault.pending = 1;
	tap_ok(nv_set_vcpu_events(t.v, &e) == 0, "T20: SET triple_fault.pending");
	get_ev(&g);
	tap_ok(g.triple_fault.pending == 1, "T20: GET reports it");
	struct kvm_vcpu_events saved = g;
	tap_ok(nv_set_vcpu_events(t.v, &saved) == 0, "T20: SET of the GET result");
	get_ev(&g);
	tap_ok(g.triple_fault.pending == 1, "T20: triple-fault pending survives get/set");
	why = resume(&r);
	tap_ok(why == KVM_EXIT_SHUTDOWN, "T20: next run exits with KVM_EXIT_SHUTDOWN (%d)", why);
	get_ev(&g);
	tap_ok(g.triple_fault.pending == 0, "T20: request consumed");

	/* ---- T21: SMM with INIT_RECEIVED ---- */
	mp.mp_state = KVM_MP_STATE_INIT_RECEIVED;
	nv_set_mp_state(t.v, &mp);
	memset(&e, 0, sizeof(e));
	e.flags = KVM_VCPUEVENT_VALID_SMM;
	e.smi.pending = 1;
	tap_ok(nv_set_vcpu_events(t.v, &e) == -EINVAL, "T21: SMI with INIT_RECEIVED -> EINVAL");
	mp.mp_state = KVM_MP_STATE_RUNNABLE;
	nv_set_mp_state(t.v, &mp);

	/* ---- T63/T64: the FRED nested flag ---- */
	memset(&e, 0, sizeof(e));
	e.flags = KVM_VCPUEVENT_VALID_PAYLOAD;
	e.exception.pending = 1;
	e.exception.nr = 14;
	e.exception.has_error_code = 1;
	nv_events_is_nested(&e) = 1;
	nv_set_vcpu_events(t.v, &e);
	tap_ok(enable(NV_CAP_EXCEPTION_NESTED_FLAG_DEFAULT, 1) == 0, "enable the nested-flag capability");
	get_ev(&g);
	tap_ok((g.flags & KVM_VCPUEVENT_VALID_NESTED_FLAG) && nv_events_is_nested(&g) == 0,
	       "T64: byte 54 set without the flag was ignored");
	e.flags |= KVM_VCPUEVENT_VALID_NESTED_FLAG;
	tap_ok(nv_set_vcpu_events(t.v, &e) == 0, "T63: SET with NESTED_FLAG and byte 54 = 1");
	get_ev(&g);
	tap_ok(nv_events_is_nested(&g) == 1 && g.exception.pending == 1, "T63: nested flag round-trips");
	tap_ok(nv_set_nested_flag_cap(t.vm, 245) == 0, "the capability number is configurable");
	tap_ok(nv_check_extension(t.vm, 245) == 1 && nv_check_extension(t.vm, 240) == 0,
	       "... and only the configured number answers");
	clear_events();
	enable(245, 0);
	get_ev(&g);
	tap_ok(!(g.flags & KVM_VCPUEVENT_VALID_NESTED_FLAG) && g.reserved[25] == 0,
	       "capability off: no flag and byte 54 reads 0");

	/* ---- T65: serial replacement during delivery is nested, #DF is not ---- */
	/* a #UD whose gate is not present: #NP during delivery (serial, nested) */
	{
		uint64_t lo;
		memcpy(&lo, t.mem + VMT_IDT + 6 * 16, 8);
		uint64_t np = lo & ~(1ULL << 47);
		memcpy(t.mem + VMT_IDT + 6 * 16, &np, 8);
		enable(245, 1);
		static const uint8_t ud[] = { 0x0f, 0x0b };
		vmt_write(&t, VMT_CODE, ud, sizeof(ud));
		prepare_at(VMT_CODE);
		nv_set_budget(t.v, 1);
		mp.mp_state = KVM_MP_STATE_RUNNABLE;
		nv_set_mp_state(t.v, &mp);
		nv_run(t.v);
		get_ev(&g);
		tap_ok(g.exception.pending && g.exception.nr == 6 && nv_events_is_nested(&g) == 0,
		       "T65: #UD raised by an instruction is pending, not nested");
		/* deliver: the #NP replaces it and is nested; stop before its delivery */
		nv_set_budget(t.v, 0);
		why = resume(&r);
		tap_ok(vmt_exception(&t) == 11, "T65: #NP delivered for the not-present #UD gate");
		memcpy(t.mem + VMT_IDT + 6 * 16, &lo, 8);
	}

	vmt_destroy(&t);
	return tap_done();
}
