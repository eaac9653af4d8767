// SPDX-License-Identifier: MIT
/*
 * CPU models and CPUID (SDM Vol. 2 CPUID; AMD APM Vol. 3 appendix E).
 *
 * Two base models, one per vendor, with QEMU-style "+feature,-feature"
 * modifiers.  Only features the emulator implements can be turned on.
 * A few bits are dynamic (OSXSAVE, OSPKE, APIC ID, APIC enable).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cpu.h"
#include "lapic.h"

enum { EAX, EBX, ECX, EDX };

struct featdef {
	const char *name;
	uint32_t fn, idx;
	int reg, bit;
	int feat;		/* FEAT_* or -1 */
	bool avail;		/* implemented: may be enabled */
};

static const struct featdef feats[] = {
	{ "fpu", 1, 0, EDX, 0, -1, true }, { "vme", 1, 0, EDX, 1, -1, true },
	{ "de", 1, 0, EDX, 2, -1, true }, { "pse", 1, 0, EDX, 3, -1, true },
	{ "tsc", 1, 0, EDX, 4, -1, true }, { "msr", 1, 0, EDX, 5, -1, true },
	{ "pae", 1, 0, EDX, 6, -1, true }, { "mce", 1, 0, EDX, 7, -1, true },
	{ "cx8", 1, 0, EDX, 8, -1, true }, { "apic", 1, 0, EDX, 9, -1, true },
	{ "sep", 1, 0, EDX, 11, FEAT_SEP, true }, { "mtrr", 1, 0, EDX, 12, -1, true },
	{ "pge", 1, 0, EDX, 13, -1, true }, { "mca", 1, 0, EDX, 14, -1, true },
	{ "cmov", 1, 0, EDX, 15, -1, true }, { "pat", 1, 0, EDX, 16, FEAT_PAT, true },
	{ "pse36", 1, 0, EDX, 17, -1, true }, { "clflush", 1, 0, EDX, 19, -1, true },
	{ "mmx", 1, 0, EDX, 23, -1, true }, { "fxsr", 1, 0, EDX, 24, -1, true },
	{ "sse", 1, 0, EDX, 25, -1, true }, { "sse2", 1, 0, EDX, 26, -1, true },
	{ "pni", 1, 0, ECX, 0, FEAT_SSE3, true }, { "sse3", 1, 0, ECX, 0, FEAT_SSE3, true },
	{ "pclmulqdq", 1, 0, ECX, 1, FEAT_PCLMUL, true },
	{ "monitor", 1, 0, ECX, 3, FEAT_MONITOR, true },
	{ "vmx", 1, 0, ECX, 5, FEAT_VMX, false },
	{ "ssse3", 1, 0, ECX, 9, FEAT_SSSE3, true },
	{ "fma", 1, 0, ECX, 12, FEAT_FMA, false },
	{ "cx16", 1, 0, ECX, 13, FEAT_CX16, true },
	{ "pdcm", 1, 0, ECX, 15, -1, true },
	{ "pcid", 1, 0, ECX, 17, FEAT_PCID, true },
	{ "sse4.1", 1, 0, ECX, 19, FEAT_SSE41, true }, { "sse4_1", 1, 0, ECX, 19, FEAT_SSE41, true },
	{ "sse4.2", 1, 0, ECX, 20, FEAT_SSE42, true }, { "sse4_2", 1, 0, ECX, 20, FEAT_SSE42, true },
	{ "x2apic", 1, 0, ECX, 21, FEAT_X2APIC, true },
	{ "movbe", 1, 0, ECX, 22, FEAT_MOVBE, true },
	{ "popcnt", 1, 0, ECX, 23, FEAT_POPCNT, true },
	{ "tsc-deadline", 1, 0, ECX, 24, FEAT_TSC_DEADLINE, true },
	{ "aes", 1, 0, ECX, 25, FEAT_AES, true },
	{ "xsave", 1, 0, ECX, 26, FEAT_XSAVE, true },
	{ "avx", 1, 0, ECX, 28, FEAT_AVX, false },
	{ "f16c", 1, 0, ECX, 29, FEAT_F16C, false },
	{ "rdrand", 1, 0, ECX, 30, FEAT_RDRAND, true },
	{ "hypervisor", 1, 0, ECX, 31, -1, true },
	{ "fsgsbase", 7, 0, EBX, 0, FEAT_FSGSBASE, true },
	{ "tsc-adjust", 7, 0, EBX, 1, FEAT_TSC_ADJUST, true },
	{ "bmi1", 7, 0, EBX, 3, FEAT_BMI1, true },
	{ "hle", 7, 0, EBX, 4, FEAT_HLE, false },
	{ "avx2", 7, 0, EBX, 5, FEAT_AVX2, false },
	{ "smep", 7, 0, EBX, 7, FEAT_SMEP, true },
	{ "bmi2", 7, 0, EBX, 8, FEAT_BMI2, true },
	{ "erms", 7, 0, EBX, 9, FEAT_ERMS, true },
	{ "invpcid", 7, 0, EBX, 10, FEAT_INVPCID, true },
	{ "rtm", 7, 0, EBX, 11, FEAT_RTM, false },
	{ "rdseed", 7, 0, EBX, 18, FEAT_RDSEED, true },
	{ "adx", 7, 0, EBX, 19, FEAT_ADX, true },
	{ "smap", 7, 0, EBX, 20, FEAT_SMAP, true },
	{ "clflushopt", 7, 0, EBX, 23, FEAT_CLFLUSHOPT, true },
	{ "clwb", 7, 0, EBX, 24, FEAT_CLWB, true },
	{ "sha-ni", 7, 0, EBX, 29, FEAT_SHA, false },
	{ "umip", 7, 0, ECX, 2, FEAT_UMIP, true },
	{ "pku", 7, 0, ECX, 3, FEAT_PKU, true },
	{ "la57", 7, 0, ECX, 16, FEAT_LA57, true },
	{ "rdpid", 7, 0, ECX, 22, FEAT_RDPID, true },
	{ "fsrm", 7, 0, EDX, 4, FEAT_FSRM, true },
	{ "arat", 6, 0, EAX, 2, FEAT_ARAT, true },
	{ "xsaveopt", 0xd, 1, EAX, 0, FEAT_XSAVEOPT, true },
	{ "xsavec", 0xd, 1, EAX, 1, FEAT_XSAVEC, true },
	{ "xgetbv1", 0xd, 1, EAX, 2, FEAT_XGETBV1, true },
	{ "xsaves", 0xd, 1, EAX, 3, FEAT_XSAVES, true },
	{ "lahf-lm", 0x80000001, 0, ECX, 0, FEAT_LAHF64, true },
	{ "lahf_lm", 0x80000001, 0, ECX, 0, FEAT_LAHF64, true },
	{ "svm", 0x80000001, 0, ECX, 2, FEAT_SVM, false },
	{ "cr8legacy", 0x80000001, 0, ECX, 4, -1, true },
	{ "abm", 0x80000001, 0, ECX, 5, FEAT_LZCNT, true },
	{ "lzcnt", 0x80000001, 0, ECX, 5, FEAT_LZCNT, true },
	{ "sse4a", 0x80000001, 0, ECX, 6, FEAT_SSE4A, true },
	{ "misalignsse", 0x80000001, 0, ECX, 7, FEAT_MISALIGNSSE, true },
	{ "3dnowprefetch", 0x80000001, 0, ECX, 8, FEAT_PREFETCHW, true },
	{ "perfctr-core", 0x80000001, 0, ECX, 23, -1, true },
	{ "syscall", 0x80000001, 0, EDX, 11, FEAT_SYSCALL, true },
	{ "nx", 0x80000001, 0, EDX, 20, FEAT_NX, true },
	{ "mmxext", 0x80000001, 0, EDX, 22, -1, true },
	{ "fxsr-opt", 0x80000001, 0, EDX, 25, -1, true },
	{ "pdpe1gb", 0x80000001, 0, EDX, 26, FEAT_PDPE1GB, true },
	{ "rdtscp", 0x80000001, 0, EDX, 27, FEAT_RDTSCP, true },
	{ "lm", 0x80000001, 0, EDX, 29, FEAT_LM, true },
	{ "clzero", 0x80000008, 0, EBX, 0, FEAT_CLZERO, true },
};

