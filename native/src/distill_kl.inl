// The KL of two nearly equal distributions, to its own relative precision (derivation: distill_kernels.inl).
//
// With r_c = log pt_c - log ps_c (temperature T) and phi(r) = r - 1 + e^{-r} >= 0,
//   KL / T^2 = sum_c pt_c r_c = sum_c pt_c phi(r_c),   since sum_c pt_c (e^{-r_c} - 1) = sum ps - sum pt = 0.
// Every term is >= 0 and small where the distributions agree, so nothing cancels however small KL is; the
// usual form E_pt[u - v] + log(Ss/St) subtracts two quantities of size ~1 and keeps an absolute error of a few
// 1e-7 (the rounding of St, Ss and of each u - v), which is all of a KL of 1e-6.
//   r_c = ((z_c - s_c) - K) / T,   K = (m - m_s) + T log(St / Ss),
// from the raw logits: z_c - s_c = hi + lo exactly (Knuth's TwoSum, additions only, so no contraction into an
// FMA can touch it), so r_c keeps its digits when teacher and student differ by a constant plus a little.
// With e^u = St pt_c (kept from the teacher's sweep) and e^v = Ss ps_c (the student's),
//   St pt_c phi(r_c) = e^u r^2 P(r)                 for |r| < 1/2, P(r) = phi(r)/r^2 = sum_j (-r)^j / (j+2)!
//                                                   by its fitted polynomial (phi_series: 6e-8 relative),
//                    = e^u (r - 1) + (St/Ss) e^v     otherwise, where the terms exceed the result at most
//                                                   about 11 times (r = -1/2): a few ulp, and no overflow.
// K carries the rounding of St and Ss (a few 1e-7), which shifts every r_c by the same e. That moves the sum
// only at second order, sum_c pt_c phi(r_c - e) = KL/T^2 + (e^e - 1 - e), but for KL/T^2 below ~1e-8 even
// e^2/2 shows. The shift is measured and removed: with phi_bar = sum pt phi(r) and mu = sum pt r as computed,
// Q = sum pt e^{-r} = 1 + q with q = phi_bar - mu, the r_c are the true ones shifted by e = log Q, and
//   KL / T^2 = mu + log Q = phi_bar - g(q),   g(q) = q - log1p(q) = q^2/2 - q^3/3 + ... >= 0,
// where q is of the size of e, so g(q) is a correction of order e^2 and nothing cancels.
#pragma once

#include <cmath>

#include "vector_exp.h"
#include "vector_log.h"
#include "vector_loops.inl"

namespace mtkd {
namespace {  // compiled per SIMD level: see distill_kernels.inl
namespace distill {

// r = ((z - s) - K) / T from the raw logits with z - s = hi + lo exactly (TwoSum, additions only), so r keeps its
// digits when teacher and student differ by a constant plus a little (K: the pair's constant, see above).
template <class V>
inline typename V::F log_ratio_of_logits(typename V::F z, typename V::F s, typename V::F K, typename V::F inv_T) {
    const typename V::F hi = V::sub(z, s), bb = V::sub(hi, z);
    const typename V::F lo = V::sub(V::sub(z, V::sub(hi, bb)), V::add(s, bb));
    return V::mul(V::add(V::sub(hi, K), lo), inv_T);
}

// One vector of terms: adds St pt_c phi(r_c) to phi and St pt_c r_c to rsum, from the teacher's and the student's
// logits zc, sc, e^u = e^{(z - m)/T} and e^v = e^{(s - m_s)/T}. Where e^u and e^v are 0 the lane adds 0.
template <class V>
struct DivergenceTerm {
    using F = typename V::F;
    F K, inv_T, ratio;  // ratio = St / Ss
    // Near agreement, where this sweep runs, every |r| of a vector is below 1/2 and the series is all it takes.
    void add(F zc, F sc, F eu, F ev, F& phi, F& rsum) const {
        const F r = log_ratio_of_logits<V>(zc, sc, K, inv_T);
        const F series = V::mul(V::mul(eu, V::mul(r, r)), phi_series<V>(r));
        rsum = V::fma(eu, r, rsum);
        if (!V::any(V::less(V::set1(0.49f), V::abs(r)))) {  // NaN lanes stay NaN by the series
            phi = V::add(phi, series);
            return;
        }
        const F direct = V::fma(eu, V::sub(r, V::set1(1.0f)), V::mul(ratio, ev));
        phi = V::add(phi, V::select(V::less(V::abs(r), V::set1(0.5f)), series, direct));
    }
};

struct DivergenceSums {
    float phi;  // sum_c St pt_c phi(r_c)
    float r;    // sum_c St pt_c r_c
};

// The sums over one (row, teacher) pair. z, s: the teacher's and the student's logits; eu = e^{(z - m)/T},
// ev = e^{(s - m_s)/T}.
template <class V>
inline DivergenceSums divergence_sums(const float* z, const float* s, const float* eu, const float* ev, int C,
                                      float K, float inv_T, float St_over_Ss) {
    using F = typename V::F;
    const DivergenceTerm<V> term{V::set1(K), V::set1(inv_T), V::set1(St_over_Ss)};
    F phi = V::zero(), rsum = V::zero();
    for_each_vector<V>(C, [&](int c, typename V::M t, auto tail) {
        constexpr bool is_tail = decltype(tail)::value;
        // Outside the mask every operand reads 0, e^u and e^v included.
        term.add(load<is_tail, V>(z + c, t), load<is_tail, V>(s + c, t), load<is_tail, V>(eu + c, t),
                 load<is_tail, V>(ev + c, t), phi, rsum);
    });
    return {V::sum(phi), V::sum(rsum)};
}

// g(q) = q - log1p(q) >= 0: its series where q is small (truncation below 3e-11 relative for |q| < 0.01).
inline float log1p_gap_series(float q) {
    return q * q * (0.5f + q * (-1.0f / 3.0f + q * (0.25f + q * (-0.2f + q * (1.0f / 6.0f)))));
}

// KL / T^2 from the sums of a pair whose teacher sum is St.
inline float small_divergence(DivergenceSums d, float St) {
    const float phi_bar = d.phi / St, q = phi_bar - d.r / St;
    return phi_bar - (std::fabs(q) < 0.01f ? log1p_gap_series(q) : q - std::log1p(q));
}

// The same for W pairs at once, one per lane.
template <class V>
inline typename V::F small_divergence(typename V::F phi, typename V::F rsum, typename V::F St) {
    using F = typename V::F;
    const F phi_bar = V::div(phi, St), q = V::sub(phi_bar, V::div(rsum, St));
    F series = V::fma(q, V::set1(1.0f / 6.0f), V::set1(-0.2f));
    series = V::fma(series, q, V::set1(0.25f));
    series = V::fma(series, q, V::set1(-1.0f / 3.0f));
    series = V::fma(series, q, V::set1(0.5f));
    series = V::mul(V::mul(q, q), series);
    const F g = V::select(V::less(V::abs(q), V::set1(0.01f)), series, V::sub(q, vlog1p<V>(q)));
    return V::sub(phi_bar, g);
}

}  // namespace distill
}  // namespace
}  // namespace mtkd
