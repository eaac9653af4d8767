/* MSRs on the Intel model (see sys_msr.inc). */
// nestvm-args: -cpu intel
#include "sys_msr.inc"
