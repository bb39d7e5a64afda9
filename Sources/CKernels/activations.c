// GELU (erf form) over a buffer at the widest instruction set the CPU has. Every variant performs the operations of
// Tensor's scalar `Kernels.erf` / `expNonPositive` one by one in the same order, with no fused multiply-add, so every
// element is bit-identical to the scalar Swift formula whatever the level (the tests check this at each level).
#include "CKernels.h"
#include "simd.h"

#include <math.h>
#include <string.h>

// Contraction of a·b + c into one rounding would change the last bits against the scalar formula.
#pragma STDC FP_CONTRACT OFF
#if defined(__clang__)
#pragma clang fp contract(off)
#endif

// Abramowitz & Stegun 7.1.26 and the exp polynomial: the Float values of Tensor's Swift literals.
#define ERF_A 0.3275911f
#define ERF_C1 1.061405429f
#define ERF_C2 -1.453152027f
#define ERF_C3 1.421413741f
#define ERF_C4 -0.284496736f
#define ERF_C5 0.254829592f
#define EXP_LOG2E 1.44269504f
#define EXP_SHIFT 12582912.0f  // 1.5·2²³: k lands in the low mantissa bits
#define EXP_LN2_HI 0.693145751953125f
#define EXP_LN2_LO 1.428606765330187e-6f
#define INV_SQRT2 0.70710678118654752f

static inline uint32_t float_bits(float x) { uint32_t u; memcpy(&u, &x, 4); return u; }
static inline float bits_float(uint32_t u) { float x; memcpy(&x, &u, 4); return x; }

/// One element: `0.5·x·(1 + erf(x/√2))` exactly as Tensor's scalar Swift code computes it.
static inline float gelu_erf_one(float x) {
    float z = x * INV_SQRT2;
    float a = fabsf(z);
    float t = 1.0f / (1.0f + ERF_A * a);
    float u = t * ERF_C1;
    u = t * (u + ERF_C2);
    u = t * (u + ERF_C3);
    u = t * (u + ERF_C4);
    float poly = t * (u + ERF_C5);
    float na = -a * a;
    // Swift's max(na, −87): na unless −87 is larger (a NaN stays NaN).
    float xc = (-87.0f > na) ? -87.0f : na;
    float shifted = xc * EXP_LOG2E + EXP_SHIFT;
    float k = shifted - EXP_SHIFT;
    float r = xc - k * EXP_LN2_HI - k * EXP_LN2_LO;
    float p = 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    float e = p * bits_float((float_bits(shifted) - 0x4B400000u + 127u) << 23);
    float erf = bits_float(float_bits(1.0f - poly * e) | (float_bits(z) & 0x80000000u));
    return 0.5f * x * (1.0f + erf);
}

static void gelu_erf_portable(const float *in, float *out, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = gelu_erf_one(in[i]);
}

