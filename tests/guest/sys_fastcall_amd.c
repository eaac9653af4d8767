/* SYSCALL/SYSRET, SYSENTER/SYSEXIT on the AMD model (see sys_fastcall.inc). */
// nestvm-args: -cpu amd
#include "sys_fastcall.inc"
