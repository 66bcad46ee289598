// The catalog's jsd on short rows, W rows at a time with one row per vector lane (the layout of distill_tiles.inl).
//
// Row by row (divergence_rows, distill_catalog.inl), a pair (row, teacher) of 11 classes is one vector whose
// exponential, two divisions and logarithm wait on one another, followed by three horizontal sums and the pair's
// scalar tail: its time is latency more than arithmetic. Here column c of the W rows is one vector, so the columns
// of a pair do not wait on one another, every sum comes out one per lane with no horizontal step, and the tails of
// W pairs run together. The element terms are the divergence's own (Jsd::add_value_terms, Jsd::add_gradient_terms),
// shared with the row form, and so is every formula; only the layout differs.
//
// Scratch, as tiles of C columns x W lanes (column c at tile + c W): the student's logits s, log-probabilities ls
// and probabilities ps at T (formed once per group, kept across the teachers), the gradient's per-element v and w
// (per teacher) and its sum over the teachers acc; then acc again as W rows of padded_classes(C) floats.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "distill_divergences.inl"
#include "distill_layout.inl"
#include "distill_tiles.inl"
#include "kernels.h"
#include "vector_exp.h"
#include "vector_log.h"

namespace mtkd {
namespace {  // compiled per SIMD level: see distill_kernels.inl
namespace distill {

// Rows of up to these many classes take jsd's stats and its gradient by lane groups (docs/PERF.md, "jsd by lane
// groups"): at 100 classes the stats pass measured a third faster by lanes, the gradient a few per cent slower (its
// longer rows go by the row form's shift-free sweeps, Jsd::add_gradient).
constexpr int kJsdLaneStatsMaxClasses = kTileMaxClasses;
constexpr int kJsdLaneGradientMaxClasses = 64;

// log1p_near_zero for W lanes: the series below 1e-3, vlog1p beyond and for NaN.
template <class V>
inline typename V::F vlog1p_near_zero(typename V::F x) {
    using F = typename V::F;
    const F third = V::set1(1.0f / 3.0f), half = V::set1(0.5f), one = V::set1(1.0f);
    const F series = V::mul(x, V::fnma(x, V::fnma(x, third, half), one));  // x (1 - x (1/2 - x/3))
    return V::select(V::less(V::abs(x), V::set1(1e-3f)), series, vlog1p<V>(x));
}

template <class V>
struct DivergenceLanes {
    int b0, n;  // rows b0 .. b0 + n - 1 in lanes 0 .. n - 1; the other lanes hold rows of zeros
    std::size_t Cp;
    float *s, *ls, *ps, *v, *w, *acc, *rows;
    alignas(64) float lse_st[V::W];

