// SPDX-License-Identifier: MIT
/*
 * Model-specific registers (SDM Vol. 4; AMD APM Vol. 2 appendix A).  An
 * MSR the model does not have, or a reserved-bit write, is #GP as on
 * hardware.  Performance-counter MSRs of the advertised vendor exist and
 * hold what is written (counters do not count).
 */
#include "cpu.h"
#include "lapic.h"

static bool canonical(const struct cpu *c, uint64_t v)
{
	int sh = (c->cr4 & CR4_LA57) ? 7 : 16;
	return (uint64_t)((int64_t)(v << sh) >> sh) == v;
}

static bool pat_valid(uint64_t v)
{
	for (int k = 0; k < 8; k++) {
		uint8_t t = (uint8_t)(v >> (k * 8));
		if (t == 2 || t == 3 || t > 7)
			return false;
	}
	return true;
}

static bool intel(const struct cpu *c)
{
	return c->model->vendor == VENDOR_INTEL;
}

static uint64_t efer_valid(const struct cpu *c)
{
	uint64_t m = 0;
	if (HAS(c, FEAT_SYSCALL) || c->model->vendor == VENDOR_AMD)
		m |= EFER_SCE;
	if (HAS(c, FEAT_LM))
		m |= EFER_LME | EFER_LMA;
	if (HAS(c, FEAT_NX))
		m |= EFER_NXE;
	if (HAS(c, FEAT_SVM))
		m |= EFER_SVME;
	if (c->model->vendor == VENDOR_AMD)
		m |= EFER_FFXSR;
	return m;
}

const uint32_t msr_index_list[] = {
	0x10, 0x1b, 0x3a, 0x3b, 0x174, 0x175, 0x176, 0x1d9, 0x277, 0x1a0, 0x6e0,
	0xc0000080, 0xc0000081, 0xc0000082, 0xc0000083, 0xc0000084, 0xc0000100,
	0xc0000101, 0xc0000102, 0xc0000103, 0xfe, 0x2ff, 0x179, 0x17a, 0x17b,
	0xc1, 0xc2, 0xc3, 0xc4, 0x186, 0x187, 0x188, 0x189, 0x309, 0x30a, 0x30b,
	0x38d, 0x38e, 0x38f, 0x390,
};
const int msr_index_count = sizeof(msr_index_list) / sizeof(msr_index_list[0]);

