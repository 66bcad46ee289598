// kl's gradient where teacher and student nearly agree, to its own relative precision.
//
// The KL kernels form row b's KD gradient as coef (sum_k wl_k ps_c - sum_k wl_k pt_kc), coef = a_kd T / B', from
// ps = e^{s/T - lse_st} and pt_k = e^{z/T - lse_t}. Each probability carries a rounding of a few 1e-7 relative
// (its exponent's argument is off by an ulp of |z/T| or of the log-sum-exp), and where ps_c - pt_kc is itself
// ~1e-3 of ps_c those roundings are all of the difference: kl's gradient alone (a_ce = 0) measured 3e-4 to 1e-2
// relative off in the tiny-KL cases. Written from d_kc = log pt_kc - log ps_c instead,
//   ps_c - pt_kc = -ps_c expm1(d_kc),
// keeps the relative precision of a small d. d is formed from the raw logits, d = ((z - s) - K) / T with
// K = T (lse_t - lse_st) one number per pair and z - s = hi + lo exactly (TwoSum), so the only error that does not
// scale with d is the rounding of K, which moves every d_kc of the pair by the same a. That shift is measured and
// removed: with t_kc = ps'_c expm1(d'_kc) at the measured d' = d + a (pt'_kc = ps'_c e^{d'} = pt_kc e^a, ps' the
// measured ps, P = sum_c ps'_c = 1 + the rounding of lse_st), q_k = sum_c t_kc = P (e^a - 1) (true pt and ps each sum
// to 1), and since e^{d + a} - e^a = e^a (e^d - 1),
//   P (ps_c - pt_kc) = -(t_kc - ps'_c q_k / P) / (1 + q_k / P),
// P a factor common to the row (a relative error of a few 1e-7). Without the division each teacher's term would stay
// off by its own factor e^a, a relative error of a, the rounding of K (up to 1e-6 where |lse| is near 20), and without
// the P in q_k / P by ps'_c (P - 1) a, which near a one-hot row is 1e-12 against terms of 1e-8: both survive wherever
// the teachers' terms cancel in the weighted sum (seen: 3.4e-4 of a row whose three terms were each 50 times the sum).
// So the KD gradient is -coef sum_k wl_k (t_kc - ps'_c q_k / P) / (1 + q_k / P): per teacher one sweep that forms t
// (kept in a scratch row, whose term joins the sum in the next teacher's sweep, once q_k is known) and q_k. Where
// |d'| >= 1/2 nothing cancels and t = pt' - ps' with pt' = e^{log ps' + d'} (also where ps' underflowed, which
// ps' expm1(d') would lose).
//
// Rows take this route only where some weighted pair needs it. The fast form's error in ps - pt is the rounding of
// each probability, about u L (u = 6e-8, L = 1 + |lse_t| + |lse_st|, the size of the exponents' arguments) relative
// to ps, against a difference of about ps |d|, and KL / T^2 is about the mean square of d over pt divided by 2; so its
// relative error is about u L / sqrt(2 KL / T^2), below 1e-4 by a margin of 4 or more where
// KL / T^2 >= kPreciseKlGradientScale L^2. Below that a row takes the form above. Measured (KlGradientPrecisionTests:
// every row against its own largest value, teachers at noise widths from 1e-3 to 10): with the scale at 2e-6 the
// fast rows just above it reach 1.1e-4 to 1.6e-4, at 2e-5 and 1e-4 every row holds 1e-4; for logits of scale 3 and
// T = 4 the threshold is a KL / T^2 of a few 1e-3. The gradient pass marks those rows before its sweeps, which then
// leave out their logit work (their feature gradients and row_loss are the fast kernels' as ever), and writes them
// after; the fused pass, whose statistics come in the same pass, writes them over what its fast form wrote. The fast
// kernels keep their single sweep.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include "distill_kl.inl"
#include "distill_layout.inl"
#include "distill_tiles.inl"
#include "vector_exp.h"
#include "vector_loops.inl"

