/*
 * API suite: MSRs (GET/SET_MSRS, GET_MSR_INDEX_LIST) and CPUID
 * (GET_SUPPORTED_CPUID, SET/GET_CPUID2, the guest's CPUID), on the
 * emulator and on /dev/kvm.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmt.h"

#define X(v) ((unsigned long long)(v))

struct msrs1 {
	struct kvm_msrs h;
	struct kvm_msr_entry e[8];
};

static int get1(struct nv_vcpu *v, uint32_t idx, uint64_t *val)
{
	struct msrs1 m;
	memset(&m, 0, sizeof(m));
	m.h.nmsrs = 1;
	m.e[0].index = idx;
	int r = nv_get_msrs(v, &m.h);
	*val = m.e[0].data;
	return r;
}

static int set1(struct nv_vcpu *v, uint32_t idx, uint64_t val)
{
	struct msrs1 m;
	memset(&m, 0, sizeof(m));
	m.h.nmsrs = 1;
	m.e[0].index = idx;
	m.e[0].data = val;
	return nv_set_msrs(v, &m.h);
}

static void test_index_list(struct vmt *t)
{
	struct kvm_msr_list *l = calloc(1, sizeof(*l) + 4096 * sizeof(uint32_t));
	l->nmsrs = 0;
	int r = nv_get_msr_index_list(t->vm, l);
	uint32_t n = l->nmsrs;
	tap_ok(r == -E2BIG && n > 10, "GET_MSR_INDEX_LIST with room for 0: -E2BIG, nmsrs = %u", n);
	l->nmsrs = 4096;
	r = nv_get_msr_index_list(t->vm, l);
	tap_ok(r == 0 && l->nmsrs == n, "with room: 0 and the same count (%d, %u)", r, l->nmsrs);
	static const uint32_t must[] = { 0x10, 0x174, 0x175, 0x176, 0x277, 0xc0000081,
					 0xc0000082, 0xc0000084, 0xc0000102 };
	int have = 0;
	for (size_t k = 0; k < sizeof(must) / sizeof(must[0]); k++)
		for (uint32_t j = 0; j < l->nmsrs; j++)
			if (l->indices[j] == must[k])
				have++;
	tap_ok(have == (int)(sizeof(must) / sizeof(must[0])),
	       "the list has TSC, SYSENTER_*, PAT, STAR, LSTAR, SFMASK, KERNEL_GS_BASE (%d)", have);
	int unreadable = 0;
	uint32_t first_bad = 0;
	for (uint32_t j = 0; j < l->nmsrs; j++) {
		uint64_t v;
		if (get1(t->v, l->indices[j], &v) != 1) {
			if (!unreadable)
				first_bad = l->indices[j];
			unreadable++;
		}
	}
	tap_ok(unreadable == 0, "every listed MSR is readable with GET_MSRS (%d not, first %x)",
	       unreadable, first_bad);
	free(l);
}

static void test_msrs(struct vmt *t)
{
	static const struct { uint32_t idx; uint64_t val; const char *name; } rt[] = {
		{ 0x174, 0x10, "SYSENTER_CS" },
		{ 0x175, 0xffff800000123000ULL, "SYSENTER_ESP" },
		{ 0x176, 0xffff800000456000ULL, "SYSENTER_EIP" },
		{ 0xc0000081, 0x0023001000000000ULL, "STAR" },
		{ 0xc0000082, 0xffffffff81000000ULL, "LSTAR" },
		{ 0xc0000083, 0xffffffff82000000ULL, "CSTAR" },
		{ 0xc0000084, 0x47700, "SFMASK" },
		{ 0xc0000102, 0x00007f0000001000ULL, "KERNEL_GS_BASE" },
		{ 0x277, 0x0007010600070106ULL, "PAT" },
	};
	for (size_t k = 0; k < sizeof(rt) / sizeof(rt[0]); k++) {
		uint64_t v = 0;
		int s = set1(t->v, rt[k].idx, rt[k].val);
		int g = get1(t->v, rt[k].idx, &v);
		tap_ok(s == 1 && g == 1 && v == rt[k].val, "%s round-trips (set %d get %d %llx)",
		       rt[k].name, s, g, X(v));
	}
	/* several at once, stopping at the first failure */
	struct msrs1 m;
	memset(&m, 0, sizeof(m));
	m.h.nmsrs = 3;
	m.e[0].index = 0xc0000081;
	m.e[1].index = 0x4e554c4c;	/* no such MSR */
	m.e[2].index = 0xc0000082;
	tap_ok(nv_get_msrs(t->v, &m.h) == 1 && m.e[0].data == 0x0023001000000000ULL,
	       "GET_MSRS {STAR, unknown, LSTAR} processes 1");
	m.e[0].data = 0x0033002000000000ULL;
	m.e[2].data = 0x1000;
	tap_ok(nv_set_msrs(t->v, &m.h) == 1, "SET_MSRS {STAR, unknown, LSTAR} processes 1");
	uint64_t v;
	get1(t->v, 0xc0000082, &v);
	tap_ok(v == 0xffffffff81000000ULL, "LSTAR after the unknown MSR is not written (%llx)", X(v));
	m.h.nmsrs = 256;
	tap_ok(nv_get_msrs(t->v, &m.h) == -E2BIG && nv_set_msrs(t->v, &m.h) == -E2BIG,
	       "GET/SET_MSRS with nmsrs = 256: -E2BIG");

	/* invalid values the host may not set either */
	tap_ok(set1(t->v, 0xc0000082, 0x0000800000000000ULL) == 0, "non-canonical LSTAR: refused");
	int pat = set1(t->v, 0x277, 0x0000000000000002ULL);
	if (pat == 1 && t->eng == NV_ENGINE_KVM)
		tap_skip("host KVM accepts PAT memory type 2 (docs/kvm.md K7)");
	else
		tap_ok(pat == 0, "PAT with memory type 2: refused");
	tap_ok(set1(t->v, 0xc0000080, 1ULL << 20) == 0, "EFER reserved bit 20: refused");
	get1(t->v, 0xc0000082, &v);
	tap_ok(v == 0xffffffff81000000ULL, "a refused write changes nothing (%llx)", X(v));

	/* TSC: set, then it moves forward from there */
	tap_ok(set1(t->v, 0x10, 1000000000000ULL) == 1, "SET TSC = 10^12");
	get1(t->v, 0x10, &v);
	bool tsc_ok = v >= 1000000000000ULL && v < 1000000000000ULL + 1000000000000ULL;
	if (!tsc_ok && t->eng == NV_ENGINE_KVM)
		tap_skip("host KVM ignores TSC writes: TSC = %llu (docs/kvm.md K8)", X(v));
	else
		tap_ok(tsc_ok, "GET TSC continues from it (%llu)", X(v));

	/* the guest sees host writes and the host sees guest writes */
	static const uint8_t code[] = {
		0xb9, 0x82, 0x00, 0x00, 0xc0,	/* mov $0xc0000082, %ecx */
		0x0f, 0x32,			/* rdmsr */
		0x49, 0x89, 0xc0,		/* mov %rax, %r8 */
		0x49, 0x89, 0xd1,		/* mov %rdx, %r9 */
		0xb9, 0x84, 0x00, 0x00, 0xc0,	/* mov $0xc0000084, %ecx */
		0xb8, 0x00, 0x07, 0x00, 0x00,	/* mov $0x700, %eax */
		0x31, 0xd2,			/* xor %edx, %edx */
		0x0f, 0x30,			/* wrmsr */
		0xf4,
	};
	vmt_write(t, VMT_CODE, code, sizeof(code));
	struct kvm_regs r;
	memset(&r, 0, sizeof(r));
	vmt_run(t, VMT_CODE, &r);
	tap_ok(r.r8 == 0x81000000ULL && r.r9 == 0xffffffffULL, "the guest RDMSRs LSTAR (%llx:%llx)",
	       X(r.r9), X(r.r8));
	get1(t->v, 0xc0000084, &v);
	tap_ok(v == 0x700, "the host reads SFMASK the guest wrote (%llx)", X(v));

	/* x2APIC MSRs exist only in x2APIC mode */
	tap_ok(get1(t->v, 0x802, &v) == 0, "x2APIC ID MSR in xAPIC mode: not readable");
	tap_ok(set1(t->v, 0x1b, 0xfee00d00ULL) == 1, "APIC_BASE: EN | EXTD (x2APIC) | BSP");
	tap_ok(get1(t->v, 0x802, &v) == 1 && v == 0, "x2APIC ID MSR = 0 in x2APIC mode (%llx)", X(v));
	/* the guest would get #GP; the host may (kvm_set_apic_base) */
	tap_ok(set1(t->v, 0x1b, 0xfee00900ULL) == 1, "host APIC_BASE x2APIC -> xAPIC: allowed");
	tap_ok(get1(t->v, 0x802, &v) == 0, "x2APIC MSRs gone again");
}

