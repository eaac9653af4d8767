/*
 * The strict-SDM selector (NV_CAP_STRICT_SDM, -machine strict=on): where
 * the SDM and KVM differ, the default follows KVM and strict mode the SDM
 * (event spec: "KVM-compatible mode" / "strict mode").
 *
 *  - An exception while delivering #DF: KVM shuts down on any; the SDM
 *    (Table 6-5) only on a contributory exception or a page fault, a benign
 *    one being handled serially.  No instruction raises a benign exception
 *    during a delivery, so this drives the event model directly.
 *  - SET_REGS after SET_VCPU_EVENTS restored a pending exception: KVM drops
 *    it (spec T18), strict mode keeps it (spec U10).
 *  - The capability: reported, 0/1 only, absent on the /dev/kvm engine.
 */
#include <errno.h>
#include <string.h>

#include "vmt.h"
#include "accel/accel.h"
#include "cpu/cpu.h"

static void enable(struct vmt *t, uint32_t cap, uint64_t arg)
{
	struct kvm_enable_cap c = { .cap = cap, .args = { arg } };
	nv_enable_cap(t->vm, &c);
}

static struct cpu *cpu_of(struct vmt *t)
{
	return t->v->impl;
}

/* #DF being delivered (injected), then a second exception is raised */
static bool df_then(struct vmt *t, int vec, bool has_ec)
{
	struct kvm_vcpu_events e;
	nv_get_vcpu_events(t->v, &e);
	e.exception.injected = 1;
	e.exception.pending = 0;
	e.exception.nr = 8;
	e.exception.has_error_code = 1;
	e.exception.error_code = 0;
	e.flags = 0;
	if (nv_set_vcpu_events(t->v, &e) < 0)
		return false;
	evt_queue_exception(cpu_of(t), vec, has_ec, 0, false, 0);
	return true;
}

static void test_df(bool strict)
{
	const char *mode = strict ? "strict" : "KVM-compatible";
	struct vmt t;
	if (vmt_init(&t, NV_ENGINE_EMU, 16 << 20) < 0) {
		tap_ok(false, "vmt_init");
		return;
	}
	if (strict)
		enable(&t, NV_CAP_STRICT_SDM, 1);
	/* benign (#UD) while delivering #DF */
	tap_ok(df_then(&t, 6, false), "%s: #DF injected", mode);
	struct cpu *c = cpu_of(&t);
	if (strict)
		tap_ok(!c->evt.triple_fault && c->evt.exc.pending && c->evt.exc.vector == 6,
		       "%s: #UD while delivering #DF is handled serially (#UD pending, no shutdown)",
		       mode);
	else
		tap_ok(c->evt.triple_fault && !c->evt.exc.pending && !c->evt.exc.injected,
		       "%s: #UD while delivering #DF shuts down (as KVM)", mode);

	/* contributory (#GP) and page fault while delivering #DF: shutdown in both */
	memset(&c->evt, 0, sizeof(c->evt));
	df_then(&t, 13, true);
	tap_ok(c->evt.triple_fault, "%s: #GP while delivering #DF shuts down", mode);
	memset(&c->evt, 0, sizeof(c->evt));
	df_then(&t, 14, true);
	tap_ok(c->evt.triple_fault, "%s: #PF while delivering #DF shuts down", mode);
	vmt_destroy(&t);
}

static void test_set_regs(bool strict)
{
	const char *mode = strict ? "strict" : "KVM-compatible";
	struct vmt t;
	if (vmt_init(&t, NV_ENGINE_EMU, 16 << 20) < 0) {
		tap_ok(false, "vmt_init");
		return;
	}
	enable(&t, KVM_CAP_EXCEPTION_PAYLOAD, 1);
	if (strict)
		enable(&t, NV_CAP_STRICT_SDM, 1);
	struct kvm_vcpu_events e, ev;
	nv_get_vcpu_events(t.v, &e);
	e.flags = KVM_VCPUEVENT_VALID_PAYLOAD;
	e.exception.pending = 1;
	e.exception.nr = 13;
	e.exception.has_error_code = 1;
	nv_set_vcpu_events(t.v, &e);
	struct kvm_regs r;
	nv_get_regs(t.v, &r);
	nv_set_regs(t.v, &r);
	nv_get_vcpu_events(t.v, &ev);
	if (strict)
		tap_ok(ev.exception.pending && ev.exception.nr == 13,
		       "%s: SET_REGS keeps the #GP restored by SET_VCPU_EVENTS (spec U10)", mode);
	else
		tap_ok(!ev.exception.pending, "%s: SET_REGS drops the pending #GP (spec T18)", mode);
	vmt_destroy(&t);
}

int main(void)
{
	struct vmt t;
	if (vmt_init(&t, NV_ENGINE_EMU, 16 << 20) == 0) {
		tap_ok(nv_check_extension(t.vm, NV_CAP_STRICT_SDM) == 1,
		       "the emulator reports NV_CAP_STRICT_SDM");
		struct kvm_enable_cap c = { .cap = NV_CAP_STRICT_SDM, .args = { 2 } };
		tap_ok(nv_enable_cap(t.vm, &c) == -EINVAL, "strict mode takes 0 or 1 (2: -EINVAL)");
		c.args[0] = 1;
		tap_ok(nv_enable_cap(t.vm, &c) == 0, "strict mode on");
		c.args[0] = 0;
		tap_ok(nv_enable_cap(t.vm, &c) == 0, "and off again");
		vmt_destroy(&t);
	}
	test_df(false);
	test_df(true);
	test_set_regs(false);
	test_set_regs(true);
	if (vmt_init(&t, NV_ENGINE_KVM, 16 << 20) == 0) {
		struct kvm_enable_cap c = { .cap = NV_CAP_STRICT_SDM, .args = { 1 } };
		tap_ok(nv_check_extension(t.vm, NV_CAP_STRICT_SDM) == 0 &&
		       nv_enable_cap(t.vm, &c) == -EINVAL,
		       "the /dev/kvm engine has no strict mode (not reported, -EINVAL)");
		vmt_destroy(&t);
	} else {
		tap_skip("no usable /dev/kvm here");
	}
	return tap_done();
}
