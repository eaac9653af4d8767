/* SYSCALL/SYSRET, SYSENTER/SYSEXIT on the Intel model (see sys_fastcall.inc). */
// nestvm-args: -cpu intel
#include "sys_fastcall.inc"
