/* evt_double on the AMD model: EXT is set only for external events. */
// nestvm-args: -cpu amd
#include "evt_double.c"
