/* placeholder until the module lands */
#include "analyzer.h"
