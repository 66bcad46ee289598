// exp(x) for one vector of floats, written once over the vector traits V.
//
//   exp(x) = 2^n * e^r,  n = round(x / ln2),  r = x - n*ln2  in [-ln2/2, ln2/2].
// r is formed in two steps with ln2 = ln2_hi + ln2_lo (Cody-Waite): ln2_hi has 9 significant bits, so
// n*ln2_hi is exact for |n| <= 127 and r loses nothing to cancellation.
//   e^r = 1 + r P(r),  P of degree 5: the minimax fit of (e^r - 1) / r for relative error on [-ln2/2, ln2/2],
// evaluated by Horner's rule in six FMAs. The fit's own error with float coefficients is below 2e-8 (0.3 of
// half an ulp); the last FMA, 1 + r P, rounds once and earlier roundings are scaled by |r| <= 0.35, so the
// result is within about one ulp.
// Range (vexp): below ln(FLT_MIN) the result is exactly 0 (no subnormal results, slow and useless here);
// arguments are clamped at 88 above (n <= 127, so 2^n stays a normal float). NaN propagates: the clamps
// use max/min with x as the second operand, which x86 returns when either operand is NaN.
#pragma once

namespace mtkd {
namespace {  // compiled per SIMD level: see distill_kernels.inl

constexpr float kExpMinArg = -87.33654475f;  // ln(FLT_MIN)
constexpr float kExpMaxArg = 88.0f;
constexpr float kLog2e = 1.44269504089f;
constexpr float kLn2Hi = 0.693359375f;
constexpr float kLn2Lo = -2.12194440e-4f;
constexpr float kExpP0 = 1.000000000e+00f;
constexpr float kExpP1 = 4.999999404e-01f;
constexpr float kExpP2 = 1.666643173e-01f;
constexpr float kExpP3 = 4.166800156e-02f;
constexpr float kExpP4 = 8.374155499e-03f;
constexpr float kExpP5 = 1.384365256e-03f;
// One degree less for the kernels (vexp_kernel): fit error below 5e-8, 0.8 ulp, so within about 2 ulp in all;
// every statistic the kernels form from it is summed over a row and checked at 1e-5.
constexpr float kExpQ0 = 9.999997020e-01f;
constexpr float kExpQ1 = 4.999915063e-01f;
constexpr float kExpQ2 = 1.666763574e-01f;
constexpr float kExpQ3 = 4.189793020e-02f;
constexpr float kExpQ4 = 8.290315047e-03f;

// q / T^k, for the coefficients of e^{x/T} as a polynomial in x (see vexp_polynomial).
constexpr float scaled_coefficient(float q, int T, int k) {
    float d = 1.0f;
    for (int i = 0; i < k; ++i) d *= static_cast<float>(T);
    return q / d;
}

// The reduction and polynomial of e^{x/T} = 2^n (1 + r P(r)), n = round(x / (T ln2)): returns P(r) and sets r, n
// and j = n + 1.5 * 2^23 (whose low bits hold n, for V::pow2_of_shifted). For T > 1 (an integer up to 4) the
// reduction runs on x itself, x - n T ln2 = T r, and the polynomial takes T r with its coefficients divided by powers
// of T: x / T is never formed. T ln2_hi is still exact (at most 11 significant bits), so nothing is lost.
template <class V, int T = 1>
inline typename V::F vexp_polynomial(typename V::F x, typename V::F& r, typename V::F& n, typename V::F& j) {
    using F = typename V::F;
    static_assert(T >= 1 && T <= 4, "integral temperatures 1..4 only");
    constexpr float t = static_cast<float>(T);
    // n = round(x * log2e / T): adding 1.5 * 2^23 leaves no fraction bits, so the FMA itself rounds to the
    // nearest integer (exact for |n| < 2^22). Two plain FP operations instead of a vrndscaleps, which
    // occupies the one port many of the others also need.
    const F shifter = V::set1(12582912.0f);
    j = V::fma(x, V::set1(kLog2e / t), shifter);
    n = V::sub(j, shifter);
    r = V::fnma(n, V::set1(kLn2Hi * t), x);
    r = V::fnma(n, V::set1(kLn2Lo * t), r);
    F p = V::fma(V::set1(scaled_coefficient(kExpP5, T, 6)), r, V::set1(scaled_coefficient(kExpP4, T, 5)));
    p = V::fma(p, r, V::set1(scaled_coefficient(kExpP3, T, 4)));
    p = V::fma(p, r, V::set1(scaled_coefficient(kExpP2, T, 3)));
    p = V::fma(p, r, V::set1(scaled_coefficient(kExpP1, T, 2)));
    return V::fma(p, r, V::set1(scaled_coefficient(kExpP0, T, 1)));
}

// e^{x/T} = e^r * 2^n given n (vexp_polynomial), for vexp.
template <class V, int T = 1>
inline typename V::F vexp_reduced(typename V::F x, typename V::F& n) {
    typename V::F r, j;
    const typename V::F p = vexp_polynomial<V, T>(x, r, n, j);
    return V::fma(p, r, V::set1(1.0f));
}

// e^{x/T}, with the range handling described above (for T = 1, the exported exp).
template <class V, int T = 1>
inline typename V::F vexp(typename V::F x) {
    using F = typename V::F;
    const F lowest = V::set1(kExpMinArg * static_cast<float>(T));
    const auto underflows = V::less(x, lowest);
    x = V::max(lowest, V::min(V::set1(kExpMaxArg * static_cast<float>(T)), x));
    F n;
    F e = vexp_reduced<V, T>(x, n);
    return V::zero_where(V::scale2(e, n), underflows);
}

// e^{x/T} for the kernels, whose arguments are <= 0 (after a max shift, or slightly above by rounding), in the
// flush-to-zero mode they run in. Fewer instructions than vexp, within about 2 ulp where it matters:
//   - the degree-5 polynomial (kExpQ);
//   - one FMA for the reduction, r = x - n c with c = T ln2 rounded to float: the FMA rounds once, so r is off
//     only by n (c - T ln2), 1.9e-9 T per unit of n for T = 1..4; e^{x/T} then carries 1.9e-9 |n| relative
//     error, under 0.1 ulp for |n| <= 3 (terms down to 1/8 of the row's largest) and 2.4e-7 at n = -127,
//     where the terms are near FLT_MIN and vanish in every sum;
//   - the underflow at no cost. Where V scales by 2^n with AVX-512's vscalefps, results below FLT_MIN underflow
//     to 0 by themselves, and a floor at -104 T keeps n finite. Other levels build 2^n from j = x log2e / T +
//     1.5 * 2^23, whose low bits hold n (V::pow2_of_shifted): n = -127 gives an exponent field of 0, an exact 0,
//     and a floor at -127 ln2 T sends every smaller argument there.
// NaN propagates: the floor is a max with x as the second operand, which x86 returns when either is NaN (and the
// NaN's shifted bits give a finite 2^n, times the polynomial's NaN).
template <class V, int T = 1>
inline typename V::F vexp_kernel(typename V::F x) {
    using F = typename V::F;
    static_assert(T >= 1 && T <= 4, "integral temperatures 1..4 only");
    constexpr float t = static_cast<float>(T);
    constexpr float lowest = V::kScalefUnderflows ? -104.0f * t : static_cast<float>(-127.0 * 0.6931471805599453 * T);
    x = V::max(V::set1(lowest), x);
    const F shifter = V::set1(12582912.0f);
    const F j = V::fma(x, V::set1(kLog2e / t), shifter);
    const F n = V::sub(j, shifter);
    const F r = V::fnma(n, V::set1(static_cast<float>(0.6931471805599453 * T)), x);
    F p = V::fma(V::set1(scaled_coefficient(kExpQ4, T, 5)), r, V::set1(scaled_coefficient(kExpQ3, T, 4)));
    p = V::fma(p, r, V::set1(scaled_coefficient(kExpQ2, T, 3)));
    p = V::fma(p, r, V::set1(scaled_coefficient(kExpQ1, T, 2)));
    p = V::fma(p, r, V::set1(scaled_coefficient(kExpQ0, T, 1)));
    const F e = V::fma(p, r, V::set1(1.0f));
    if constexpr (V::kScalefUnderflows) return V::scale2(e, n);
    else return V::mul(e, V::pow2_of_shifted(j));
}

// e^x and e^x - 1 together for x in [0, 80] (no range handling: NaN propagates), both within a few ulp: with
// e^x = 2^n (1 + r P(r)) (vexp_polynomial), e^x - 1 = 2^n r P(r) + (2^n - 1) by one FMA, which cancels little: for
// n = 0 it is r P(r) itself (r = x exactly, so a tiny x keeps its relative precision), for n = 1 it is 1 + 2 r P >=
// 0.42 with |2 r P| <= 0.82 (a factor of 4 at most), and for larger n, 2^n - 1 outweighs |2^n r P| <= 0.41 2^n. So
// expm1 needs no series of its own near 0.
template <class V>
struct ExpAndExpm1 {
    typename V::F e, em1;
};
template <class V>
inline ExpAndExpm1<V> vexp_expm1_nonneg(typename V::F x) {
    using F = typename V::F;
    F r, n, j;
    const F p = vexp_polynomial<V>(x, r, n, j);
    const F rp = V::mul(r, p);
    F two_n;
    if constexpr (V::kScalefUnderflows) two_n = V::scale2(V::set1(1.0f), n);
    else two_n = V::pow2_of_shifted(j);
    return {V::fma(two_n, rp, two_n), V::fma(two_n, rp, V::sub(two_n, V::set1(1.0f)))};
}

// e^|d| (g), e^|d| - 1 (G, accurate near 0 as well: vexp_expm1_nonneg) and 1 / g (a refined 14- or 12-bit
// reciprocal, within about 1 ulp), |d| taken at most 80 (NaN stays). From them the catalog's jsd and its gradient
// take pt = ps e^-d (ps / g for d > 0, ps g otherwise) and expm1(-d) (vexpm1_neg): one exponential per element
// for both, where ps has not underflowed (has_underflow, distill_divergences.inl).
template <class V>
struct ExpOfAbs {
    typename V::F g, G, inv_g;
};
template <class V>
inline ExpOfAbs<V> exp_of_abs(typename V::F d) {
    using F = typename V::F;
    const ExpAndExpm1<V> x = vexp_expm1_nonneg<V>(V::min(V::set1(80.0f), V::abs(d)));
    const F r0 = V::rcp_approx(x.e);
    return {x.e, x.em1, V::mul(r0, V::fnma(x.e, r0, V::set1(2.0f)))};
}

// e^-d - 1 for d in [-80, 80] from exp_of_abs(d): -G / g for d > 0 (e^-|d| - 1 = -(e^|d| - 1) / e^|d|), G otherwise,
// within a few ulp and keeping the relative precision of a tiny d of either sign (jsd's expm1(-d); vexpm1).
template <class V>
inline typename V::F vexpm1_neg(typename V::F d) {
    const ExpOfAbs<V> e = exp_of_abs<V>(d);
    return V::select(V::less(V::zero(), d), V::sub(V::zero(), V::mul(e.G, e.inv_g)), e.G);
}

// e^x - 1 for x in [-80, 80] (mtkd_vector_expm1, which tests vexpm1_neg).
template <class V>
inline typename V::F vexpm1(typename V::F x) {
    return vexpm1_neg<V>(V::sub(V::zero(), x));
}

// e^x - 1 = x P(x) for |x| < 1/2, P of degree 6 interpolating (e^x - 1) / x at seven Chebyshev nodes of
// [-1/2, 1/2] (native/tools/fit_polynomials.py): relative error below 1.4e-8, where the Taylor polynomial to x^9/9!
// gave 2.1e-9 with two multiply-adds more.
template <class V>
inline typename V::F expm1_series(typename V::F x) {
    using F = typename V::F;
    F q = V::fma(V::set1(1.996217616e-04f), x, V::set1(1.399777364e-03f));
    q = V::fma(q, x, V::set1(8.333181962e-03f));
    q = V::fma(q, x, V::set1(4.166530445e-02f));
    q = V::fma(q, x, V::set1(1.666666716e-01f));
    q = V::fma(q, x, V::set1(5.000000596e-01f));
    q = V::fma(q, x, V::set1(1.0f));
    return V::mul(q, x);
}

// phi(x) / x^2 = 1/2 - x/6 + x^2/24 - ... for |x| < 1/2, phi(x) = x - 1 + e^-x: the polynomial of degree 5 through
// six Chebyshev nodes of [-1/2, 1/2] (native/tools/fit_polynomials.py), relative error below 6e-8, where the Taylor
// polynomial to x^7/9! gave 7.6e-9 with two multiply-adds more.
template <class V>
inline typename V::F phi_series(typename V::F x) {
    using F = typename V::F;
    F q = V::fma(V::set1(-1.994487393e-04f), x, V::set1(1.398218563e-03f));
    q = V::fma(q, x, V::set1(-8.333235979e-03f));
    q = V::fma(q, x, V::set1(4.166579247e-02f));
    q = V::fma(q, x, V::set1(-1.666666716e-01f));
    return V::fma(q, x, V::set1(0.5f));
}

// e^(T*u) from e^u for a small integral temperature T, by repeated multiplication: two multiplies instead of
// a second exp. Each multiply adds at most half an ulp and doubles the relative error already there, so
// for T <= 4 the result stays within about 10 ulp (1e-6), far inside the op's 1e-5 tolerance. Underflow
// goes to 0 through the flush-to-zero mode the kernels run in.
template <class V, int T>
inline typename V::F vpow_int(typename V::F e) {
    static_assert(T >= 1 && T <= 4, "integral temperatures 1..4 only");
    if constexpr (T == 1) return e;
    if constexpr (T == 2) return V::mul(e, e);
    if constexpr (T == 3) return V::mul(V::mul(e, e), e);
    if constexpr (T == 4) {
        typename V::F e2 = V::mul(e, e);
        return V::mul(e2, e2);
    }
}

}  // namespace
}  // namespace mtkd
