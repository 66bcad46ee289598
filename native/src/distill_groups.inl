// Finishing the per-(row, teacher) statistics W pairs at a time (derivation: distill_kernels.inl).
//   Teachers: from the lane sums S0, R0, Hs, St, A,
//     lse_t = m/T + log St + (Hs - Hs),  KL = T^2 (A/St + log(Ss/St)),  H = log S0 - Hs/S0,  conf = 1/S0,
//     and for the pairs whose KL / T^2 comes out below kAccurateKlBelow, KL again from distill_kl.inl,
//     CE_t = (m - z_y) + log S0,  hit = [z_y = m and no earlier class reaches m].
//   Features: cos = dot / (sqrt(ss) sqrt(tt) + eps), mse = sq / D; NaN when ss or tt is not finite, which
//     is exactly when fs or ft held a non-finite value (or the squares overflowed).
// V::sum_lanes reduces W vectors in one add tree, and the logs, square roots and divisions run as vector
// operations, so a short row does not pay for them one at a time.
#pragma once

#include <cstddef>
#include <limits>

#include "distill_kl.inl"
#include "distill_layout.inl"
#include "distill_rows.inl"
#include "vector_log.h"

namespace mtkd {
namespace {  // compiled per SIMD level: see distill_kernels.inl
namespace distill {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// A KL / T^2 below this is recomputed by divergence_terms. The fast form's absolute error is a few 1e-7 (in
// units of T^2), so above it the relative error is at most a few 1e-6; below it only the accurate form keeps
// the op's 1e-5. The pair's rows are still in L1 or L2, so the second look costs no memory traffic.
constexpr float kAccurateKlBelow = 0.1f;

// Sums of (row, teacher) pairs waiting for their statistics, still as per-lane partial sums. They are finished
// W at a time: V::sum_lanes reduces W vectors in one add tree (a third of the work of W separate horizontal
// sums), the logs and divisions run as vector operations, and no row's sweeps wait on the previous row's tail.
template <class V>
struct TeacherGroup {
    enum { kS0, kR0, kHs, kSt, kA, kAr, kSums };  // kAr: reverse KL only (teacher_sums<..., Reverse>)
    typename V::F sums[kSums][V::W];
    alignas(64) float m[V::W], Ss[V::W];
    int b[V::W], k[V::W], r[V::W];  // r: row within the block
    int n = 0;
};

// Reverse KL in the stats pass of reverse-kl (reverse_kl_in_stats_sweep): with ps = e^v / Ss and pt = e^u / St,
//   R = sum ps (log ps - log pt) = sum ps (v - u) + log(St / Ss) = -Ar / Ss + log(St / Ss),  Ar = (1/T) sum e^v (w - w_s),
// the mirror of the fast KL form with the student's weights, and with the same absolute error (a few 1e-7). It is
// written as T^2 R where R is at least kAccurateKlBelow; every other pair (a smaller R, or NaN) gets
// kReverseKlByCatalog, and the catalog's sweep sums it as non-negative terms (distill_divergences.inl).
constexpr float kReverseKlByCatalog = -1.0f;

// The kl statistic of reverse-kl's stats pass for W pairs: T^2 R, R = -Ar / Ss + log(St / Ss) + probe (Ar already
// divided by T), where R >= kAccurateKlBelow, else kReverseKlByCatalog. The teacher row's probe makes a non-finite
// row NaN here, and so kReverseKlByCatalog, where its student-weighted sum alone could be an infinity.
template <class V>
inline typename V::F reverse_kl_statistic(typename V::F Ar, typename V::F Ss, typename V::F log_St_over_Ss,
                                          typename V::F probe, float T) {
    const typename V::F r = V::add(V::sub(log_St_over_Ss, V::div(Ar, Ss)), probe);
    return V::select(V::less(V::set1(kAccurateKlBelow), r), V::mul(V::set1(T * T), r), V::set1(kReverseKlByCatalog));
}

template <class V, bool Reverse = false>
inline void finish_teachers(const DistillProblem& p, const Block& blk, TeacherGroup<V>& g) {
    using F = typename V::F;
    using G = TeacherGroup<V>;
    constexpr int W = V::W;
    if (g.n == 0) return;
    for (int j = g.n; j < W; ++j) {  // padding lanes: finite values, results discarded
        for (auto& q : g.sums) q[j] = V::set1(1.0f);
        g.m[j] = 0.0f;
        g.Ss[j] = 1.0f;
    }
    const F S0 = V::sum_lanes(g.sums[G::kS0]), R0 = V::sum_lanes(g.sums[G::kR0]);
    const F St = V::sum_lanes(g.sums[G::kSt]), one = V::set1(1.0f);
    const F log_S0 = vlog_sum<V>(S0, R0);
    const F log_St = vlog<V>(St);
    const F Hs = V::sum_lanes(g.sums[G::kHs]);
    const F probe = V::sub(Hs, Hs);  // NaN exactly for the pairs whose teacher row is not finite
    alignas(64) float lse[W], kl[W], h[W], conf[W], logS0[W];
    V::store(lse, V::add(V::fma(V::load(g.m), V::set1(p.inv_T), log_St), probe));
    const F log_ratio = vlog<V>(V::div(V::load(g.Ss), St));  // log(Ss / St)
    alignas(64) float st[W], accurate[W];
    V::store(st, St);
    if constexpr (Reverse) {
        V::store(kl, reverse_kl_statistic<V>(V::sum_lanes(g.sums[G::kAr]), V::load(g.Ss), V::sub(V::zero(), log_ratio),
                                             probe, p.T));
        V::store(accurate, V::zero());
    } else {
        const F kl_fast = V::add(V::div(V::sum_lanes(g.sums[G::kA]), St), log_ratio);
        V::store(kl, V::mul(V::set1(p.T * p.T), kl_fast));
        V::store(accurate, V::select(V::less(kl_fast, V::set1(kAccurateKlBelow)), V::set1(1.0f), V::zero()));
    }
    V::store(h, V::sub(log_S0, V::div(Hs, S0)));
    V::store(conf, V::div(one, S0));
    V::store(logS0, log_S0);
    for (int j = 0; j < g.n; ++j) {
        const int b = g.b[j];
        const std::size_t i = stat_index(p, b, g.k[j]);
        p.stats.lse_t[i] = lse[j];
        if (accurate[j] != 0.0f && !p.kl_overwritten) {
            // NaN compares false above: a non-finite pair keeps what the fast form gave.
            const int r = g.r[j];
            const float ms = blk.student_max[r], Ss = g.Ss[j];
            const float K = (g.m[j] - ms) + p.T * std::log(st[j] / Ss);
            const DivergenceSums d = divergence_sums<V>(teacher_row(p, g.k[j], b), student_row(p, b),
                                                        blk.pair_rows + blk.Cp * j, blk.ev_rows + blk.Cp * r, p.C,
                                                        K, p.inv_T, st[j] / Ss);
            kl[j] = p.T * p.T * small_divergence(d, st[j]);
        }
        p.stats.kl[i] = kl[j];
        p.stats.h_t[i] = h[j];
        p.stats.conf[i] = conf[j];
        const int y = p.y[b];
        if (y >= 0) {
            const float* z = teacher_row(p, g.k[j], b);
            p.stats.ce_t[i] = (g.m[j] - z[y]) + logS0[j];
            p.stats.hit[i] = z[y] == g.m[j] && !occurs_before<V>(z, y, g.m[j]) ? 1.0f : 0.0f;
        } else {
            p.stats.ce_t[i] = 0.0f;
            p.stats.hit[i] = 0.0f;
        }
    }
    g.n = 0;
}

// Feature sums of (row, teacher) pairs waiting for cos and mse, finished W at a time like TeacherGroup.
template <class V>
struct FeatureGroup {
    enum { kDot, kSs, kTt, kSq, kSums };
    typename V::F sums[kSums][V::W];
    alignas(64) float width[V::W];
    std::size_t i[V::W];
    int n = 0;
};

template <class V>
inline void finish_features(const DistillProblem& p, FeatureGroup<V>& g) {
    using F = typename V::F;
    using G = FeatureGroup<V>;
    constexpr int W = V::W;
    if (g.n == 0) return;
    for (int j = g.n; j < W; ++j) {
        for (auto& q : g.sums) q[j] = V::set1(1.0f);
        g.width[j] = 1.0f;
    }
    const F ss = V::sum_lanes(g.sums[G::kSs]), tt = V::sum_lanes(g.sums[G::kTt]), zero = V::zero();
    // sum a^2 and sum t^2 are finite exactly when every a and t is (or the sums did not overflow).
    const auto finite = V::both(V::equal(V::sub(ss, ss), zero), V::equal(V::sub(tt, tt), zero));
    const F nan = V::set1(kNaN);
    alignas(64) float cos[W], mse[W];
    F norms = V::fma(V::sqrt(ss), V::sqrt(tt), V::set1(p.cos_eps));
    V::store(cos, V::select(finite, V::div(V::sum_lanes(g.sums[G::kDot]), norms), nan));
    V::store(mse, V::select(finite, V::div(V::sum_lanes(g.sums[G::kSq]), V::load(g.width)), nan));
    for (int j = 0; j < g.n; ++j) {
        p.stats.cos[g.i[j]] = cos[j];
        p.stats.mse[g.i[j]] = mse[j];
    }
    g.n = 0;
}

}  // namespace distill
}  // namespace
}  // namespace mtkd
