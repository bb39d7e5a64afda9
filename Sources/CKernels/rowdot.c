// Row-independent products: out[i][j] = x_i · w_j with one summation order per product that depends on neither the
// other rows nor the number of rows. BLAS blocks its work by the matrix sizes, so a row's result changes in the last
// bits with the rows it is computed with; callers that cache per-row results across calls need this instead.
// Blocks of rows only share loads: a block always computes 4×4 products, repeating its last row or column when the
// matrix has fewer, and each product follows the same instruction sequence wherever it sits.
#include "CKernels.h"
#include "simd.h"

// Portable: one accumulator chain per product in index order, then the tail.
static void rowdot_portable(const float *const x[4], const float *const w[4], size_t dim, float out[4][4]) {
    for (int a = 0; a < 4; a++) {
        for (int b = 0; b < 4; b++) {
            float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            size_t k = 0;
            for (; k + 8 <= dim; k += 8)
                for (int l = 0; l < 8; l++) acc[l] += x[a][k + l] * w[b][k + l];
            float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
            for (; k < dim; k++) s += x[a][k] * w[b][k];
            out[a][b] = s;
        }
    }
}

#if WGK_X86
// AVX2: per product one 8-lane FMA chain over the chunks (the tail chunk masked), reduced by hsum256.
// Two rows × four columns per pass (8 accumulators: AVX2 has 16 registers); two passes make the 4×4 block.
__attribute__((target("avx2,fma"))) static void rowdot_avx2(const float *const x[4], const float *const w[4], size_t dim, float out[4][4]) {
    static const int32_t ones[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    size_t full = dim & ~(size_t)7, left = dim - full;
    __m256i mask = _mm256_loadu_si256((const __m256i *)(ones + 8 - left));
    for (int a = 0; a < 4; a += 2) {
        __m256 c[2][4];
        for (int r = 0; r < 2; r++)
            for (int b = 0; b < 4; b++) c[r][b] = _mm256_setzero_ps();
        for (size_t k = 0; k < full; k += 8) {
            __m256 x0 = _mm256_loadu_ps(x[a] + k), x1 = _mm256_loadu_ps(x[a + 1] + k);
            for (int b = 0; b < 4; b++) {
                __m256 wb = _mm256_loadu_ps(w[b] + k);
                c[0][b] = _mm256_fmadd_ps(x0, wb, c[0][b]);
                c[1][b] = _mm256_fmadd_ps(x1, wb, c[1][b]);
            }
        }
        if (left) {
            __m256 x0 = _mm256_maskload_ps(x[a] + full, mask), x1 = _mm256_maskload_ps(x[a + 1] + full, mask);
            for (int b = 0; b < 4; b++) {
                __m256 wb = _mm256_maskload_ps(w[b] + full, mask);
                c[0][b] = _mm256_fmadd_ps(x0, wb, c[0][b]);
                c[1][b] = _mm256_fmadd_ps(x1, wb, c[1][b]);
            }
        }
        for (int r = 0; r < 2; r++)
            for (int b = 0; b < 4; b++) out[a + r][b] = hsum256(c[r][b]);
    }
}

// AVX-512: per product one 16-lane FMA chain over the chunks (the tail chunk masked); 16 accumulators per block.
__attribute__((target("avx512f"))) static void rowdot_avx512(const float *const x[4], const float *const w[4], size_t dim, float out[4][4]) {
    __m512 c[4][4];
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++) c[a][b] = _mm512_setzero_ps();
    size_t full = dim & ~(size_t)15, left = dim - full;
    for (size_t k = 0; k < full; k += 16) {
        __m512 x0 = _mm512_loadu_ps(x[0] + k), x1 = _mm512_loadu_ps(x[1] + k);
        __m512 x2 = _mm512_loadu_ps(x[2] + k), x3 = _mm512_loadu_ps(x[3] + k);
        for (int b = 0; b < 4; b++) {
            __m512 wb = _mm512_loadu_ps(w[b] + k);
            c[0][b] = _mm512_fmadd_ps(x0, wb, c[0][b]);
            c[1][b] = _mm512_fmadd_ps(x1, wb, c[1][b]);
            c[2][b] = _mm512_fmadd_ps(x2, wb, c[2][b]);
            c[3][b] = _mm512_fmadd_ps(x3, wb, c[3][b]);
        }
    }
    if (left) {
        __mmask16 m = (__mmask16)((1u << left) - 1u);
        __m512 xs[4];
        for (int a = 0; a < 4; a++) xs[a] = _mm512_maskz_loadu_ps(m, x[a] + full);
        for (int b = 0; b < 4; b++) {
            __m512 wb = _mm512_maskz_loadu_ps(m, w[b] + full);
            for (int a = 0; a < 4; a++) c[a][b] = _mm512_fmadd_ps(xs[a], wb, c[a][b]);
        }
    }
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++) out[a][b] = _mm512_reduce_add_ps(c[a][b]);
}
#endif

/// A 4×4 block of products.
typedef void (*rowdot_block)(const float *const[4], const float *const[4], size_t, float[4][4]);

/// The block for the instruction-set level in use.
static rowdot_block rowdot_select(void) {
#if WGK_X86
    int level = wgk_level();
    if (level == WGK_LEVEL_AVX512) return rowdot_avx512;
    if (level == WGK_LEVEL_AVX2) return rowdot_avx2;
#endif
    return rowdot_portable;
}

/// Points `block[0..3]` at rows start, start+1, … (ld floats apart) of a matrix with n rows, repeating the last row
/// past the end; returns how many of the four are real.
static size_t block_rows(const float *base, size_t start, size_t n, size_t ld, const float *block[4]) {
    size_t real = n - start < 4 ? n - start : 4;
    for (size_t k = 0; k < 4; k++) block[k] = base + (start + (k < real ? k : real - 1)) * ld;
    return real;
}

void wgk_rows_dot(const float *x, size_t nx, size_t ldx, const float *w, size_t nw, size_t dim, float *out, size_t ldo) {
    if (nx == 0 || nw == 0) return;
    rowdot_block block = rowdot_select();
    float result[4][4];
    for (size_t i = 0; i < nx; i += 4) {
        const float *xs[4];
        size_t rows = block_rows(x, i, nx, ldx, xs);
        for (size_t j = 0; j < nw; j += 4) {
            const float *ws[4];
            size_t columns = block_rows(w, j, nw, dim, ws);
            block(xs, ws, dim, result);
            for (size_t a = 0; a < rows; a++)
                for (size_t b = 0; b < columns; b++) out[(i + a) * ldo + j + b] = result[a][b];
        }
    }
}

void wgk_gram(const float *rows, size_t n, size_t ld, size_t dim, float *out) {
    if (n == 0) return;
    rowdot_block block = rowdot_select();
    float result[4][4];
    for (size_t i = 0; i < n; i += 4) {
        const float *xs[4];
        size_t count_i = block_rows(rows, i, n, ld, xs);
        // Blocks on and above the diagonal; each product mirrored (x·y and y·x are the same bits: the products of
        // an FMA chain do not depend on the order of their two factors).
        for (size_t j = i; j < n; j += 4) {
            const float *ws[4];
            size_t count_j = block_rows(rows, j, n, ld, ws);
            block(xs, ws, dim, result);
            for (size_t a = 0; a < count_i; a++)
                for (size_t b = 0; b < count_j; b++) {
                    out[(i + a) * n + j + b] = result[a][b];
                    out[(j + b) * n + i + a] = result[a][b];
                }
        }
    }
}
