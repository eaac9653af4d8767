/* SMP with 8 vCPUs: AP start-up and work exchanged by IPI (smp_common.h). */
// nestvm-args: -smp 8
#define NCPU 8
#include "smp_common.h"
