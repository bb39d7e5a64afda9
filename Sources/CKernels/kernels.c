// Vector kernels with run-time dispatch: AVX-512F and AVX2+FMA variants compiled through target attributes,
// chosen once per process from cpuid (__builtin_cpu_supports); the portable variant is the reference fallback.
#include "CKernels.h"
#include "simd.h"

// MARK: dispatch

static int wgk_current = -1;

int wgk_supported_level(void) {
#if WGK_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return WGK_LEVEL_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return WGK_LEVEL_AVX2;
#endif
    return WGK_LEVEL_PORTABLE;
}

int wgk_level(void) {
    int level = __atomic_load_n(&wgk_current, __ATOMIC_RELAXED);
    if (level < 0) {
        level = wgk_supported_level();
        __atomic_store_n(&wgk_current, level, __ATOMIC_RELAXED);
    }
    return level;
}

int wgk_set_level(int level) {
    int best = wgk_supported_level();
    if (level > best) level = best;
    if (level < 0) level = 0;
    __atomic_store_n(&wgk_current, level, __ATOMIC_RELAXED);
    return level;
}

void wgk_prefetch(const void *p, size_t bytes) {
    const char *c = (const char *)p;
    for (size_t o = 0; o < bytes; o += 64) __builtin_prefetch(c + o, 0, 3);
}

// MARK: portable

static float dot_portable(const float *a, const float *b, size_t n) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += a[i + j] * b[i + j];
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

static float dot_i8_portable(const float *q, const int8_t *c, size_t n) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += q[i + j] * (float)c[i + j];
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < n; i++) s += q[i] * (float)c[i];
    return s;
}

#if WGK_X86
// MARK: AVX2 + FMA

__attribute__((target("avx2,fma"))) static float dot_avx2(const float *a, const float *b, size_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), a0);
    float s = hsum256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

/// Four rows per pass share each query load.
__attribute__((target("avx2,fma"))) static void scores4_avx2(const float *q, const float *r, size_t dim, float *out) {
    const float *r0 = r, *r1 = r + dim, *r2 = r + 2 * dim, *r3 = r + 3 * dim;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    __m256 b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps(), b2 = _mm256_setzero_ps(), b3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= dim; i += 16) {
        __m256 q0 = _mm256_loadu_ps(q + i), q1 = _mm256_loadu_ps(q + i + 8);
        a0 = _mm256_fmadd_ps(q0, _mm256_loadu_ps(r0 + i), a0);
        b0 = _mm256_fmadd_ps(q1, _mm256_loadu_ps(r0 + i + 8), b0);
        a1 = _mm256_fmadd_ps(q0, _mm256_loadu_ps(r1 + i), a1);
        b1 = _mm256_fmadd_ps(q1, _mm256_loadu_ps(r1 + i + 8), b1);
        a2 = _mm256_fmadd_ps(q0, _mm256_loadu_ps(r2 + i), a2);
        b2 = _mm256_fmadd_ps(q1, _mm256_loadu_ps(r2 + i + 8), b2);
        a3 = _mm256_fmadd_ps(q0, _mm256_loadu_ps(r3 + i), a3);
        b3 = _mm256_fmadd_ps(q1, _mm256_loadu_ps(r3 + i + 8), b3);
    }
    float s0 = hsum256(_mm256_add_ps(a0, b0)), s1 = hsum256(_mm256_add_ps(a1, b1));
    float s2 = hsum256(_mm256_add_ps(a2, b2)), s3 = hsum256(_mm256_add_ps(a3, b3));
    for (; i < dim; i++) { s0 += q[i] * r0[i]; s1 += q[i] * r1[i]; s2 += q[i] * r2[i]; s3 += q[i] * r3[i]; }
    out[0] = s0; out[1] = s1; out[2] = s2; out[3] = s3;
}

__attribute__((target("avx2,fma"))) static float dot_i8_avx2(const float *q, const int8_t *c, size_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m128i raw = _mm_loadu_si128((const __m128i *)(c + i));
        __m256 c0 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(raw));
        __m256 c1 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(raw, 8)));
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), c0, a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), c1, a1);
    }
    float s = hsum256(_mm256_add_ps(a0, a1));
    for (; i < n; i++) s += q[i] * (float)c[i];
    return s;
}

// MARK: AVX-512F

__attribute__((target("avx512f"))) static float dot_avx512(const float *a, const float *b, size_t n) {
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), a1);
        a2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), a2);
        a3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), a3);
    }
    for (; i + 16 <= n; i += 16) a0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), a0);
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
        a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), a1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

