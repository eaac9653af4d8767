/* SMP with 2 vCPUs: AP start-up and work exchanged by IPI (smp_common.h). */
// nestvm-args: -smp 2
#define NCPU 2
#include "smp_common.h"