static struct kvm_cpuid2 *cpuid_alloc(uint32_t n)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
	c->nent = n;
	return c;
}

static struct kvm_cpuid_entry2 *find(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
	for (uint32_t k = 0; k < c->nent; k++)
		if (c->entries[k].function == fn && c->entries[k].index == idx)
			return &c->entries[k];
	return NULL;
}

static void guest_cpuid(struct vmt *t, uint32_t leaf, uint32_t out[4])
{
	uint8_t code[] = { 0xb8, 0, 0, 0, 0, 0x31, 0xc9, 0x0f, 0xa2, 0xf4 };
	memcpy(code + 1, &leaf, 4);
	vmt_write(t, VMT_CODE, code, sizeof(code));
	struct kvm_regs r;
	memset(&r, 0, sizeof(r));
	vmt_run(t, VMT_CODE, &r);
	out[0] = (uint32_t)r.rax;
	out[1] = (uint32_t)r.rbx;
	out[2] = (uint32_t)r.rcx;
	out[3] = (uint32_t)r.rdx;
}

static void test_cpuid(struct vmt *t, enum nv_engine eng)
{
	struct kvm_cpuid2 *c = cpuid_alloc(1);
	int r = nv_get_supported_cpuid(t->vm, c);
	tap_ok(r == -E2BIG && c->nent == 1,
	       "GET_SUPPORTED_CPUID with room for 1: -E2BIG, nent left alone (%d, %u)", r, c->nent);
	free(c);
	c = cpuid_alloc(256);
	r = nv_get_supported_cpuid(t->vm, c);
	tap_ok(r == 0 && c->nent > 5 && find(c, 0, 0) && find(c, 1, 0),
	       "GET_SUPPORTED_CPUID: %u entries with leaves 0 and 1", c->nent);
	free(c);

	c = cpuid_alloc(256);
	nv_get_cpuid2(t->v, c);
	uint32_t n = c->nent;
	struct kvm_cpuid2 *s = cpuid_alloc(2);
	r = nv_get_cpuid2(t->v, s);
	tap_ok(r == -E2BIG && s->nent == 2, "GET_CPUID2 with room for 2: -E2BIG, nent left alone");
	free(s);
	/* a vCPU's own CPUID: brand string and a vendor-neutral leaf */
	struct kvm_cpuid_entry2 *b = find(c, 0x80000002, 0);
	tap_ok(b != NULL, "the vCPU has a brand string leaf");
	if (!b) {
		free(c);
		return;
	}
	memcpy(&b->eax, "nestvm API test brand", 16);
	tap_ok(nv_set_cpuid2(t->v, c) == 0, "SET_CPUID2 with a new brand string");
	struct kvm_cpuid2 *g = cpuid_alloc(256);
	nv_get_cpuid2(t->v, g);
	struct kvm_cpuid_entry2 *gb = find(g, 0x80000002, 0);
	tap_ok(g->nent == n && gb && memcmp(&gb->eax, "nestvm API test brand", 16) == 0,
	       "GET_CPUID2 returns it (%u entries)", g->nent);
	uint32_t out[4];
	guest_cpuid(t, 0x80000002, out);
	tap_ok(memcmp(out, "nestvm API test brand", 16) == 0, "the guest's CPUID returns it");
	/* entries the set left out read as absent: leaf 2 removed */
	struct kvm_cpuid2 *few = cpuid_alloc(256);
	few->nent = 0;
	for (uint32_t k = 0; k < g->nent; k++)
		if (g->entries[k].function != 0x80000004)
			few->entries[few->nent++] = g->entries[k];
	free(g);
	/* the vCPU has run: KVM only accepts the same CPUID again */
	r = nv_set_cpuid2(t->v, few);
	tap_ok(r == -EINVAL, "SET_CPUID2 with a different CPUID after KVM_RUN: -EINVAL (%d)", r);
	nv_get_cpuid2(t->v, c);
	r = nv_set_cpuid2(t->v, c);
	tap_ok(r == 0, "SET_CPUID2 with the same CPUID after KVM_RUN: 0 (%d)", r);
	free(few);
	free(c);
	(void)eng;
}

