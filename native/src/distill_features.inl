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
#include "whole_lines.inl"

namespace mtkd {
namespace {  // compiled per SIMD level: see distill_kernels.inl
namespace distill {

// Each feature sweep asks for the lines of fs and ft kPrefetchAheadBytes past the ones it loads. A lane group's
// slices are a few KiB of fs and ft that begin on pages of their own, and the kernels read them between the teachers'
// sweeps: the hardware prefetcher, which stops at each page's end, left every page's first lines to be waited for.
constexpr int kFeatureAheadFloats = kPrefetchAheadBytes / sizeof(float);

// dfs of at least this many bytes, in a pass past the cache (DistillProblem::pass_past_cache), is written with
// non-temporal stores (see feature_row).
constexpr std::size_t kStreamFeatureGradBytes = std::size_t{1} << 20;

// Whether dfs is large enough to bypass the caches (see feature_row).
inline bool stream_feature_grads(const DistillProblem& p) {
    return p.pass_past_cache && static_cast<std::size_t>(p.B) * p.F * sizeof(float) >= kStreamFeatureGradBytes;
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

// Slice (b, k)'s sums, for even and odd vectors, into the group, which finishes a full group's cos and mse.
template <class V>
inline void add_slice_sums(const DistillProblem& p, int b, int k, const typename V::F (&dot)[2],
                           const typename V::F (&ss)[2], const typename V::F (&tt)[2], const typename V::F (&sq)[2],
                           FeatureGroup<V>& g) {
    using G = FeatureGroup<V>;
    const int j = g.n++;
    g.sums[G::kDot][j] = V::add(dot[0], dot[1]);
    g.sums[G::kSs][j] = V::add(ss[0], ss[1]);
    g.sums[G::kTt][j] = V::add(tt[0], tt[1]);
    g.sums[G::kSq][j] = V::add(sq[0], sq[1]);
    g.width[j] = static_cast<float>(p.D[k]);
    g.i[j] = stat_index(p, b, k);
    if (g.n == V::W) finish_features(p, g);
}

// A slice whose dfs goes through lines' stage (WholeLines::stages): feature_row's sums, vector for vector in the same
// pairs (a piece is a multiple of 2 W), and its dfs into the stage piece by piece. Inlined into the instantiation of
// feature_row that stages (Staged). Its sweep is feature_row's written again, step for step: the sums held in a struct
// shared by the two measured 6-13 % slower on AVX2 (16 vector registers), the dense fused pass most. Its hints go
// where feature_row's streamed ones go (Streamed).
template <class V, bool WithStats, Hint Streamed>
inline void staged_feature_sweep(const DistillProblem& p, int b, int k, float grad_scale, FeatureGroup<V>* g,
                                 WholeLines<V>& lines) {
    using F = typename V::F;
    using M = typename V::M;
    const int d = p.D[k];
    const std::size_t off = static_cast<std::size_t>(b) * p.F + p.off[k];
    const float *a = p.fs + off, *t = p.ft + off;
    const float *a_ahead = address_ahead(a, kFeatureAheadFloats), *t_ahead = address_ahead(t, kFeatureAheadFloats);
    const F vg = V::set1(grad_scale);
    const M all = V::first(V::W);
    F dot[2] = {V::zero(), V::zero()}, ss[2] = {V::zero(), V::zero()}, tt[2] = {V::zero(), V::zero()},
      sq[2] = {V::zero(), V::zero()};
    for (int c0 = 0; c0 < d; c0 += kStagePieceFloats) {
        const int end = std::min(d, c0 + kStagePieceFloats);
        float* const to = lines.stage(off + c0, end - c0);
        auto step = [&](int c, M m, auto tail, int h) {
            constexpr bool is_tail = decltype(tail)::value;
            prefetch_along<V::W, Streamed>(a_ahead, c);
            prefetch_along<V::W, Streamed>(t_ahead, c);
            F x = load<is_tail, V>(a + c, m), u = load<is_tail, V>(t + c, m);
            F diff = V::sub(x, u);
            if constexpr (WithStats) {
                dot[h] = V::fma(x, u, dot[h]);
                ss[h] = V::fma(x, x, ss[h]);
                tt[h] = V::fma(u, u, tt[h]);
                sq[h] = V::fma(diff, diff, sq[h]);
            }
            store<is_tail, V>(to + (c - c0), V::mul(vg, diff), m);
        };
        const int whole_end = c0 + (end - c0) / V::W * V::W;
        int c = c0;
        for (; c + 2 * V::W <= whole_end; c += 2 * V::W) {
            step(c, all, std::false_type{}, 0);
            step(c + V::W, all, std::false_type{}, 1);
        }
        if (c + V::W <= whole_end) step(c, all, std::false_type{}, 0);
        if (whole_end < end) step(whole_end, V::first(end - whole_end), std::true_type{}, 1);
    }
    if constexpr (WithStats) add_slice_sums(p, b, k, dot, ss, tt, sq, *g);
    lines.drain();
}

// Sweep of teacher k's feature slice in row b: the sums for cos and mse (into the group) and, with WithGrad,
// dfs = grad_scale * (fs - ft). Without lines, by plain stores. With lines (a dfs past the caches): a slice on the line
// boundaries streamed in place; with Staged, one that WholeLines::stages through the stage; any other in place, by a
// masked head up to the first line boundary, whole lines streamed and a masked tail where only dfs is written, by
// plain stores from the slice's start where the statistics are summed too. So the sums take the slice's vectors
// from its start in the same pairs whichever way dfs goes, and are the stats pass's bit for bit.
// The instantiation without the stage is what a pass whose slices all go in place runs: a caller keeps its vectors in
// the registers its callee leaves alone (the compiler knows which), and the staged sweep takes more of them (the dense
// shape's fused pass measured 8-30 % slower with it in the same function).
// Streamed: where the hints of a sweep that streams dfs leave their lines (prefetch.h). The row kernels, whose slices
// come between long logit sweeps, ask into L2 (1024,8,1000,512's gradient pass 12 % faster); the lane groups, which
// sweep a group's slices one after another, into L1 (256,64,100,128's gradient pass 4 % slower into L2). Other sweeps
// ask into L1.
template <class V, bool WithStats, bool WithGrad, bool Staged = false, Hint Streamed = Hint::IntoL1>
inline void feature_row(const DistillProblem& p, int b, int k, float grad_scale, FeatureGroup<V>* g,
                        WholeLines<V>* lines) {
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
    if constexpr (WithGrad && Staged) {
        if (lines != nullptr && lines->stages(off, d, WithStats))
            return staged_feature_sweep<V, WithStats, Streamed>(p, b, k, grad_scale, g, *lines);
    }
    const float* a = p.fs + off;
    const float* t = p.ft + off;
    float* out = WithGrad ? p.grads.dfs + off : nullptr;
    const F vg = V::set1(grad_scale);
    const float *a_ahead = address_ahead(a, kFeatureAheadFloats), *t_ahead = address_ahead(t, kFeatureAheadFloats);
    // Two sets of sums, for even and odd vectors: one set alone would wait on its FMA latency every vector.
    F dot[2] = {V::zero(), V::zero()}, ss[2] = {V::zero(), V::zero()}, tt[2] = {V::zero(), V::zero()},
      sq[2] = {V::zero(), V::zero()};
    auto step = [&](int c, M m, auto tail, auto streaming, auto from_memory, int h) {
        constexpr bool is_tail = decltype(tail)::value;
        constexpr Hint level = decltype(from_memory)::value ? Streamed : Hint::IntoL1;
        prefetch_along<V::W, level>(a_ahead, c);
        prefetch_along<V::W, level>(t_ahead, c);
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
            step(c, all, std::false_type{}, streaming, streaming, 0);
            step(c + V::W, all, std::false_type{}, streaming, streaming, 1);
        }
        if (c + V::W <= end) step(c, all, std::false_type{}, streaming, streaming, 0);
    };
    if (WithGrad && lines != nullptr && (!WithStats || lines->head(off) == 0)) {
        // A partial first vector up to the next line boundary of out, then whole lines, then the rest.
        const int head = std::min(d, lines->head(off));
        if (head > 0) step(0, V::first(head), std::true_type{}, std::false_type{}, std::true_type{}, 1);
        const int end = head + (d - head) / V::W * V::W;
        whole(head, end, std::true_type{});
        if (end < d) step(end, V::first(d - end), std::true_type{}, std::false_type{}, std::true_type{}, 1);
    } else {
        const int end = d / V::W * V::W;
        whole(0, end, std::false_type{});
        if (end < d) step(end, V::first(d - end), std::true_type{}, std::false_type{}, std::false_type{}, 1);
    }
    if constexpr (WithStats) add_slice_sums(p, b, k, dot, ss, tt, sq, *g);
}

// The sweep of slice (b, k) for the statistics and, with WithGrad, its dfs = grad_scale * (fs - ft) into `out` by plain
// stores (a row of the stage, or dfs itself): feature_row's operations in its order, so the sums are bit for bit
// those of every other sweep, but inlined where the caller loops over a lane group's pairs (feature_stats_of_rows,
// features_and_gradients_of_rows): a call per pair cost the dense stats pass about 5 % (its slices are a vector each).
template <class V, bool WithGrad>
__attribute__((always_inline)) inline void slice_sweep(const DistillProblem& p, int b, int k, float grad_scale,
                                                       FeatureGroup<V>& g, float* out) {
    using F = typename V::F;
    const int d = p.D[k];
    if (d == 0) {
        p.stats.cos[stat_index(p, b, k)] = 0.0f;
        p.stats.mse[stat_index(p, b, k)] = 0.0f;
        return;
    }
    const std::size_t off = static_cast<std::size_t>(b) * p.F + p.off[k];
    const float *a = p.fs + off, *t = p.ft + off;
    const float *a_ahead = address_ahead(a, kFeatureAheadFloats), *t_ahead = address_ahead(t, kFeatureAheadFloats);
    const F vg = V::set1(grad_scale);
    F dot[2] = {V::zero(), V::zero()}, ss[2] = {V::zero(), V::zero()}, tt[2] = {V::zero(), V::zero()},
      sq[2] = {V::zero(), V::zero()};
    auto step = [&](int c, typename V::M m, auto tail, int h) {
        constexpr bool is_tail = decltype(tail)::value;
        prefetch_along<V::W>(a_ahead, c);
        prefetch_along<V::W>(t_ahead, c);
        F x = load<is_tail, V>(a + c, m), u = load<is_tail, V>(t + c, m);
        F diff = V::sub(x, u);
        dot[h] = V::fma(x, u, dot[h]);
        ss[h] = V::fma(x, x, ss[h]);
        tt[h] = V::fma(u, u, tt[h]);
        sq[h] = V::fma(diff, diff, sq[h]);
        if constexpr (WithGrad) store<is_tail, V>(out + c, V::mul(vg, diff), m);
    };
    const auto all = V::first(V::W);
    const int end = d / V::W * V::W;
    int c = 0;
    for (; c + 2 * V::W <= end; c += 2 * V::W) {
        step(c, all, std::false_type{}, 0);
        step(c + V::W, all, std::false_type{}, 1);
    }
    if (c + V::W <= end) step(c, all, std::false_type{}, 0);
    if (end < d) step(end, V::first(d - end), std::true_type{}, 1);
    add_slice_sums(p, b, k, dot, ss, tt, sq, g);
}

// cos and mse of every pair of rows b0 .. b0 + n - 1, row-major (the order of fs and ft), into the group.
template <class V>
inline void feature_stats_of_rows(const DistillProblem& p, int b0, int n, FeatureGroup<V>& g) {
    for (int b = b0; b < b0 + n; ++b)
        for (int k = 0; k < p.K; ++k) slice_sweep<V, false>(p, b, k, 0.0f, g, nullptr);
}

// The fused pass's features of rows b0 .. b0 + n - 1: cos and mse into the group and dfs (scale 0 for ignored rows,
// as feature_row writes it). With lines (a dfs past the caches) a run that fits a piece of the stage goes through it
// whole, as feature_gradients_of_rows stages the gradient pass's; a longer one slice by slice through feature_row.
// Without lines, by plain stores in place.
template <class V, bool Staged>
inline void features_and_gradients_of_rows(const DistillProblem& p, int b0, int n, FeatureGroup<V>& g,
                                           WholeLines<V>* lines) {
    auto scale = [&](int b, int k) { return p.y[b] >= 0 ? feature_grad_scale(p, b, k) : 0.0f; };
    const std::size_t floats = static_cast<std::size_t>(n) * p.F;
    if (lines == nullptr || floats <= static_cast<std::size_t>(kStagePieceFloats)) {
        float* const run = lines != nullptr ? lines->stage(static_cast<std::size_t>(b0) * p.F, static_cast<int>(floats))
                                            : p.grads.dfs + static_cast<std::size_t>(b0) * p.F;
        for (int i = 0; i < n; ++i)
            for (int k = 0; k < p.K; ++k)
                slice_sweep<V, true>(p, b0 + i, k, scale(b0 + i, k), g,
                                     run + static_cast<std::size_t>(i) * p.F + p.off[k]);
        if (lines != nullptr) lines->drain();
        return;
    }
    for (int b = b0; b < b0 + n; ++b)
        for (int k = 0; k < p.K; ++k) feature_row<V, true, true, Staged>(p, b, k, scale(b, k), &g, lines);
}

// The lines of fs and ft of rows [b0, b1), asked for a few at a time by step() while the KL row kernels sweep a block's
// logits, so the catalog's feature sweep after them finds them in the caches (for_each_pair, stats and fused passes),
// or between a lane group's gradient tiles, for its dfs sweep after them (gradient_tiles_block).
// `steps` is how often step() will be called; the lines are spread evenly over those calls.
class FeatureLinesAhead {
public:
    FeatureLinesAhead(const DistillProblem& p, int b0, int b1, int steps) {
        if (p.F == 0 || b1 <= b0) return;
        const std::size_t first = static_cast<std::size_t>(b0) * p.F, floats = static_cast<std::size_t>(b1 - b0) * p.F;
        fs_ = reinterpret_cast<std::uintptr_t>(p.fs + first);
        ft_ = reinterpret_cast<std::uintptr_t>(p.ft + first);
        lines_ = (floats * sizeof(float) + kLineBytes - 1) / kLineBytes + 1;  // + 1: a run off the line boundaries
        per_step_ = steps > 0 ? (lines_ + steps - 1) / steps : lines_;
    }

