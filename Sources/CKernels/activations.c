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

#define INV_SQRT2_PI 0.39894228040143268f

static inline uint32_t float_bits(float x) { uint32_t u; memcpy(&u, &x, 4); return u; }
static inline float bits_float(uint32_t u) { float x; memcpy(&x, &u, 4); return x; }

// Each function below has a scalar, an 8-lane (AVX2) and a 16-lane (AVX-512) twin with the same operations in the same
// order; only the instruction width differs.

/// Tensor's `Kernels.expNonPositive`: exp(x) for x ≤ 0 (clamped at −87), 2^k · p(r) with a degree-7 polynomial.
static inline float exp_nonpositive_one(float x) {
    float xc = (-87.0f > x) ? -87.0f : x;  // Swift's max(x, −87): a NaN stays NaN
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
    return p * bits_float((float_bits(shifted) - 0x4B400000u + 127u) << 23);
}

/// Tensor's `Kernels.erf`: Abramowitz & Stegun 7.1.26 on |z|, the sign copied back.
static inline float erf_one(float z) {
    float a = fabsf(z);
    float t = 1.0f / (1.0f + ERF_A * a);
    float u = t * ERF_C1;
    u = t * (u + ERF_C2);
    u = t * (u + ERF_C3);
    u = t * (u + ERF_C4);
    float poly = t * (u + ERF_C5);
    return bits_float(float_bits(1.0f - poly * exp_nonpositive_one(-a * a)) | (float_bits(z) & 0x80000000u));
}

static inline float gelu_erf_one(float x) { return 0.5f * x * (1.0f + erf_one(x * INV_SQRT2)); }

/// (Φ(x) + x·φ(x)) · dy: the gradient the scalar `geluBackward` adds.
static inline float gelu_erf_grad_one(float x, float dy) {
    float cdf = 0.5f * (1.0f + erf_one(x * INV_SQRT2));
    float pdf = INV_SQRT2_PI * exp_nonpositive_one(-0.5f * x * x);
    return (cdf + x * pdf) * dy;
}

static void gelu_erf_portable(const float *in, float *out, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = gelu_erf_one(in[i]);
}

static void gelu_erf_backward_portable(float *dx, const float *x, const float *dy, size_t n) {
    for (size_t i = 0; i < n; i++) dx[i] += gelu_erf_grad_one(x[i], dy[i]);
}

#if WGK_X86
__attribute__((target("avx2,fma"))) static inline __m256 exp_nonpositive_8(__m256 x) {
    const __m256 shift = _mm256_set1_ps(EXP_SHIFT), one = _mm256_set1_ps(1.0f);
    __m256 xc = _mm256_max_ps(_mm256_set1_ps(-87.0f), x);  // the second operand when either is NaN: NaN stays NaN
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
    __m256i bits = _mm256_slli_epi32(_mm256_sub_epi32(_mm256_castps_si256(shifted), _mm256_set1_epi32(0x4B400000 - 127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}

__attribute__((target("avx2,fma"))) static inline __m256 erf_8(__m256 z) {
    const __m256 sign = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f);
    __m256 a = _mm256_andnot_ps(sign, z);
    __m256 t = _mm256_div_ps(one, _mm256_add_ps(one, _mm256_mul_ps(_mm256_set1_ps(ERF_A), a)));
    __m256 u = _mm256_mul_ps(t, _mm256_set1_ps(ERF_C1));
    u = _mm256_mul_ps(t, _mm256_add_ps(u, _mm256_set1_ps(ERF_C2)));
    u = _mm256_mul_ps(t, _mm256_add_ps(u, _mm256_set1_ps(ERF_C3)));
    u = _mm256_mul_ps(t, _mm256_add_ps(u, _mm256_set1_ps(ERF_C4)));
    __m256 poly = _mm256_mul_ps(t, _mm256_add_ps(u, _mm256_set1_ps(ERF_C5)));
    __m256 e = exp_nonpositive_8(_mm256_mul_ps(_mm256_xor_ps(a, sign), a));
    return _mm256_or_ps(_mm256_sub_ps(one, _mm256_mul_ps(poly, e)), _mm256_and_ps(z, sign));
}

__attribute__((target("avx2,fma"))) static void gelu_erf_avx2(const float *in, float *out, size_t n) {
    const __m256 one = _mm256_set1_ps(1.0f), half = _mm256_set1_ps(0.5f), scale = _mm256_set1_ps(INV_SQRT2);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(in + i);
        __m256 erf = erf_8(_mm256_mul_ps(x, scale));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_mul_ps(half, x), _mm256_add_ps(one, erf)));
    }
    gelu_erf_portable(in + i, out + i, n - i);
}

