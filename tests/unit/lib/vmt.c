/* Host-side test kit (vmt.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "vmt.h"

static int tap_n, tap_fail;
static char tap_pfx[32];
const char *vmt_cpu_model;

void tap_ok(bool ok, const char *fmt, ...)
{
	va_list ap;
	tap_n++;
	if (!ok)
		tap_fail++;
	printf("%sok %d - %s", ok ? "" : "not ", tap_n, tap_pfx);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

void tap_skip(const char *fmt, ...)
{
	va_list ap;
	tap_n++;
	printf("ok %d # SKIP %s", tap_n, tap_pfx);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

void tap_diag(const char *fmt, ...)
{
	va_list ap;
	printf("# %s", tap_pfx);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

void tap_prefix(const char *p)
{
	snprintf(tap_pfx, sizeof(tap_pfx), "%s", p ? p : "");
}

void tap_skip_all(const char *why)
{
	printf("1..0 # SKIP %s\n", why);
	fflush(stdout);
}

int tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_fail ? 1 : 0;
}

bool kvm_available(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

const char *vmt_engine_name(enum nv_engine eng)
{
	return eng == NV_ENGINE_KVM ? "kvm" : "emu";
}

bool vmt_kvm_usable(char *why, size_t len)
{
	int err;
	struct nv_vm *vm = nv_create_vm(NV_ENGINE_KVM, &err);
	if (!vm) {
		snprintf(why, len, "%s", nv_last_error()[0] ? nv_last_error() : strerror(-err));
		return false;
	}
	nv_destroy_vm(vm);
	return true;
}

void vmt_each_engine(void (*suite)(enum nv_engine eng))
{
	char why[256];
	tap_prefix("emu: ");
	suite(NV_ENGINE_EMU);
	tap_prefix("kvm: ");
	if (vmt_kvm_usable(why, sizeof(why)))
		suite(NV_ENGINE_KVM);
	else
		tap_skip("/dev/kvm engine not tested: %s", why);
	tap_prefix("");
}

/* ---- kicks: a periodic SIGALRM ends a KVM_RUN that would block ------------ */

static struct kvm_run *volatile kick_run;

static void kick_handler(int sig)
{
	struct kvm_run *r = kick_run;
	(void)sig;
	if (r)
		r->immediate_exit = 1;
}

void vmt_kick(struct kvm_run *run, unsigned int usec)
{
	static bool installed;
	if (!installed) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = kick_handler;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGALRM, &sa, NULL);	/* no SA_RESTART: KVM_RUN returns -EINTR */
		installed = true;
	}
	kick_run = usec ? run : NULL;
	struct itimerval it;
	memset(&it, 0, sizeof(it));
	it.it_value.tv_usec = usec;
	it.it_interval.tv_usec = usec;
	setitimer(ITIMER_REAL, &it, NULL);
}

int vmt_nv_run(struct vmt *t)
{
	if (t->eng != NV_ENGINE_KVM)
		return nv_run(t->v);
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		vmt_kick(t->run, VMT_KICK_US);
		int r = nv_run(t->v);
		vmt_kick(NULL, 0);
		t->run->immediate_exit = 0;
		if (r == -EAGAIN)
			continue;	/* KVM: a waiting vCPU took INIT / SIPI: run again */
		if (r != -EINTR)
			return r;
		/* a kick: report it only for a vCPU that waits in the kernel */
		struct kvm_mp_state mp;
		if (nv_get_mp_state(t->v, &mp) == 0 && mp.mp_state != KVM_MP_STATE_RUNNABLE)
			return r;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec > 20)
			return r;
	}
}

void *vmt_ptr(struct vmt *t, uint64_t gpa)
{
	return t->mem + gpa;
}

void vmt_write(struct vmt *t, uint64_t gpa, const void *p, size_t n)
{
	memcpy(t->mem + gpa, p, n);
}

static void put64(struct vmt *t, uint64_t gpa, uint64_t v)
{
	memcpy(t->mem + gpa, &v, 8);
}

