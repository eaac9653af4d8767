/* CPUID of the Intel model (see sys_cpuid.inc). */
// nestvm-args: -cpu intel
#include "sys_cpuid.inc"
