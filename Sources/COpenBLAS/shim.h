// OpenBLAS CBLAS interface (Debian's pthread build; 32-bit blasint) plus its thread controls.
#pragma once
#include <cblas.h>