static struct cpuid_ent *ent_get(struct cpu_model *m, uint32_t fn, uint32_t idx, bool create)
{
	for (int k = 0; k < m->nent; k++)
		if (m->ent[k].fn == fn && m->ent[k].idx == idx)
			return &m->ent[k];
	if (!create || m->nent >= CPUID_MAX_ENT)
		return NULL;
	struct cpuid_ent *e = &m->ent[m->nent++];
	memset(e, 0, sizeof(*e));
	e->fn = fn;
	e->idx = idx;
	if (fn == 4 || fn == 7 || fn == 0xb || fn == 0xd || fn == 0x1f || fn == 0x8000001d)
		e->flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
	return e;
}

static void set(struct cpu_model *m, uint32_t fn, uint32_t idx, uint32_t a, uint32_t b,
		uint32_t c, uint32_t d)
{
	struct cpuid_ent *e = ent_get(m, fn, idx, true);
	e->eax = a;
	e->ebx = b;
	e->ecx = c;
	e->edx = d;
}

static uint32_t str4(const char *s)
{
	return (uint32_t)(uint8_t)s[0] | (uint32_t)(uint8_t)s[1] << 8 |
	       (uint32_t)(uint8_t)s[2] << 16 | (uint32_t)(uint8_t)s[3] << 24;
}