namespace mtkd {
namespace {  // compiled per SIMD level: see distill_kernels.inl
namespace distill {

constexpr float kPreciseKlGradientScale = 1e-4f;

// Whether counted row b has a pair with a weight whose KL / T^2 is below kPreciseKlGradientScale L^2,
// L = 1 + |lse_t| + |lse_st| (NaN compares false: a non-finite row keeps the NaN the fast form gave).
inline bool needs_precise_kl_gradient(const DistillProblem& p, int b) {
    if (p.y[b] < 0) return false;
    const float lse_st = std::fabs(p.stats.lse_st[b]), T2 = p.T * p.T;
    for (int k = 0; k < p.K; ++k) {
        const std::size_t i = stat_index(p, b, k);
        const float L = 1.0f + lse_st + std::fabs(p.stats.lse_t[i]);
        if (p.wl[i] != 0.0f && p.stats.kl[i] < kPreciseKlGradientScale * L * L * T2) return true;
    }
    return false;
}

// t = pt' - ps' (see above) for one vector: z, s the logits, lps = log ps', ps = ps', K and 1/T of the pair; active:
// the lanes that count. Near agreement, where these rows are, every |d| is below 1/2 and expm1's polynomial
// (expm1_series: 1.4e-8 relative) is all the vector needs; a vector with a lane at 1/2 or more also takes the
// exponential of log ps' + d.
template <class V>
inline typename V::F kl_probability_gap(typename V::F z, typename V::F s, typename V::F lps, typename V::F ps,
                                        typename V::F K, typename V::F inv_T, typename V::M active) {
    using F = typename V::F;
    const F d = log_ratio_of_logits<V>(z, s, K, inv_T);  // log pt' - log ps'
    const F half = V::set1(0.5f);
    const F near = V::mul(ps, expm1_series<V>(d));  // NaN where d is; wherever |d| >= 1/2 replaced below
    if (!V::any(V::both(active, V::less(V::set1(0.49f), V::abs(d))))) return near;
    const F far = V::sub(vexp<V>(V::add(lps, d)), ps);
    return V::select(V::less(V::abs(d), half), near, far);
}

// dzs row b (counted) in the form above: a_ce (softmax(s) - [c = y]) / B' - coef sum_k wl_k (t_kc - ps'_c q_k / P) /
// (1 + q_k / P).
// scratch holds 4 padded rows.
template <class V>
inline void precise_kl_gradient_row(const DistillProblem& p, int b, float* scratch) {
    using F = typename V::F;
    const int C = p.C;
    const std::size_t Cp = padded_classes(C);
    float *lps = scratch, *ps = scratch + Cp, *acc = scratch + 2 * Cp, *gaps = scratch + 3 * Cp;
    const float* s = student_row(p, b);
    const float lse_st = p.stats.lse_st[b];
    const F it = V::set1(p.inv_T), neg_lse = V::set1(-lse_st);
    F sum_ps = V::zero();
    for_each_vector<V>(C, [&](int c, typename V::M t, auto tail) {
        constexpr bool is_tail = decltype(tail)::value;
        const F l = V::fma(load<is_tail, V>(s + c, t), it, neg_lse);
        const F e = keep<is_tail, V>(vexp<V>(l), t);
        sum_ps = V::add(sum_ps, e);
        store<is_tail, V>(lps + c, l, t);
        store<is_tail, V>(ps + c, e, t);
        store<is_tail, V>(acc + c, V::zero(), t);
    });
    const float inv_P = 1.0f / V::sum(sum_ps);
    // Teacher k's term is added to acc during teacher k + 1's sweep (its weight needs its q_k), the last one's as the
    // row is written; ps'_c sum_k w_k q_k / P is taken once at the end.
    F w_prev = V::zero();
    float Q = 0.0f;
    for (int k = 0; k < p.K; ++k) {
        const std::size_t i = stat_index(p, b, k);
        const float* z = teacher_row(p, k, b);
        const F K = V::set1(p.T * (p.stats.lse_t[i] - lse_st));
        F q = V::zero();
        for_each_vector<V>(C, [&](int c, typename V::M t, auto tail) {
            constexpr bool is_tail = decltype(tail)::value;
            const F gap = keep<is_tail, V>(
                kl_probability_gap<V>(load<is_tail, V>(z + c, t), load<is_tail, V>(s + c, t),
                                      load<is_tail, V>(lps + c, t), load<is_tail, V>(ps + c, t), K, it, t),
                t);
            q = V::add(q, gap);
            if (k > 0)
                store<is_tail, V>(acc + c, V::fma(w_prev, load<is_tail, V>(gaps + c, t), load<is_tail, V>(acc + c, t)), t);
            store<is_tail, V>(gaps + c, gap, t);
        });
        const float qn = V::sum(q) * inv_P, w = p.wl[i] / (1.0f + qn);
        w_prev = V::set1(w);
        Q += w * qn;
    }
    float* dz = gradient_row(p, b);
    const F ce = V::set1(p.a_ce * p.inv_counted_rows), neg_lse1 = V::set1(-p.stats.lse_s1[b]);
    const F neg_coef = V::set1(-p.a_kd * p.T * p.inv_counted_rows), vQ = V::set1(Q);
    for_each_vector<V>(C, [&](int c, typename V::M t, auto tail) {
        constexpr bool is_tail = decltype(tail)::value;
        const F last = V::fma(w_prev, load<is_tail, V>(gaps + c, t), load<is_tail, V>(acc + c, t));
        const F kd = V::fnma(load<is_tail, V>(ps + c, t), vQ, last);
        const F softmax = vexp<V>(V::add(load<is_tail, V>(s + c, t), neg_lse1));
        store<is_tail, V>(dz + c, V::fma(neg_coef, kd, V::mul(ce, softmax)), t);
    });
    dz[p.y[b]] -= p.a_ce * p.inv_counted_rows;
}

// Rows of up to this many classes take the form above W rows at a time, one per vector lane, where a third or more of
// a group's rows need it: at 11 classes a row is one vector whose steps wait on one another.
constexpr int kPreciseKlTileMaxClasses = 32;

// Rows r0 .. r0 + n - 1 (n <= W) in the form above, one per lane, written where write[i] (counted rows only): the
// row form's formulas on columns. scratch: five tiles of padded_classes(C) x W floats.
template <class V>
inline void precise_kl_gradient_tile(const DistillProblem& p, int r0, int n, const unsigned char* write, float* scratch) {
    using F = typename V::F;
    constexpr int W = V::W;
    const int C = p.C;
    const std::size_t tile = padded_classes(C) * W;
    float *s_tile = scratch, *lps = s_tile + tile, *ps = lps + tile, *acc = ps + tile, *gaps = acc + tile;
    auto column = [](float* t, int c) { return t + static_cast<std::size_t>(c) * W; };
    alignas(64) float lse_st[W], lse_s1[W], K[W], wl[W];
    for (int i = 0; i < W; ++i) {
        lse_st[i] = i < n ? p.stats.lse_st[r0 + i] : 0.0f;
        lse_s1[i] = i < n ? p.stats.lse_s1[r0 + i] : 0.0f;
    }
    const F it = V::set1(p.inv_T), neg_lse_st = V::sub(V::zero(), V::load(lse_st));
    const typename V::M active = V::first(n);
    F sum_ps = V::zero();
    for (int c0 = 0; c0 < C; c0 += W)
        transposed_columns<V>(student_row(p, r0), C, n, c0, std::min(W, C - c0), [&](int j, F x) {
            const int c = c0 + j;
            const F l = V::fma(x, it, neg_lse_st);
            const F e = vexp<V>(l);
            sum_ps = V::add(sum_ps, e);
            V::store(column(s_tile, c), x);
            V::store(column(lps, c), l);
            V::store(column(ps, c), e);
            V::store(column(acc, c), V::zero());
        });
    const F inv_P = V::div(V::set1(1.0f), sum_ps);
    // As in the row form: teacher k's term joins acc during teacher k + 1's sweep, the last one's as the rows are
    // written.
    F w_prev = V::zero(), Q = V::zero();
    for (int k = 0; k < p.K; ++k) {
        for (int i = 0; i < W; ++i) {
            const bool counted = i < n && p.y[r0 + i] >= 0;
            K[i] = i < n ? p.T * (p.stats.lse_t[stat_index(p, r0 + i, k)] - lse_st[i]) : 0.0f;
            wl[i] = counted ? p.wl[stat_index(p, r0 + i, k)] : 0.0f;
        }
        const F Kv = V::load(K), w = V::load(wl);
        F q = V::zero();
        for (int c0 = 0; c0 < C; c0 += W)
            transposed_columns<V>(teacher_row(p, k, r0), C, n, c0, std::min(W, C - c0), [&](int j, F z) {
                const int c = c0 + j;
                const F gap = kl_probability_gap<V>(z, V::load(column(s_tile, c)), V::load(column(lps, c)),
                                                    V::load(column(ps, c)), Kv, it, active);
                q = V::add(q, gap);
                if (k > 0) V::store(column(acc, c), V::fma(w_prev, V::load(column(gaps, c)), V::load(column(acc, c))));
                V::store(column(gaps, c), gap);
            });
        const F qn = V::mul(q, inv_P);
        w_prev = V::div(w, V::add(V::set1(1.0f), qn));
        Q = V::fma(w_prev, qn, Q);
    }
    const F ce = V::set1(p.a_ce * p.inv_counted_rows), neg_lse1 = V::sub(V::zero(), V::load(lse_s1));
    const F neg_coef = V::set1(-p.a_kd * p.T * p.inv_counted_rows);
    for (int c0 = 0; c0 < C; c0 += W) {
        const int width = std::min(W, C - c0);
        F r[W];
        for (int j = 0; j < W; ++j) {
            if (j >= width) {
                r[j] = V::zero();
                continue;
            }
            const int c = c0 + j;
            const F last = V::fma(w_prev, V::load(column(gaps, c)), V::load(column(acc, c)));
            const F kd = V::fnma(V::load(column(ps, c)), Q, last);
            const F softmax = vexp<V>(V::add(V::load(column(s_tile, c)), neg_lse1));
            r[j] = V::fma(neg_coef, kd, V::mul(ce, softmax));
        }
        V::transpose(r);
        for (int i = 0; i < n; ++i)
            if (write[i] != 0) {
                float* row = gradient_row(p, r0 + i) + c0;
                if (width == W) V::store(row, r[i]);
                else V::store(row, r[i], V::first(width));
            }
    }
    for (int i = 0; i < n; ++i)
        if (write[i] != 0) gradient_row(p, r0 + i)[p.y[r0 + i]] -= p.a_ce * p.inv_counted_rows;
}

// Calls mark(b) for each row b of [b0, b1) that needs the form above, in order, and returns how many. The block's
// pairs are one contiguous run of the [B, K] statistics, screened a vector at a time with the block's largest |lse_st|
// in L (an L at least as large as each row's, so no row that needs the form is missed); only a vector with a pair
// under that bound looks at its rows one by one (in the dense step's gradient pass the row-by-row test alone cost
// 10 %).
template <class V, class Mark>
int mark_precise_kl_gradient_rows(const DistillProblem& p, int b0, int b1, Mark&& mark) {
    using F = typename V::F;
    float lse_st_max = 0.0f;
    for (int b = b0; b < b1; ++b) lse_st_max = std::fmax(lse_st_max, std::fabs(p.stats.lse_st[b]));
    const std::size_t i0 = stat_index(p, b0, 0);
    const float *kl = p.stats.kl + i0, *lse_t = p.stats.lse_t + i0, *wl = p.wl + i0;
    const F scale = V::set1(kPreciseKlGradientScale * p.T * p.T), base = V::set1(1.0f + lse_st_max), zero = V::zero();
    int next_row = b0, marked = 0;  // rows before next_row are decided
    for_each_vector<V>((b1 - b0) * p.K, [&](int j, typename V::M t, auto tail) {
        constexpr bool is_tail = decltype(tail)::value;
        const F L = V::add(base, V::abs(load<is_tail, V>(lse_t + j, t)));
        auto below = V::both(V::less(load<is_tail, V>(kl + j, t), V::mul(scale, V::mul(L, L))),
                             V::less(zero, V::abs(load<is_tail, V>(wl + j, t))));
        if constexpr (is_tail) below = V::both(below, t);
        if (!V::any(below)) return;
        const int last = b0 + (j + V::W - 1) / p.K;
        for (int b = std::max(next_row, b0 + j / p.K); b <= last && b < b1; ++b)
            if (needs_precise_kl_gradient(p, b)) {
                mark(b);
                ++marked;
            }
        next_row = last + 1;
    });
    return marked;
}

// The precise rows of a block: marks[b - b0] = 1 for each (a thread's buffer, cleared only once a row is marked, so
// a block with none touches it not at all).
struct PreciseRows {
    int b0, b1;
    unsigned char* marks = nullptr;
    void operator()(int b) {
        if (marks == nullptr) {
            thread_local std::vector<unsigned char> buffer;
            buffer.assign(static_cast<std::size_t>(b1 - b0), 0);
            marks = buffer.data();
        }
        marks[b - b0] = 1;
    }
};

// The marked rows of [b0, b1) in the form above: on short rows by lane groups where a third or more of a group's rows
// are marked, else row by row.
template <class V>
void write_precise_kl_gradient_rows(const DistillProblem& p, const PreciseRows& rows, float* scratch) {
    const bool tiles = V::W > 1 && p.C <= kPreciseKlTileMaxClasses;
    for (int r0 = rows.b0; r0 < rows.b1; r0 += V::W) {
        const int n = std::min(V::W, rows.b1 - r0);
        const unsigned char* marks = rows.marks + (r0 - rows.b0);
        int marked = 0;
        for (int i = 0; i < n; ++i) marked += marks[i];
        if (marked == 0) continue;
        if (tiles && 3 * marked >= n) {
            precise_kl_gradient_tile<V>(p, r0, n, marks, scratch);
            continue;
        }
        for (int i = 0; i < n; ++i)
            if (marks[i] != 0) precise_kl_gradient_row<V>(p, r0 + i, scratch);
    }
}

// Rows [b0, b1) after a fused pass of kl (whose statistics come in the same pass): the rows that need it take the
// form above, over what the fast form wrote. (The gradient pass decides before its sweeps: gradient_block.)
template <class V>
void precise_kl_gradient_rows(const DistillProblem& p, int b0, int b1, float* scratch) {
    PreciseRows precise{b0, b1};
    if (mark_precise_kl_gradient_rows<V>(p, b0, b1, precise) > 0) write_precise_kl_gradient_rows<V>(p, precise, scratch);
}

}  // namespace distill
}  // namespace
}  // namespace mtkd
