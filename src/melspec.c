/* placeholder until the module lands */
#include "melspec.h"
