/* placeholder until the module lands */
#include "ringbuf.h"
