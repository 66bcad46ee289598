// The sweeps over one logit row of the distillation op (derivation: distill_kernels.inl).
//   scan_row:      m = max_c z_c and (student rows) the non-finite probe sum_c (z_c - z_c).
//   exp_pair:      e^{w} and e^{u} for w = z - m, u = w / T (for integral T <= 4, e^{w} = (e^{u})^T).
//   student_sums:  S1 = sum e^{w}, R1 (S1 without the maxima), ST = sum e^{u}; the student's w and e^v = e^{w/T}
//                  stored for the teachers.
//   teacher_sums:  S0, R0, Hs = sum e^{w} w, St = sum e^{u}, A = sum e^{u} (u - v) = (1/T) sum e^{u} (w - w_s), per
//                  vector lane; e^u stored. With Reverse, Ar = (1/T) sum e^{v} (w - w_s) from the student's e^v row
//                  instead of A and the stored e^u (reverse KL, distill_groups.inl).
//   log_sum:       log S = log1p(R) when S = 1 + R with a unique maximum, which keeps tiny R exact.
#pragma once

#include <cmath>
#include <limits>
#include <type_traits>

#include "prefetch.h"
#include "vector_exp.h"
#include "vector_loops.inl"

namespace mtkd {
namespace {  // compiled per SIMD level: see distill_kernels.inl
namespace distill {

template <class V>
struct RowScan {
    float max;
    typename V::F probe;  // with the probe: lanes sum to 0 when every value is finite, to NaN otherwise
    float probe_sum() const { return V::sum(probe); }
};

// First sweep of a row: the maximum and, with Probe, the non-finite probe. Two independent chains hide max
// latency. Teacher rows go without the probe: their Hs = sum e^{w} w is NaN exactly when the row holds a NaN
// or an infinity (e^{w} w is 0 * inf there, or NaN), so Hs - Hs serves.
template <class V, bool Probe>
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
        if constexpr (Probe) {
            p0 = V::add(p0, V::sub(a, a));
            p1 = V::add(p1, V::sub(b, b));
        }
    }
    for (; c + W <= n; c += W) {
        F a = V::load(z + c);
        m0 = V::max(m0, a);
        if constexpr (Probe) p0 = V::add(p0, V::sub(a, a));
    }
    if (c < n) {
        typename V::M t = V::first(n - c);
        F a = V::load(z + c, t);  // lanes outside t read 0: finite, and excluded from the max below
        m1 = V::max(m1, a, t);
        if constexpr (Probe) p1 = V::add(p1, V::sub(a, a));
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

// Calls body(std::integral_constant<int, TK>{}) for temperature kind TK = kind, so a kernel is compiled once per kind.
template <class Body>
inline void with_temperature_kind(int kind, Body&& body) {
    switch (kind) {
        case 1: body(std::integral_constant<int, 1>{}); break;
        case 2: body(std::integral_constant<int, 2>{}); break;
        case 3: body(std::integral_constant<int, 3>{}); break;
        case 4: body(std::integral_constant<int, 4>{}); break;
        default: body(std::integral_constant<int, 0>{}); break;
    }
}

// e^{w} and e^{u} (u = w/T) of one vector, sharing work when T is a small integer: then e^{u} is taken from w
// directly (vexp_kernel with T) and e^{w} = (e^{u})^T.
template <class V, int TK>
inline void exp_pair(typename V::F w, typename V::F inv_T, typename V::F& e1, typename V::F& eT) {
    if constexpr (TK == 1) {
        e1 = vexp_kernel<V>(w);
        eT = e1;
    } else if constexpr (TK == 0) {
        e1 = vexp_kernel<V>(w);
        eT = vexp_kernel<V>(V::mul(w, inv_T));
    } else {
        eT = vexp_kernel<V, TK>(w);
        e1 = vpow_int<V, TK>(eT);
    }
}

struct StudentSums {
    float S1, R1, ST;  // R1: S1 without the terms at the maximum
};

// Second sweep of the student row: the sums at T = 1 and T, w = s - m into w_row and e^v = e^{w/T} into ev_row.
// With e1_out (fused pass) e^{s-m} is kept for the gradient too.
template <class V, int TK>
inline StudentSums student_sums(const float* s, int C, float m, float inv_T, float* w_row, float* ev_row,
                                float* e1_out) {
    using F = typename V::F;
    const F vm = V::set1(m), it = V::set1(inv_T);
    const F zero = V::zero();
    F S1 = zero, R1 = zero, ST = zero;
    for_each_vector<V>(C, [&](int c, typename V::M t, auto tail) {
        constexpr bool is_tail = decltype(tail)::value;
        F w = V::sub(load<is_tail, V>(s + c, t), vm);
        F e1, eT;
        exp_pair<V, TK>(w, it, e1, eT);
        e1 = keep<is_tail, V>(e1, t);
        eT = keep<is_tail, V>(eT, t);
        S1 = V::add(S1, e1);
        R1 = V::add_where(R1, e1, V::less(w, zero));
        ST = V::add(ST, eT);
        store<is_tail, V>(w_row + c, w, t);
        store<is_tail, V>(ev_row + c, eT, t);
        if (e1_out != nullptr) store<is_tail, V>(e1_out + c, e1, t);
    });
    return {V::sum(S1), V::sum(R1), V::sum(ST)};
}

// Per-lane partial sums of a teacher row; R0 is S0 without the terms at the maximum.
template <class V>
struct TeacherSums {
    typename V::F S0, R0, Hs, St, A, Ar;
};

// Lines a teacher row's sweep asks for along the way, one per vector of each: the first C floats of `row` (the teacher
// row read after this one, or null) and the first `floats` floats of fs and ft at `fs` and `ft` (a feature slice read
// soon after, or null with floats 0).
struct RowsAhead {
    const float* row = nullptr;
    const float *fs = nullptr, *ft = nullptr;
    int floats = 0;
};

// Second sweep of a teacher row (see the derivation above); eT_out receives e^{u}. The lines of `ahead` are
// prefetched along the way, into the cache level H (prefetch.h).
template <class V, int TK, bool Reverse = false, Hint H = Hint::IntoL1>
inline TeacherSums<V> teacher_sums(const float* z, const float* ws_row, int C, float m, float inv_T, float* eT_out,
                                   const RowsAhead& ahead, const float* ev_row = nullptr) {
    using F = typename V::F;
    const F vm = V::set1(m), it = V::set1(inv_T);
    const F zero = V::zero();
    F S0 = zero, R0 = zero, Hs = zero, St = zero, A = zero, Ar = zero;
    for_each_vector<V>(C, [&](int c, typename V::M t, auto tail) {
        constexpr bool is_tail = decltype(tail)::value;
        F w = V::sub(load<is_tail, V>(z + c, t), vm);
        F e1, eT;
        exp_pair<V, TK>(w, it, e1, eT);
        e1 = keep<is_tail, V>(e1, t);
        eT = keep<is_tail, V>(eT, t);
        S0 = V::add(S0, e1);
        R0 = V::add_where(R0, e1, V::less(w, zero));
        Hs = V::fma(e1, w, Hs);
        St = V::add(St, eT);
        const F gap = V::sub(w, load<is_tail, V>(ws_row + c, t));
        // Reverse KL replaces the KL statistic, so its sweep needs neither A nor the stored e^u (which only the
        // accurate KL and the fused gradient read).
        if constexpr (Reverse) {
            Ar = V::fma(load<is_tail, V>(ev_row + c, t), gap, Ar);
        } else {
            A = V::fma(eT, gap, A);
            store<is_tail, V>(eT_out + c, eT, t);
        }
        prefetch_along<V::W, H>(ahead.row, c);
        if (c < ahead.floats) {
            prefetch_along<V::W, H>(ahead.fs, c);
            prefetch_along<V::W, H>(ahead.ft, c);
        }
    });
    return {S0, R0, Hs, St, V::mul(A, it), V::mul(Ar, it)};
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

}  // namespace distill
}  // namespace
}  // namespace mtkd