    template <Hint H = Hint::IntoL1>
    void step() {
        for (std::size_t q = 0; q < per_step_ && next_ < lines_; ++q, ++next_) {
            prefetch_line<H>(reinterpret_cast<const float*>(fs_ + next_ * kLineBytes));  // may lie past the arrays
            prefetch_line<H>(reinterpret_cast<const float*>(ft_ + next_ * kLineBytes));
        }
    }

private:
    static constexpr std::size_t kLineBytes = 64;
    std::uintptr_t fs_ = 0, ft_ = 0;
    std::size_t lines_ = 0, next_ = 0, per_step_ = 0;
};

// The gradient pass's dfs slice of pair (b, k): from feature_row for a counted row, zeros for an ignored one
// (lines and Staged: see feature_row).
template <class V, bool Staged, Hint Streamed = Hint::IntoL1>
inline void feature_gradient(const DistillProblem& p, int b, int k, WholeLines<V>* lines) {
    if (p.y[b] >= 0) {
        feature_row<V, false, true, Staged, Streamed>(p, b, k, feature_grad_scale(p, b, k), nullptr, lines);
        return;
    }
    const int d = p.D[k];
    const std::size_t off = static_cast<std::size_t>(b) * p.F + p.off[k];
    if (Staged && lines != nullptr && lines->stages(off, d, false)) {
        std::fill_n(lines->stage(off, d), d, 0.0f);  // d < kStageBelowFloats <= kStagePieceFloats
        lines->drain();
        return;
    }
    zero_row(p.grads.dfs + off, static_cast<std::size_t>(d));
}

// dfs of a counted row's slice k into `slice`: feature_row's gradient, with plain stores and nothing else. It runs for
// a stage whose lines stream past the caches (feature_gradients_of_rows), so its hints ask into L2 (prefetch.h; the
// dense shape's gradient pass 3-6 % faster so).
template <class V>
inline void slice_gradient(const DistillProblem& p, int b, int k, float* slice) {
    using F = typename V::F;
    const std::size_t off = static_cast<std::size_t>(b) * p.F + p.off[k];
    const float *a = p.fs + off, *t = p.ft + off;
    const float *a_ahead = address_ahead(a, kFeatureAheadFloats), *t_ahead = address_ahead(t, kFeatureAheadFloats);
    const F scale = V::set1(feature_grad_scale(p, b, k));
    for_each_vector<V>(p.D[k], [&](int c, typename V::M m, auto tail) {
        constexpr bool is_tail = decltype(tail)::value;
        prefetch_along<V::W, Hint::IntoL2>(a_ahead, c);
        prefetch_along<V::W, Hint::IntoL2>(t_ahead, c);
        store<is_tail, V>(slice + c, V::mul(scale, V::sub(load<is_tail, V>(a + c, m), load<is_tail, V>(t + c, m))), m);
    });
}

// The gradient pass's dfs of rows b0 .. b0 + n - 1, one run of n F floats (lines and Staged: see feature_row). A run
// of short rows that fits a piece of the stage is staged whole, row by row (zeros for an ignored one): slice by slice,
// a slice of 16 floats off a line boundary was two masked stores, each reading its line first, and each slice paid for
// feature_row's choice of stores (the dense shape's gradient pass 5-9 % faster staged, whether dfs starts on a line or
// not). Other runs go slice by slice.
template <class V, bool Staged>
inline void feature_gradients_of_rows(const DistillProblem& p, int b0, int n, WholeLines<V>* lines) {
    const std::size_t floats = static_cast<std::size_t>(n) * p.F;
    if (lines != nullptr && floats <= static_cast<std::size_t>(kStagePieceFloats)) {
        float* const stage = lines->stage(static_cast<std::size_t>(b0) * p.F, static_cast<int>(floats));
        for (int i = 0; i < n; ++i) {
            const int b = b0 + i;
            float* row = stage + static_cast<std::size_t>(i) * p.F;
            if (p.y[b] < 0) std::fill_n(row, p.F, 0.0f);
            else
                for (int k = 0; k < p.K; ++k) slice_gradient<V>(p, b, k, row + p.off[k]);
        }
        return;
    }
    for (int b = b0; b < b0 + n; ++b)
        for (int k = 0; k < p.K; ++k) feature_gradient<V, Staged>(p, b, k, lines);
}

// Whether a pass with lines (keep_order: its sweeps sum the statistics too) has a slice that goes through the stage
// (WholeLines::stages), so runs feature_row's instantiation with it. Row 0's slices tell where F is whole vectors
// (every row's slices then start where row 0's do within their lines); otherwise any slice the length allows.
template <class V>
inline bool stages_slices(const DistillProblem& p, const WholeLines<V>& lines, bool keep_order) {
    for (int k = 0; k < p.K; ++k)
        if (p.D[k] > 0 && lines.stages(p.off[k], p.D[k], keep_order)) return true;
    if (p.F % V::W == 0) return false;
    for (int k = 0; k < p.K; ++k)
        if (p.D[k] >= kStageFromFloats && (keep_order || p.D[k] < kStageBelowFloats)) return true;
    return false;
}

}  // namespace distill
}  // namespace
}  // namespace mtkd
