// The distillation op for short rows (C <= kTileMaxClasses): W rows at a time, one row per vector lane. The
// formulas are those of the row kernels (derivation: distill_kernels.inl); only the layout differs.
//
// A row of C = 100 floats is six vectors and a quarter. Swept one row at a time, every (row, teacher) pair
// pays for a horizontal max, a masked tail vector, horizontal sums and the bookkeeping of its statistics,
// about as much again as its arithmetic. Here the W rows of a lane group are transposed in W x W tiles (four
// shuffles per vector on AVX-512, three on AVX2), so one vector holds column c of W rows: maxima, sums and
// statistics come out one per lane with no horizontal step, no lane idles in a tail, and each per-pair step
// (logs, divisions, the first argmax, the accurate KL) is done for W pairs at once.
//
// Scratch, as tiles of Cp columns x W lanes (column c at tile + c W): the student's raw logits s, w_s and e^v
// (kept across teachers), the teacher's logits and e^u (per teacher), and in the fused pass dL/dzs of the W
// rows, accumulated transposed and written back as rows once every teacher has added its part.
//
// Sums run along the row in each lane, in two interleaved halves (even and odd columns), so no lane adds
// more than C/2 terms in sequence.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <type_traits>

#include "distill_feature_tiles.inl"
#include "distill_features.inl"
#include "distill_groups.inl"
#include "distill_kl.inl"
#include "distill_layout.inl"
#include "distill_rows.inl"
#include "prefetch.h"
#include "simd_twice.h"
#include "vector_log.h"

namespace mtkd {
namespace {  // compiled per SIMD level: see distill_kernels.inl
namespace distill {

template <class V>
struct LaneGroup {
    using F = typename V::F;
    int b0, n;                       // rows b0 .. b0 + n - 1 in lanes 0 .. n - 1; lanes n .. W - 1 hold zeros
    float *s, *v, *ev, *z, *eu, *dz;  // tiles [Cp][W]; v holds w_s = s - m_s
    F student_max, student_sum_T;    // m_s and Ss per lane
    alignas(64) float counted[V::W];  // 1 for rows with y >= 0, else 0 (also for unused lanes)
    int y[V::W];                      // labels, -1 for ignored rows and unused lanes

