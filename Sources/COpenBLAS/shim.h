// OpenBLAS CBLAS interface (Debian's pthread build; 32-bit blasint) plus its thread controls.
#pragma once
#include <cblas.h>

// The one LAPACK routine we call. libopenblas exports it (OpenBLAS's own threaded Cholesky, C calling
// convention, no hidden Fortran string lengths), but Debian ships no lapack.h beside cblas.h.
void dpotrf_(const char *uplo, const blasint *n, double *a, const blasint *lda, blasint *info);