int vmt_init_mode(struct vmt *t, enum nv_engine eng, uint64_t size, int mode)
{
	int err;
	memset(t, 0, sizeof(*t));
	t->eng = eng;
	t->size = size;
	t->vm = nv_create_vm(eng, &err);
	if (!t->vm) {
		fprintf(stderr, "vmt: cannot create VM: %s (%s)\n", strerror(-err), nv_last_error());
		return -1;
	}
	if (vmt_cpu_model && nv_set_cpu_model(t->vm, vmt_cpu_model) < 0) {
		fprintf(stderr, "vmt: cannot set CPU model %s (%s)\n", vmt_cpu_model, nv_last_error());
		return -1;
	}
	t->mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (t->mem == MAP_FAILED)
		return -1;
	struct kvm_userspace_memory_region r = {
		.slot = 0, .guest_phys_addr = 0, .memory_size = size,
		.userspace_addr = (uintptr_t)t->mem,
	};
	if (nv_set_user_memory_region(t->vm, &r) < 0) {
		fprintf(stderr, "vmt: cannot map memory\n");
		return -1;
	}
	t->v = nv_create_vcpu(t->vm, 0, &err);
	if (!t->v) {
		fprintf(stderr, "vmt: cannot create vCPU: %s\n", strerror(-err));
		return -1;
	}
	t->run = nv_vcpu_run_page(t->v);

	/* GDT: null, code64 0x08, data 0x10, code32 0x18, code16 0x20, data16 0x28 */
	put64(t, VMT_GDT + 0x00, 0);
	put64(t, VMT_GDT + 0x08, 0x00af9b000000ffffULL);
	put64(t, VMT_GDT + 0x10, 0x00cf93000000ffffULL);
	put64(t, VMT_GDT + 0x18, 0x00cf9b000000ffffULL);
	put64(t, VMT_GDT + 0x20, 0x00009b000000ffffULL);
	put64(t, VMT_GDT + 0x28, 0x000093000000ffffULL);
	/* page tables at 0x1000 (PML4), 0x2000 (PDPT), 0x3000 (PD, 1 GiB of 2 MiB pages) */
	put64(t, 0x1000, 0x2003);
	put64(t, 0x2000, 0x3003);
	for (uint64_t k = 0; k < 512; k++)
		put64(t, 0x3000 + k * 8, (k << 21) | 0x83);
	/* 3-4 GiB too, uncached (local APIC at 0xfee00000): PD at 0x5000 */
	put64(t, 0x2000 + 3 * 8, 0x5003);
	for (uint64_t k = 0; k < 512; k++)
		put64(t, 0x5000 + k * 8, (0xc0000000ULL + (k << 21)) | 0x9b);
	/* exception stubs: movl $(v+1), VMT_EXC_VEC; hlt */
	for (int v = 0; v < 256; v++) {
		uint8_t *s = t->mem + VMT_STUBS + v * 16;
		uint32_t val = (uint32_t)v + 1;
		s[0] = 0xc7; s[1] = 0x04; s[2] = 0x25;
		uint32_t a = (uint32_t)VMT_EXC_VEC;
		memcpy(s + 3, &a, 4);
		memcpy(s + 7, &val, 4);
		s[11] = 0xf4;
		s[12] = 0xeb; s[13] = 0xfd;	/* jmp back to hlt */
		uint64_t h = VMT_STUBS + v * 16;
		uint64_t lo = (h & 0xffff) | (0x08ULL << 16) | (0x8eULL << 40) | ((h >> 16 & 0xffff) << 48);
		if (mode == 64) {
			put64(t, VMT_IDT + v * 16, lo);
			put64(t, VMT_IDT + v * 16 + 8, h >> 32);
		} else {
			/* 32-bit interrupt gates to the 32-bit code segment */
			lo = (h & 0xffff) | (0x18ULL << 16) | (0x8eULL << 40) | ((h >> 16 & 0xffff) << 48);
			put64(t, VMT_IDT + v * 8, lo);
		}
	}
	struct kvm_sregs s;
	nv_get_sregs(t->v, &s);
	struct kvm_segment cs = { .base = 0, .limit = 0xffffffff, .selector = 0x08, .type = 0xb,
				  .present = 1, .dpl = 0, .db = 0, .s = 1, .l = 1, .g = 1 };
	struct kvm_segment ds = { .base = 0, .limit = 0xffffffff, .selector = 0x10, .type = 0x3,
				  .present = 1, .dpl = 0, .db = 1, .s = 1, .l = 0, .g = 1 };
	if (mode == 32 || mode == 16) {
		/* CS.L outside long mode is refused (as KVM's SET_SREGS) */
		cs.selector = 0x18;
		cs.l = 0;
		cs.db = mode == 32;
	}
	s.cs = cs;
	s.ds = s.es = s.fs = s.gs = s.ss = ds;
	s.tr = (struct kvm_segment){ .base = 0, .limit = 0x67, .selector = 0, .type = 0xb,
				     .present = 1, .s = 0 };
	s.ldt = (struct kvm_segment){ .limit = 0xffff, .type = 2, .present = 1 };
	s.gdt.base = VMT_GDT;
	s.gdt.limit = 0x2f;
	s.idt.base = VMT_IDT;
	s.idt.limit = mode == 64 ? 256 * 16 - 1 : 256 * 8 - 1;
	if (mode == 64) {
		s.cr0 = 0x80050033ULL;	/* PG WP AM NE ET MP PE */
		s.cr0 &= ~(1ULL << 18);
		s.cr3 = 0x1000;
		s.cr4 = 0x620;		/* PAE OSFXSR OSXMMEXCPT */
		s.efer = 0x500;		/* LME LMA */
	} else {
		s.cr0 = 0x33;		/* PE MP ET NE */
		s.cr3 = 0;
		s.cr4 = 0x600;
		s.efer = 0;
	}
	if (nv_set_sregs(t->v, &s) < 0) {
		fprintf(stderr, "vmt: cannot set special registers\n");
		return -1;
	}
	return 0;
}

