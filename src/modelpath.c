/* placeholder until the module lands */
#include "modelpath.h"
