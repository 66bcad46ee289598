// cos and mse of a lane group's short feature slices, summed transposed: one lane per row, as the logit tiles are.
//
// Slice by slice (feature_row, slice_sweep), a 16-float slice is one vector: two loads and five operations for its
// four products, then four vectors of partial sums kept per pair (FeatureGroup), reduced W pairs at a time by
// V::sum_lanes (45 instructions per 16 vectors on AVX-512, so about 11 per pair) and their bookkeeping (the pair's
// index, its width, the group's count). Here teacher k's slices of the W rows of a lane group are read as W x W tiles
// of fs and ft, transposed (V::transpose), so vector j holds column j of W slices: each column adds its products in
// every lane at once, and a lane's sums are its row's cos and mse sums with no horizontal step at all. For a slice of
// W floats that is two transposes (128 shuffles on AVX-512) and 5 W operations per W pairs, about 15 per pair, against
// about 30 slice by slice. Longer slices would take a tile per W columns and pay the transposes per tile, where the
// slice sweep's per-pair costs are spread over more vectors (transposes_slices says where it is used).
//
// Each lane sums its row's columns in order, in two interleaved halves (even and odd columns), as the logit tiles sum
// theirs: the sums of a row do not depend on which lane it is in, so a pass gives the same cos and mse however its
// rows are split between threads, and the fused pass the stats pass's bit for bit.
#pragma once

#include <algorithm>
#include <cstddef>
#include <limits>

#include "distill_layout.inl"

namespace mtkd {
namespace {  // compiled per SIMD level: see distill_kernels.inl
namespace distill {

// The stats and fused passes of short rows (tiles_block's FeaturesAfter) sum a lane group's slices transposed where
// each is at most one vector (D[k] <= W: one tile per teacher) and the group's run of fs, and of ft, is at most this
// many bytes: the run is read a column of lines at a time, which the hardware prefetcher does not follow, so its lines
// are asked for between the group's logit tiles, and a longer run asked for so displaces what the tiles use. Zen 4,
// 2 threads, AVX-512, native_pass_pair against slice by slice (docs/PERF.md, "Zen 4: short slices summed transposed,
// and the lane groups' statistics streamed"): the stats pass at 65536,4,11,16 (4 KiB runs) -12 %, 65536,4,11,8 -14 %;
// 16384,16,21,16 (16 KiB runs) +7 %; slices of 32 floats (two tiles) +7 % at 32768,4,11,32 (fused +19 %) and +19 %
// at 16384,16,21,32 (32 KiB runs). The fused pass, which then sweeps the slices again for dfs
// (feature_gradients_of_rows, from L1), measured level (0.98-1.04) and takes the transposed sums too, so that its cos
// and mse stay the stats pass's bit for bit.
constexpr std::size_t kTransposedRunMaxBytes = 4096;

// Whether the lane groups of the stats and fused passes sum every feature slice transposed (see
// kTransposedRunMaxBytes): V has more than one lane, no slice is longer than W floats (slices of 0 floats count: their
// cos and mse are 0), and W rows of features are at most kTransposedRunMaxBytes.
template <class V>
inline bool transposes_slices(const DistillProblem& p) {
    if (V::W < 2 || static_cast<std::size_t>(V::W) * p.F * sizeof(float) > kTransposedRunMaxBytes) return false;
    for (int k = 0; k < p.K; ++k)
        if (p.D[k] > V::W) return false;
    return true;
}

// Columns c0 .. c0 + width - 1 of the n rows first_row, first_row + stride, ... as r[j] = column c0 + j, one lane per
// row; lanes past n and vectors past width hold zeros.
template <class V>
__attribute__((always_inline)) inline void load_transposed(const float* first_row, std::size_t stride, int n, int c0,
                                                           int width, typename V::F* r) {
    const typename V::M t = V::first(width);
    for (int i = 0; i < V::W; ++i) {
        const float* row = first_row + static_cast<std::size_t>(i) * stride + c0;
        r[i] = i >= n ? V::zero() : width == V::W ? V::load(row) : V::load(row, t);
    }
    V::transpose(r);
}

// cos and mse of teacher k's slices in rows b0 .. b0 + n - 1, lane i for row b0 + i (lanes past n: 0). The formulas
// are finish_features': cos = dot / (sqrt(ss) sqrt(tt) + eps), mse = sq / D, NaN where ss or tt is not finite.
template <class V>
inline void transposed_slice_stats(const DistillProblem& p, int b0, int n, int k, typename V::F& cos,
                                   typename V::F& mse) {
    using F = typename V::F;
    constexpr int W = V::W;
    const F zero = V::zero();
    const int d = p.D[k];
    if (d == 0) {
        cos = zero;
        mse = zero;
        return;
    }
    const std::size_t first = static_cast<std::size_t>(b0) * p.F + p.off[k];
    F dot[2] = {zero, zero}, ss[2] = {zero, zero}, tt[2] = {zero, zero}, sq[2] = {zero, zero};
    auto column = [&](F x, F u, int h) {
        const F diff = V::sub(x, u);
        dot[h] = V::fma(x, u, dot[h]);
        ss[h] = V::fma(x, x, ss[h]);
        tt[h] = V::fma(u, u, tt[h]);
        sq[h] = V::fma(diff, diff, sq[h]);
    };
    for (int c0 = 0; c0 < d; c0 += W) {
        const int width = std::min(W, d - c0);
        F x[W], u[W];
        load_transposed<V>(p.fs + first, static_cast<std::size_t>(p.F), n, c0, width, x);
        load_transposed<V>(p.ft + first, static_cast<std::size_t>(p.F), n, c0, width, u);
        if (width == W) {
            for (int j = 0; j < W; ++j) column(x[j], u[j], j & 1);
        } else {
            for (int j = 0; j < width; ++j) column(x[j], u[j], j & 1);
        }
    }
    const F s = V::add(ss[0], ss[1]), t = V::add(tt[0], tt[1]);
    const auto finite = V::both(V::equal(V::sub(s, s), zero), V::equal(V::sub(t, t), zero));
    const F nan = V::set1(std::numeric_limits<float>::quiet_NaN());
    const F norms = V::fma(V::sqrt(s), V::sqrt(t), V::set1(p.cos_eps));
    cos = V::select(finite, V::div(V::add(dot[0], dot[1]), norms), nan);
    mse = V::select(finite, V::div(V::add(sq[0], sq[1]), V::set1(static_cast<float>(d))), nan);
}

}  // namespace distill
}  // namespace
}  // namespace mtkd
