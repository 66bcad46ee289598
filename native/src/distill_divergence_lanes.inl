// The catalog's jsd and dkd on short rows, W rows at a time with one row per vector lane (the layout of distill_tiles.inl).
//
// Row by row (divergence_rows, distill_catalog.inl), a pair (row, teacher) of 11 classes is one vector whose
// exponential, two divisions and logarithm wait on one another, followed by three horizontal sums and the pair's
// scalar tail: its time is latency more than arithmetic. Here column c of the W rows is one vector, so the columns
// of a pair do not wait on one another, every sum comes out one per lane with no horizontal step, and the tails of
// W pairs run together. The element terms are the divergence's own (Jsd::add_value_terms, Jsd::log_ratio_to_mixture;
// Dkd::gap, nckd_term, gradient_term, pair_from_sums), shared with the row form, and so is every formula; only the
// layout differs.
//
// Scratch, as tiles of C columns x W lanes (column c at tile + c W): the student's logits s, log-probabilities ls
// and probabilities ps at T (formed once per group, kept across the teachers), two per-element tiles of one teacher
// t1, t2 (jsd: d, then v in t1; dkd: d and pt), the gradient's sum over the teachers acc; and W rows of
// padded_classes(C) floats (a pair's gradient from dkd_in_double, then acc transposed back into rows).
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "distill_divergences.inl"
#include "distill_layout.inl"
#include "distill_tiles.inl"
#include "kernels.h"
#include "prefetch.h"
#include "vector_exp.h"
#include "vector_log.h"