__attribute__((target("avx2,fma"))) static void gelu_erf_backward_avx2(float *dx, const float *xs, const float *dy, size_t n) {
    const __m256 one = _mm256_set1_ps(1.0f), half = _mm256_set1_ps(0.5f), scale = _mm256_set1_ps(INV_SQRT2);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(xs + i);
        __m256 cdf = _mm256_mul_ps(half, _mm256_add_ps(one, erf_8(_mm256_mul_ps(x, scale))));
        __m256 pdf = _mm256_mul_ps(_mm256_set1_ps(INV_SQRT2_PI), exp_nonpositive_8(_mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(-0.5f), x), x)));
        __m256 grad = _mm256_mul_ps(_mm256_add_ps(cdf, _mm256_mul_ps(x, pdf)), _mm256_loadu_ps(dy + i));
        _mm256_storeu_ps(dx + i, _mm256_add_ps(_mm256_loadu_ps(dx + i), grad));
    }
    gelu_erf_backward_portable(dx + i, xs + i, dy + i, n - i);
}

__attribute__((target("avx512f"))) static inline __m512 exp_nonpositive_16(__m512 x) {
    const __m512 shift = _mm512_set1_ps(EXP_SHIFT), one = _mm512_set1_ps(1.0f);
    __m512 xc = _mm512_max_ps(_mm512_set1_ps(-87.0f), x);  // the second operand when either is NaN: NaN stays NaN
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
    __m512i bits = _mm512_slli_epi32(_mm512_sub_epi32(_mm512_castps_si512(shifted), _mm512_set1_epi32(0x4B400000 - 127)), 23);
    return _mm512_mul_ps(p, _mm512_castsi512_ps(bits));
}

__attribute__((target("avx512f"))) static inline __m512 erf_16(__m512 z) {
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
    const __m512 one = _mm512_set1_ps(1.0f);
    __m512 a = _mm512_castsi512_ps(_mm512_andnot_si512(sign, _mm512_castps_si512(z)));
    __m512 t = _mm512_div_ps(one, _mm512_add_ps(one, _mm512_mul_ps(_mm512_set1_ps(ERF_A), a)));
    __m512 u = _mm512_mul_ps(t, _mm512_set1_ps(ERF_C1));
    u = _mm512_mul_ps(t, _mm512_add_ps(u, _mm512_set1_ps(ERF_C2)));
    u = _mm512_mul_ps(t, _mm512_add_ps(u, _mm512_set1_ps(ERF_C3)));
    u = _mm512_mul_ps(t, _mm512_add_ps(u, _mm512_set1_ps(ERF_C4)));
    __m512 poly = _mm512_mul_ps(t, _mm512_add_ps(u, _mm512_set1_ps(ERF_C5)));
    __m512 e = exp_nonpositive_16(_mm512_mul_ps(_mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a), sign)), a));
    __m512i low = _mm512_castps_si512(_mm512_sub_ps(one, _mm512_mul_ps(poly, e)));
    return _mm512_castsi512_ps(_mm512_or_si512(low, _mm512_and_si512(_mm512_castps_si512(z), sign)));
}