static void brand(struct cpu_model *m, const char *name)
{
	char b[48];
	memset(b, 0, sizeof(b));
	strncpy(b, name, 47);
	for (int k = 0; k < 3; k++)
		set(m, 0x80000002 + k, 0, str4(b + k * 16), str4(b + k * 16 + 4),
		    str4(b + k * 16 + 8), str4(b + k * 16 + 12));
}

/* features common to both models (fixed part) */
#define EDX1 0x078bfbffu	/* fpu..sse2 without ht/ds/acpi/ss/tm/pbe */

static void model_intel(struct cpu_model *m)
{
	m->vendor = VENDOR_INTEL;
	m->maxphyaddr = 39;
	snprintf(m->name, sizeof(m->name), "nestvm Intel");
	set(m, 0, 0, 0x16, str4("Genu"), str4("ntel"), str4("ineI"));
	/* family 6, model 0x55 (Skylake server), stepping 4 */
	set(m, 1, 0, 0x00050654, 0x00000800, 0, EDX1);
	set(m, 2, 0, 0x00feff01, 0, 0, 0);
	set(m, 4, 0, 0x00000121, 0x01c0003f, 0x0000003f, 0);
	set(m, 4, 1, 0x00000122, 0x01c0003f, 0x0000003f, 0);
	set(m, 4, 2, 0x00000143, 0x03c0003f, 0x000003ff, 0);
	set(m, 4, 3, 0x00000163, 0x03c0003f, 0x00003fff, 0x4);
	set(m, 4, 4, 0, 0, 0, 0);
	set(m, 5, 0, 0x40, 0x40, 3, 0);
	set(m, 6, 0, 0x4, 0, 0, 0);
	set(m, 7, 0, 0, 0, 0, 0);
	set(m, 0xa, 0, 0x07300402, 0, 0, 0x00000603);	/* PMU v2: 4 GP x 48 bits, 3 fixed */
	set(m, 0xb, 0, 0, 1, 0x100, 0);
	set(m, 0xb, 1, 0, 1, 0x201, 0);
	set(m, 0xd, 0, 0, 0, 0, 0);
	set(m, 0xd, 1, 0, 0, 0, 0);
	set(m, 0x15, 0, 1, 1, (uint32_t)NV_TSC_HZ, 0);
	set(m, 0x16, 0, NV_TSC_HZ / 1000000, NV_TSC_HZ / 1000000, 100, 0);
	set(m, 0x80000000, 0, 0x80000008, 0, 0, 0);
	set(m, 0x80000001, 0, 0, 0, 0, 0);
	brand(m, "nestvm virtual CPU (Intel model)");
	set(m, 0x80000006, 0, 0, 0, 0x01006040, 0);
	set(m, 0x80000007, 0, 0, 0, 0, 0x100);	/* invariant TSC */
	set(m, 0x80000008, 0, 0x3027, 0, 0, 0);
	const char *on[] = {
		"pni", "pclmulqdq", "monitor", "ssse3", "cx16", "pcid", "sse4.1", "sse4.2",
		"x2apic", "movbe", "popcnt", "tsc-deadline", "aes", "xsave", "rdrand",
		"fsgsbase", "tsc-adjust", "bmi1", "smep", "bmi2", "erms", "invpcid", "rdseed",
		"adx", "smap", "clflushopt", "clwb", "umip", "pku", "rdpid", "arat",
		"xsaveopt", "xsavec", "xgetbv1", "lahf-lm", "abm", "3dnowprefetch",
		"syscall", "nx", "pdpe1gb", "rdtscp", "lm", NULL,
	};
	for (int k = 0; on[k]; k++)
		for (size_t f = 0; f < sizeof(feats) / sizeof(feats[0]); f++)
			if (!strcmp(feats[f].name, on[k])) {
				struct cpuid_ent *e = ent_get(m, feats[f].fn, feats[f].idx, true);
				uint32_t *r = &e->eax + feats[f].reg;
				*r |= 1u << feats[f].bit;
			}
}