namespace mtkd {
namespace {  // compiled per SIMD level: see distill_kernels.inl
namespace distill {

// Rows of up to these many classes take dkd's stats and gradient by lane groups (docs/PERF.md, "jsd and dkd by lane
// groups on short rows"): at 100 classes the stats pass measured 2-12 % faster by lanes, the gradient 24 % slower with
// 64 teachers.
constexpr int kDkdLaneStatsMaxClasses = kTileMaxClasses;
constexpr int kDkdLaneGradientMaxClasses = 64;

// Rows of up to these many classes take jsd's stats and its gradient by lane groups (the same section): at 100 classes
// the stats pass measured a quarter to a third faster by lanes; the gradient, each form in one sweep at the measured
// d, 9-15 % faster by lanes at 48 classes and 5-16 % slower at 64 (docs/PERF.md, "jsd's polynomials fitted"; longer
// rows go by Jsd::add_gradient).
constexpr int kJsdLaneStatsMaxClasses = kTileMaxClasses;
constexpr int kJsdLaneGradientMaxClasses = 48;
constexpr int kReverseKlLaneGradientMaxClasses = 32;
// Rows of up to these many classes take the reverse KLs the stats kernel leaves to the catalog by lane groups.
constexpr int kReverseKlLaneStatsMaxClasses = kTileMaxClasses;

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
    float *s, *ls, *ps, *t1, *t2, *acc, *rows;  // t1, t2: per element, one teacher at a time
    alignas(64) float lse_st[V::W];
    alignas(64) float label[V::W];  // y as a float, -1 for ignored rows and unused lanes
    int y[V::W];

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
    g.t1 = g.ps + tile;
    g.t2 = g.t1 + tile;
    g.acc = g.t2 + tile;
    g.rows = g.acc + tile;
    for (int i = 0; i < V::W; ++i) {
        g.lse_st[i] = i < n ? p.stats.lse_st[b0 + i] : 0.0f;
        g.y[i] = i < n ? p.y[b0 + i] : -1;
        g.label[i] = static_cast<float>(g.y[i]);
    }
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
// row form's log_ratio. With ahead (the gradient pass, which runs no KL kernel before it), the teacher rows read next
// are prefetched along the sweep: the dense gradient passes measured 5-15 % faster with it (1 thread). The stats pass
// finds them in cache, after the KL kernel's sweep over the same block.
template <class V, class Step>
inline void for_log_ratio_columns(const DistillProblem& p, const DivergenceLanes<V>& g, int k, bool ahead, Step&& step) {
    using F = typename V::F;
    constexpr int W = V::W;
    alignas(64) float lse_t[W];
    for (int i = 0; i < W; ++i) lse_t[i] = i < g.n ? p.stats.lse_t[stat_index(p, g.b0 + i, k)] : 0.0f;
    const F neg_shift = V::sub(V::load(lse_t), V::load(g.lse_st)), it = V::set1(p.inv_T);
    // The rows read after these (the next teacher's of the group, or the next group's first teacher's), n C floats
    // on pages of their own: column c asks for the line at float c n, as the KL kernels' tiles do.
    const int after = g.b0 + g.n;
    const float* next = !ahead || V::W < 8 ? nullptr
                        : k + 1 < p.K           ? teacher_row(p, k + 1, g.b0)
                        : after < p.B           ? teacher_row(p, 0, after)
                                                : nullptr;
    for (int c0 = 0; c0 < p.C; c0 += W)
        transposed_columns<V>(teacher_row(p, k, g.b0), p.C, g.n, c0, std::min(W, p.C - c0), [&](int j, F z) {
            const int c = c0 + j;
            if (next != nullptr) prefetch_line(next + static_cast<std::size_t>(c) * g.n);
            step(c, V::fma(V::sub(V::load(g.column(g.s, c)), z), it, neg_shift));
        });
}

// a_kd T wl of teacher k for each row of the group (0 in the lanes past its rows): the divergence gradient's
// coefficient, as the row form's coef.
template <class V>
inline typename V::F kd_coefficients(const DistillProblem& p, const DivergenceLanes<V>& g, int k) {
    alignas(64) float coef[V::W];
    for (int i = 0; i < V::W; ++i) coef[i] = i < g.n ? p.a_kd * p.T * p.wl[stat_index(p, g.b0 + i, k)] : 0.0f;
    return V::load(coef);
}

// kl = T^2 J of teacher k's pairs from the per-lane sums s, q, w: Jsd::finish_value, s - a beta w + a^2 beta (1 - beta)
// / 2 with a = log1p(q), for the W lanes at once in float. a is the shift the log-sum-exps' rounding leaves (a few
// 1e-7) and w is of the order of J, so both corrections are small beside s and the float steps add a few roundings
// of J; the scalar double finish per pair had been a tenth of the lane sweep's time at 11 classes.
template <class V>
inline void write_jsd_values(const DistillProblem& p, const DivergenceLanes<V>& g, const DivergenceRow& r, int k,
                             typename V::F s_sum, typename V::F q_sum, typename V::F w_sum) {
    using F = typename V::F;
    constexpr int W = V::W;
    const F a = vlog1p_near_zero<V>(q_sum), b = V::set1(r.beta);
    const F half_a_b1 = V::mul(V::mul(V::set1(0.5f * (1.0f - r.beta)), a), b);
    const F value = V::fma(a, V::fnma(b, w_sum, half_a_b1), s_sum);  // s + a (a beta (1 - beta) / 2 - beta w)
    alignas(64) float kl[W];
    V::store(kl, V::mul(V::set1(p.T * p.T), value));
    for (int i = 0; i < g.n; ++i) p.stats.kl[stat_index(p, g.b0 + i, k)] = kl[i];
}

// acc += coef (1 - beta) ps (v - mean) with v in t1 and mean = sum ps v per lane.
template <class V>
inline void add_jsd_gradient(const DistillProblem& p, const DivergenceLanes<V>& g, const DivergenceRow& r, int k,
                             typename V::F mean) {
    using F = typename V::F;
    const F scale = V::mul(kd_coefficients(p, g, k), V::set1(1.0f - r.beta));
    for (int c = 0; c < p.C; ++c) {
        const F gr = V::mul(V::load(g.column(g.ps, c)), V::sub(V::load(g.column(g.t1, c)), mean));
        V::store(g.column(g.acc, c), V::fma(scale, gr, V::load(g.column(g.acc, c))));
    }
}

// kl = T^2 J of teacher k's pairs (Jsd::value per lane). The columns' d go to t1 first; then the tiles, C columns
// of W floats each, are one run of C W elements to sweep_twice, which takes them two columns at a time (two
// independent chains through each step), as the row form's sweeps do: 6-13 % faster at 64 and 100 classes than one
// column at a time, 1 thread (docs/PERF.md, "jsd's polynomials fitted"). The sums stay per lane: one per row.
template <class V, class J>
inline void jsd_value_lanes(const DistillProblem& p, const DivergenceLanes<V>& g, const DivergenceRow& r, int k) {
    constexpr int W = V::W;
    for_log_ratio_columns(p, g, k, false, [&](int c, typename V::F d) { V::store(g.column(g.t1, c), d); });
    const auto sums = sweep_twice<V, 3>(p.C * W, [&](auto vectors, int i, auto m, auto& acc) {
        using U = typename decltype(vectors)::type;
        using JU = typename J::template Of<U>;
        typename JU::ValueSums terms{acc[0], acc[1], acc[2]};
        JU::add_value_terms(r, U::load(g.t1 + i), U::load(g.ls + i), U::load(g.ps + i), m, terms);
        acc[0] = terms.s;
        acc[1] = terms.q;
        acc[2] = terms.w;
    });
    write_jsd_values<V>(p, g, r, k, sums[0], sums[1], sums[2]);
}

// acc += coef (1 - beta) ps (v - V) for teacher k at the measured d (Jsd::add_gradient_measured per lane), coef =
// a_kd T wl per row; v replaces d in t1, two columns at a time (jsd_value_lanes).
template <class V, class J>
inline void jsd_gradient_lanes(const DistillProblem& p, const DivergenceLanes<V>& g, const DivergenceRow& r, int k) {
    constexpr int W = V::W;
    for_log_ratio_columns(p, g, k, true, [&](int c, typename V::F d) { V::store(g.column(g.t1, c), d); });
    const auto sums = sweep_twice<V, 1>(p.C * W, [&](auto vectors, int i, auto m, auto& acc) {
        using U = typename decltype(vectors)::type;
        using JU = typename J::template Of<U>;
        const typename U::F ps = U::load(g.ps + i);
        const typename U::F v = JU::log_ratio_to_mixture(r, U::load(g.t1 + i), U::load(g.ls + i), ps, m);
        U::store(g.t1 + i, v);
        acc[0] = U::fma(ps, v, acc[0]);
    });
    add_jsd_gradient(p, g, r, k, sums[0]);
}

// Both of teacher k's pairs at once (the fused pass): each element evaluated once for the value's sums and v, with
// the same arithmetic as jsd_value_lanes and jsd_gradient_lanes, so the same results.
template <class V, class J>
inline void jsd_value_and_gradient_lanes(const DistillProblem& p, const DivergenceLanes<V>& g, const DivergenceRow& r,
                                         int k) {
    constexpr int W = V::W;
    for_log_ratio_columns(p, g, k, false, [&](int c, typename V::F d) { V::store(g.column(g.t1, c), d); });
    const auto sums = sweep_twice<V, 4>(p.C * W, [&](auto vectors, int i, auto m, auto& acc) {
        using U = typename decltype(vectors)::type;
        using JU = typename J::template Of<U>;
        typename JU::ValueSums terms{acc[0], acc[1], acc[2]};
        const typename U::F ps = U::load(g.ps + i);
        const typename U::F v = JU::add_value_terms_with_v(r, U::load(g.t1 + i), U::load(g.ls + i), ps, m, terms);
        acc[0] = terms.s;
        acc[1] = terms.q;
        acc[2] = terms.w;
        U::store(g.t1 + i, v);
        acc[3] = U::fma(ps, v, acc[3]);
    });
    write_jsd_values<V>(p, g, r, k, sums[0], sums[1], sums[2]);
    add_jsd_gradient(p, g, r, k, sums[3]);
}

// Reverse KL of teacher k's pairs that the stats kernel left to the catalog (kl = kReverseKlByCatalog: R under
// kPlainReverseKlFrom, where its plain form is not reliable, or a non-finite row), per lane as ReverseKl::value takes
// it: the plain sum ps d where it holds after all, else sum ps phi(d) - (q - log1p q) with q = sum ps expm1(-d) from
// the same sweep (one exponential per element). Where teacher and student agree, as they come to in training, every
// pair is left here; at 11 classes the row form took each as one vector whose steps wait on one another (the dense
// stats pass 2.7-3 times kl's).
template <class V>
inline void reverse_kl_value_lanes(const DistillProblem& p, const DivergenceLanes<V>& g, int k) {
    using F = typename V::F;
    constexpr int W = V::W;
    bool any = false;
    for (int i = 0; i < g.n; ++i) any = any || p.stats.kl[stat_index(p, g.b0 + i, k)] < 0.0f;
    if (!any) return;
    F plain = V::zero(), s = V::zero(), q = V::zero();
    for_log_ratio_columns(p, g, k, false, [&](int c, F d) {
        const F ps = V::load(g.column(g.ps, c));
        plain = V::fma(ps, d, plain);
        const F term = p_phi<V>(ps, d, vexp<V>(V::sub(V::load(g.column(g.ls, c)), d)));
        s = V::add(s, term);
        q = V::add(q, V::fnma(ps, d, term));
    });
    alignas(64) float rp[W], sum[W], qs[W];
    V::store(rp, plain);
    V::store(sum, s);
    V::store(qs, q);
    for (int i = 0; i < g.n; ++i) {
        const std::size_t at = stat_index(p, g.b0 + i, k);
        if (!(p.stats.kl[at] < 0.0f)) continue;
        const double r = ReverseKl<V>::plain_holds(rp[i], shift_rounding_bound(g.lse_st[i], p.stats.lse_t[at]))
                             ? rp[i]
                             : ReverseKl<V>::from_terms(sum[i], qs[i]);
        p.stats.kl[at] = static_cast<float>(p.T * p.T * r);
    }
}

// How many pairs of the group's rows the stats kernel left to the catalog (reverse_kl_value_lanes).
template <class V>
inline int reverse_kl_left_in_group(const DistillProblem& p, const DivergenceLanes<V>& g) {
    int left = 0;
    for (int i = 0; i < g.n; ++i)
        for (int k = 0; k < p.K; ++k) left += p.stats.kl[stat_index(p, g.b0 + i, k)] < 0.0f;
    return left;
}

// acc += coef ps (d - R) for teacher k, R = sum ps d per lane (ReverseKl::add_gradient and finish_gradient per lane),
// coef = a_kd T wl per row.
template <class V>
inline void reverse_kl_gradient_lanes(const DistillProblem& p, const DivergenceLanes<V>& g, int k) {
    using F = typename V::F;
    F R = V::zero();
    for_log_ratio_columns(p, g, k, true, [&](int c, F d) {
        R = V::fma(V::load(g.column(g.ps, c)), d, R);
        V::store(g.column(g.t1, c), d);
    });
    const F kc = kd_coefficients(p, g, k);
    for (int c = 0; c < p.C; ++c) {
        const F gr = V::mul(V::load(g.column(g.ps, c)), V::sub(V::load(g.column(g.t1, c)), R));
        V::store(g.column(g.acc, c), V::fma(kc, gr, V::load(g.column(g.acc, c))));
    }
}

// DKD's per-row sums of the group (Dkd's Sn = sum_{c != y} ps and ps_y, per lane).
template <class V>
struct DkdStudentLanes {
    alignas(64) float Sn[V::W];
    alignas(64) float psy[V::W];
};

template <class V>
inline DkdStudentLanes<V> dkd_student_lanes(const DistillProblem& p, const DivergenceLanes<V>& g) {
    using F = typename V::F;
    const F label = V::load(g.label);
    F sn = V::zero(), psy = V::zero();
    for (int c = 0; c < p.C; ++c) {
        const auto is_y = V::equal(V::set1(static_cast<float>(c)), label);
        const F ps = V::load(g.column(g.ps, c));
        psy = V::select(is_y, ps, psy);
        sn = V::add(sn, V::select(is_y, V::zero(), ps));
    }
    DkdStudentLanes<V> out;
    V::store(out.Sn, sn);
    V::store(out.psy, psy);
    return out;
}

// Teacher k's DKD pairs of the group (Dkd::pair per lane): d into t1, pt (0 at the label) into t2, and each pair's
// scalars (Dkd::pair_from_sums, W pairs at once in float). A counted row whose non-target mass is below
// kDkdFloatFloor (or NaN) is left to dkd_in_double; its lane, like an ignored row's, gets zeros here.
template <class V>
struct DkdPairLanes {
    alignas(64) float lam[V::W];
    alignas(64) float it[V::W];
    alignas(64) float is[V::W];
    alignas(64) float ka[V::W];  // -alpha dt
    alignas(64) float tckd[V::W];
    bool in_double[V::W];
};

// The pair (row b0 + i, teacher k) as dkd_in_double reads it.
template <class V>
inline DivergenceRow dkd_row(const DistillProblem& p, const DivergenceLanes<V>& g, int i, int k) {
    DivergenceRow r{};
    r.zs = student_row(p, g.b0 + i);
    r.zt = teacher_row(p, k, g.b0 + i);
    r.C = p.C;
    r.y = g.y[i];
    r.inv_T = p.inv_T;
    r.alpha = p.div_alpha;
    r.beta = p.div_beta;
    return r;
}

template <class V>
inline DkdPairLanes<V> dkd_pair_lanes(const DistillProblem& p, const DivergenceLanes<V>& g,
                                      const DkdStudentLanes<V>& student, int k, bool ahead) {
    using F = typename V::F;
    constexpr int W = V::W;
    const F label = V::load(g.label);
    F a = V::zero(), st = V::zero(), dy = V::zero(), pty = V::zero();
    for_log_ratio_columns(p, g, k, ahead, [&](int c, F d) {
        const auto is_y = V::equal(V::set1(static_cast<float>(c)), label);
        const F pn = V::select(is_y, V::zero(), V::load(g.column(g.ps, c)));
        const F pt = vexp<V>(V::sub(V::load(g.column(g.ls, c)), d));
        const F pt_n = V::select(is_y, V::zero(), pt);
        V::store(g.column(g.t1, c), d);
        V::store(g.column(g.t2, c), pt_n);
        dy = V::select(is_y, d, dy);
        pty = V::select(is_y, pt, pty);
        a = V::add(a, Dkd<V>::gap(d, pt, pn));
        st = V::add(st, pt_n);
    });
    const typename Dkd<V>::PairLanes q =
        Dkd<V>::pair_from_sums(a, st, V::load(student.Sn), dy, V::load(student.psy), pty);
    DkdPairLanes<V> out;
    alignas(64) float St[W];
    V::store(St, st);
    V::store(out.tckd, q.tckd);
    V::store(out.lam, q.lambda);
    V::store(out.it, V::div(V::set1(1.0f), st));
    V::store(out.is, V::div(V::set1(1.0f), V::load(student.Sn)));
    V::store(out.ka, V::mul(V::set1(-p.div_alpha), q.dt));
    for (int i = 0; i < W; ++i) {
        out.in_double[i] = g.y[i] >= 0 && !(student.Sn[i] > kDkdFloatFloor && St[i] > kDkdFloatFloor);
        if (g.y[i] < 0 || out.in_double[i]) out.lam[i] = out.it[i] = out.is[i] = out.ka[i] = 0.0f;
    }
    return out;
}

// kl = T^2 (alpha TCKD + beta NCKD) of teacher k's pairs from their scalars q (dkd_pair_lanes, which left d and pt
// in t1, t2).
template <class V>
inline void write_dkd_values(const DistillProblem& p, const DivergenceLanes<V>& g, int k, const DkdPairLanes<V>& q) {
    using F = typename V::F;
    constexpr int W = V::W;
    const F label = V::load(g.label), lam = V::load(q.lam), it = V::load(q.it), is = V::load(q.is);
    F s = V::zero();
    for (int c = 0; c < p.C; ++c) {
        const auto is_y = V::equal(V::set1(static_cast<float>(c)), label);
        const F pn = V::select(is_y, V::zero(), V::load(g.column(g.ps, c)));
        s = V::add(s, Dkd<V>::nckd_term(V::load(g.column(g.t1, c)), V::load(g.column(g.t2, c)), pn, lam, it, is));
    }
    alignas(64) float nckd[W];
    V::store(nckd, s);
    for (int i = 0; i < g.n; ++i) {
        double v = 0.0;
        if (q.in_double[i]) v = dkd_in_double(dkd_row(p, g, i, k), 0.0f, nullptr);
        else if (g.y[i] >= 0) v = p.div_alpha * q.tckd[i] + p.div_beta * static_cast<double>(nckd[i]);
        p.stats.kl[stat_index(p, g.b0 + i, k)] = static_cast<float>(p.T * p.T * v);
    }
}

// acc += coef dD/ds for teacher k's pairs from their scalars q (dkd_pair_lanes, which left d and pt in t1, t2).
template <class V>
inline void add_dkd_gradient(const DistillProblem& p, const DivergenceLanes<V>& g, int k, const DkdPairLanes<V>& q) {
    using F = typename V::F;
    constexpr int W = V::W;
    alignas(64) float coef[W], swept[W];
    for (int i = 0; i < W; ++i) {
        coef[i] = g.y[i] >= 0 ? p.a_kd * p.T * p.wl[stat_index(p, g.b0 + i, k)] : 0.0f;
        swept[i] = q.in_double[i] ? 0.0f : coef[i];
    }
    const F label = V::load(g.label), lam = V::load(q.lam), it = V::load(q.it), is = V::load(q.is);
    const F ka = V::load(q.ka), kb = V::set1(Dkd<V>::nckd_gradient_weight(p.div_beta, p.C)), scale = V::load(swept);
    const F at_label = V::sub(V::zero(), ka);
    for (int c = 0; c < p.C; ++c) {
        const auto is_y = V::equal(V::set1(static_cast<float>(c)), label);
        const F pn = V::select(is_y, V::zero(), V::load(g.column(g.ps, c)));
        const F gr = Dkd<V>::gradient_term(V::load(g.column(g.t1, c)), V::load(g.column(g.t2, c)), pn, lam, it, is, ka, kb);
        float* acc = g.column(g.acc, c);
        V::store(acc, V::fma(scale, V::select(is_y, at_label, gr), V::load(acc)));
    }
    for (int i = 0; i < g.n; ++i) {
        if (!q.in_double[i]) continue;
        float* row = g.row(i);  // free until acc_rows
        std::fill_n(row, p.C, 0.0f);
        dkd_in_double(dkd_row(p, g, i, k), coef[i], row);
        for (int c = 0; c < p.C; ++c) g.column(g.acc, c)[i] += row[c];
    }
}

// kl = T^2 (alpha TCKD + beta NCKD) of teacher k's pairs (Dkd::value per lane; 0 for ignored rows).
template <class V>
inline void dkd_value_lanes(const DistillProblem& p, const DivergenceLanes<V>& g, const DkdStudentLanes<V>& student,
                            int k) {
    write_dkd_values(p, g, k, dkd_pair_lanes(p, g, student, k, false));
}

// acc += coef dD/ds for teacher k's pairs (Dkd::add_gradient per lane), coef = a_kd T wl per counted row.
template <class V>
inline void dkd_gradient_lanes(const DistillProblem& p, const DivergenceLanes<V>& g, const DkdStudentLanes<V>& student,
                               int k) {
    add_dkd_gradient(p, g, k, dkd_pair_lanes(p, g, student, k, true));
}

// Both of teacher k's pairs at once (the fused pass): the pairs' sweep (an exponential per element) once for the value
// and the gradient, each then as dkd_value_lanes and dkd_gradient_lanes take it, so the same results.
template <class V>
inline void dkd_value_and_gradient_lanes(const DistillProblem& p, const DivergenceLanes<V>& g,
                                         const DkdStudentLanes<V>& student, int k) {
    const DkdPairLanes<V> q = dkd_pair_lanes(p, g, student, k, false);
    write_dkd_values(p, g, k, q);
    add_dkd_gradient(p, g, k, q);
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
