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