static void model_amd(struct cpu_model *m)
{
	m->vendor = VENDOR_AMD;
	m->maxphyaddr = 48;
	snprintf(m->name, sizeof(m->name), "nestvm AMD");
	set(m, 0, 0, 0x10, str4("Auth"), str4("cAMD"), str4("enti"));
	/* family 0x17 (Zen), model 1, stepping 2 */
	set(m, 1, 0, 0x00800f12, 0x00000800, 0, EDX1);
	set(m, 5, 0, 0x40, 0x40, 3, 0);
	set(m, 6, 0, 0x4, 0, 0, 0);
	set(m, 7, 0, 0, 0, 0, 0);
	set(m, 0xd, 0, 0, 0, 0, 0);
	set(m, 0xd, 1, 0, 0, 0, 0);
	set(m, 0x80000000, 0, 0x8000001f, str4("Auth"), str4("cAMD"), str4("enti"));
	set(m, 0x80000001, 0, 0x00800f12, 0, 0, 0);
	brand(m, "nestvm virtual CPU (AMD model)");
	set(m, 0x80000005, 0, 0xff40ff40, 0xff40ff40, 0x20080140, 0x20080140);
	set(m, 0x80000006, 0, 0, 0x42004200, 0x02008140, 0);
	set(m, 0x80000007, 0, 0, 0, 0, 0x100);
	set(m, 0x80000008, 0, 0x3030, 0, 0, 0);
	const char *on[] = {
		"pni", "pclmulqdq", "monitor", "ssse3", "cx16", "sse4.1", "sse4.2",
		"x2apic", "movbe", "popcnt", "tsc-deadline", "aes", "xsave", "rdrand",
		"fsgsbase", "bmi1", "smep", "bmi2", "rdseed", "adx", "smap", "clflushopt",
		"umip", "rdpid", "arat", "xsaveopt", "xsavec", "xgetbv1", "lahf-lm",
		"cr8legacy", "abm", "sse4a", "misalignsse", "3dnowprefetch", "perfctr-core",
		"syscall", "nx", "mmxext", "fxsr-opt", "pdpe1gb", "rdtscp", "lm", "clzero",
		NULL,
	};
	for (int k = 0; on[k]; k++)
		for (size_t f = 0; f < sizeof(feats) / sizeof(feats[0]); f++)
			if (!strcmp(feats[f].name, on[k])) {
				struct cpuid_ent *e = ent_get(m, feats[f].fn, feats[f].idx, true);
				uint32_t *r = &e->eax + feats[f].reg;
				*r |= 1u << feats[f].bit;
			}
}