#if WGK_X86
__attribute__((target("avx2,fma"))) static void gelu_erf_avx2(const float *in, float *out, size_t n) {
    const __m256 sign = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f), m87 = _mm256_set1_ps(-87.0f);
    const __m256 shift = _mm256_set1_ps(EXP_SHIFT);
    const __m256i bias = _mm256_set1_epi32(0x4B400000 - 127);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(in + i);
        __m256 z = _mm256_mul_ps(x, _mm256_set1_ps(INV_SQRT2));
        __m256 a = _mm256_andnot_ps(sign, z);
        __m256 t = _mm256_div_ps(one, _mm256_add_ps(one, _mm256_mul_ps(_mm256_set1_ps(ERF_A), a)));
        __m256 u = _mm256_mul_ps(t, _mm256_set1_ps(ERF_C1));
        u = _mm256_mul_ps(t, _mm256_add_ps(u, _mm256_set1_ps(ERF_C2)));
        u = _mm256_mul_ps(t, _mm256_add_ps(u, _mm256_set1_ps(ERF_C3)));
        u = _mm256_mul_ps(t, _mm256_add_ps(u, _mm256_set1_ps(ERF_C4)));
        __m256 poly = _mm256_mul_ps(t, _mm256_add_ps(u, _mm256_set1_ps(ERF_C5)));
        __m256 na = _mm256_mul_ps(_mm256_xor_ps(a, sign), a);
        __m256 xc = _mm256_max_ps(m87, na);  // the second operand when either is NaN: NaN stays NaN
        __m256 shifted = _mm256_add_ps(_mm256_mul_ps(xc, _mm256_set1_ps(EXP_LOG2E)), shift);
        __m256 k = _mm256_sub_ps(shifted, shift);
        __m256 r = _mm256_sub_ps(_mm256_sub_ps(xc, _mm256_mul_ps(k, _mm256_set1_ps(EXP_LN2_HI))), _mm256_mul_ps(k, _mm256_set1_ps(EXP_LN2_LO)));
        __m256 p = _mm256_set1_ps(1.0f / 5040);
        p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.0f / 720));
        p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.0f / 120));
        p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.0f / 24));
        p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.0f / 6));
        p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(0.5f));
        p = _mm256_add_ps(_mm256_mul_ps(p, r), one);
        p = _mm256_add_ps(_mm256_mul_ps(p, r), one);
        __m256i bits = _mm256_slli_epi32(_mm256_sub_epi32(_mm256_castps_si256(shifted), bias), 23);
        __m256 e = _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
        __m256 erf = _mm256_or_ps(_mm256_sub_ps(one, _mm256_mul_ps(poly, e)), _mm256_and_ps(z, sign));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x), _mm256_add_ps(one, erf)));
    }
    gelu_erf_portable(in + i, out + i, n - i);
}

__attribute__((target("avx512f"))) static void gelu_erf_avx512(const float *in, float *out, size_t n) {
    const __m512 one = _mm512_set1_ps(1.0f), m87 = _mm512_set1_ps(-87.0f), shift = _mm512_set1_ps(EXP_SHIFT);
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
    const __m512i bias = _mm512_set1_epi32(0x4B400000 - 127);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 x = _mm512_loadu_ps(in + i);
        __m512 z = _mm512_mul_ps(x, _mm512_set1_ps(INV_SQRT2));
        __m512 a = _mm512_castsi512_ps(_mm512_andnot_si512(sign, _mm512_castps_si512(z)));
        __m512 t = _mm512_div_ps(one, _mm512_add_ps(one, _mm512_mul_ps(_mm512_set1_ps(ERF_A), a)));
        __m512 u = _mm512_mul_ps(t, _mm512_set1_ps(ERF_C1));
        u = _mm512_mul_ps(t, _mm512_add_ps(u, _mm512_set1_ps(ERF_C2)));
        u = _mm512_mul_ps(t, _mm512_add_ps(u, _mm512_set1_ps(ERF_C3)));
        u = _mm512_mul_ps(t, _mm512_add_ps(u, _mm512_set1_ps(ERF_C4)));
        __m512 poly = _mm512_mul_ps(t, _mm512_add_ps(u, _mm512_set1_ps(ERF_C5)));
        __m512 na = _mm512_mul_ps(_mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a), sign)), a);
        __m512 xc = _mm512_max_ps(m87, na);  // the second operand when either is NaN: NaN stays NaN
        __m512 shifted = _mm512_add_ps(_mm512_mul_ps(xc, _mm512_set1_ps(EXP_LOG2E)), shift);
        __m512 k = _mm512_sub_ps(shifted, shift);
        __m512 r = _mm512_sub_ps(_mm512_sub_ps(xc, _mm512_mul_ps(k, _mm512_set1_ps(EXP_LN2_HI))), _mm512_mul_ps(k, _mm512_set1_ps(EXP_LN2_LO)));
        __m512 p = _mm512_set1_ps(1.0f / 5040);
        p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.0f / 720));
        p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.0f / 120));
        p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.0f / 24));
        p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.0f / 6));
        p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(0.5f));
        p = _mm512_add_ps(_mm512_mul_ps(p, r), one);
        p = _mm512_add_ps(_mm512_mul_ps(p, r), one);
        __m512i bits = _mm512_slli_epi32(_mm512_sub_epi32(_mm512_castps_si512(shifted), bias), 23);
        __m512 e = _mm512_mul_ps(p, _mm512_castsi512_ps(bits));
        __m512i low = _mm512_castps_si512(_mm512_sub_ps(one, _mm512_mul_ps(poly, e)));
        __m512 erf = _mm512_castsi512_ps(_mm512_or_si512(low, _mm512_and_si512(_mm512_castps_si512(z), sign)));
        _mm512_storeu_ps(out + i, _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), x), _mm512_add_ps(one, erf)));
    }
    gelu_erf_portable(in + i, out + i, n - i);
}
#endif

