// The fused multi-teacher distillation op (DESIGN §2), written once over vector traits V and compiled
// once per SIMD level (kernels_scalar.cpp, kernels_avx2.cpp, kernels_avx512.cpp).
//
// Notation for one row b: student logits s[c], teacher k's logits z[c], temperature T, label y.
//
// Log-sum-exp after a max shift. With m = max_c z and w_c = z_c - m <= 0:
//   S0 = sum_c e^{w_c},  lse_1 = m + log S0;   u_c = w_c / T,  St = sum_c e^{u_c},  lse_T = m/T + log St.
// Every e^{...} has an argument <= 0, so nothing overflows, and the largest term is exactly 1.
//
// Teacher statistics at T = 1, with p_c = e^{w_c} / S0:
//   conf = max_c p_c = 1 / S0
//   H    = -sum_c p_c log p_c = -sum_c p_c (w_c - log S0) = log S0 - (sum_c e^{w_c} w_c) / S0.
//   The second form has no cancellation for near one-hot rows: both terms are small and positive.
//   CE_t = lse_1 - z_y = (m - z_y) + log S0, summed in that order: m - z_y is exact when y is the argmax.
//   For a confident teacher S0 = 1 + R with R tiny, and R is lost to rounding once the max's exact 1 is in
//   the sum; so R (the sum over w < 0) is also kept apart, and log S0 = log1p(R) when the max is unique.
//   CE_t and H then keep their relative precision however small they get.
//   hit = 1 when y is the first index where z reaches m. CE_s likewise (with the student's S1).
//
// KL at temperature T. With the student's shift m_s, v_c = (s_c - m_s)/T and Ss = sum_c e^{v_c}:
//   log pt_c = u_c - log St,  log ps_c = v_c - log Ss, so
//   KL / T^2 = sum_c pt_c (log pt_c - log ps_c) = (sum_c e^{u_c} (u_c - v_c)) / St + log(Ss / St).
//   The student's v row is computed once per row and reused by every teacher. log(Ss/St) is one log of a
//   ratio in [1/C, C], not the difference of two logs of size log C, which would add an ulp of log C.
//   Float32 still leaves an absolute error of a few 1e-7 (in units of T^2): distill_refine.cpp recomputes
//   the KL in float64 when a whole batch's KL is so small that this would show.
//   For T in {1, 2, 3, 4}, e^{w} = (e^{u})^T: two multiplies replace the second exp per element.
//
// Features of teacher k (width D): cos = <a,t> / (|a| |t| + eps), mse = sum_d (a_d - t_d)^2 / D.
//
// Non-finite inputs. x - x is 0 for every finite x and NaN for NaN and +-Inf, so the sum of x - x over a
// row (the "probe") is 0 or NaN at the cost of one subtract and one add per vector; adding it to lse_t,
// lse_s1 and lse_st makes them NaN exactly when the row holds a non-finite value, -Inf included (which a
// plain max/exp-sum would accept as a masked class). For features, sum a^2 and sum t^2 are non-finite
// whenever a or t holds one, so cos and mse are set to NaN from those sums at no extra cost.
//
// Gradient (only for counted rows, y >= 0; ignored rows get zeros), with 1/B' = inv_counted_rows:
//   dL/ds_c = (1/B') [ a_ce (softmax(s)_c - [c = y]) + a_kd T sum_k wl_k (ps^T_c - pt^T_{k,c}) ]
//           = (1/B') [ a_ce e^{s_c - lse_s1} + a_kd T (sum_k wl_k) e^{s_c/T - lse_sT}
//                      - a_kd T sum_k wl_k e^{z_kc/T - lse_t,k} ] - (1/B') a_ce [c = y]
//   dL/da_kd = (1/B') beta wf_k (2/D_k) (a_kd - t_kd)
//   row_loss = (1/B') [ a_ce CE_s + sum_k (a_kd wl_k KL_k + beta wf_k mse_k) ].
// The gradient pass needs one exp per teacher element, using lse_t from the stats pass. The fused pass
// keeps e^{u_c} of the teacher row in flight (scratch, L1) and reuses it as St * pt^T, so it needs no
// exp beyond those of the stats.
//
// Memory order. zt is [K,B,C]: for a block of rows the kernels visit teacher-major (for k: for b in block),
// so each teacher's rows of the block are one contiguous run that the hardware prefetcher streams. The
// student's v rows and the dzs rows of the block stay in L1/L2 while every teacher passes over them.
#pragma once

