// Vector kernels for the retrieval and recall scans: AVX-512 / AVX2+FMA with run-time dispatch and a portable C fallback.
// The package compiles Swift for baseline x86-64 (SSE); these functions pick the widest instruction set the CPU has.
#ifndef WORLDGPT_CKERNELS_H
#define WORLDGPT_CKERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Instruction-set levels: 0 portable C, 1 AVX2+FMA, 2 AVX-512F.
enum { WGK_LEVEL_PORTABLE = 0, WGK_LEVEL_AVX2 = 1, WGK_LEVEL_AVX512 = 2 };

/// The level in use (the best the CPU supports unless lowered by wgk_set_level).
int wgk_level(void);
/// The best level this CPU supports.
int wgk_supported_level(void);
/// Uses `level` (clamped to what the CPU supports); returns the level now in use. For tests and benchmarks.
int wgk_set_level(int level);

/// a · b over n floats.
float wgk_dot_f32(const float *a, const float *b, size_t n);

/// out[r] = q · rows[r] for nrows contiguous rows of dim floats.
void wgk_scores_f32(const float *q, const float *rows, size_t nrows, size_t dim, float *out);

/// out[r] = q · codes[r] (codes as int8 integers, no scale) for nrows contiguous rows of dim int8 codes.
void wgk_scores_i8(const float *q, const int8_t *codes, size_t nrows, size_t dim, float *out);

/// Hints the CPU to fetch `bytes` starting at p into cache (no effect on results).
void wgk_prefetch(const void *p, size_t bytes);

#ifdef __cplusplus
}
#endif
#endif