bool msr_read(struct cpu *c, uint32_t idx, uint64_t *v)
{
	struct msr_state *s = &c->msr;

	if (idx >= 0x800 && idx <= 0x8ff)
		return lapic_msr_read(c, idx, v);
	if (idx >= 0x200 && idx < 0x210) {
		*v = s->mtrr_var[idx - 0x200];
		return true;
	}
	if (idx >= 0x400 && idx < 0x400 + 4 * 10) {
		*v = s->mc_bank[idx - 0x400];
		return true;
	}
	if (!intel(c)) {
		if (idx >= 0xc0010000 && idx <= 0xc0010003) {
			*v = s->perfevtsel[idx - 0xc0010000];
			return true;
		}
		if (idx >= 0xc0010004 && idx <= 0xc0010007) {
			*v = s->pmc[idx - 0xc0010004];
			return true;
		}
		if (idx >= 0xc0010200 && idx <= 0xc001020b) {
			int n = (idx - 0xc0010200) / 2;
			*v = (idx & 1) ? s->pmc[n] : s->perfevtsel[n];
			return true;
		}
	} else {
		if (idx >= 0xc1 && idx <= 0xc4) {
			*v = s->pmc[idx - 0xc1];
			return true;
		}
		if (idx >= 0x186 && idx <= 0x189) {
			*v = s->perfevtsel[idx - 0x186];
			return true;
		}
		if (idx >= 0x309 && idx <= 0x30b) {
			*v = s->fixed_ctr[idx - 0x309];
			return true;
		}
	}
	switch (idx) {
	case MSR_TSC: *v = cpu_tsc(c); return true;
	case MSR_APIC_BASE: *v = lapic_get_base(c); return true;
	case MSR_FEATURE_CONTROL:
		if (!intel(c))
			return false;
		*v = s->feature_control;
		return true;
	case MSR_TSC_ADJUST:
		if (!HAS(c, FEAT_TSC_ADJUST))
			return false;
		*v = s->tsc_adjust;
		return true;
	case 0x17: if (!intel(c)) return false; *v = 0; return true;	/* PLATFORM_ID */
	case 0x8b: *v = 0; return true;				/* microcode revision */
	case 0xfe: *v = 0x508; return true;			/* MTRRCAP: 8 var, fixed, WC */
	case 0x2ff: *v = s->mtrr_def_type; return true;
	case 0x250: *v = s->mtrr_fixed[0]; return true;
	case 0x258: *v = s->mtrr_fixed[1]; return true;
	case 0x259: *v = s->mtrr_fixed[2]; return true;
	case 0x268: case 0x269: case 0x26a: case 0x26b:
	case 0x26c: case 0x26d: case 0x26e: case 0x26f:
		*v = s->mtrr_fixed[3 + idx - 0x268];
		return true;
	case 0x179: *v = 10; return true;			/* MCG_CAP: 10 banks */
	case 0x17a: *v = s->mcg_status; return true;
	case 0x17b: *v = s->mcg_ctl; return true;
	case MSR_SYSENTER_CS: *v = s->sysenter_cs; return true;
	case MSR_SYSENTER_ESP: *v = s->sysenter_esp; return true;
	case MSR_SYSENTER_EIP: *v = s->sysenter_eip; return true;
	case MSR_DEBUGCTL: *v = s->debugctl; return true;
	case MSR_MISC_ENABLE:
		if (!intel(c))
			return false;
		*v = s->misc_enable;
		return true;
	case MSR_PAT: *v = s->pat; return true;
	case MSR_TSC_DEADLINE:
		if (!HAS(c, FEAT_TSC_DEADLINE))
			return false;
		*v = s->tsc_deadline;
		return true;
	case MSR_XSS:
		if (!HAS(c, FEAT_XSAVES))
			return false;
		*v = c->fpu.xss;
		return true;
	case 0x345: if (!intel(c)) return false; *v = 0; return true;	/* PERF_CAPABILITIES */
	case 0x38d: if (!intel(c)) return false; *v = s->fixed_ctr_ctrl; return true;
	case 0x38e: if (!intel(c)) return false; *v = s->perf_global_status; return true;
	case 0x38f: if (!intel(c)) return false; *v = s->perf_global_ctrl; return true;
	case 0x390: if (!intel(c)) return false; *v = s->perf_global_ovf_ctrl; return true;
	case MSR_EFER: *v = c->efer; return true;
	case MSR_STAR: *v = s->star; return true;
	case MSR_LSTAR:
		if (!HAS(c, FEAT_LM))
			return false;
		*v = s->lstar;
		return true;
	case MSR_CSTAR:
		if (!HAS(c, FEAT_LM))
			return false;
		*v = s->cstar;
		return true;
	case MSR_FMASK:
		if (!HAS(c, FEAT_LM))
			return false;
		*v = s->fmask;
		return true;
	case MSR_FS_BASE: if (!HAS(c, FEAT_LM)) return false; *v = c->seg[S_FS].base; return true;
	case MSR_GS_BASE: if (!HAS(c, FEAT_LM)) return false; *v = c->seg[S_GS].base; return true;
	case MSR_KERNEL_GS_BASE: if (!HAS(c, FEAT_LM)) return false; *v = s->kernel_gs_base; return true;
	case MSR_TSC_AUX:
		if (!HAS(c, FEAT_RDTSCP) && !HAS(c, FEAT_RDPID))
			return false;
		*v = s->tsc_aux;
		return true;
	case 0xc0010010: if (intel(c)) return false; *v = s->amd_syscfg; return true;
	case 0xc0010015: if (intel(c)) return false; *v = s->amd_hwcr; return true;
	case 0xc0010114: if (intel(c)) return false; *v = s->amd_vm_cr; return true;
	case 0xc0010117: if (intel(c)) return false; *v = s->amd_hsave_pa; return true;
	}
	return false;
}

