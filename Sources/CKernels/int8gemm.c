// Int8 inner products of many queries with many rows (AVX-512 VNNI or portable integer loops): the first pass of
// FlatIndex's exact search, which turns the exact integer dots into certain upper bounds of the float scores.
#include "CKernels.h"

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define WGK_X86 1
#include <immintrin.h>
#else
#define WGK_X86 0
#endif

int wgk_has_vnni(void) {
#if WGK_X86
    __builtin_cpu_init();
    return wgk_level() == WGK_LEVEL_AVX512 && __builtin_cpu_supports("avx512vnni");
#else
    return 0;
#endif
}

void wgk_pack_i8_row(int8_t *packed, size_t row, size_t dim, const int8_t *codes) {
    size_t dim4 = (dim + 3) / 4, g = row / 16, j = row % 16;
    int8_t *base = packed + g * dim4 * 64 + j * 4;
    for (size_t c = 0; c < dim4; c++)
        for (size_t b = 0; b < 4; b++) {
            size_t d = c * 4 + b;
            base[c * 64 + b] = d < dim ? codes[d] : 0;
        }
}

/// The epilogue shared by both paths: 16 exact integer dots of one query → 16 upper bounds.
static inline void finish16(const int32_t *dots, const wgk_i8_query *q, const wgk_i8_rows *r, size_t row0, float *out) {
    for (int j = 0; j < 16; j++) {
        size_t row = row0 + (size_t)j;
        float exact = (float)(dots[j] - 128 * r->row_sums[row]);  // |value| < 2^24: exact in float
        float approx = q->scale * (r->scales[row] * exact);
        out[j] = approx + (q->norm * r->errors[row] + q->error * r->norms[row] + 1e-6f * q->norm * r->norms[row]);
    }
}

static void gemm_portable(const wgk_i8_query *qs, size_t nq, const wgk_i8_rows *r, size_t g0, size_t g1, float *out, size_t ldo) {
    size_t dim4 = r->dim4;
    for (size_t g = g0; g < g1; g++) {
        const int8_t *grp = r->packed + g * dim4 * 64;
        for (size_t qi = 0; qi < nq; qi++) {
            int32_t dots[16] = {0};
            const uint8_t *q = qs[qi].codes;
            for (size_t c = 0; c < dim4; c++)
                for (int j = 0; j < 16; j++)
                    for (int b = 0; b < 4; b++) dots[j] += (int32_t)q[c * 4 + b] * (int32_t)grp[c * 64 + j * 4 + b];
            finish16(dots, &qs[qi], r, g * 16, out + qi * ldo + (g - g0) * 16);
        }
    }
}

#if WGK_X86
/// finish16 in AVX-512: the 16 rows of a group have contiguous scales, bounds, norms and sums.
__attribute__((target("avx512f"))) static inline void finish16_avx512(__m512i dots, const wgk_i8_query *q, const wgk_i8_rows *r, size_t row0, float *out) {
    __m512i sums = _mm512_loadu_si512((const void *)(r->row_sums + row0));
    __m512 exact = _mm512_cvtepi32_ps(_mm512_sub_epi32(dots, _mm512_slli_epi32(sums, 7)));
    __m512 approx = _mm512_mul_ps(_mm512_set1_ps(q->scale), _mm512_mul_ps(_mm512_loadu_ps(r->scales + row0), exact));
    __m512 norms = _mm512_loadu_ps(r->norms + row0);
    __m512 slack = _mm512_mul_ps(_mm512_set1_ps(q->norm), _mm512_loadu_ps(r->errors + row0));
    slack = _mm512_add_ps(slack, _mm512_mul_ps(_mm512_set1_ps(q->error), norms));
    slack = _mm512_add_ps(slack, _mm512_mul_ps(_mm512_set1_ps(1e-6f * q->norm), norms));
    _mm512_storeu_ps(out, _mm512_add_ps(approx, slack));
}