__attribute__((target("avx512f"))) static void scores4_avx512(const float *q, const float *r, size_t dim, float *out) {
    const float *r0 = r, *r1 = r + dim, *r2 = r + 2 * dim, *r3 = r + 3 * dim;
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
    __m512 b0 = _mm512_setzero_ps(), b1 = _mm512_setzero_ps(), b2 = _mm512_setzero_ps(), b3 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= dim; i += 32) {
        __m512 q0 = _mm512_loadu_ps(q + i), q1 = _mm512_loadu_ps(q + i + 16);
        a0 = _mm512_fmadd_ps(q0, _mm512_loadu_ps(r0 + i), a0);
        b0 = _mm512_fmadd_ps(q1, _mm512_loadu_ps(r0 + i + 16), b0);
        a1 = _mm512_fmadd_ps(q0, _mm512_loadu_ps(r1 + i), a1);
        b1 = _mm512_fmadd_ps(q1, _mm512_loadu_ps(r1 + i + 16), b1);
        a2 = _mm512_fmadd_ps(q0, _mm512_loadu_ps(r2 + i), a2);
        b2 = _mm512_fmadd_ps(q1, _mm512_loadu_ps(r2 + i + 16), b2);
        a3 = _mm512_fmadd_ps(q0, _mm512_loadu_ps(r3 + i), a3);
        b3 = _mm512_fmadd_ps(q1, _mm512_loadu_ps(r3 + i + 16), b3);
    }
    for (; i < dim; i += 16) {
        size_t left = dim - i;
        __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
        __m512 q0 = _mm512_maskz_loadu_ps(m, q + i);
        a0 = _mm512_fmadd_ps(q0, _mm512_maskz_loadu_ps(m, r0 + i), a0);
        a1 = _mm512_fmadd_ps(q0, _mm512_maskz_loadu_ps(m, r1 + i), a1);
        a2 = _mm512_fmadd_ps(q0, _mm512_maskz_loadu_ps(m, r2 + i), a2);
        a3 = _mm512_fmadd_ps(q0, _mm512_maskz_loadu_ps(m, r3 + i), a3);
    }
    out[0] = _mm512_reduce_add_ps(_mm512_add_ps(a0, b0));
    out[1] = _mm512_reduce_add_ps(_mm512_add_ps(a1, b1));
    out[2] = _mm512_reduce_add_ps(_mm512_add_ps(a2, b2));
    out[3] = _mm512_reduce_add_ps(_mm512_add_ps(a3, b3));
}

__attribute__((target("avx512f"))) static float dot_i8_avx512(const float *q, const int8_t *c, size_t n) {
    __m512 a0 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(c + i)))), a0);
    float s = _mm512_reduce_add_ps(a0);
    for (; i < n; i++) s += q[i] * (float)c[i];
    return s;
}

/// Two rows per pass of int8 codes.
__attribute__((target("avx512f"))) static void scores2_i8_avx512(const float *q, const int8_t *c, size_t dim, float *out) {
    const int8_t *c0 = c, *c1 = c + dim;
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), b0 = _mm512_setzero_ps(), b1 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= dim; i += 32) {
        __m512 q0 = _mm512_loadu_ps(q + i), q1 = _mm512_loadu_ps(q + i + 16);
        a0 = _mm512_fmadd_ps(q0, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(c0 + i)))), a0);
        b0 = _mm512_fmadd_ps(q1, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(c0 + i + 16)))), b0);
        a1 = _mm512_fmadd_ps(q0, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(c1 + i)))), a1);
        b1 = _mm512_fmadd_ps(q1, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(c1 + i + 16)))), b1);
    }
    float s0 = _mm512_reduce_add_ps(_mm512_add_ps(a0, b0)), s1 = _mm512_reduce_add_ps(_mm512_add_ps(a1, b1));
    for (; i < dim; i++) { s0 += q[i] * (float)c0[i]; s1 += q[i] * (float)c1[i]; }
    out[0] = s0; out[1] = s1;
}
#endif

// MARK: public entry points

float wgk_dot_f32(const float *a, const float *b, size_t n) {
#if WGK_X86
    switch (wgk_level()) {
    case WGK_LEVEL_AVX512: return dot_avx512(a, b, n);
    case WGK_LEVEL_AVX2: return dot_avx2(a, b, n);
    default: break;
    }
#endif
    return dot_portable(a, b, n);
}

void wgk_scores_f32(const float *q, const float *rows, size_t nrows, size_t dim, float *out) {
    size_t r = 0;
#if WGK_X86
    int level = wgk_level();
    if (level == WGK_LEVEL_AVX512) {
        for (; r + 4 <= nrows; r += 4) scores4_avx512(q, rows + r * dim, dim, out + r);
        for (; r < nrows; r++) out[r] = dot_avx512(q, rows + r * dim, dim);
        return;
    }
    if (level == WGK_LEVEL_AVX2) {
        for (; r + 4 <= nrows; r += 4) scores4_avx2(q, rows + r * dim, dim, out + r);
        for (; r < nrows; r++) out[r] = dot_avx2(q, rows + r * dim, dim);
        return;
    }
#endif
    for (; r < nrows; r++) out[r] = dot_portable(q, rows + r * dim, dim);
}

void wgk_scores_i8(const float *q, const int8_t *codes, size_t nrows, size_t dim, float *out) {
    size_t r = 0;
#if WGK_X86
    int level = wgk_level();
    if (level == WGK_LEVEL_AVX512) {
        for (; r + 2 <= nrows; r += 2) scores2_i8_avx512(q, codes + r * dim, dim, out + r);
        for (; r < nrows; r++) out[r] = dot_i8_avx512(q, codes + r * dim, dim);
        return;
    }
    if (level == WGK_LEVEL_AVX2) {
        for (; r < nrows; r++) out[r] = dot_i8_avx2(q, codes + r * dim, dim);
        return;
    }
#endif
    for (; r < nrows; r++) out[r] = dot_i8_portable(q, codes + r * dim, dim);
}