__attribute__((target("avx512f"))) static void gelu_erf_avx512(const float *in, float *out, size_t n) {
    const __m512 one = _mm512_set1_ps(1.0f), half = _mm512_set1_ps(0.5f), scale = _mm512_set1_ps(INV_SQRT2);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 x = _mm512_loadu_ps(in + i);
        __m512 erf = erf_16(_mm512_mul_ps(x, scale));
        _mm512_storeu_ps(out + i, _mm512_mul_ps(_mm512_mul_ps(half, x), _mm512_add_ps(one, erf)));
    }
    gelu_erf_portable(in + i, out + i, n - i);
}

__attribute__((target("avx512f"))) static void gelu_erf_backward_avx512(float *dx, const float *xs, const float *dy, size_t n) {
    const __m512 one = _mm512_set1_ps(1.0f), half = _mm512_set1_ps(0.5f), scale = _mm512_set1_ps(INV_SQRT2);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 x = _mm512_loadu_ps(xs + i);
        __m512 cdf = _mm512_mul_ps(half, _mm512_add_ps(one, erf_16(_mm512_mul_ps(x, scale))));
        __m512 pdf = _mm512_mul_ps(_mm512_set1_ps(INV_SQRT2_PI), exp_nonpositive_16(_mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(-0.5f), x), x)));
        __m512 grad = _mm512_mul_ps(_mm512_add_ps(cdf, _mm512_mul_ps(x, pdf)), _mm512_loadu_ps(dy + i));
        _mm512_storeu_ps(dx + i, _mm512_add_ps(_mm512_loadu_ps(dx + i), grad));
    }
    gelu_erf_backward_portable(dx + i, xs + i, dy + i, n - i);
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

void wgk_gelu_erf_backward(float *dx, const float *x, const float *dy, size_t n) {
#if WGK_X86
    switch (wgk_level()) {
    case WGK_LEVEL_AVX512: gelu_erf_backward_avx512(dx, x, dy, n); return;
    case WGK_LEVEL_AVX2: gelu_erf_backward_avx2(dx, x, dy, n); return;
    default: break;
    }
#endif
    gelu_erf_backward_portable(dx, x, dy, n);
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

// Layer norm's gradients. Per row, the means of dNorm and dNorm·norm are summed in index order (rows in vector lanes,
// as in the forward); then each row, in row order, adds into dx, dweight and dbias element by element: the same
// operations in the same order as Tensor's scalar loop, so bit-identical at every level.

/// One row's two sums, divided by dim, in the scalar loop's order.
static inline void layer_norm_grad_stats_one(const float *x, const float *dy, const float *w, size_t dim, float m, float s,
                                             float *dnorm_mean, float *dnorm_norm_mean) {
    float a = 0, c = 0;
    for (size_t i = 0; i < dim; i++) {
        float norm = (x[i] - m) * s;
        float dnorm = w[i] * dy[i];
        a += dnorm;
        c += dnorm * norm;
    }
    *dnorm_mean = a / (float)dim;
    *dnorm_norm_mean = c / (float)dim;
}

/// One row's element-wise part (dweight / dbias may be NULL).
static inline void layer_norm_grad_apply_one(float *dx, float *dw, float *db, const float *x, const float *dy, const float *w, size_t dim,
                                             float m, float s, float a, float c) {
    for (size_t i = 0; i < dim; i++) {
        float norm = (x[i] - m) * s;
        float dnorm = w[i] * dy[i];
        if (db) db[i] += dy[i];
        if (dw) dw[i] += norm * dy[i];
        dx[i] += (dnorm - a - norm * c) * s;
    }
}

static void layer_norm_backward_portable(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w, const float *mean,
                                         const float *rstd, size_t rows, size_t dim) {
    for (size_t r = 0; r < rows; r++) {
        float a, c;
        layer_norm_grad_stats_one(x + r * dim, dy + r * dim, w, dim, mean[r], rstd[r], &a, &c);
        layer_norm_grad_apply_one(dx + r * dim, dw, db, x + r * dim, dy + r * dim, w, dim, mean[r], rstd[r], a, c);
    }
}

#if WGK_X86
__attribute__((target("avx512f"))) static void layer_norm_grad_apply_avx512(float *dx, float *dw, float *db, const float *x, const float *dy,
                                                                             const float *w, size_t dim, float m, float s, float a, float c) {
    const __m512 vm = _mm512_set1_ps(m), vs = _mm512_set1_ps(s), va = _mm512_set1_ps(a), vc = _mm512_set1_ps(c);
    size_t i = 0;
    for (; i + 16 <= dim; i += 16) {
        __m512 y = _mm512_loadu_ps(dy + i);
        __m512 norm = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(x + i), vm), vs);
        __m512 dnorm = _mm512_mul_ps(_mm512_loadu_ps(w + i), y);
        if (db) _mm512_storeu_ps(db + i, _mm512_add_ps(_mm512_loadu_ps(db + i), y));
        if (dw) _mm512_storeu_ps(dw + i, _mm512_add_ps(_mm512_loadu_ps(dw + i), _mm512_mul_ps(norm, y)));
        __m512 g = _mm512_mul_ps(_mm512_sub_ps(_mm512_sub_ps(dnorm, va), _mm512_mul_ps(norm, vc)), vs);
        _mm512_storeu_ps(dx + i, _mm512_add_ps(_mm512_loadu_ps(dx + i), g));
    }
    layer_norm_grad_apply_one(dx + i, dw ? dw + i : NULL, db ? db + i : NULL, x + i, dy + i, w + i, dim - i, m, s, a, c);
}

