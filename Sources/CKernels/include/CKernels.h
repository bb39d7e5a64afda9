// Vector kernels for the retrieval and recall scans: AVX-512 / AVX2+FMA with run-time dispatch and a portable C fallback.
// The package compiles Swift for baseline x86-64 (SSE); these functions pick the widest instruction set the CPU has.
#ifndef WORLDGPT_CKERNELS_H
#define WORLDGPT_CKERNELS_H

#include <pthread.h>
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

/// out[i·ldo + j] = x_i · w_j for nx rows x_i (ldx floats apart) and nw contiguous rows w_j of dim floats, each product
/// summed in one fixed order that depends only on dim and the instruction-set level: a row's results are the same
/// bits whatever rows it is computed with (BLAS's are not). For per-row results cached across calls.
void wgk_rows_dot(const float *x, size_t nx, size_t ldx, const float *w, size_t nw, size_t dim, float *out, size_t ldo);

/// out[i·n + j] = rows_i · rows_j for n rows of dim floats, ld floats apart: the Gram matrix, each product summed as
/// wgk_rows_dot sums it, computed once per pair and mirrored (so the matrix is exactly symmetric).
void wgk_gram(const float *rows, size_t n, size_t ld, size_t dim, float *out);

/// out[i] = 0.5·in[i]·(1 + erf(in[i]/√2)) with Tensor's erf approximation (Abramowitz & Stegun 7.1.26 and its exp
/// polynomial), every element bit-identical to Tensor's scalar Swift formula at every level; out may be in.
void wgk_gelu_erf(const float *in, float *out, size_t n);

/// Layer norm over rows of dim floats: out = ((x − mean)·rstd)·weight + bias, each row's mean and variance summed in
/// index order (as Tensor's scalar loop), several rows at once in vector lanes: bit-identical to the scalar loop at
/// every level. mean / rstd (per row) may be NULL; out may be in.
void wgk_layer_norm(const float *in, float *out, float *mean, float *rstd, const float *weight, const float *bias, size_t rows,
                    size_t dim, float eps);

/// dx[i] += (Φ(x[i]) + x[i]·φ(x[i]))·dy[i]: the erf-form GELU's gradient, bit-identical to Tensor's scalar loop.
void wgk_gelu_erf_backward(float *dx, const float *x, const float *dy, size_t n);

/// Layer norm's gradients, added into dx, dweight and dbias (either may be NULL) from the saved mean and 1/std per row:
/// bit-identical to Tensor's scalar loop (row sums in index order, rows added in row order).
void wgk_layer_norm_backward(float *dx, float *dweight, float *dbias, const float *dy, const float *x, const float *weight, const float *mean,
                             const float *rstd, size_t rows, size_t dim);

/// out[r] = q · codes[r] (codes as int8 integers, no scale) for nrows contiguous rows of dim int8 codes.
void wgk_scores_i8(const float *q, const int8_t *codes, size_t nrows, size_t dim, float *out);

/// Hints the CPU to fetch `bytes` starting at p into cache (no effect on results).
void wgk_prefetch(const void *p, size_t bytes);

/// True when the int8 kernels use AVX-512 VNNI (the current level is AVX-512 and the CPU has VNNI).
int wgk_has_vnni(void);

/// Rows quantised to int8 for the first pass of exact search, packed in groups of 16 rows: group g holds, for each
/// 4-dimension chunk c, 64 bytes (row j's 4 codes at 4·j). Per row: scale, error bound, |x̂| and the sum of codes.
typedef struct {
    const int8_t *packed;
    size_t dim4;            ///< ceil(dim / 4); chunks past dim hold zeros
    const float *scales;
    const float *errors;    ///< bound on |x − x̂| plus the float rounding of the exact pass (see FlatIndex)
    const float *norms;     ///< |x̂| rounded up
    const int32_t *row_sums;
} wgk_i8_rows;

/// One query quantised to unsigned int8 (code + 128), with its scale, |q − q̂| bound and max(|q|, |q̂|) bound.
typedef struct {
    const uint8_t *codes;   ///< dim4 · 4 bytes
    float scale, error, norm;
} wgk_i8_query;

/// Writes one row's dim int8 codes into its slot of a packed buffer.
void wgk_pack_i8_row(int8_t *packed, size_t row, size_t dim, const int8_t *codes);

/// For groups [g0, g1) and each query: out[q·ldo + 16·(g − g0) + j] = an upper bound of the float score of row
/// 16·g + j (exact integer dot, scaled, plus the error bounds of both quantisations).
void wgk_i8_upper_bounds(const wgk_i8_query *queries, size_t nq, const wgk_i8_rows *rows, size_t g0, size_t g1, float *out, size_t ldo);

/// out[r] = Σ_i rows[r][i] · q[i] (exact int32) for nrows contiguous rows of dim unsigned codes and a signed query.
void wgk_dots_u8s8(const int8_t *q, const uint8_t *rows, size_t nrows, size_t dim, int32_t *out);

/// Raw views of an HNSW graph (the arrays of Retrieval's HNSWIndex).
typedef struct {
    const float *vectors;           ///< N × dim
    size_t dim;
    const int32_t *links0;          ///< level 0: N × stride0, count first
    size_t stride0;
    const int32_t *upper;           ///< upper levels, packed per node from upper_offset[node]
    const int64_t *upper_offset;
    size_t stride_upper;
    const uint8_t *deleted;         ///< N flags (tombstones)
    size_t max_links;               ///< largest link count of any level (2·M)
    pthread_mutex_t *locks;         ///< striped node locks (node % lock_count) while building; NULL when searching
    size_t lock_count;
} wgk_hnsw_graph;

/// Beam search with beam `ef` on `level` from `entry` (Alg. 2 of the HNSW paper). `visited[n] == tag` marks
/// visited nodes (the caller bumps the tag per search). Masked or deleted nodes (when `skip_deleted`) are
/// traversed but never enter the result. `cand_*` needs room for N entries, `top_*` for ef + 1.
/// Returns how many results `top_*` holds, as a min-heap (worst first).
size_t wgk_hnsw_search_layer(const wgk_hnsw_graph *g, const float *q, int32_t entry, size_t ef, int32_t level,
                             uint32_t *visited, uint32_t tag, const uint64_t *mask, int skip_deleted,
                             float *cand_sims, int32_t *cand_nodes, float *top_sims, int32_t *top_nodes);

/// The neighbour-selection heuristic (HNSW paper, Alg. 4): `nodes` sorted best first with `sims` their similarity to
/// the base; keeps a candidate only if it is closer to the base than to every one kept so far, at most `max`.
/// Returns how many were written to `kept`.
size_t wgk_hnsw_select(const wgk_hnsw_graph *g, const float *sims, const int32_t *nodes, size_t n, size_t max, int32_t *kept);

/// Adds `new_node` to the full link list `list` (count first) of node `c`: the old links plus the new node, sorted
/// by similarity to c, re-selected with the heuristic down to `cap`. The caller holds c's lock.
void wgk_hnsw_relink(const wgk_hnsw_graph *g, int32_t c, int32_t new_node, size_t cap, int32_t *list);

#ifdef __cplusplus
}
#endif
#endif
