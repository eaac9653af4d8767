// SPDX-License-Identifier: MIT
/* The /dev/kvm engine: not implemented yet (the KVM backend issue). */
#include <errno.h>

#include "accel.h"

static int kvm_create_vm(struct nv_vm *vm)
{
	(void)vm;
	nv_set_error("the kvm accelerator is not available in this build yet");
	return -ENODEV;
}

const struct accel_ops accel_kvm_ops = {
	.name = "kvm",
	.create_vm = kvm_create_vm,
};