__attribute__((target("avx512f"))) static void layer_norm_backward_avx512(float *dx, float *dw, float *db, const float *dy, const float *x,
                                                                           const float *w, const float *mean, const float *rstd, size_t rows,
                                                                           size_t dim) {
    size_t r = 0;
    if (dim > 0 && dim <= (size_t)0x7fffffff / 16) {
        const __m512i lanes = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                                 _mm512_set1_epi32((int)dim));
        const __m512 n = _mm512_set1_ps((float)dim);
        for (; r + 16 <= rows; r += 16) {
            const float *xb = x + r * dim, *yb = dy + r * dim;
            __m512 m = _mm512_loadu_ps(mean + r), s = _mm512_loadu_ps(rstd + r);
            __m512 a = _mm512_setzero_ps(), c = _mm512_setzero_ps();
            for (size_t i = 0; i < dim; i++) {
                __m512 norm = _mm512_mul_ps(_mm512_sub_ps(_mm512_i32gather_ps(lanes, xb + i, 4), m), s);
                __m512 dnorm = _mm512_mul_ps(_mm512_set1_ps(w[i]), _mm512_i32gather_ps(lanes, yb + i, 4));
                a = _mm512_add_ps(a, dnorm);
                c = _mm512_add_ps(c, _mm512_mul_ps(dnorm, norm));
            }
            float as[16], cs[16];
            _mm512_storeu_ps(as, _mm512_div_ps(a, n));
            _mm512_storeu_ps(cs, _mm512_div_ps(c, n));
            for (size_t k = 0; k < 16; k++)
                layer_norm_grad_apply_avx512(dx + (r + k) * dim, dw, db, xb + k * dim, yb + k * dim, w, dim, mean[r + k], rstd[r + k], as[k], cs[k]);
        }
    }
    layer_norm_backward_portable(dx + r * dim, dw, db, dy + r * dim, x + r * dim, w, mean + r, rstd + r, rows - r, dim);
}
#endif

void wgk_layer_norm_backward(float *dx, float *dweight, float *dbias, const float *dy, const float *x, const float *weight, const float *mean,
                             const float *rstd, size_t rows, size_t dim) {
#if WGK_X86
    if (wgk_level() == WGK_LEVEL_AVX512) {
        layer_norm_backward_avx512(dx, dweight, dbias, dy, x, weight, mean, rstd, rows, dim);
        return;
    }
#endif
    layer_norm_backward_portable(dx, dweight, dbias, dy, x, weight, mean, rstd, rows, dim);
}
