/* CPUID of the AMD model (see sys_cpuid.inc). */
// nestvm-args: -cpu amd
#include "sys_cpuid.inc"
