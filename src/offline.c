/* placeholder until the module lands */
#include "offline.h"
