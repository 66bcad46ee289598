// The feature part of the distillation op (derivation: distill_kernels.inl): one sweep over teacher k's slice
// of fs and ft in row b gives the sums for cos and mse and, in the gradient passes, dfs.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "distill_groups.inl"
#include "distill_layout.inl"
#include "prefetch.h"
#include "vector_loops.inl"

namespace mtkd {
namespace {  // compiled per SIMD level: see distill_kernels.inl
namespace distill {

// Each feature sweep asks for the lines of fs and ft kPrefetchAheadBytes past the ones it loads. A lane group's
// slices are a few KiB of fs and ft that begin on pages of their own, and the kernels read them between the teachers'
// sweeps: the hardware prefetcher, which stops at each page's end, left every page's first lines to be waited for.
constexpr int kFeatureAheadFloats = kPrefetchAheadBytes / sizeof(float);

// dfs of at least this many bytes is written with non-temporal stores (see feature_row).
constexpr std::size_t kStreamFeatureGradBytes = std::size_t{1} << 20;

// Whether dfs is large enough to bypass the caches (see feature_row).
inline bool stream_feature_grads(const DistillProblem& p) {
    return static_cast<std::size_t>(p.B) * p.F * sizeof(float) >= kStreamFeatureGradBytes;
}

// Without features at all (F = 0: every D[k] = 0) no pair's feature sweep runs; cos and mse of rows [b0, b1) are 0.
inline void zero_feature_stats(const DistillProblem& p, int b0, int b1) {
    if (p.F > 0) return;
    const std::size_t first = static_cast<std::size_t>(b0) * p.K, count = static_cast<std::size_t>(b1 - b0) * p.K;
    std::fill_n(p.stats.cos + first, count, 0.0f);
    std::fill_n(p.stats.mse + first, count, 0.0f);
}

inline float feature_grad_scale(const DistillProblem& p, int b, int k) {
    if (p.D[k] == 0) return 0.0f;
    return p.inv_counted_rows * p.beta * p.wf[stat_index(p, b, k)] * (2.0f / static_cast<float>(p.D[k]));
}

// Sweep of teacher k's feature slice in row b: the sums for cos and mse (into the group) and, with
// WithGrad, dfs = grad_scale * (fs - ft). With `stream`, whole aligned vectors of dfs are written with
// non-temporal stores: a large dfs is not read before it is overwritten, and is not needed again by this op.
template <class V, bool WithStats, bool WithGrad>
inline void feature_row(const DistillProblem& p, int b, int k, float grad_scale, FeatureGroup<V>* g, bool stream) {
    using F = typename V::F;
    using M = typename V::M;
    const int d = p.D[k];
    if (d == 0) {
        // A teacher without features (the dense step's pixel rows): cos = mse = 0 and no dfs, nothing read.
        if constexpr (WithStats) {
            p.stats.cos[stat_index(p, b, k)] = 0.0f;
            p.stats.mse[stat_index(p, b, k)] = 0.0f;
        }
        return;
    }
    const std::size_t off = static_cast<std::size_t>(b) * p.F + p.off[k];
    const float* a = p.fs + off;
    const float* t = p.ft + off;
    float* out = WithGrad ? p.grads.dfs + off : nullptr;
    const F vg = V::set1(grad_scale);
    const float *a_ahead = address_ahead(a, kFeatureAheadFloats), *t_ahead = address_ahead(t, kFeatureAheadFloats);
    // Two sets of sums, for even and odd vectors: one set alone would wait on its FMA latency every vector.
    F dot[2] = {V::zero(), V::zero()}, ss[2] = {V::zero(), V::zero()}, tt[2] = {V::zero(), V::zero()},
      sq[2] = {V::zero(), V::zero()};
    auto step = [&](int c, M m, auto tail, auto streaming, int h) {
        constexpr bool is_tail = decltype(tail)::value;
        prefetch_along<V::W>(a_ahead, c);
        prefetch_along<V::W>(t_ahead, c);
        F x = load<is_tail, V>(a + c, m), u = load<is_tail, V>(t + c, m);  // outside m: 0, adds nothing
        F diff = V::sub(x, u);
        if constexpr (WithStats) {
            dot[h] = V::fma(x, u, dot[h]);
            ss[h] = V::fma(x, x, ss[h]);
            tt[h] = V::fma(u, u, tt[h]);
            sq[h] = V::fma(diff, diff, sq[h]);
        }
        if constexpr (WithGrad) {
            if constexpr (decltype(streaming)::value) V::stream(out + c, V::mul(vg, diff));
            else store<is_tail, V>(out + c, V::mul(vg, diff), m);
        }
    };
    const M all = V::first(V::W);
    // Whole vectors [c, end) two at a time, then the last one if their count is odd.
    auto whole = [&](int c, int end, auto streaming) {
        for (; c + 2 * V::W <= end; c += 2 * V::W) {
            step(c, all, std::false_type{}, streaming, 0);
            step(c + V::W, all, std::false_type{}, streaming, 1);
        }
        if (c + V::W <= end) step(c, all, std::false_type{}, streaming, 0);
    };
    if (WithGrad && stream) {
        // A partial first vector up to the next W-float boundary of out, then aligned whole vectors.
        const int misalign = static_cast<int>((reinterpret_cast<std::uintptr_t>(out) / sizeof(float)) % V::W);
        const int head = misalign == 0 ? 0 : std::min(d, V::W - misalign);
        if (head > 0) step(0, V::first(head), std::true_type{}, std::false_type{}, 1);
        const int end = head + (d - head) / V::W * V::W;
        whole(head, end, std::true_type{});
        if (end < d) step(end, V::first(d - end), std::true_type{}, std::false_type{}, 1);
    } else {
        const int end = d / V::W * V::W;
        whole(0, end, std::false_type{});
        if (end < d) step(end, V::first(d - end), std::true_type{}, std::false_type{}, 1);
    }
    if constexpr (WithStats) {
        using G = FeatureGroup<V>;
        const int j = g->n++;
        g->sums[G::kDot][j] = V::add(dot[0], dot[1]);
        g->sums[G::kSs][j] = V::add(ss[0], ss[1]);
        g->sums[G::kTt][j] = V::add(tt[0], tt[1]);
        g->sums[G::kSq][j] = V::add(sq[0], sq[1]);
        g->width[j] = static_cast<float>(d);
        g->i[j] = stat_index(p, b, k);
        if (g->n == V::W) finish_features(p, *g);
    }
}

// The gradient pass's dfs slice of pair (b, k): from feature_row for a counted row, zeros for an ignored one.
template <class V>
inline void feature_gradient(const DistillProblem& p, int b, int k, bool stream) {
    if (p.y[b] >= 0) feature_row<V, false, true>(p, b, k, feature_grad_scale(p, b, k), nullptr, stream);
    else zero_row(p.grads.dfs + static_cast<std::size_t>(b) * p.F + p.off[k], static_cast<std::size_t>(p.D[k]));
}

// Rows whose dfs is at most this many floats (8 KiB) are staged (feature_gradients_of_rows).
constexpr int kStagedFeatureFloats = 2048;

// dfs of a counted row's slice k into `slice`: feature_row's gradient, with plain stores and nothing else.
template <class V>
inline void slice_gradient(const DistillProblem& p, int b, int k, float* slice) {
    using F = typename V::F;
    const std::size_t off = static_cast<std::size_t>(b) * p.F + p.off[k];
    const float *a = p.fs + off, *t = p.ft + off;
    const float *a_ahead = address_ahead(a, kFeatureAheadFloats), *t_ahead = address_ahead(t, kFeatureAheadFloats);
    const F scale = V::set1(feature_grad_scale(p, b, k));
    for_each_vector<V>(p.D[k], [&](int c, typename V::M m, auto tail) {
        constexpr bool is_tail = decltype(tail)::value;
        prefetch_along<V::W>(a_ahead, c);
        prefetch_along<V::W>(t_ahead, c);
        store<is_tail, V>(slice + c, V::mul(scale, V::sub(load<is_tail, V>(a + c, m), load<is_tail, V>(t + c, m))), m);
    });
}

// The gradient pass's dfs of rows b0 .. b0 + n - 1, one run of n F floats. Slice by slice, a streamed dfs gets whole
// lines only where a slice covers them, and a short slice (16 floats, say) off a line boundary is two masked stores,
// each of which reads its line from memory first; each slice also pays for feature_row's choices of store. So where
// dfs is streamed and the run fits in kStagedFeatureFloats, the slices are computed into an L1 buffer laid out with
// the run's own alignment, and the run goes out as whole streamed lines, with at most a partial line at each end
// (the dense shape's gradient pass 5-9 % faster, whether dfs starts on a line or not).
template <class V>
inline void feature_gradients_of_rows(const DistillProblem& p, int b0, int n, bool stream) {
    const std::size_t floats = static_cast<std::size_t>(n) * p.F;
    if (!stream || floats + V::W > static_cast<std::size_t>(kStagedFeatureFloats)) {
        for (int b = b0; b < b0 + n; ++b)
            for (int k = 0; k < p.K; ++k) feature_gradient<V>(p, b, k, stream);
        return;
    }
    float* out = p.grads.dfs + static_cast<std::size_t>(b0) * p.F;
    alignas(64) float buffer[kStagedFeatureFloats];
    float* stage = buffer + (reinterpret_cast<std::uintptr_t>(out) / sizeof(float)) % V::W;  // out[j]'s place in its line
    for (int i = 0; i < n; ++i) {
        const int b = b0 + i;
        float* row = stage + static_cast<std::size_t>(i) * p.F;
        if (p.y[b] < 0) std::fill_n(row, p.F, 0.0f);
        else
            for (int k = 0; k < p.K; ++k) slice_gradient<V>(p, b, k, row + p.off[k]);
    }
    for_each_aligned_vector<V>(out, static_cast<int>(floats), [&](int c, typename V::M m, auto masked) {
        if constexpr (decltype(masked)::value) V::store(out + c, V::load(stage + c, m), m);
        else V::stream(out + c, V::load(stage + c));
    });
}

}  // namespace distill
}  // namespace
}  // namespace mtkd
