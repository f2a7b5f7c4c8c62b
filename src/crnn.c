/* placeholder until the module lands */
#include "crnn.h"