int vmt_init(struct vmt *t, enum nv_engine eng, uint64_t size)
{
	return vmt_init_mode(t, eng, size, 64);
}

void vmt_destroy(struct vmt *t)
{
	if (t->vm)
		nv_destroy_vm(t->vm);
	if (t->mem && t->mem != MAP_FAILED)
		munmap(t->mem, t->size);
	memset(t, 0, sizeof(*t));
}

int vmt_run(struct vmt *t, uint64_t rip, struct kvm_regs *r)
{
	uint32_t zero = 0;
	vmt_write(t, VMT_EXC_VEC, &zero, 4);
	r->rip = rip;
	if (!r->rsp)
		r->rsp = VMT_STACK;
	r->rflags |= 2;
	if (nv_set_regs(t->v, r) < 0)
		return -1;
	/* a previous run ended in HLT: the vCPU is runnable again */
	struct kvm_mp_state mp = { KVM_MP_STATE_RUNNABLE };
	nv_set_mp_state(t->v, &mp);
	return vmt_run_continue(t, r);
}

int vmt_run_continue(struct vmt *t, struct kvm_regs *r)
{
	struct kvm_mp_state mp;
	t->hlt_in_kernel = false;
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int guard = 0; guard < 1000000; guard++) {
		int ret = vmt_nv_run(t);
		if (ret < 0 && ret != -EINTR)
			return -1;
		int why = t->run->exit_reason;
		if (ret == -EINTR && t->eng == NV_ENGINE_KVM) {
			/*
			 * The in-kernel LAPIC blocks a halted vCPU instead of
			 * exiting with KVM_EXIT_HLT: a kick that finds it
			 * halted ends the run as HLT would on the emulator.
			 */
			nv_get_mp_state(t->v, &mp);
			if (mp.mp_state == KVM_MP_STATE_HALTED) {
				t->hlt_in_kernel = true;
				why = KVM_EXIT_HLT;
			} else {
				clock_gettime(CLOCK_MONOTONIC, &now);
				if (now.tv_sec - t0.tv_sec > 20)
					return -1;
				continue;
			}
		}
		if (why == KVM_EXIT_IO) {
			/* writes to 0xe9 are kept, others dropped; reads see zeros */
			uint8_t *d = (uint8_t *)t->run + t->run->io.data_offset;
			size_t n = (size_t)t->run->io.size * t->run->io.count;
			if (t->run->io.direction == KVM_EXIT_IO_OUT) {
				if (t->run->io.port == 0xe9)
					for (size_t k = 0; k < n; k += t->run->io.size)
						if (t->nout < sizeof(t->out) - 1)
							t->out[t->nout++] = (char)d[k];
			} else {
				memset(d, 0, n);
			}
			continue;
		}
		nv_get_regs(t->v, r);
		return why;
	}
	return -1;
}

int vmt_exception(struct vmt *t)
{
	uint32_t v;
	memcpy(&v, t->mem + VMT_EXC_VEC, 4);
	return (int)v - 1;
}

static bool has_ec(int v)
{
	return v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21;
}

uint64_t vmt_exc_errcode(struct vmt *t, const struct kvm_regs *r)
{
	int v = vmt_exception(t);
	if (v < 0 || !has_ec(v))
		return 0;
	uint64_t e;
	memcpy(&e, t->mem + r->rsp, 8);
	return e;
}

uint64_t vmt_exc_rip(struct vmt *t, const struct kvm_regs *r)
{
	int v = vmt_exception(t);
	if (v < 0)
		return 0;
	uint64_t ip;
	memcpy(&ip, t->mem + r->rsp + (has_ec(v) ? 8 : 0), 8);
	return ip;
}
