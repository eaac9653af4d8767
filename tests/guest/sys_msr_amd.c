/* MSRs on the AMD model (see sys_msr.inc). */
// nestvm-args: -cpu amd
#include "sys_msr.inc"
