// Shared by the kernel files: which SIMD paths this compiler can build, and the AVX2 horizontal sum they use.
#ifndef WORLDGPT_CKERNELS_SIMD_H
#define WORLDGPT_CKERNELS_SIMD_H

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define WGK_X86 1
#include <immintrin.h>

/// The sum of the 8 lanes: halves, then pairs, then the last two.
__attribute__((target("avx2,fma"))) static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}
#else
#define WGK_X86 0
#endif

#endif