static void test_cpuid_limits(enum nv_engine eng)
{
	struct vmt t;
	if (vmt_init(&t, eng, 64 << 20) < 0) {
		tap_ok(false, "vmt_init");
		return;
	}
	struct kvm_cpuid2 *c = cpuid_alloc(257);
	nv_get_cpuid2(t.v, c);
	uint32_t n = c->nent;
	/* pad with leaves 0x40000100.. (unused) up to 200 entries */
	for (uint32_t k = n; k < 200; k++) {
		memset(&c->entries[k], 0, sizeof(c->entries[k]));
		c->entries[k].function = 0x40000100 + k;
		c->entries[k].eax = k;
	}
	c->nent = 200;
	tap_ok(nv_set_cpuid2(t.v, c) == 0, "SET_CPUID2 with 200 entries");
	struct kvm_cpuid2 *g = cpuid_alloc(256);
	tap_ok(nv_get_cpuid2(t.v, g) == 0 && g->nent == 200, "GET_CPUID2 returns 200 (%u)", g->nent);
	c->nent = 257;
	tap_ok(nv_set_cpuid2(t.v, c) == -E2BIG, "SET_CPUID2 with 257 entries: -E2BIG");
	free(g);
	free(c);
	vmt_destroy(&t);
}

static void suite(enum nv_engine eng)
{
	struct vmt t;
	if (vmt_init(&t, eng, 64 << 20) < 0) {
		tap_ok(false, "vmt_init");
		return;
	}
	test_index_list(&t);
	test_msrs(&t);
	vmt_destroy(&t);
	if (vmt_init(&t, eng, 64 << 20) < 0) {
		tap_ok(false, "vmt_init");
		return;
	}
	test_cpuid(&t, eng);
	vmt_destroy(&t);
	test_cpuid_limits(eng);
}

int main(void)
{
	vmt_each_engine(suite);
	return tap_done();
}