void wgk_gelu_erf(const float *in, float *out, size_t n) {
#if WGK_X86
    switch (wgk_level()) {
    case WGK_LEVEL_AVX512: gelu_erf_avx512(in, out, n); return;
    case WGK_LEVEL_AVX2: gelu_erf_avx2(in, out, n); return;
    default: break;
    }
#endif
    gelu_erf_portable(in, out, n);
}

// ---------------------------------------------------------------------------------------------------------------------
// Layer norm. Each row's mean and variance are summed in index order, as Tensor's scalar Swift loop sums them; the
// vector variants sum 16 (or 8) rows at once, one row per lane (a gather per index), so every row sees the same
// operations in the same order: bit-identical to the scalar loop at every level.

/// One row's mean and 1/std, in the scalar loop's order.
static inline void layer_norm_stats_one(const float *x, size_t dim, float eps, float *mean, float *rstd) {
    float m = 0;
    for (size_t i = 0; i < dim; i++) m += x[i];
    m /= (float)dim;
    float v = 0;
    for (size_t i = 0; i < dim; i++) {
        float d = x[i] - m;
        v += d * d;
    }
    v /= (float)dim;
    *mean = m;
    *rstd = 1.0f / sqrtf(v + eps);
}

/// out = ((x − m)·s)·w + b for one row (element-wise: any vector width gives the same bits); out may be x.
static inline void layer_norm_apply_one(const float *x, float *out, size_t dim, float m, float s, const float *w, const float *b) {
    for (size_t i = 0; i < dim; i++) out[i] = (x[i] - m) * s * w[i] + b[i];
}

static void layer_norm_portable(const float *in, float *out, float *mean, float *rstd, const float *w, const float *b,
                                size_t rows, size_t dim, float eps) {
    for (size_t r = 0; r < rows; r++) {
        float m, s;
        layer_norm_stats_one(in + r * dim, dim, eps, &m, &s);
        layer_norm_apply_one(in + r * dim, out + r * dim, dim, m, s, w, b);
        if (mean) mean[r] = m;
        if (rstd) rstd[r] = s;
    }
}

#if WGK_X86
__attribute__((target("avx2,fma"))) static void layer_norm_apply_avx2(const float *x, float *out, size_t dim, float m, float s,
                                                                       const float *w, const float *b) {
    const __m256 vm = _mm256_set1_ps(m), vs = _mm256_set1_ps(s);
    size_t i = 0;
    for (; i + 8 <= dim; i += 8) {
        __m256 t = _mm256_mul_ps(_mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm), vs), _mm256_loadu_ps(w + i));
        _mm256_storeu_ps(out + i, _mm256_add_ps(t, _mm256_loadu_ps(b + i)));
    }
    layer_norm_apply_one(x + i, out + i, dim - i, m, s, w + i, b + i);
}

__attribute__((target("avx2,fma"))) static void layer_norm_avx2(const float *in, float *out, float *mean, float *rstd, const float *w,
                                                                 const float *b, size_t rows, size_t dim, float eps) {
    size_t r = 0;
    if (dim > 0 && dim <= (size_t)0x7fffffff / 8) {
        const __m256i lanes = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32((int)dim));
        const __m256 n = _mm256_set1_ps((float)dim), one = _mm256_set1_ps(1.0f), ve = _mm256_set1_ps(eps);
        for (; r + 8 <= rows; r += 8) {
            const float *x = in + r * dim;
            __m256 m = _mm256_setzero_ps();
            for (size_t i = 0; i < dim; i++) m = _mm256_add_ps(m, _mm256_i32gather_ps(x + i, lanes, 4));
            m = _mm256_div_ps(m, n);
            __m256 v = _mm256_setzero_ps();
            for (size_t i = 0; i < dim; i++) {
                __m256 d = _mm256_sub_ps(_mm256_i32gather_ps(x + i, lanes, 4), m);
                v = _mm256_add_ps(v, _mm256_mul_ps(d, d));
            }
            v = _mm256_div_ps(v, n);
            __m256 s = _mm256_div_ps(one, _mm256_sqrt_ps(_mm256_add_ps(v, ve)));
            float ms[8], ss[8];
            _mm256_storeu_ps(ms, m);
            _mm256_storeu_ps(ss, s);
            for (size_t k = 0; k < 8; k++) {
                layer_norm_apply_avx2(x + k * dim, out + (r + k) * dim, dim, ms[k], ss[k], w, b);
                if (mean) mean[r + k] = ms[k];
                if (rstd) rstd[r + k] = ss[k];
            }
        }
    }
    layer_norm_portable(in + r * dim, out + r * dim, mean ? mean + r : NULL, rstd ? rstd + r : NULL, w, b, rows - r, dim, eps);
}

