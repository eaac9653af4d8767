/*
 * RDRAND / RDSEED are deterministic: the same code in a fresh VM gives the
 * same values, and one VM's draws do not disturb another's sequence.
 */
#include <string.h>

#include "vmt.h"

/* rdrand %rax; rdrand %rbx; rdseed %rcx; rdrand %edx; hlt */
static const uint8_t code[] = {
	0x48, 0x0f, 0xc7, 0xf0, 0x48, 0x0f, 0xc7, 0xf3, 0x48, 0x0f, 0xc7, 0xf9,
	0x0f, 0xc7, 0xf2, 0xf4,
};

static int draw(struct vmt *t, uint64_t v[4])
{
	struct kvm_regs r;
	memset(&r, 0, sizeof(r));
	vmt_write(t, VMT_CODE, code, sizeof(code));
	if (vmt_run(t, VMT_CODE, &r) != KVM_EXIT_HLT)
		return -1;
	v[0] = r.rax;
	v[1] = r.rbx;
	v[2] = r.rcx;
	v[3] = r.rdx;
	return 0;
}

int main(void)
{
	struct vmt a, b;
	uint64_t x[4], y[4], z[4], w[4];

	if (vmt_init(&a, NV_ENGINE_EMU, 16 << 20) < 0) {
		tap_skip_all("cannot create a VM");
		return 0;
	}
	tap_ok(draw(&a, x) == 0, "first VM ran RDRAND/RDSEED to HLT");
	tap_ok(x[0] != x[1] && x[1] != x[2], "values differ within a VM");
	tap_ok(x[3] >> 32 == 0, "RDRAND r32 zero-extends");
	tap_ok(draw(&a, z) == 0 && memcmp(x, z, sizeof(x)), "the sequence advances");
	vmt_destroy(&a);

	if (vmt_init(&a, NV_ENGINE_EMU, 16 << 20) < 0 || vmt_init(&b, NV_ENGINE_EMU, 16 << 20) < 0) {
		tap_ok(false, "second and third VM");
		return tap_done();
	}
	tap_ok(draw(&a, y) == 0 && !memcmp(x, y, sizeof(x)), "a fresh VM draws the same values");
	tap_ok(draw(&b, w) == 0 && !memcmp(x, w, sizeof(x)), "another VM's draws do not disturb it");
	vmt_destroy(&a);
	vmt_destroy(&b);
	return tap_done();
}
