/*
 * libFuzzer target for the decoder and everything an instruction reaches:
 * the input's bytes run as code at CPL 0 in a 64-, 32- or 16-bit guest
 * (vCPU API), placed at the end of a page followed by a non-present page,
 * across two present pages, or in the middle of a page.  Nothing may
 * crash, trip a sanitizer or hang (a budget bounds every run).
 *
 * Input: byte 0 selects the mode (% 3) and the placement; the rest (up to
 * 64 bytes) is the code.  Build and run: make fuzz [FUZZ_TIME=seconds].
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmt.h"

#define GB 0x210000ULL			/* first non-present byte */
#define LOW_SIZE 0x20000

static struct vmt g[3];
static struct kvm_sregs sregs0[3];
static uint8_t *low0[3];

static void put64(struct vmt *t, uint64_t a, uint64_t v) { memcpy(vmt_ptr(t, a), &v, 8); }
static void put32(struct vmt *t, uint64_t a, uint32_t v) { memcpy(vmt_ptr(t, a), &v, 4); }

static void setup(int mi)
{
	int mode = mi == 0 ? 64 : mi == 1 ? 32 : 16;
	struct vmt *t = &g[mi];
	if (vmt_init_mode(t, NV_ENGINE_EMU, 16 << 20, mode) < 0)
		abort();
	struct kvm_sregs sr;
	nv_get_sregs(t->v, &sr);
	if (mode == 64) {
		for (uint64_t k = 0; k < 512; k++) {
			uint64_t pa = 0x200000 + k * 0x1000;
			put64(t, 0xa000 + k * 8, pa < GB ? pa | 3 : 0);
		}
		put64(t, 0x3000 + 8, 0xa000 | 3);
		put64(t, 0x24, 0x9f000);	/* IST1 for every vector */
		for (int v = 0; v < 256; v++)
			*(uint8_t *)vmt_ptr(t, VMT_IDT + v * 16 + 4) = 1;
		sr.efer |= 1ULL << 11;
	} else {
		put32(t, 0xb000, 0xc000 | 3);
		for (uint64_t k = 0; k < 1024; k++) {
			uint64_t pa = k * 0x1000;
			put32(t, 0xc000 + k * 4, pa >= GB && pa < GB + 0x10000 ? 0 : (uint32_t)(pa | 3));
		}
		sr.cr3 = 0xb000;
		sr.cr0 |= 0x80000000ULL;
	}
	if (nv_set_sregs(t->v, &sr) < 0)
		abort();
	nv_get_sregs(t->v, &sregs0[mi]);
	low0[mi] = malloc(LOW_SIZE);
	memcpy(low0[mi], vmt_ptr(t, 0), LOW_SIZE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	if (!ready) {
		for (int mi = 0; mi < 3; mi++)
			setup(mi);
		ready = true;
	}
	if (size < 2)
		return 0;
	int mi = data[0] % 3, place = data[0] / 3;
	const uint8_t *code = data + 1;
	size_t n = size - 1 > 64 ? 64 : size - 1;
	struct vmt *t = &g[mi];

	memcpy(vmt_ptr(t, 0), low0[mi], LOW_SIZE);
	nv_set_sregs(t->v, &sregs0[mi]);
	struct kvm_debugregs dr;
	memset(&dr, 0, sizeof(dr));
	dr.dr6 = 0xffff0ff0;
	dr.dr7 = 0x400;
	nv_set_debugregs(t->v, &dr);
	struct kvm_vcpu_events ev;
	memset(&ev, 0, sizeof(ev));
	nv_set_vcpu_events(t->v, &ev);

	/* end at the non-present page, across two present pages, or inside one */
	uint64_t at;
	switch (place % 3) {
	case 0: at = GB - n + (place / 3) % 4; break;	/* may run into the hole */
	case 1: at = GB - 0x1000 - n / 2; break;
	default: at = GB - 0x800; break;
	}
	memset(vmt_ptr(t, GB - 0x2000), 0x90, 0x2000);
	for (size_t k = 0; k < n; k++)
		if (at + k < GB)
			*(uint8_t *)vmt_ptr(t, at + k) = code[k];
	struct kvm_regs r;
	memset(&r, 0, sizeof(r));
	r.rax = r.rbx = r.rdx = r.rsi = r.rdi = r.rbp = 0x208000;
	r.r8 = r.r9 = r.r10 = r.r11 = r.r12 = r.r13 = r.r14 = r.r15 = 0x208000;
	r.rcx = 3;
	r.rsp = 0x208000;
	r.rip = at;
	r.rflags = 2;
	if (mi == 2) {
		/* 16-bit: IP is 16 bits; run from a low page instead */
		r.rip = 0x8000 - n;
		memcpy(vmt_ptr(t, r.rip), code, n);
	}
	nv_set_regs(t->v, &r);
	struct kvm_mp_state mp = { KVM_MP_STATE_RUNNABLE };
	nv_set_mp_state(t->v, &mp);
	nv_set_budget(t->v, 500);
	for (int k = 0; k < 32; k++) {
		int ret = nv_run(t->v);
		int why = t->run->exit_reason;
		if (ret < 0 && ret != -4 /* -EINTR */)
			break;
		if (why != KVM_EXIT_IO && why != KVM_EXIT_MMIO)
			break;
	}
	nv_set_budget(t->v, 0);
	return 0;
}