__attribute__((target("avx512f"))) static void layer_norm_apply_avx512(const float *x, float *out, size_t dim, float m, float s,
                                                                        const float *w, const float *b) {
    const __m512 vm = _mm512_set1_ps(m), vs = _mm512_set1_ps(s);
    size_t i = 0;
    for (; i + 16 <= dim; i += 16) {
        __m512 t = _mm512_mul_ps(_mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(x + i), vm), vs), _mm512_loadu_ps(w + i));
        _mm512_storeu_ps(out + i, _mm512_add_ps(t, _mm512_loadu_ps(b + i)));
    }
    layer_norm_apply_one(x + i, out + i, dim - i, m, s, w + i, b + i);
}

__attribute__((target("avx512f"))) static void layer_norm_avx512(const float *in, float *out, float *mean, float *rstd, const float *w,
                                                                  const float *b, size_t rows, size_t dim, float eps) {
    size_t r = 0;
    if (dim > 0 && dim <= (size_t)0x7fffffff / 16) {
        const __m512i lanes = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                                 _mm512_set1_epi32((int)dim));
        const __m512 n = _mm512_set1_ps((float)dim), one = _mm512_set1_ps(1.0f), ve = _mm512_set1_ps(eps);
        for (; r + 16 <= rows; r += 16) {
            const float *x = in + r * dim;
            __m512 m = _mm512_setzero_ps();
            for (size_t i = 0; i < dim; i++) m = _mm512_add_ps(m, _mm512_i32gather_ps(lanes, x + i, 4));
            m = _mm512_div_ps(m, n);
            __m512 v = _mm512_setzero_ps();
            for (size_t i = 0; i < dim; i++) {
                __m512 d = _mm512_sub_ps(_mm512_i32gather_ps(lanes, x + i, 4), m);
                v = _mm512_add_ps(v, _mm512_mul_ps(d, d));
            }
            v = _mm512_div_ps(v, n);
            __m512 s = _mm512_div_ps(one, _mm512_sqrt_ps(_mm512_add_ps(v, ve)));
            float ms[16], ss[16];
            _mm512_storeu_ps(ms, m);
            _mm512_storeu_ps(ss, s);
            for (size_t k = 0; k < 16; k++) {
                layer_norm_apply_avx512(x + k * dim, out + (r + k) * dim, dim, ms[k], ss[k], w, b);
                if (mean) mean[r + k] = ms[k];
                if (rstd) rstd[r + k] = ss[k];
            }
        }
    }
    layer_norm_avx2(in + r * dim, out + r * dim, mean ? mean + r : NULL, rstd ? rstd + r : NULL, w, b, rows - r, dim, eps);
}
#endif

void wgk_layer_norm(const float *in, float *out, float *mean, float *rstd, const float *weight, const float *bias, size_t rows,
                    size_t dim, float eps) {
#if WGK_X86
    switch (wgk_level()) {
    case WGK_LEVEL_AVX512: layer_norm_avx512(in, out, mean, rstd, weight, bias, rows, dim, eps); return;
    case WGK_LEVEL_AVX2: layer_norm_avx2(in, out, mean, rstd, weight, bias, rows, dim, eps); return;
    default: break;
    }
#endif
    layer_norm_portable(in, out, mean, rstd, weight, bias, rows, dim, eps);
}