void cpuid_decode_features(struct cpu_model *m)
{
	m->feat = 0;
	for (size_t f = 0; f < sizeof(feats) / sizeof(feats[0]); f++) {
		if (feats[f].feat < 0)
			continue;
		struct cpuid_ent *e = ent_get(m, feats[f].fn, feats[f].idx, false);
		if (!e)
			continue;
		uint32_t *r = &e->eax + feats[f].reg;
		if (*r & (1u << feats[f].bit))
			m->feat |= 1ULL << feats[f].feat;
	}
	/* XSAVE leaf: supported components */
	struct cpuid_ent *d = ent_get(m, 0xd, 0, true);
	uint64_t comps = 3;	/* x87, SSE */
	if (m->feat & (1ULL << FEAT_AVX))
		comps |= 4;
	if (m->feat & (1ULL << FEAT_PKU))
		comps |= 0x200;
	if (!(m->feat & (1ULL << FEAT_XSAVE)))
		comps = 0;
	d->eax = (uint32_t)comps;
	d->edx = 0;
	d->ecx = (comps & 0x200) ? 0xa88 : (comps & 4) ? 0x340 : 0x240;
	if (comps & 4) {
		struct cpuid_ent *a = ent_get(m, 0xd, 2, true);
		a->eax = 256;
		a->ebx = 576;
	}
	if (comps & 0x200) {
		struct cpuid_ent *p = ent_get(m, 0xd, 9, true);
		p->eax = 8;
		p->ebx = 0xa80;
	}
}

/* "model[,+feat,-feat,feat=on|off]" */
int cpuid_model_init(struct cpu_model *m, const char *spec, char *err, size_t errlen)
{
	char buf[512];
	memset(m, 0, sizeof(*m));
	snprintf(buf, sizeof(buf), "%s", spec && *spec ? spec : "intel");
	char *save = NULL;
	char *name = strtok_r(buf, ",", &save);
	if (!name)
		name = "intel";
	if (!strcasecmp(name, "intel") || !strcasecmp(name, "max") ||
	    !strcasecmp(name, "qemu64") || !strcasecmp(name, "Skylake-Server") ||
	    !strcasecmp(name, "kvm64") || !strcasecmp(name, "base")) {
		model_intel(m);
	} else if (!strcasecmp(name, "amd") || !strcasecmp(name, "EPYC")) {
		model_amd(m);
	} else if (!strcasecmp(name, "host")) {
		unsigned a, b, c, d;
		__asm__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0), "c"(0));
		if (b == str4("Auth"))
			model_amd(m);
		else
			model_intel(m);
	} else {
		snprintf(err, errlen, "unknown CPU model '%s' (models: intel, amd, host, max, qemu64, EPYC, Skylake-Server)", name);
		return -1;
	}
	char *tok;
	while ((tok = strtok_r(NULL, ",", &save))) {
		bool on;
		char fname[64];
		if (tok[0] == '+' || tok[0] == '-') {
			on = tok[0] == '+';
			snprintf(fname, sizeof(fname), "%s", tok + 1);
		} else {
			char *eq = strchr(tok, '=');
			if (!eq) {
				snprintf(err, errlen, "bad -cpu modifier '%s' (use +feature or -feature)", tok);
				return -1;
			}
			*eq = 0;
			snprintf(fname, sizeof(fname), "%s", tok);
			if (!strcmp(eq + 1, "on") || !strcmp(eq + 1, "true"))
				on = true;
			else if (!strcmp(eq + 1, "off") || !strcmp(eq + 1, "false"))
				on = false;
			else {
				snprintf(err, errlen, "bad value in -cpu modifier '%s=%s'", tok, eq + 1);
				return -1;
			}
		}
		for (char *p = fname; *p; p++)
			if (*p == '_' && strcmp(fname, "sse4_1") && strcmp(fname, "sse4_2") &&
			    strcmp(fname, "lahf_lm"))
				*p = '-';
		const struct featdef *fd = NULL;
		for (size_t f = 0; f < sizeof(feats) / sizeof(feats[0]); f++)
			if (!strcmp(feats[f].name, fname))
				fd = &feats[f];
		if (!fd) {
			snprintf(err, errlen, "unknown CPU feature '%s'", fname);
			return -1;
		}
		if (on && !fd->avail) {
			snprintf(err, errlen, "CPU feature '%s' is not implemented by the emulator", fname);
			return -1;
		}
		struct cpuid_ent *e = ent_get(m, fd->fn, fd->idx, true);
		uint32_t *r = &e->eax + fd->reg;
		if (on)
			*r |= 1u << fd->bit;
		else
			*r &= ~(1u << fd->bit);
	}
	/* the leaf-7 and 0xd maxima must cover what is present */
	cpuid_decode_features(m);
	if (!(m->feat & (1ULL << FEAT_LM))) {
		struct cpuid_ent *e = ent_get(m, 0x80000001, 0, true);
		e->edx &= ~((1u << 29) | (1u << 11));
		cpuid_decode_features(m);
	}
	return 0;
}

