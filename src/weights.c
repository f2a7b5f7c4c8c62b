/* placeholder until the module lands */
#include "weights.h"