    float* column(float* tile, int c) const { return tile + static_cast<std::size_t>(c) * V::W; }
    float* row(int i) const { return rows + static_cast<std::size_t>(i) * Cp; }
};

template <class V>
inline DivergenceLanes<V> make_divergence_lanes(const DistillProblem& p, int b0, int n) {
    thread_local std::vector<float> buf;
    DivergenceLanes<V> g;
    g.b0 = b0;
    g.n = n;
    g.Cp = padded_classes(p.C);
    const std::size_t tile = g.Cp * V::W;
    buf.resize(7 * tile);
    g.s = buf.data();
    g.ls = g.s + tile;
    g.ps = g.ls + tile;
    g.v = g.ps + tile;
    g.w = g.v + tile;
    g.acc = g.w + tile;
    g.rows = g.acc + tile;
    for (int i = 0; i < V::W; ++i) g.lse_st[i] = i < n ? p.stats.lse_st[b0 + i] : 0.0f;
    return g;
}

// The s, ls and ps tiles, as student_log_probs forms them for one row: ls = s/T - lse_st, renormalised by the
// measured sum of e^ls.
template <class V>
inline void student_lanes(const DistillProblem& p, const DivergenceLanes<V>& g) {
    using F = typename V::F;
    constexpr int W = V::W;
    const int C = p.C;
    for (int c0 = 0; c0 < C; c0 += W)
        transposed_columns<V>(student_row(p, g.b0), C, g.n, c0, std::min(W, C - c0),
                              [&](int j, F x) { V::store(g.column(g.s, c0 + j), x); });
    const F it = V::set1(p.inv_T), neg_lse = V::sub(V::zero(), V::load(g.lse_st));
    F sum[2] = {V::zero(), V::zero()};
    for (int c = 0; c < C; ++c) {
        const F l = V::fma(V::load(g.column(g.s, c)), it, neg_lse), e = vexp<V>(l);
        V::store(g.column(g.ls, c), l);
        V::store(g.column(g.ps, c), e);
        sum[c & 1] = V::add(sum[c & 1], e);
    }
    const F total = V::add(sum[0], sum[1]);
    const F log_s = vlog1p_near_zero<V>(V::sub(total, V::set1(1.0f))), inv_s = V::div(V::set1(1.0f), total);
    for (int c = 0; c < C; ++c) {
        V::store(g.column(g.ls, c), V::sub(V::load(g.column(g.ls, c)), log_s));
        V::store(g.column(g.ps, c), V::mul(V::load(g.column(g.ps, c)), inv_s));
    }
}

// step(c, d) for every column c of teacher k's rows of the group, d = (s - z)/T - (lse_st - lse_t) per lane: the
// row form's log_ratio.
template <class V, class Step>
inline void for_log_ratio_columns(const DistillProblem& p, const DivergenceLanes<V>& g, int k, Step&& step) {
    using F = typename V::F;
    constexpr int W = V::W;
    alignas(64) float lse_t[W];
    for (int i = 0; i < W; ++i) lse_t[i] = i < g.n ? p.stats.lse_t[stat_index(p, g.b0 + i, k)] : 0.0f;
    const F neg_shift = V::sub(V::load(lse_t), V::load(g.lse_st)), it = V::set1(p.inv_T);
    for (int c0 = 0; c0 < p.C; c0 += W)
        transposed_columns<V>(teacher_row(p, k, g.b0), p.C, g.n, c0, std::min(W, p.C - c0), [&](int j, F z) {
            const int c = c0 + j;
            step(c, V::fma(V::sub(V::load(g.column(g.s, c)), z), it, neg_shift));
        });
}

// kl = T^2 J of teacher k's pairs (Jsd::value per lane).
template <class V>
inline void jsd_value_lanes(const DistillProblem& p, const DivergenceLanes<V>& g, const DivergenceRow& r, int k) {
    constexpr int W = V::W;
    const auto all = V::first(W);
    typename Jsd<V>::ValueSums sums;
    for_log_ratio_columns(p, g, k, [&](int c, typename V::F d) {
        Jsd<V>::add_value_terms(r, d, V::load(g.column(g.ls, c)), V::load(g.column(g.ps, c)), all, sums);
    });
    alignas(64) float s[W], q[W], w[W];
    V::store(s, sums.s);
    V::store(q, sums.q);
    V::store(w, sums.w);
    for (int i = 0; i < g.n; ++i)
        p.stats.kl[stat_index(p, g.b0 + i, k)] = static_cast<float>(p.T * p.T * Jsd<V>::finish_value(s[i], q[i], w[i], r.beta));
}

// acc += coef (1 - beta) ps (v - V + a (w - W)) for teacher k (Jsd::add_gradient_one_sweep per lane), coef =
// a_kd T wl per row.
template <class V>
inline void jsd_gradient_lanes(const DistillProblem& p, const DivergenceLanes<V>& g, const DivergenceRow& r, int k) {
    using F = typename V::F;
    constexpr int W = V::W;
    const auto all = V::first(W);
    typename Jsd<V>::GradientSums sums;
    for_log_ratio_columns(p, g, k, [&](int c, F d) {
        F v, w;
        Jsd<V>::add_gradient_terms(r, d, V::load(g.column(g.ls, c)), V::load(g.column(g.ps, c)), all, v, w, sums);
        V::store(g.column(g.v, c), v);
        V::store(g.column(g.w, c), w);
    });
    alignas(64) float coef[W];
    for (int i = 0; i < W; ++i) coef[i] = i < g.n ? p.a_kd * p.T * p.wl[stat_index(p, g.b0 + i, k)] : 0.0f;
    const F a = vlog1p_near_zero<V>(sums.q), mean = V::fma(a, sums.sw, sums.sv);
    const F scale = V::mul(V::load(coef), V::set1(1.0f - r.beta));
    for (int c = 0; c < p.C; ++c) {
        const F gr = V::mul(V::load(g.column(g.ps, c)),
                            V::sub(V::fma(a, V::load(g.column(g.w, c)), V::load(g.column(g.v, c))), mean));
        V::store(g.column(g.acc, c), V::fma(scale, gr, V::load(g.column(g.acc, c))));
    }
}

// The acc tile as the group's rows (g.row(i)), each zero past C.
template <class V>
inline void acc_rows(const DistillProblem& p, const DivergenceLanes<V>& g) {
    using F = typename V::F;
    constexpr int W = V::W;
    for (int c0 = 0; c0 < p.C; c0 += W) {
        const int width = std::min(W, p.C - c0);
        F r[W];
        for (int j = 0; j < W; ++j) r[j] = j < width ? V::load(g.column(g.acc, c0 + j)) : V::zero();
        V::transpose(r);
        for (int i = 0; i < g.n; ++i) V::store(g.row(i) + c0, r[i]);
    }
}

}  // namespace distill
}  // namespace
}  // namespace mtkd