#include <cmath>
#include <cstddef>
#include <algorithm>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "kernels.h"
#include "vector_exp.h"
#include "vector_log.h"

namespace mtkd {
// Internal linkage: every SIMD level's translation unit must keep its own copy of each function here.
// A shared (inline) definition could be merged by the linker with one compiled for a wider
// instruction set and then run on a CPU that lacks it.
namespace {
namespace distill {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// dfs of at least this many bytes is written with non-temporal stores (see feature_row).
constexpr std::size_t kStreamFeatureGradBytes = std::size_t{1} << 20;

template <bool Tail, class V>
inline typename V::F load(const float* p, typename V::M m) {
    if constexpr (Tail) return V::load(p, m);
    else return V::load(p);
}

template <bool Tail, class V>
inline void store(float* p, typename V::F x, typename V::M m) {
    if constexpr (Tail) V::store(p, x, m);
    else V::store(p, x);
}

template <bool Tail, class V>
inline typename V::F keep(typename V::F x, typename V::M m) {
    if constexpr (Tail) return V::keep(x, m);
    else return x;
}

// Calls body(c, mask, tail) for each vector of [0, n): full vectors first, then one masked tail.
template <class V, class Body>
inline void for_each_vector(int n, Body&& body) {
    const typename V::M all = V::first(V::W);
    int c = 0;
    for (; c + V::W <= n; c += V::W) body(c, all, std::false_type{});
    if (c < n) body(c, V::first(n - c), std::true_type{});
}

template <class V>
struct RowScan {
    float max;
    typename V::F probe;  // lanes sum to 0 when every value is finite, to NaN otherwise
    float probe_sum() const { return V::sum(probe); }
};

// First sweep of a row: the maximum and the non-finite probe. Two independent chains hide max latency.
template <class V>
inline RowScan<V> scan_row(const float* z, int n) {
    using F = typename V::F;
    constexpr int W = V::W;
    F m0 = V::set1(-std::numeric_limits<float>::infinity()), m1 = m0;
    F p0 = V::zero(), p1 = V::zero();
    int c = 0;
    for (; c + 2 * W <= n; c += 2 * W) {
        F a = V::load(z + c), b = V::load(z + c + W);
        m0 = V::max(m0, a);
        m1 = V::max(m1, b);
        p0 = V::add(p0, V::sub(a, a));
        p1 = V::add(p1, V::sub(b, b));
    }
    for (; c + W <= n; c += W) {
        F a = V::load(z + c);
        m0 = V::max(m0, a);
        p0 = V::add(p0, V::sub(a, a));
    }
    if (c < n) {
        typename V::M t = V::first(n - c);
        F a = V::load(z + c, t);  // lanes outside t read 0: finite, and excluded from the max below
        m1 = V::max(m1, a, t);
        p1 = V::add(p1, V::sub(a, a));
    }
    return {V::max_of(V::max(m0, m1)), V::add(p0, p1)};
}

// Whether m occurs in z[0, end): decides "first argmax" ties without tracking indices in the hot sweep.
template <class V>
inline bool occurs_before(const float* z, int end, float m) {
    const typename V::F vm = V::set1(m);
    bool found = false;
    for_each_vector<V>(end, [&](int c, typename V::M t, auto tail) {
        constexpr bool is_tail = decltype(tail)::value;
        auto hits = V::equal(load<is_tail, V>(z + c, t), vm);
        if constexpr (is_tail) hits = V::both(hits, t);
        found = found || V::any(hits);
    });
    return found;
}

// Temperature kinds: 0 = general (two exps per teacher element), 1..4 = that integral T.
inline int temperature_kind(float T) {
    if (T == 1.0f) return 1;
    if (T == 2.0f) return 2;
    if (T == 3.0f) return 3;
    if (T == 4.0f) return 4;
    return 0;
}

// e^{w} and e^{u} (u = w/T) of one vector, sharing work when T is a small integer.
template <class V, int TK>
inline void exp_pair(typename V::F w, typename V::F inv_T, typename V::F& u, typename V::F& e1, typename V::F& eT) {
    if constexpr (TK == 1) {
        u = w;
        e1 = vexp_kernel<V>(w);
        eT = e1;
    } else if constexpr (TK == 0) {
        u = V::mul(w, inv_T);
        e1 = vexp_kernel<V>(w);
        eT = vexp_kernel<V>(u);
    } else {
        u = V::mul(w, inv_T);
        eT = vexp_kernel<V>(u);
        e1 = vpow_int<V, TK>(eT);
    }
}

struct StudentSums {
    float S1, R1, ST;  // R1: S1 without the terms at the maximum
};

// Second sweep of the student row: the sums at T = 1 and T, and v = (s - m)/T into v_row.
// When e1_out/eT_out are given (fused pass) the exp values are kept for the gradient.
template <class V, int TK>
inline StudentSums student_sums(const float* s, int C, float m, float inv_T, float* v_row, float* e1_out,
                                float* eT_out) {
    using F = typename V::F;
    const F vm = V::set1(m), it = V::set1(inv_T);
    const F zero = V::zero();
    F S1 = zero, R1 = zero, ST = zero;
    for_each_vector<V>(C, [&](int c, typename V::M t, auto tail) {
        constexpr bool is_tail = decltype(tail)::value;
        F w = V::sub(load<is_tail, V>(s + c, t), vm);
        F u, e1, eT;
        exp_pair<V, TK>(w, it, u, e1, eT);
        e1 = keep<is_tail, V>(e1, t);
        eT = keep<is_tail, V>(eT, t);
        S1 = V::add(S1, e1);
        R1 = V::add_where(R1, e1, V::less(w, zero));
        ST = V::add(ST, eT);
        store<is_tail, V>(v_row + c, u, t);
        if (e1_out != nullptr) {
            store<is_tail, V>(e1_out + c, e1, t);
            store<is_tail, V>(eT_out + c, eT, t);
        }
    });
    return {V::sum(S1), V::sum(R1), V::sum(ST)};
}

// Per-lane partial sums of a teacher row; R0 is S0 without the terms at the maximum.
template <class V>
struct TeacherSums {
    typename V::F S0, R0, Hs, St, A;
};

// Second sweep of a teacher row (see the derivation above). eT_out, when given, receives e^{u}.
template <class V, int TK>
inline TeacherSums<V> teacher_sums(const float* z, const float* v_row, int C, float m, float inv_T, float* eT_out) {
    using F = typename V::F;
    const F vm = V::set1(m), it = V::set1(inv_T);
    const F zero = V::zero();
    F S0 = zero, R0 = zero, Hs = zero, St = zero, A = zero;
    for_each_vector<V>(C, [&](int c, typename V::M t, auto tail) {
        constexpr bool is_tail = decltype(tail)::value;
        F w = V::sub(load<is_tail, V>(z + c, t), vm);
        F u, e1, eT;
        exp_pair<V, TK>(w, it, u, e1, eT);
        e1 = keep<is_tail, V>(e1, t);
        eT = keep<is_tail, V>(eT, t);
        S0 = V::add(S0, e1);
        R0 = V::add_where(R0, e1, V::less(w, zero));
        Hs = V::fma(e1, w, Hs);
        St = V::add(St, eT);
        A = V::fma(eT, V::sub(u, load<is_tail, V>(v_row + c, t)), A);
        if (eT_out != nullptr) store<is_tail, V>(eT_out + c, eT, t);
    });
    return {S0, R0, Hs, St, A};
}

// log(1 + x) to a few ulp for x >= 0 without libm's log1pf (several times slower than logf): with u = 1 + x
// rounded, log(u) * x / (u - 1) corrects for the rounding of u (Goldberg, "What every computer scientist
// should know about floating-point arithmetic", theorem 4).
inline float log1p_fast(float x) {
    float u = 1.0f + x;
    return u == 1.0f ? x : std::log(u) * (x / (u - 1.0f));
}

// log S for S = (terms at the maximum, each exactly 1) + R: log1p(R) when the maximum is unique, which keeps
// full relative precision for S barely above 1.
inline float log_sum(float S, float R) { return S - R < 1.5f ? log1p_fast(R) : std::log(S); }

struct Block {
    int b0, rows;
    std::size_t Cp;  // padded row stride of the scratch rows
    float* v_rows;   // [rows][Cp]
    float* spare;    // [Cp]
    float* student_sum_T;  // [rows]: Ss of each block row
};

inline Block make_block(const DistillProblem& p, int b0, int b1, float* scratch) {
    Block k;
    k.b0 = b0;
    k.rows = b1 - b0;
    k.Cp = padded_classes(p.C);
    k.v_rows = scratch;
    k.spare = scratch + k.Cp * static_cast<std::size_t>(k.rows);
    k.student_sum_T = k.spare + k.Cp;
    return k;
}

inline const float* student_row(const DistillProblem& p, int b) { return p.zs + static_cast<std::size_t>(b) * p.C; }
inline const float* teacher_row(const DistillProblem& p, int k, int b) {
    return p.zt + (static_cast<std::size_t>(k) * p.B + b) * p.C;
}
inline float* gradient_row(const DistillProblem& p, int b) { return p.grads.dzs + static_cast<std::size_t>(b) * p.C; }
inline std::size_t stat_index(const DistillProblem& p, int b, int k) { return static_cast<std::size_t>(b) * p.K + k; }

// Student part of the stats: lse_s1, lse_st, ce_s for row b, and its v row in the block scratch.
// With dz (fused pass, counted row) it also initialises dzs row b with the student's share of the gradient.
template <class V, int TK>
inline void student_stats(const DistillProblem& p, const Block& blk, int r, float* dz) {
    const int b = blk.b0 + r, C = p.C;
    const float* s = student_row(p, b);
    RowScan<V> scan = scan_row<V>(s, C);
    const float probe = scan.probe_sum();
    StudentSums sums = student_sums<V, TK>(s, C, scan.max, p.inv_T, blk.v_rows + blk.Cp * r, dz, blk.spare);
    float log_S1 = log_sum(sums.S1, sums.R1), log_ST = std::log(sums.ST);
    blk.student_sum_T[r] = sums.ST;
    p.stats.lse_s1[b] = scan.max + log_S1 + probe;
    p.stats.lse_st[b] = scan.max * p.inv_T + log_ST + probe;
    int y = p.y[b];
    p.stats.ce_s[b] = y >= 0 ? (scan.max - s[y]) + log_S1 + probe : 0.0f;
    if (dz != nullptr) {
        // dz holds e^{s-m} and spare e^{(s-m)/T}: scale them into probabilities and combine.
        using F = typename V::F;
        float wl_sum = 0.0f;
        for (int k = 0; k < p.K; ++k) wl_sum += p.wl[stat_index(p, b, k)];
        const F ce = V::set1(p.a_ce * p.inv_counted_rows / sums.S1);
        const F kd = V::set1(p.a_kd * p.T * p.inv_counted_rows * wl_sum / sums.ST);
        for_each_vector<V>(C, [&](int c, typename V::M t, auto tail) {
            constexpr bool is_tail = decltype(tail)::value;
            F g = V::fma(ce, load<is_tail, V>(dz + c, t), V::mul(kd, load<is_tail, V>(blk.spare + c, t)));
            store<is_tail, V>(dz + c, g, t);
        });
        dz[y] -= p.a_ce * p.inv_counted_rows;
    }
}

// Sums of (row, teacher) pairs waiting for their statistics, still as per-lane partial sums. They are finished
// W at a time: V::sum_lanes reduces W vectors in one add tree (a third of the work of W separate horizontal
// sums), the logs and divisions run as vector operations, and no row's sweeps wait on the previous row's tail.
template <class V>
struct TeacherGroup {
    enum { kS0, kR0, kHs, kSt, kA, kProbe, kSums };
    typename V::F sums[kSums][V::W];
    alignas(64) float m[V::W], Ss[V::W];
    int b[V::W], k[V::W];
    int n = 0;
};

template <class V>
inline void finish_teachers(const DistillProblem& p, TeacherGroup<V>& g) {
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
    const F log_S0 = V::select(V::less(V::sub(S0, R0), V::set1(1.5f)), vlog1p<V>(R0), vlog<V>(S0));
    const F log_St = vlog<V>(St);
    const F probe = V::sum_lanes(g.sums[G::kProbe]);
    alignas(64) float lse[W], kl[W], h[W], conf[W], logS0[W];
    V::store(lse, V::add(V::fma(V::load(g.m), V::set1(p.inv_T), log_St), probe));
    V::store(kl, V::mul(V::set1(p.T * p.T),
                        V::add(V::div(V::sum_lanes(g.sums[G::kA]), St), vlog<V>(V::div(V::load(g.Ss), St)))));
    V::store(h, V::sub(log_S0, V::div(V::sum_lanes(g.sums[G::kHs]), S0)));
    V::store(conf, V::div(one, S0));
    V::store(logS0, log_S0);
    for (int j = 0; j < g.n; ++j) {
        const int b = g.b[j];
        const std::size_t i = stat_index(p, b, g.k[j]);
        p.stats.lse_t[i] = lse[j];
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

// Teacher k's sweeps for block row r (statistics follow in finish_teachers); with dz (fused pass, counted
// row) also its share of dzs.
template <class V, int TK>
inline void teacher_stats(const DistillProblem& p, const Block& blk, int k, int r, float* dz, TeacherGroup<V>& g) {
    const int b = blk.b0 + r, C = p.C;
    const float* z = teacher_row(p, k, b);
    RowScan<V> scan = scan_row<V>(z, C);
    TeacherSums<V> sums =
        teacher_sums<V, TK>(z, blk.v_rows + blk.Cp * r, C, scan.max, p.inv_T, dz != nullptr ? blk.spare : nullptr);
    using G = TeacherGroup<V>;
    const int j = g.n++;
    g.sums[G::kS0][j] = sums.S0;
    g.sums[G::kR0][j] = sums.R0;
    g.sums[G::kHs][j] = sums.Hs;
    g.sums[G::kSt][j] = sums.St;
    g.sums[G::kA][j] = sums.A;
    g.sums[G::kProbe][j] = scan.probe;
    g.m[j] = scan.max;
    g.Ss[j] = blk.student_sum_T[r];
    g.b[j] = b;
    g.k[j] = k;
    if (dz != nullptr) {
        using F = typename V::F;
        // pt^T_c = e^{u_c} / St; a non-finite row leaves NaN here rather than a silently wrong gradient.
        const std::size_t i = stat_index(p, b, k);
        float coef = p.a_kd * p.T * p.inv_counted_rows * p.wl[i] / V::sum(sums.St) + scan.probe_sum();
        const F vc = V::set1(coef);
        for_each_vector<V>(C, [&](int c, typename V::M t, auto tail) {
            constexpr bool is_tail = decltype(tail)::value;
            F gz = V::fnma(vc, load<is_tail, V>(blk.spare + c, t), load<is_tail, V>(dz + c, t));
            store<is_tail, V>(dz + c, gz, t);
        });
    }
    if (g.n == V::W) finish_teachers(p, g);
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

// Sweep of teacher k's feature slice in row b: the sums for cos and mse (into the group) and, with
// WithGrad, dfs = grad_scale * (fs - ft). With `stream`, whole aligned vectors of dfs are written with
// non-temporal stores: a large dfs is not read before it is overwritten, and is not needed again by this op.
template <class V, bool WithStats, bool WithGrad>
inline void feature_row(const DistillProblem& p, int b, int k, float grad_scale, FeatureGroup<V>* g, bool stream) {
    using F = typename V::F;
    using M = typename V::M;
    const std::size_t off = static_cast<std::size_t>(b) * p.F + p.off[k];
    const float* a = p.fs + off;
    const float* t = p.ft + off;
    float* out = WithGrad ? p.grads.dfs + off : nullptr;
    const int d = p.D[k];
    const F vg = V::set1(grad_scale);
    F dot = V::zero(), ss = V::zero(), tt = V::zero(), sq = V::zero();
    auto step = [&](int c, M m, auto tail, auto streaming) {
        constexpr bool is_tail = decltype(tail)::value;
        F x = load<is_tail, V>(a + c, m), u = load<is_tail, V>(t + c, m);  // outside m: 0, adds nothing
        F diff = V::sub(x, u);
        if constexpr (WithStats) {
            dot = V::fma(x, u, dot);
            ss = V::fma(x, x, ss);
            tt = V::fma(u, u, tt);
            sq = V::fma(diff, diff, sq);
        }
        if constexpr (WithGrad) {
            if constexpr (decltype(streaming)::value) V::stream(out + c, V::mul(vg, diff));
            else store<is_tail, V>(out + c, V::mul(vg, diff), m);
        }
    };
    if (WithGrad && stream) {
        // A partial first vector up to the next W-float boundary of out, then aligned whole vectors.
        const int misalign = static_cast<int>((reinterpret_cast<std::uintptr_t>(out) / sizeof(float)) % V::W);
        const int head = misalign == 0 ? 0 : std::min(d, V::W - misalign);
        if (head > 0) step(0, V::first(head), std::true_type{}, std::false_type{});
        int c = head;
        const M all = V::first(V::W);
        for (; c + V::W <= d; c += V::W) step(c, all, std::false_type{}, std::true_type{});
        if (c < d) step(c, V::first(d - c), std::true_type{}, std::false_type{});
    } else {
        for_each_vector<V>(d, [&](int c, M m, auto tail) { step(c, m, tail, std::false_type{}); });
    }
    if constexpr (WithStats) {
        using G = FeatureGroup<V>;
        const int j = g->n++;
        g->sums[G::kDot][j] = dot;
        g->sums[G::kSs][j] = ss;
        g->sums[G::kTt][j] = tt;
        g->sums[G::kSq][j] = sq;
        g->width[j] = static_cast<float>(d);
        g->i[j] = stat_index(p, b, k);
        if (g->n == V::W) finish_features(p, *g);
    }
}

// Whether dfs is large enough to bypass the caches (see feature_row).
inline bool stream_feature_grads(const DistillProblem& p) {
    return static_cast<std::size_t>(p.B) * p.F * sizeof(float) >= kStreamFeatureGradBytes;
}

inline float feature_grad_scale(const DistillProblem& p, int b, int k) {
    return p.inv_counted_rows * p.beta * p.wf[stat_index(p, b, k)] * (2.0f / static_cast<float>(p.D[k]));
}

inline void zero_row(float* row, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) row[i] = 0.0f;
}

inline void write_row_loss(const DistillProblem& p, int b) {
    float loss = p.a_ce * p.stats.ce_s[b];
    for (int k = 0; k < p.K; ++k) {
        const std::size_t i = stat_index(p, b, k);
        loss += p.a_kd * p.wl[i] * p.stats.kl[i] + p.beta * p.wf[i] * p.stats.mse[i];
    }
    p.grads.row_loss[b] = p.inv_counted_rows * loss;
}

// Asks for teacher k's feature slices of row b ahead of their sweep, so they stream in from memory while the
// arithmetic-bound logit rows before them are processed.
inline void prefetch_features(const DistillProblem& p, int b, int k) {
    const std::size_t off = static_cast<std::size_t>(b) * p.F + p.off[k];
    const char* a = reinterpret_cast<const char*>(p.fs + off);
    const char* t = reinterpret_cast<const char*>(p.ft + off);
    const std::size_t bytes = static_cast<std::size_t>(p.D[k]) * sizeof(float);
    for (std::size_t x = 0; x < bytes; x += 64) {
        __builtin_prefetch(a + x);
        __builtin_prefetch(t + x);
    }
}

// Visits the block's (teacher, row) pairs teacher-major, prefetching each pair's feature slices one pair
// ahead: body(k, r).
template <class Body>
inline void for_each_pair(const DistillProblem& p, int b0, int rows, Body&& body) {
    for (int k = 0; k < p.K; ++k) {
        for (int r = 0; r < rows; ++r) {
            if (r + 1 < rows) prefetch_features(p, b0 + r + 1, k);
            else if (k + 1 < p.K) prefetch_features(p, b0, k + 1);
            body(k, r);
        }
    }
}

template <class V, int TK>
void stats_block(const DistillProblem& p, int b0, int b1, float* scratch) {
    const Block blk = make_block(p, b0, b1, scratch);
    for (int r = 0; r < blk.rows; ++r) student_stats<V, TK>(p, blk, r, nullptr);
    TeacherGroup<V> teachers;
    FeatureGroup<V> features;
    for_each_pair(p, b0, blk.rows, [&](int k, int r) {
        teacher_stats<V, TK>(p, blk, k, r, nullptr, teachers);
        feature_row<V, true, false>(p, b0 + r, k, 0.0f, &features, false);
    });
    finish_teachers(p, teachers);
    finish_features(p, features);
}

template <class V, int TK>
void fused_block(const DistillProblem& p, int b0, int b1, float* scratch) {
    const Block blk = make_block(p, b0, b1, scratch);
    auto counted = [&](int r) { return p.y[b0 + r] >= 0; };
    for (int r = 0; r < blk.rows; ++r) {
        float* dz = gradient_row(p, b0 + r);
        if (!counted(r)) zero_row(dz, static_cast<std::size_t>(p.C));
        student_stats<V, TK>(p, blk, r, counted(r) ? dz : nullptr);
    }
    TeacherGroup<V> teachers;
    FeatureGroup<V> features;
    const bool stream = stream_feature_grads(p);
    for_each_pair(p, b0, blk.rows, [&](int k, int r) {
        const int b = b0 + r;
        teacher_stats<V, TK>(p, blk, k, r, counted(r) ? gradient_row(p, b) : nullptr, teachers);
        feature_row<V, true, true>(p, b, k, counted(r) ? feature_grad_scale(p, b, k) : 0.0f, &features, stream);
    });
    if (stream) V::stream_fence();
    finish_teachers(p, teachers);
    finish_features(p, features);
    for (int b = b0; b < b1; ++b) {
        if (p.y[b] >= 0) write_row_loss(p, b);
        else p.grads.row_loss[b] = 0.0f;
    }
}

// Gradient pass: inputs, weights and the stats pass's lse/kl/mse/ce_s in, dzs/dfs/row_loss out.
template <class V>
void gradient_block(const DistillProblem& p, int b0, int b1, float*) {
    using F = typename V::F;
    const int C = p.C;
    const F it = V::set1(p.inv_T);
    const bool stream = stream_feature_grads(p);
    for (int b = b0; b < b1; ++b) {
        float* dz = gradient_row(p, b);
        const int y = p.y[b];
        if (y < 0) {
            zero_row(dz, static_cast<std::size_t>(C));
            zero_row(p.grads.dfs + static_cast<std::size_t>(b) * p.F, static_cast<std::size_t>(p.F));
            p.grads.row_loss[b] = 0.0f;
            continue;
        }
        float wl_sum = 0.0f;
        for (int k = 0; k < p.K; ++k) wl_sum += p.wl[stat_index(p, b, k)];
        const float* s = student_row(p, b);
        const F neg_lse1 = V::set1(-p.stats.lse_s1[b]), neg_lseT = V::set1(-p.stats.lse_st[b]);
        const F ce = V::set1(p.a_ce * p.inv_counted_rows);
        const F kd = V::set1(p.a_kd * p.T * p.inv_counted_rows * wl_sum);
        for_each_vector<V>(C, [&](int c, typename V::M t, auto tail) {
            constexpr bool is_tail = decltype(tail)::value;
            F x = load<is_tail, V>(s + c, t);
            F p1 = vexp_kernel<V>(V::add(x, neg_lse1));
            F pT = vexp_kernel<V>(V::fma(x, it, neg_lseT));
            store<is_tail, V>(dz + c, V::fma(ce, p1, V::mul(kd, pT)), t);
        });
        dz[y] -= p.a_ce * p.inv_counted_rows;
        write_row_loss(p, b);
    }
    for_each_pair(p, b0, b1 - b0, [&](int k, int r) {
        const int b = b0 + r;
        if (p.y[b] < 0) return;
        const std::size_t i = stat_index(p, b, k);
        const float* z = teacher_row(p, k, b);
        float* dz = gradient_row(p, b);
        const F neg_lse = V::set1(-p.stats.lse_t[i]);
        const F vc = V::set1(p.a_kd * p.T * p.inv_counted_rows * p.wl[i]);
        for_each_vector<V>(C, [&](int c, typename V::M t, auto tail) {
            constexpr bool is_tail = decltype(tail)::value;
            F pt = vexp_kernel<V>(V::fma(load<is_tail, V>(z + c, t), it, neg_lse));
            store<is_tail, V>(dz + c, V::fnma(vc, pt, load<is_tail, V>(dz + c, t)), t);
        });
        feature_row<V, false, true>(p, b, k, feature_grad_scale(p, b, k), nullptr, stream);
    });
    if (stream) V::stream_fence();
}

template <class V>
void stats(const DistillProblem& p, int b0, int b1, float* scratch) {
    switch (temperature_kind(p.T)) {
        case 1: stats_block<V, 1>(p, b0, b1, scratch); break;
        case 2: stats_block<V, 2>(p, b0, b1, scratch); break;
        case 3: stats_block<V, 3>(p, b0, b1, scratch); break;
        case 4: stats_block<V, 4>(p, b0, b1, scratch); break;
        default: stats_block<V, 0>(p, b0, b1, scratch); break;
    }
}

template <class V>
void fused(const DistillProblem& p, int b0, int b1, float* scratch) {
    switch (temperature_kind(p.T)) {
        case 1: fused_block<V, 1>(p, b0, b1, scratch); break;
        case 2: fused_block<V, 2>(p, b0, b1, scratch); break;
        case 3: fused_block<V, 3>(p, b0, b1, scratch); break;
        case 4: fused_block<V, 4>(p, b0, b1, scratch); break;
        default: fused_block<V, 0>(p, b0, b1, scratch); break;
    }
}

template <class V>
void exp_array(std::int64_t n, const float* x, float* y) {
    std::int64_t i = 0;
    for (; i + V::W <= n; i += V::W) V::store(y + i, vexp<V>(V::load(x + i)));
    if (i < n) {
        typename V::M t = V::first(static_cast<int>(n - i));
        V::store(y + i, vexp<V>(V::load(x + i, t)), t);
    }
}

}  // namespace distill
}  // namespace
}  // namespace mtkd