__attribute__((target("avx512f,avx512vnni"))) static void gemm_vnni(const wgk_i8_query *qs, size_t nq, const wgk_i8_rows *r, size_t g0, size_t g1, float *out, size_t ldo) {
    size_t dim4 = r->dim4;
    for (size_t g = g0; g < g1; g++) {
        const int8_t *grp = r->packed + g * dim4 * 64;
        size_t qi = 0;
        for (; qi + 8 <= nq; qi += 8) {
            const uint8_t *q0 = qs[qi].codes, *q1 = qs[qi + 1].codes, *q2 = qs[qi + 2].codes, *q3 = qs[qi + 3].codes;
            const uint8_t *q4 = qs[qi + 4].codes, *q5 = qs[qi + 5].codes, *q6 = qs[qi + 6].codes, *q7 = qs[qi + 7].codes;
            __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
            for (size_t c = 0; c < dim4; c++) {
                __m512i x = _mm512_loadu_si512((const void *)(grp + c * 64));
                a0 = _mm512_dpbusd_epi32(a0, _mm512_set1_epi32(*(const int32_t *)(q0 + c * 4)), x);
                a1 = _mm512_dpbusd_epi32(a1, _mm512_set1_epi32(*(const int32_t *)(q1 + c * 4)), x);
                a2 = _mm512_dpbusd_epi32(a2, _mm512_set1_epi32(*(const int32_t *)(q2 + c * 4)), x);
                a3 = _mm512_dpbusd_epi32(a3, _mm512_set1_epi32(*(const int32_t *)(q3 + c * 4)), x);
                a4 = _mm512_dpbusd_epi32(a4, _mm512_set1_epi32(*(const int32_t *)(q4 + c * 4)), x);
                a5 = _mm512_dpbusd_epi32(a5, _mm512_set1_epi32(*(const int32_t *)(q5 + c * 4)), x);
                a6 = _mm512_dpbusd_epi32(a6, _mm512_set1_epi32(*(const int32_t *)(q6 + c * 4)), x);
                a7 = _mm512_dpbusd_epi32(a7, _mm512_set1_epi32(*(const int32_t *)(q7 + c * 4)), x);
            }
            __m512i acc[8] = {a0, a1, a2, a3, a4, a5, a6, a7};
            for (int t = 0; t < 8; t++) finish16_avx512(acc[t], &qs[qi + t], r, g * 16, out + (qi + t) * ldo + (g - g0) * 16);
        }
        for (; qi < nq; qi++) {
            const uint8_t *q0 = qs[qi].codes;
            __m512i a0 = _mm512_setzero_si512(), a1 = a0;
            size_t c = 0;
            for (; c + 2 <= dim4; c += 2) {
                a0 = _mm512_dpbusd_epi32(a0, _mm512_set1_epi32(*(const int32_t *)(q0 + c * 4)), _mm512_loadu_si512((const void *)(grp + c * 64)));
                a1 = _mm512_dpbusd_epi32(a1, _mm512_set1_epi32(*(const int32_t *)(q0 + c * 4 + 4)), _mm512_loadu_si512((const void *)(grp + c * 64 + 64)));
            }
            if (c < dim4) a0 = _mm512_dpbusd_epi32(a0, _mm512_set1_epi32(*(const int32_t *)(q0 + c * 4)), _mm512_loadu_si512((const void *)(grp + c * 64)));
            finish16_avx512(_mm512_add_epi32(a0, a1), &qs[qi], r, g * 16, out + qi * ldo + (g - g0) * 16);
        }
    }
}
#endif

void wgk_i8_upper_bounds(const wgk_i8_query *queries, size_t nq, const wgk_i8_rows *rows, size_t g0, size_t g1, float *out, size_t ldo) {
#if WGK_X86
    if (wgk_has_vnni()) { gemm_vnni(queries, nq, rows, g0, g1, out, ldo); return; }
#endif
    gemm_portable(queries, nq, rows, g0, g1, out, ldo);
}

// MARK: row-major unsigned codes × one signed query (the recall key scan)

static void dots_u8s8_portable(const int8_t *q, const uint8_t *rows, size_t nrows, size_t dim, int32_t *out) {
    for (size_t r = 0; r < nrows; r++) {
        const uint8_t *x = rows + r * dim;
        int32_t s = 0;
        for (size_t i = 0; i < dim; i++) s += (int32_t)x[i] * (int32_t)q[i];
        out[r] = s;
    }
}

#if WGK_X86
__attribute__((target("avx512f,avx512bw,avx512vnni"))) static void dots_u8s8_vnni(const int8_t *q, const uint8_t *rows, size_t nrows, size_t dim, int32_t *out) {
    size_t full = dim / 64, tail = dim % 64;
    __mmask64 tm = tail ? (__mmask64)((~0ULL) >> (64 - tail)) : 0;
    size_t r = 0;
    for (; r + 2 <= nrows; r += 2) {
        const uint8_t *x0 = rows + r * dim, *x1 = x0 + dim;
        __m512i a0 = _mm512_setzero_si512(), a1 = a0;
        for (size_t c = 0; c < full; c++) {
            __m512i qv = _mm512_loadu_si512((const void *)(q + c * 64));
            a0 = _mm512_dpbusd_epi32(a0, _mm512_loadu_si512((const void *)(x0 + c * 64)), qv);
            a1 = _mm512_dpbusd_epi32(a1, _mm512_loadu_si512((const void *)(x1 + c * 64)), qv);
        }
        if (tail) {
            __m512i qv = _mm512_maskz_loadu_epi8(tm, q + full * 64);
            a0 = _mm512_dpbusd_epi32(a0, _mm512_maskz_loadu_epi8(tm, x0 + full * 64), qv);
            a1 = _mm512_dpbusd_epi32(a1, _mm512_maskz_loadu_epi8(tm, x1 + full * 64), qv);
        }
        out[r] = _mm512_reduce_add_epi32(a0);
        out[r + 1] = _mm512_reduce_add_epi32(a1);
    }
    if (r < nrows) dots_u8s8_portable(q, rows + r * dim, nrows - r, dim, out + r);
}
#endif

void wgk_dots_u8s8(const int8_t *q, const uint8_t *rows, size_t nrows, size_t dim, int32_t *out) {
#if WGK_X86
    if (wgk_has_vnni() && __builtin_cpu_supports("avx512bw")) { dots_u8s8_vnni(q, rows, nrows, dim, out); return; }
#endif
    dots_u8s8_portable(q, rows, nrows, dim, out);
}
