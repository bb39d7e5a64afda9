// HNSW beam search over one graph level (Malkov & Yashunin, Alg. 2) in C: the graph walk is bound by memory
// latency and per-step overhead, so it runs here with prefetching and the dispatched dot kernel.
#include "CKernels.h"

#include <math.h>

typedef float (*wgk_dot_fn)(const float *, const float *, size_t);

static float dot_dispatch(const float *a, const float *b, size_t n) { return wgk_dot_f32(a, b, n); }

/// Binary heap over parallel arrays; `max` selects a max-heap (best first) or a min-heap (worst first).
typedef struct {
    float *sims;
    int32_t *nodes;
    size_t count;
    int max;
} heap_t;

static inline int above(const heap_t *h, size_t a, size_t b) {
    return h->max ? h->sims[a] > h->sims[b] : h->sims[a] < h->sims[b];
}

static inline void swap_at(heap_t *h, size_t a, size_t b) {
    float s = h->sims[a]; h->sims[a] = h->sims[b]; h->sims[b] = s;
    int32_t n = h->nodes[a]; h->nodes[a] = h->nodes[b]; h->nodes[b] = n;
}

static inline void heap_push(heap_t *h, float s, int32_t node) {
    size_t i = h->count++;
    h->sims[i] = s; h->nodes[i] = node;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!above(h, i, p)) break;
        swap_at(h, i, p);
        i = p;
    }
}

static inline void heap_pop(heap_t *h, float *s, int32_t *node) {
    *s = h->sims[0]; *node = h->nodes[0];
    size_t last = --h->count;
    h->sims[0] = h->sims[last]; h->nodes[0] = h->nodes[last];
    size_t i = 0, n = h->count;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && above(h, l, m)) m = l;
        if (r < n && above(h, r, m)) m = r;
        if (m == i) break;
        swap_at(h, i, m);
        i = m;
    }
}

static inline const int32_t *link_list(const wgk_hnsw_graph *g, int32_t node, int32_t level) {
    return level == 0 ? g->links0 + (size_t)node * g->stride0
                      : g->upper + g->upper_offset[node] + (size_t)(level - 1) * g->stride_upper;
}

static inline int admit(const wgk_hnsw_graph *g, int32_t n, const uint64_t *mask, int skip_deleted) {
    if (skip_deleted && g->deleted[n]) return 0;
    if (mask && !((mask[(uint32_t)n >> 6] >> ((uint32_t)n & 63)) & 1u)) return 0;
    return 1;
}

size_t wgk_hnsw_search_layer(const wgk_hnsw_graph *g, const float *q, int32_t entry, size_t ef, int32_t level,
                             uint32_t *visited, uint32_t tag, const uint64_t *mask, int skip_deleted,
                             float *cand_sims, int32_t *cand_nodes, float *top_sims, int32_t *top_nodes) {
    wgk_dot_fn dot = dot_dispatch;
    const size_t dim = g->dim, bytes = dim * sizeof(float);
    heap_t cand = {cand_sims, cand_nodes, 0, 1};
    heap_t top = {top_sims, top_nodes, 0, 0};
    int32_t fresh[g->max_links > 0 ? g->max_links : 1];

    float s0 = dot(q, g->vectors + (size_t)entry * dim, dim);
    visited[entry] = tag;
    heap_push(&cand, s0, entry);
    if (admit(g, entry, mask, skip_deleted)) heap_push(&top, s0, entry);
    float bound = top.count > 0 ? top.sims[0] : -INFINITY;
    while (cand.count > 0) {
        float cs;
        int32_t c;
        heap_pop(&cand, &cs, &c);
        if (cs < bound && top.count >= ef) break;
        // Copy the unvisited neighbours (under the node's lock while building), marking them visited.
        pthread_mutex_t *lock = g->locks ? g->locks + (size_t)c % g->lock_count : NULL;
        if (lock) pthread_mutex_lock(lock);
        const int32_t *list = link_list(g, c, level);
        size_t n = (size_t)list[0], m = 0;
        if (n > g->max_links) n = g->max_links;
        for (size_t i = 0; i < n; i++) {
            int32_t nb = list[1 + i];
            if (visited[nb] == tag) continue;
            visited[nb] = tag;
            fresh[m++] = nb;
        }
        if (lock) pthread_mutex_unlock(lock);
        for (size_t i = 0; i < m && i < 2; i++) wgk_prefetch(g->vectors + (size_t)fresh[i] * dim, bytes);
        for (size_t i = 0; i < m; i++) {
            int32_t nb = fresh[i];
            if (i + 2 < m) wgk_prefetch(g->vectors + (size_t)fresh[i + 2] * dim, bytes);
            float s = dot(q, g->vectors + (size_t)nb * dim, dim);
            if (top.count < ef || s > bound) {
                heap_push(&cand, s, nb);
                if (admit(g, nb, mask, skip_deleted)) {
                    heap_push(&top, s, nb);
                    if (top.count > ef) { float ds; int32_t dn; heap_pop(&top, &ds, &dn); }
                }
                if (top.count > 0) bound = top.sims[0];
            }
        }
    }
    return top.count;
}

size_t wgk_hnsw_select(const wgk_hnsw_graph *g, const float *sims, const int32_t *nodes, size_t n, size_t max, int32_t *kept) {
    const size_t dim = g->dim;
    if (n <= max) {
        for (size_t i = 0; i < n; i++) kept[i] = nodes[i];
        return n;
    }
    size_t m = 0;
    for (size_t i = 0; i < n && m < max; i++) {
        const float *vc = g->vectors + (size_t)nodes[i] * dim;
        int good = 1;
        for (size_t j = 0; j < m; j++) {
            if (wgk_dot_f32(vc, g->vectors + (size_t)kept[j] * dim, dim) > sims[i]) { good = 0; break; }
        }
        if (good) kept[m++] = nodes[i];
    }
    return m;
}

void wgk_hnsw_relink(const wgk_hnsw_graph *g, int32_t c, int32_t new_node, size_t cap, int32_t *list) {
    const size_t dim = g->dim;
    size_t n = (size_t)list[0];
    float sims[n + 1];
    int32_t nodes[n + 1], kept[n + 1];
    const float *vc = g->vectors + (size_t)c * dim;
    sims[0] = wgk_dot_f32(vc, g->vectors + (size_t)new_node * dim, dim);
    nodes[0] = new_node;
    for (size_t i = 0; i < n; i++) {
        nodes[i + 1] = list[1 + i];
        sims[i + 1] = wgk_dot_f32(vc, g->vectors + (size_t)list[1 + i] * dim, dim);
    }
    // Insertion sort, best first (stable: equal similarities keep the new node first, as the Swift sort did not promise).
    for (size_t i = 1; i <= n; i++) {
        float s = sims[i];
        int32_t v = nodes[i];
        size_t j = i;
        while (j > 0 && sims[j - 1] < s) { sims[j] = sims[j - 1]; nodes[j] = nodes[j - 1]; j--; }
        sims[j] = s; nodes[j] = v;
    }
    size_t m = wgk_hnsw_select(g, sims, nodes, n + 1, cap, kept);
    list[0] = (int32_t)m;
    for (size_t i = 0; i < m; i++) list[1 + i] = kept[i];
}
