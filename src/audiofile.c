/* placeholder until the module lands */
#include "audiofile.h"