void cpuid_query(struct cpu *c, uint32_t fn, uint32_t idx, uint32_t out[4])
{
	const struct cpu_model *m = c->model;
	const struct cpuid_ent *e = NULL;
	uint32_t maxb = 0, maxe = 0;

	for (int k = 0; k < m->nent; k++) {
		if (m->ent[k].fn == 0)
			maxb = m->ent[k].eax;
		if (m->ent[k].fn == 0x80000000)
			maxe = m->ent[k].eax;
	}
	/* out-of-range leaves: Intel returns the highest basic leaf */
	if ((fn < 0x80000000 && fn > maxb) || (fn >= 0x80000000 && fn > maxe)) {
		if (m->vendor == VENDOR_INTEL)
			fn = maxb;
		else {
			out[0] = out[1] = out[2] = out[3] = 0;
			return;
		}
	}
	for (int k = 0; k < m->nent; k++) {
		const struct cpuid_ent *x = &m->ent[k];
		if (x->fn != fn)
			continue;
		if ((x->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) && x->idx != idx)
			continue;
		e = x;
		break;
	}
	if (!e) {
		out[0] = out[1] = out[2] = out[3] = 0;
	} else {
		out[0] = e->eax;
		out[1] = e->ebx;
		out[2] = e->ecx;
		out[3] = e->edx;
	}
	uint32_t apic_id = (uint32_t)c->id;
	switch (fn) {
	case 1:
		out[1] = (out[1] & 0x00ffffff) | (apic_id << 24);
		out[1] = (out[1] & ~0xff0000u) | ((uint32_t)(c->vm->nvcpus > 1 ? c->vm->nvcpus : 1) << 16);
		if (c->cr4 & CR4_OSXSAVE)
			out[2] |= 1u << 27;
		else
			out[2] &= ~(1u << 27);
		if (!(lapic_get_base(c) & (1ULL << 11)))
			out[3] &= ~(1u << 9);
		break;
	case 7:
		if (idx == 0) {
			if (c->cr4 & CR4_PKE)
				out[2] |= 1u << 4;
			else
				out[2] &= ~(1u << 4);
		}
		break;
	case 0xb:
		out[3] = apic_id;
		if (idx == 1)
			out[1] = (uint32_t)(c->vm->nvcpus > 0 ? c->vm->nvcpus : 1);
		if (idx > 1) {
			out[0] = out[1] = 0;
			out[2] = idx;
		}
		break;
	case 0xd:
		if (idx == 0) {
			/* EBX: size for the components enabled in XCR0 */
			uint32_t sz = 576;
			if (c->fpu.xcr0 & 4)
				sz = 832;
			if (c->fpu.xcr0 & 0x200)
				sz = 0xa88;
			out[1] = sz;
		} else if (idx == 1) {
			out[1] = 0;
		}
		break;
	case 0x80000001:
		if (m->vendor == VENDOR_AMD && !(lapic_get_base(c) & (1ULL << 11)))
			out[3] &= ~(1u << 9);
		break;
	case 0x80000008:
		/* linear-address width follows the LA57 feature (SDM CPUID) */
		out[0] = (out[0] & ~0xff00u) | ((HAS(c, FEAT_LA57) ? 57u : 48u) << 8);
		break;
	}
}