    float* column(float* tile, int c) const { return tile + static_cast<std::size_t>(c) * V::W; }
};

template <class V>
inline LaneGroup<V> make_lane_group(const DistillProblem& p, int b0, int n, float* scratch) {
    LaneGroup<V> g;
    g.b0 = b0;
    g.n = n;
    const std::size_t tile = padded_classes(p.C) * V::W;
    g.s = scratch;
    g.v = g.s + tile;
    g.ev = g.v + tile;
    g.z = g.ev + tile;
    g.eu = g.z + tile;
    g.dz = g.eu + tile;
    for (int i = 0; i < V::W; ++i) {
        g.y[i] = i < n ? p.y[b0 + i] : -1;
        g.counted[i] = g.y[i] >= 0 ? 1.0f : 0.0f;
    }
    return g;
}

// Columns c0 .. c0 + width - 1 of the n rows first_row, first_row + C, ... as vectors, one per column with one
// lane per row (rows beyond n read as zeros, load_transposed): calls column(j, vector) for each j < width.
template <class V, class Column>
inline void transposed_columns(const float* first_row, int C, int n, int c0, int width, Column&& column) {
    constexpr int W = V::W;
    typename V::F r[W];
    load_transposed<V>(first_row, static_cast<std::size_t>(C), n, c0, width, r);
    if (width == W) {
        for (int j = 0; j < W; ++j) column(j, r[j]);
    } else {
        for (int j = 0; j < width; ++j) column(j, r[j]);
    }
}

// Runs step(c, half) for c = 0 .. C - 1, half = c % 2 (which of the two interleaved sums column c joins), in
// `parts` runs of about equal length with between(j) after run j.
// Run j ends at floor(C (j + 1) / parts) rounded down to even; the floor is carried from run to run (C = q parts + rem)
// instead of divided out each time, which cost a division per run where runs are a column or two long.
template <class Step, class Between>
inline void for_each_column(int C, int parts, Step&& step, Between&& between) {
    const int q = C / parts, rem = C % parts;
    int c = 0, floor_end = 0, carry = 0;
    for (int j = 0; j < parts; ++j) {
        floor_end += q;
        carry += rem;
        if (carry >= parts) {
            carry -= parts;
            ++floor_end;
        }
        const int end = j + 1 == parts ? C : (floor_end & ~1);
        for (; c + 2 <= end; c += 2) {
            step(c, 0);
            step(c + 1, 1);
        }
        if (c < end) step(c++, 0);
        between(j);
    }
}

template <class Step>
inline void for_each_column(int C, Step&& step) {
    for_each_column(C, 1, step, [](int) {});
}

// Writes lane i < g.n of x to out[(b0 + i) * stride]: one per row (stride 1: a masked store, consecutive rows being
// adjacent) or one per (row, teacher) pair (a scatter; plain stores from an aligned copy measured no faster). Where the
// vector traits can interleave (PairStatsHeld), the per-pair statistics are held instead and written once per group.
template <class V>
inline void write_lanes(const LaneGroup<V>& g, typename V::F x, float* out, int stride) {
    float* base = out + static_cast<std::size_t>(g.b0) * stride;
    if (stride == 1) V::store(base, x, V::first(g.n));
    else V::scatter(base, stride, x, g.n);
}

// The six per-pair statistics a teacher tile writes, in the order of pair_stat_outputs.
constexpr int kTilePairStats = 6;

inline std::array<float*, kTilePairStats> pair_stat_outputs(const DistillProblem& p) {
    return {p.stats.lse_t, p.stats.kl, p.stats.h_t, p.stats.conf, p.stats.ce_t, p.stats.hit};
}

// Whether V writes a group's per-pair statistics as K interleaved vectors (V::interleave_store) rather than one
// scatter per teacher and statistic: for K <= W, where V has it.
template <class V, class = void>
struct CanInterleave : std::false_type {};
template <class V>
struct CanInterleave<V, std::void_t<typename V::InterleavePlan>> : std::true_type {};

// V's interleave plan for K teachers, made once per thread and K.
template <class V>
const typename V::InterleavePlan& interleave_plan(int K) {
    thread_local typename V::InterleavePlan plan;
    if (plan.K != K) V::plan_interleave(K, plan);
    return plan;
}

// The per-pair statistics of one lane group, held per teacher until its last tile, then written as rows of K.
template <class V>
struct PairStatsHeld {
    typename V::F value[kTilePairStats][V::W];  // [statistic][teacher]
};

// The rows a lane group reads two teachers after teacher k's: teacher k + 2's rows of the group, or past the last
// teacher the next group's first or second teacher (null past the last row, and in the scalar build, where one hint
// per float would cost more than it saves). n C floats in one run that starts on another page: column c asks for the
// line at float c n. Two teachers ahead rather than one: a gradient tile of 11 classes (one exponential per column)
// lasts about as long as a line takes to come from memory, and asked for one tile ahead the rows came late; Zen 4,
// native_pass_pair, the gradient pass at 65536,4,11,16 -6 to -7 % (AVX2 -3 %), 16384,16,21,32 -4 %, the stats passes
// level; three ahead was slower again (docs/PERF.md, "Zen 4: short slices summed transposed").
template <class V>
inline const float* rows_after_teacher(const DistillProblem& p, const LaneGroup<V>& g, int k) {
    const int after = g.b0 + g.n, ahead = k + 2;
    return V::W < 8          ? nullptr
           : ahead < p.K     ? teacher_row(p, ahead, g.b0)
           : after < p.B     ? teacher_row(p, ahead - p.K < p.K ? ahead - p.K : 0, after)
                             : nullptr;
}

// The student rows of the group: lse_s1, lse_st, ce_s, the tiles s, w_s, e^v and, with Fused, the student's share
// of dL/dzs in the dz tile.
template <class V, int TK, bool Fused>
inline void student_tile(const DistillProblem& p, LaneGroup<V>& g) {
    using F = typename V::F;
    constexpr int W = V::W;
    const int C = p.C;
    F m = V::set1(-std::numeric_limits<float>::infinity()), probe = V::zero();
    for (int c0 = 0; c0 < C; c0 += W) {
        transposed_columns<V>(student_row(p, g.b0), C, g.n, c0, std::min(W, C - c0), [&](int j, F x) {
            m = V::max(m, x);
            probe = V::add(probe, V::sub(x, x));
            V::store(g.column(g.s, c0 + j), x);
        });
    }
    const F it = V::set1(p.inv_T), zero = V::zero();
    F S1[2] = {zero, zero}, R1[2] = {zero, zero}, ST[2] = {zero, zero};
    for_each_column(C, [&](int c, int h) {
        const F w = V::sub(V::load(g.column(g.s, c)), m);
        F e1, eT;
        exp_pair<V, TK>(w, it, e1, eT);
        S1[h] = V::add(S1[h], e1);
        R1[h] = V::add_where(R1[h], e1, V::less(w, zero));
        ST[h] = V::add(ST[h], eT);
        V::store(g.column(g.v, c), w);
        V::store(g.column(g.ev, c), eT);
        if constexpr (Fused) V::store(g.column(g.dz, c), e1);
    });
    const F S = V::add(S1[0], S1[1]), R = V::add(R1[0], R1[1]), St = V::add(ST[0], ST[1]);
    const F log_S1 = vlog_sum<V>(S, R);
    g.student_max = m;
    g.student_sum_T = St;
    alignas(64) float sy[W];
    for (int i = 0; i < W; ++i) sy[i] = g.y[i] >= 0 ? student_row(p, g.b0 + i)[g.y[i]] : 0.0f;
    const F counted = V::load(g.counted);
    const auto is_counted = V::less(zero, counted);
    write_lanes(g, V::add(V::add(m, log_S1), probe), p.stats.lse_s1, 1);
    write_lanes(g, V::add(V::fma(m, it, vlog<V>(St)), probe), p.stats.lse_st, 1);
    write_lanes(g, V::select(is_counted, V::add(V::add(V::sub(m, V::load(sy)), log_S1), probe), zero), p.stats.ce_s, 1);
    if constexpr (Fused) {
        // dz holds e^{s-m} and ev e^{(s-m)/T}: scale them into probabilities and combine (0 for ignored rows).
        alignas(64) float kd_coefficient[W];
        for (int i = 0; i < W; ++i) kd_coefficient[i] = g.y[i] >= 0 ? student_kd_coefficient(p, g.b0 + i) : 0.0f;
        const F ce = V::mul(counted, V::div(V::set1(p.a_ce * p.inv_counted_rows), S));
        const F kd = V::div(V::load(kd_coefficient), St);
        for (int c = 0; c < C; ++c) {
            float* d = g.column(g.dz, c);
            V::store(d, V::fma(ce, V::load(d), V::mul(kd, V::load(g.column(g.ev, c)))));
        }
    }
}

// The between of a teacher tile that runs nothing between its columns: its sweep is then one run (on eight-lane levels
// two columns at a time: teacher_tile).
struct NothingBetween {
    void operator()(int) const {}
};

// A vector type as a value, for generic lambdas (std::type_identity is C++20).
template <class X>
struct VectorType {
    using type = X;
};

// a in every half of an X: a itself for X = V, both halves for X = Twice<V>.
template <class X, class V>
inline typename X::F halves(typename V::F a) {
    if constexpr (std::is_same_v<X, V>) return a;
    else return typename X::F{a, a};
}

// hit of the group's pairs with teacher k: 1 where the label's column is the first column holding the row's maximum m,
// else 0 (also for ignored rows and unused lanes, where counted is false). The sweep keeps no argmax, which cost three
// vector operations per column (without them: the fused pass at 256,16,100,0 -3.3 % on one Zen 4 thread, the stats
// pass level): the label's logit zy equal to m makes it the first argmax unless an earlier column holds m too, which
// can only be where the row holds m more than once. e^{w} is exactly 1 at the maximum, so S - R (the sum at T = 1
// less its terms below the maximum) counts the columns at m, to within C^2 eps (below 1e-3 for C <= 128); only lanes
// with two or more look back along their row, as the row kernels do (occurs_before). A row that is not finite gets
// whatever the look back finds (its other statistics are NaN).
template <class V>
inline typename V::F first_argmax_hits(const DistillProblem& p, const LaneGroup<V>& g, int k, typename V::F m,
                                       typename V::F zy, typename V::F at_max, typename V::M counted) {
    using F = typename V::F;
    const auto at_label = V::both(counted, V::equal(zy, m));
    const F one = V::set1(1.0f), zero = V::zero();
    const F hit = V::select(V::both(at_label, V::less(at_max, V::set1(1.5f))), one, zero);
    const auto tied = V::both(at_label, V::less(V::set1(1.5f), at_max));
    if (!V::any(tied)) return hit;
    alignas(64) float look[V::W], mx[V::W], h[V::W];
    V::store(look, V::select(tied, one, zero));
    V::store(mx, m);
    V::store(h, hit);
    for (int i = 0; i < g.n; ++i)
        if (look[i] != 0.0f) h[i] = occurs_before<V>(teacher_row(p, k, g.b0 + i), g.y[i], mx[i]) ? 0.0f : 1.0f;
    return V::load(h);
}

// Teacher k's rows of the group: lse_t, kl, h_t, conf, ce_t, hit (into held when given, else written now) and, with
// Fused, its share of dL/dzs. between(j) runs g.n times, spread over the sweep that does the arithmetic.
// With Reverse (the stats pass of reverse-kl) kl is reverse KL where its plain form holds (reverse_kl_in_stats_sweep):
// the sweep sums Ar = sum e^v (w - w_s) in place of A (the difference w - w_s is A's own), and kl is
// reverse_kl_statistic (distill_groups.inl); e^u is not stored, the accurate KL not taken (nothing reads either).
template <class V, int TK, bool Fused, bool Reverse, class Between>
inline void teacher_tile(const DistillProblem& p, const LaneGroup<V>& g, int k, PairStatsHeld<V>* held,
                         Between&& between) {
    using F = typename V::F;
    constexpr int W = V::W;
    const int C = p.C;
    // The maximum per lane (its first column is found after the sweep, first_argmax_hits).
    F m = V::set1(-std::numeric_limits<float>::infinity());
    for (int c0 = 0; c0 < C; c0 += W) {
        transposed_columns<V>(teacher_row(p, k, g.b0), C, g.n, c0, std::min(W, C - c0), [&](int j, F x) {
            m = V::max(m, x);
            V::store(g.column(g.z, c0 + j), x);
        });
    }
    const F it = V::set1(p.inv_T), zero = V::zero();
    F S0[2] = {zero, zero}, R0[2] = {zero, zero}, Hs[2] = {zero, zero}, St[2] = {zero, zero}, A[2] = {zero, zero};
    const float* next = rows_after_teacher(p, g, k);
    // Columns c .. c + X::W / W - 1 into the sums s0 .. a: X = V, one column into one half's sums, or X = Twice<V>, two
    // adjacent columns (one load each: column c + 1 follows column c in a tile) into both halves' sums at once.
    auto columns = [&](auto vector_type, int c, auto& s0, auto& r0, auto& hs, auto& st, auto& a) {
        using X = typename decltype(vector_type)::type;
        using XF = typename X::F;
        constexpr int n = X::W / W;
        for (int j = 0; j < n; ++j)
            if (next != nullptr) prefetch_line(next + static_cast<std::size_t>(c + j) * g.n);
        const XF zero_x = X::zero();
        const XF w = X::sub(X::load(g.column(g.z, c)), halves<X, V>(m));
        XF e1, eT;
        exp_pair<X, TK>(w, halves<X, V>(it), e1, eT);
        s0 = X::add(s0, e1);
        r0 = X::add_where(r0, e1, X::less(w, zero_x));
        hs = X::fma(e1, w, hs);
        st = X::add(st, eT);
        const XF diff = X::sub(w, X::load(g.column(g.v, c)));  // (w - w_s)
        if constexpr (Reverse) {
            a = X::fma(X::load(g.column(g.ev, c)), diff, a);  // Ar
        } else {
            a = X::fma(eT, diff, a);
            X::store(g.column(g.eu, c), eT);
        }
    };
    constexpr bool one_run = std::is_same_v<std::decay_t<Between>, NothingBetween>;
    if constexpr (one_run && V::W < 16) {
        // One run, eight lanes: two columns at a time as one Twice<V> step, so the two columns' operations come
        // interleaved in program order and the core need not look a whole column ahead to overlap their
        // exponentials. The same operations on the same halves as one column at a time, so the same sums bit for
        // bit. native_pass_pair, 65536,4,11,16, stats: AVX2 -3 % (2 threads), -6.5 % (1 thread); AVX-512 level to
        // 4 % slower, so it keeps one column at a time.
        using X = Twice<V>;
        typename X::F s0 = X::zero(), r0 = s0, hs = s0, st = s0, a = s0;
        int c = 0;
        for (; c + 2 <= C; c += 2) columns(VectorType<X>{}, c, s0, r0, hs, st, a);
        S0[0] = s0.lo, S0[1] = s0.hi, R0[0] = r0.lo, R0[1] = r0.hi, Hs[0] = hs.lo, Hs[1] = hs.hi;
        St[0] = st.lo, St[1] = st.hi, A[0] = a.lo, A[1] = a.hi;
        if (c < C) columns(VectorType<V>{}, c, S0[0], R0[0], Hs[0], St[0], A[0]);
    } else {
        for_each_column(C, one_run ? 1 : g.n, [&](int c, int h) {
            columns(VectorType<V>{}, c, S0[h], R0[h], Hs[h], St[h], A[h]);
        }, between);
    }
    const F S = V::add(S0[0], S0[1]), R = V::add(R0[0], R0[1]), H = V::add(Hs[0], Hs[1]);
    const F T = V::add(St[0], St[1]), Ss = g.student_sum_T;
    const F probe = V::sub(H, H);  // NaN exactly for the rows whose teacher logits are not all finite
    const F log_S0 = vlog_sum<V>(S, R);
    const F ratio = V::div(T, Ss);
    F kl;  // as written: T^2 KL, or with Reverse T^2 R or kReverseKlByCatalog
    if constexpr (Reverse) {
        kl = reverse_kl_statistic<V>(V::mul(V::add(A[0], A[1]), it), Ss, vlog<V>(ratio), probe, p.T);
    } else {
        kl = V::add(V::div(V::mul(V::add(A[0], A[1]), it), T), V::sub(zero, vlog<V>(ratio)));
        const auto accurate = V::less(kl, V::set1(kAccurateKlBelow));  // NaN compares false
        if (!p.kl_overwritten && V::any(accurate)) {
            // Unused lanes hold rows of zeros: every operand stays finite, and nothing of theirs is stored.
            const DivergenceTerm<V> term{V::fma(V::set1(p.T), vlog<V>(ratio), V::sub(m, g.student_max)), it, ratio};
            F phi = zero, rsum = zero;
            for (int c = 0; c < C; ++c)
                term.add(V::load(g.column(g.z, c)), V::load(g.column(g.s, c)), V::load(g.column(g.eu, c)),
                         V::load(g.column(g.ev, c)), phi, rsum);
            kl = V::select(accurate, small_divergence<V>(phi, rsum, T), kl);
        }
        kl = V::mul(V::set1(p.T * p.T), kl);
    }
    alignas(64) float zy[W];
    for (int i = 0; i < W; ++i) zy[i] = g.y[i] >= 0 ? g.column(g.z, g.y[i])[i] : 0.0f;
    const auto is_counted = V::less(zero, V::load(g.counted));
    const F inv_S = V::div(V::set1(1.0f), S);
    const F values[kTilePairStats] = {
        V::add(V::fma(m, it, vlog<V>(T)), probe),                                  // lse_t
        kl,                                                                        // kl
        V::fnma(H, inv_S, log_S0),                                                 // h_t
        inv_S,                                                                     // conf
        V::select(is_counted, V::add(V::sub(m, V::load(zy)), log_S0), zero),       // ce_t
        first_argmax_hits<V>(p, g, k, m, V::load(zy), V::sub(S, R), is_counted),   // hit
    };
    const auto outputs = pair_stat_outputs(p);
    for (int s = 0; s < kTilePairStats; ++s) {
        if (held != nullptr) held->value[s][k] = values[s];
        else write_lanes(g, values[s], outputs[s] + k, p.K);
    }
    if constexpr (Fused) {
        // pt^T_c = e^{u_c} / St; a non-finite row leaves NaN here rather than a silently wrong gradient.
        alignas(64) float wl[W];
        for (int i = 0; i < W; ++i) wl[i] = g.y[i] >= 0 ? p.wl[stat_index(p, g.b0 + i, k)] : 0.0f;
        const F coef = V::add(V::div(V::mul(V::set1(p.a_kd * p.T * p.inv_counted_rows), V::load(wl)), T), probe);
        for (int c = 0; c < C; ++c) {
            float* d = g.column(g.dz, c);
            V::store(d, V::fnma(coef, V::load(g.column(g.eu, c)), V::load(d)));
        }
    }
}

// The dz tile back into the rows of dzs, with the label term; ignored rows get zeros.
template <class V>
inline void write_gradient_rows(const DistillProblem& p, const LaneGroup<V>& g) {
    using F = typename V::F;
    constexpr int W = V::W;
    const int C = p.C;
    for (int c0 = 0; c0 < C; c0 += W) {
        const int width = std::min(W, C - c0);
        const typename V::M t = V::first(width);
        F r[W];
        for (int j = 0; j < W; ++j) r[j] = j < width ? V::load(g.column(g.dz, c0 + j)) : V::zero();
        V::transpose(r);
        for (int i = 0; i < g.n; ++i) {
            float* row = gradient_row(p, g.b0 + i) + c0;
            const F x = g.y[i] >= 0 ? r[i] : V::zero();
            if (width == W) V::store(row, x);
            else V::store(row, x, t);
        }
    }
    for (int i = 0; i < g.n; ++i)
        if (g.y[i] >= 0) gradient_row(p, g.b0 + i)[g.y[i]] -= p.a_ce * p.inv_counted_rows;
}

// row_loss of rows r0 .. r0 + n - 1 (0 for ignored rows).
inline void write_row_losses(const DistillProblem& p, int r0, int n) {
    for (int b = r0; b < r0 + n; ++b) {
        if (p.y[b] >= 0) write_row_loss(p, b);
        else p.grads.row_loss[b] = 0.0f;
    }
}

// The fused pass's end of a lane group: dzs rows and row_loss (0 for ignored rows).
template <class V>
inline void finish_gradient_rows(const DistillProblem& p, const LaneGroup<V>& g, int r0) {
    write_gradient_rows(p, g);
    write_row_losses(p, r0, g.n);
}

// N statistics of the lane group of n rows from r0, held per teacher (values[s][k]), written as rows of K
// (V::interleave_store); with stream, their whole lines go past the caches: in the stats pass past the cache the
// statistics are written once and read by the next step, not by this pass, and a store that first reads its line from
// memory held the pass up (the dense stats pass 10 % faster streamed: docs/PERF.md, "Zen 4: short slices summed
// transposed, and the lane groups' statistics streamed").
template <class V, std::size_t N>
inline void interleave_statistics(bool stream, int K, int r0, int n, const std::array<float*, N>& outputs,
                                  const typename V::F (*values)[V::W]) {
    const auto& plan = interleave_plan<V>(K);
    for (std::size_t s = 0; s < N; ++s) {
        float* out = outputs[s] + static_cast<std::size_t>(r0) * K;
        if (stream) V::template interleave_store<true>(plan, out, values[s], n);
        else V::interleave_store(plan, out, values[s], n);
    }
}

// cos and mse of the lane group's pairs, slices summed transposed (distill_feature_tiles.inl): with rows_of_k (up to W
// teachers, where V interleaves: tiles_block's held statistics) held per teacher and written as rows of K, as the
// per-pair statistics of the logit tiles are; else one scatter per teacher and statistic.
template <class V>
inline void transposed_feature_stats(const DistillProblem& p, const LaneGroup<V>& g, bool rows_of_k, bool stream) {
    using F = typename V::F;
    if constexpr (CanInterleave<V>::value) {
        if (rows_of_k) {
            F held[2][V::W];
            for (int k = 0; k < p.K; ++k) transposed_slice_stats<V>(p, g.b0, g.n, k, held[0][k], held[1][k]);
            interleave_statistics<V>(stream, p.K, g.b0, g.n, std::array<float*, 2>{p.stats.cos, p.stats.mse}, held);
            return;
        }
    }
    for (int k = 0; k < p.K; ++k) {
        F cos, mse;
        transposed_slice_stats<V>(p, g.b0, g.n, k, cos, mse);
        write_lanes(g, cos, p.stats.cos + k, p.K);
        write_lanes(g, mse, p.stats.mse + k, p.K);
    }
}

// The stats and fused passes of rows of up to this many classes sweep a lane group's feature slices after its logit
// tiles (tiles_block's FeaturesAfter) rather than spread between their columns. 2 threads, AVX-512 (docs/PERF.md,
// "Short rows"): stats 65536,4,11,16 -9 %, 8192,4,11,64 -13 %, 16384,16,21,32 -5 %, fused -15 %, -7 %, -9 %; rows of
// 32 classes level, of 64 and 100 classes 1-8 % slower at one thread, where the tiles' arithmetic hides the slices'
// loads between their columns.
constexpr int kFeaturesAfterTilesMaxClasses = 24;

inline bool features_after_tiles(const DistillProblem& p) {
    return kl_kernel_features(p) && p.C <= kFeaturesAfterTilesMaxClasses;
}

// Stats (or, with Fused, stats and gradients) of rows [b0, b1), W rows at a time. Each teacher's tile takes
// as many feature slices along, in the row-major order of fs and ft (see for_each_pair); with FeaturesAfter (short
// rows: features_after_tiles) the group's slices are swept after its tiles instead. A separate instantiation: with both
// ways in one function the dense stats pass measured 4 % slower.
template <class V, int TK, bool Fused, bool Reverse = false, bool FeaturesAfter = false>
void tiles_block(const DistillProblem& p, int b0, int b1, float* scratch) {
    const bool stream = Fused && stream_feature_grads(p);
    WholeLines<V> lines(p.grads.dfs);
    const bool staged = stream && stages_slices(p, lines, true);
    zero_feature_stats(p, b0, b1);
    const bool transposed = FeaturesAfter && transposes_slices<V>(p);
    // Up to W teachers: the per-pair statistics of a group are held and written as rows of K at its end, in the stats
    // pass past the cache by non-temporal stores (interleave_statistics; the fused pass reads them back for row_loss).
    const bool stream_stats = !Fused && p.pass_past_cache;
    PairStatsHeld<V> held_stats;
    PairStatsHeld<V>* const held = CanInterleave<V>::value && p.K <= V::W ? &held_stats : nullptr;
    auto write_held = [&](int r0, int n) {
        if constexpr (CanInterleave<V>::value) {
            if (held != nullptr) interleave_statistics<V>(stream_stats, p.K, r0, n, pair_stat_outputs(p), held->value);
        }
    };
    for (int r0 = b0; r0 < b1; r0 += V::W) {
        LaneGroup<V> g = make_lane_group<V>(p, r0, std::min(V::W, b1 - r0), scratch);
        student_tile<V, TK, Fused>(p, g);
        if (!kl_kernel_features(p)) {
            for (int k = 0; k < p.K; ++k) teacher_tile<V, TK, Fused, Reverse>(p, g, k, held, NothingBetween{});
            write_held(r0, g.n);
            if constexpr (Fused) finish_gradient_rows(p, g, r0);
            continue;
        }
        FeatureGroup<V> features;
        if constexpr (FeaturesAfter) {
            // The group's slices after its tiles, inlined. Slice by slice nothing is asked for ahead: a block of rows
            // is one lane group, and the next group's lines asked for during the tiles measured slower (docs/PERF.md,
            // Emerald Rapids: the dense stats pass +4 %, fused +7 %).
            // Summed transposed, the group's slices are read a column of lines at a time, which the hardware
            // prefetcher does not follow: its lines are asked for between its tiles (see transposes_slices).
            FeatureLinesAhead ahead(p, r0, transposed ? r0 + g.n : r0, p.K + 1);
            ahead.step();
            for (int k = 0; k < p.K; ++k) {
                teacher_tile<V, TK, Fused, Reverse>(p, g, k, held, NothingBetween{});
                ahead.step();
            }
            if (transposed) {
                transposed_feature_stats(p, g, held != nullptr, stream_stats);
                if constexpr (Fused) {
                    if (staged) feature_gradients_of_rows<V, true>(p, r0, g.n, &lines);
                    else feature_gradients_of_rows<V, false>(p, r0, g.n, stream ? &lines : nullptr);
                }
            } else if constexpr (Fused) {
                if (staged) features_and_gradients_of_rows<V, true>(p, r0, g.n, features, &lines);
                else features_and_gradients_of_rows<V, false>(p, r0, g.n, features, stream ? &lines : nullptr);
            } else {
                feature_stats_of_rows(p, r0, g.n, features);
            }
        } else {
            int pair = 0;
            auto next_feature = [&](int) {
                const int b = r0 + pair / p.K, kk = pair % p.K;
                ++pair;
                if constexpr (Fused) {
                    const float scale = p.y[b] >= 0 ? feature_grad_scale(p, b, kk) : 0.0f;
                    if (staged) feature_row<V, true, true, true>(p, b, kk, scale, &features, &lines);
                    else feature_row<V, true, true>(p, b, kk, scale, &features, stream ? &lines : nullptr);
                } else {
                    feature_row<V, true, false>(p, b, kk, 0.0f, &features, nullptr);
                }
            };
            for (int k = 0; k < p.K; ++k) teacher_tile<V, TK, Fused, Reverse>(p, g, k, held, next_feature);
        }
        write_held(r0, g.n);
        finish_features(p, features);
        if constexpr (Fused) finish_gradient_rows(p, g, r0);
    }
    if (stream) lines.finish();
    if (stream || (held != nullptr && stream_stats)) V::stream_fence();
}

// The gradient pass for short rows, a lane group at a time: dL/dzs from the stats pass's log-sum-exps (the formulas of
// gradient_block), one row per lane, so a row of C = 11 classes costs its share of 11 full vectors instead of one
// masked vector with its per-row bookkeeping, once for the student and once per teacher. For T in {1, 2, 3, 4} the
// student takes one exponential per logit, as student_gradient does: q = e^{(s - lse_s1)/T}, softmax(s) = q^T,
// softmax(s/T) = q e^{lse_s1/T - lse_st}, the last factor one vector exponential per lane group (its argument formed
// in double per row, then rounded: a relative error of a few 1e-7 in the factor). Ignored rows and unused lanes
// compute with coefficients 0 and are written as zeros (write_gradient_rows).
template <class V, int TK>
inline void student_gradient_tile(const DistillProblem& p, LaneGroup<V>& g) {
    using F = typename V::F;
    constexpr int W = V::W;
    const int C = p.C;
    alignas(64) float neg_lse1[W], neg_lseT[W], ce[W], kd[W], shift[W];
    for (int i = 0; i < W; ++i) {
        const bool counted = g.y[i] >= 0;  // false for unused lanes
        const int b = g.b0 + i;
        neg_lse1[i] = counted ? -p.stats.lse_s1[b] : 0.0f;
        neg_lseT[i] = counted ? -p.stats.lse_st[b] : 0.0f;
        ce[i] = counted ? p.a_ce * p.inv_counted_rows : 0.0f;
        kd[i] = counted ? student_kd_coefficient(p, b) : 0.0f;
        if constexpr (TK > 0)
            shift[i] = counted ? static_cast<float>(static_cast<double>(p.stats.lse_s1[b]) / TK -
                                                    static_cast<double>(p.stats.lse_st[b]))
                               : 0.0f;
    }
    const F l1 = V::load(neg_lse1), vce = V::load(ce);
    if constexpr (TK == 0) {
        const F it = V::set1(p.inv_T), lT = V::load(neg_lseT), vkd = V::load(kd);
        for (int c0 = 0; c0 < C; c0 += W) {
            transposed_columns<V>(student_row(p, g.b0), C, g.n, c0, std::min(W, C - c0), [&](int j, F x) {
                const F p1 = vexp_kernel<V>(V::add(x, l1)), pT = vexp_kernel<V>(V::fma(x, it, lT));
                V::store(g.column(g.dz, c0 + j), V::fma(vce, p1, V::mul(vkd, pT)));
            });
        }
    } else {
        const F kdq = V::mul(V::load(kd), vexp<V>(V::load(shift)));
        for (int c0 = 0; c0 < C; c0 += W) {
            transposed_columns<V>(student_row(p, g.b0), C, g.n, c0, std::min(W, C - c0), [&](int j, F x) {
                const F q = vexp_kernel<V, TK>(V::add(x, l1));
                V::store(g.column(g.dz, c0 + j), V::fma(vce, vpow_int<V, TK>(q), V::mul(kdq, q)));
            });
        }
    }
}

// Teacher k's share of the group's dz tile: - a_kd T wl_k / B' e^{z/T - lse_t,k} per column.
template <class V>
inline void teacher_gradient_tile(const DistillProblem& p, const LaneGroup<V>& g, int k) {
    using F = typename V::F;
    constexpr int W = V::W;
    const int C = p.C;
    alignas(64) float neg_lse[W], coef[W];
    for (int i = 0; i < W; ++i) {
        const bool counted = g.y[i] >= 0;
        const std::size_t pair = counted ? stat_index(p, g.b0 + i, k) : 0;
        neg_lse[i] = counted ? -p.stats.lse_t[pair] : 0.0f;
        coef[i] = counted ? p.a_kd * p.T * p.inv_counted_rows * p.wl[pair] : 0.0f;
    }
    const F it = V::set1(p.inv_T), nl = V::load(neg_lse), cf = V::load(coef);
    const float* next = rows_after_teacher(p, g, k);
    for (int c0 = 0; c0 < C; c0 += W) {
        transposed_columns<V>(teacher_row(p, k, g.b0), C, g.n, c0, std::min(W, C - c0), [&](int j, F x) {
            const int c = c0 + j;
            if (next != nullptr) prefetch_line(next + static_cast<std::size_t>(c) * g.n);
            float* d = g.column(g.dz, c);
            V::store(d, V::fnma(cf, vexp_kernel<V>(V::fma(x, it, nl)), V::load(d)));
        });
    }
}

// The gradient pass of rows [b0, b1) by lane groups: dzs and row_loss from the logits, then dfs pair by pair in
// the row-major order of fs and ft (zeros for ignored rows), as gradient_block writes them.
// A group all of whose counted rows are marked in skip (PreciseRows' marks, or null) leaves out its logit
// sweeps: its dzs rows are written afterwards in the precise form (distill_kl_gradient.inl), an ignored row's zeros
// here. A group with any unmarked counted row is swept whole and its marked rows written over.
// A group whose runs of fs and ft are short (up to kGroupFeaturesAheadBytes each) sweeps its dfs in a few hundred
// cycles, too few for the hints of the sweep itself (kPrefetchAheadBytes ahead) to bring the lines in time: they are
// asked for between the group's logit tiles instead. Zen 4, 2 threads, alternated rounds: 65536,4,11,16 (4 KiB runs)
// -8 to -15 % on AVX-512, -19 % on AVX2; longer runs measured slower with all their lines asked for (256,64,100,128
// +19 %, 16384,16,21,32 +11 %, 8192,4,11,64 +6 %) and level with their first 4 KiB; the next group's lines, and the
// same hints in the stats and fused passes' lane groups (bound by arithmetic there), measured slower too (docs/PERF.md,
// "Zen 4: the feature slices asked for along the teacher rows").
constexpr std::size_t kGroupFeaturesAheadBytes = 4096;

template <class V>
void gradient_tiles_block(const DistillProblem& p, int b0, int b1, float* scratch, const unsigned char* skip) {
    const bool stream = stream_feature_grads(p);
    WholeLines<V> lines(p.grads.dfs);
    const bool staged = stream && stages_slices(p, lines, false);
    for (int r0 = b0; r0 < b1; r0 += V::W) {
        const int n = std::min(V::W, b1 - r0);
        bool logits = skip == nullptr;
        for (int i = 0; i < n && !logits; ++i) logits = p.y[r0 + i] >= 0 && skip[r0 - b0 + i] == 0;
        if (logits) {
            // The group's lines of fs and ft, asked for between its tiles where its run is short (see above).
            const bool short_run = static_cast<std::size_t>(n) * p.F * sizeof(float) <= kGroupFeaturesAheadBytes;
            FeatureLinesAhead ahead(p, r0, kl_kernel_features(p) && short_run ? r0 + n : r0, p.K + 1);
            ahead.step();
            LaneGroup<V> g = make_lane_group<V>(p, r0, n, scratch);
            with_temperature_kind(temperature_kind(p.T), [&](auto tk) { student_gradient_tile<V, decltype(tk)::value>(p, g); });
            for (int k = 0; k < p.K; ++k) {
                teacher_gradient_tile<V>(p, g, k);
                ahead.step();
            }
            finish_gradient_rows(p, g, r0);
        } else {
            write_row_losses(p, r0, n);
            for (int b = r0; b < r0 + n; ++b)
                if (p.y[b] < 0) zero_row(gradient_row(p, b), static_cast<std::size_t>(p.C));
        }
        if (!kl_kernel_features(p)) continue;
        if (staged) feature_gradients_of_rows<V, true>(p, r0, n, &lines);
        else feature_gradients_of_rows<V, false>(p, r0, n, stream ? &lines : nullptr);
    }
    if (stream) {
        lines.finish();
        V::stream_fence();
    }
}

}  // namespace distill
}  // namespace
}  // namespace mtkd
