/* The vCPU API runs 64-bit code and reports exceptions (emulator engine). */
#include <string.h>

#include "vmt.h"

int main(void)
{
	struct vmt t;
	if (vmt_init(&t, NV_ENGINE_EMU, 64 << 20) < 0) {
		tap_skip_all("cannot create a VM");
		return 0;
	}
	/* mov $42, %eax; add %eax, %eax; hlt */
	static const uint8_t code[] = { 0xb8, 42, 0, 0, 0, 0x01, 0xc0, 0xf4 };
	vmt_write(&t, VMT_CODE, code, sizeof(code));
	struct kvm_regs r;
	memset(&r, 0, sizeof(r));
	int why = vmt_run(&t, VMT_CODE, &r);
	tap_ok(why == KVM_EXIT_HLT, "run ends at HLT (exit %d)", why);
	tap_ok(r.rax == 84, "rax = 84 (got %llu)", (unsigned long long)r.rax);
	tap_ok(vmt_exception(&t) == -1, "no exception");
	/* ud2 -> #UD through the IDT */
	static const uint8_t ud[] = { 0x0f, 0x0b };
	vmt_write(&t, VMT_CODE, ud, sizeof(ud));
	memset(&r, 0, sizeof(r));
	why = vmt_run(&t, VMT_CODE, &r);
	tap_ok(vmt_exception(&t) == 6, "ud2 raises #UD (vector %d)", vmt_exception(&t));
	tap_ok(vmt_exc_rip(&t, &r) == VMT_CODE, "#UD saved RIP is the UD2");
	vmt_destroy(&t);
	return tap_done();
}