bool msr_write(struct cpu *c, uint32_t idx, uint64_t v, bool host)
{
	struct msr_state *s = &c->msr;

	if (idx >= 0x800 && idx <= 0x8ff)
		return lapic_msr_write(c, idx, v);
	if (idx >= 0x200 && idx < 0x210) {
		s->mtrr_var[idx - 0x200] = v;
		return true;
	}
	if (idx >= 0x400 && idx < 0x400 + 4 * 10) {
		/* MCi_STATUS accepts only 0 from the guest (SDM 15.3.2.2) */
		if (((idx - 0x400) & 3) == 1 && v && !host)
			return false;
		s->mc_bank[idx - 0x400] = v;
		return true;
	}
	if (!intel(c)) {
		if (idx >= 0xc0010000 && idx <= 0xc0010003) {
			s->perfevtsel[idx - 0xc0010000] = v;
			return true;
		}
		if (idx >= 0xc0010004 && idx <= 0xc0010007) {
			s->pmc[idx - 0xc0010004] = v & ((1ULL << 48) - 1);
			return true;
		}
		if (idx >= 0xc0010200 && idx <= 0xc001020b) {
			int n = (idx - 0xc0010200) / 2;
			if (idx & 1)
				s->pmc[n] = v & ((1ULL << 48) - 1);
			else
				s->perfevtsel[n] = v;
			return true;
		}
	} else {
		if (idx >= 0xc1 && idx <= 0xc4) {
			s->pmc[idx - 0xc1] = (uint64_t)(int64_t)(int32_t)v & ((1ULL << 48) - 1);
			return true;
		}
		if (idx >= 0x186 && idx <= 0x189) {
			if (v >> 32)
				return false;
			s->perfevtsel[idx - 0x186] = v;
			return true;
		}
		if (idx >= 0x309 && idx <= 0x30b) {
			s->fixed_ctr[idx - 0x309] = v & ((1ULL << 48) - 1);
			return true;
		}
	}
	switch (idx) {
	case MSR_TSC:
		s->tsc_offset = v - (cpu_tsc(c) - s->tsc_offset);
		return true;
	case MSR_APIC_BASE:
		return lapic_set_base(c, v, host);
	case MSR_FEATURE_CONTROL:
		if (!intel(c))
			return false;
		if ((s->feature_control & 1) && !host)
			return false;	/* locked */
		s->feature_control = v;
		return true;
	case MSR_TSC_ADJUST:
		if (!HAS(c, FEAT_TSC_ADJUST))
			return false;
		s->tsc_offset += v - s->tsc_adjust;
		s->tsc_adjust = v;
		return true;
	case 0x8b: return true;
	case 0x79: return intel(c);	/* BIOS_UPDT_TRIG */
	case 0x2ff:
		if (v & ~0xcffULL)
			return false;
		s->mtrr_def_type = v;
		return true;
	case 0x250: s->mtrr_fixed[0] = v; return true;
	case 0x258: s->mtrr_fixed[1] = v; return true;
	case 0x259: s->mtrr_fixed[2] = v; return true;
	case 0x268: case 0x269: case 0x26a: case 0x26b:
	case 0x26c: case 0x26d: case 0x26e: case 0x26f:
		s->mtrr_fixed[3 + idx - 0x268] = v;
		return true;
	case 0x17a:
		if (v && !host)
			return false;
		s->mcg_status = v;
		return true;
	case 0x17b: s->mcg_ctl = v; return true;
	case MSR_SYSENTER_CS: s->sysenter_cs = v & 0xffff; return true;
	case MSR_SYSENTER_ESP:
	case MSR_SYSENTER_EIP:
		/*
		 * Intel holds canonical 64-bit values (#GP otherwise); AMD,
		 * where SYSENTER is legacy-only, keeps bits 31:0 (as KVM).
		 */
		if (!intel(c))
			v = (uint32_t)v;
		else if (HAS(c, FEAT_LM) && !canonical(c, v))
			return false;
		if (idx == MSR_SYSENTER_ESP)
			s->sysenter_esp = v;
		else
			s->sysenter_eip = v;
		return true;
	case MSR_DEBUGCTL:
		if (v & ~0x3ULL)
			return false;
		s->debugctl = v;
		return true;
	case MSR_MISC_ENABLE:
		if (!intel(c))
			return false;
		s->misc_enable = v;
		return true;
	case MSR_PAT:
		if (!pat_valid(v))
			return false;
		s->pat = v;
		return true;
	case MSR_TSC_DEADLINE:
		if (!HAS(c, FEAT_TSC_DEADLINE))
			return false;
		s->tsc_deadline = v;
		lapic_tsc_deadline_written(c);
		return true;
	case MSR_XSS:
		if (!HAS(c, FEAT_XSAVES) || v)
			return false;
		c->fpu.xss = v;
		return true;
	case 0x48:			/* SPEC_CTRL / PRED_CMD: not advertised */
	case 0x49:
		return false;
	case 0x38d: if (!intel(c)) return false; s->fixed_ctr_ctrl = v; return true;
	case 0x38e: return false;
	case 0x38f: if (!intel(c)) return false; s->perf_global_ctrl = v; return true;
	case 0x390: if (!intel(c)) return false; s->perf_global_ovf_ctrl = v; return true;
	case MSR_EFER: {
		if (v & ~efer_valid(c))
			return false;
		/* LME may not change while paging is on (SDM 9.8.5) */
		if (!host && (c->cr0 & CR0_PG) && ((v ^ c->efer) & EFER_LME))
			return false;
		if (host)
			c->efer = v;
		else
			cpu_set_efer(c, v);
		mmu_flush(c);
		cpu_update_mode(c);
		return true;
	}
	case MSR_STAR: s->star = v; return true;
	case MSR_LSTAR:
	case MSR_CSTAR:
		if (!HAS(c, FEAT_LM) || !canonical(c, v))
			return false;
		if (idx == MSR_LSTAR)
			s->lstar = v;
		else
			s->cstar = v;
		return true;
	case MSR_FMASK:
		if (!HAS(c, FEAT_LM))
			return false;
		s->fmask = v & 0xffffffff;
		return true;
	case MSR_FS_BASE:
	case MSR_GS_BASE:
	case MSR_KERNEL_GS_BASE:
		if (!HAS(c, FEAT_LM) || !canonical(c, v))
			return false;
		if (idx == MSR_FS_BASE)
			c->seg[S_FS].base = v;
		else if (idx == MSR_GS_BASE)
			c->seg[S_GS].base = v;
		else
			s->kernel_gs_base = v;
		seg_update_cache(c);
		return true;
	case MSR_TSC_AUX:
		if (!HAS(c, FEAT_RDTSCP) && !HAS(c, FEAT_RDPID))
			return false;
		if (v >> 32)
			return false;
		s->tsc_aux = v;
		return true;
	case 0xc0010010: if (intel(c)) return false; s->amd_syscfg = v; return true;
	case 0xc0010015: if (intel(c)) return false; s->amd_hwcr = v; return true;
	case 0xc0010114: if (intel(c)) return false; s->amd_vm_cr = v; return true;
	case 0xc0010117:
		if (intel(c) || (v & 0xfff))
			return false;
		s->amd_hsave_pa = v;
		return true;
	}
	return false;
}
