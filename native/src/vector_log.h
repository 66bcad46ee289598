// log(x) for one vector of positive floats, written once over the vector traits V; used where many small
// rows each need a few logs (the per-row statistics), so they are taken 8 or 16 at a time.
//
//   x = m * 2^e with m in [sqrt(1/2), sqrt(2)),  log x = e*ln2 + log m.
//   log m = log((1+s)/(1-s)) = 2 atanh(s) = 2s (1 + s^2/3 + s^4/5 + ...),  s = (m-1)/(m+1), |s| <= 0.172.
// m - 1 is exact (Sterbenz), s carries about one rounding, and the series to s^10/11 leaves 2e-9 relative,
// so log m is within about 1 ulp; e*ln2 uses the same hi/lo split as vexp, keeping the sum within ~2 ulp.
// Only positive normal arguments are meaningful (the sums of exp values it receives are >= 1); anything
// else gives a finite or NaN result without trapping, which the callers' non-finite probes override.
#pragma once

#include "vector_exp.h"

namespace mtkd {
namespace {  // compiled per SIMD level: see distill_kernels.inl

// 2 atanh(s) = log((1 + s) / (1 - s)) = 2s (1 + s^2/3 + s^4/5 + ... + s^(Last-1)/Last), Last odd (Horner in s^2).
template <class V, int Last>
inline typename V::F two_atanh(typename V::F s) {
    using F = typename V::F;
    const F z = V::mul(s, s);
    F p = V::set1(1.0f / static_cast<float>(Last));
    for (int n = Last - 2; n >= 3; n -= 2) p = V::fma(p, z, V::set1(1.0f / static_cast<float>(n)));
    const F two_s = V::add(s, s);
    return V::fma(V::mul(two_s, z), p, two_s);
}

template <class V>
inline typename V::F vlog(typename V::F x) {
    using F = typename V::F;
    F m, e;
    V::frexp1(x, m, e);
    const auto high = V::less(V::set1(1.41421356f), m);
    m = V::select(high, V::mul(m, V::set1(0.5f)), m);
    e = V::select(high, V::add(e, V::set1(1.0f)), e);
    F f = V::sub(m, V::set1(1.0f));
    F log_m = two_atanh<V, 11>(V::div(f, V::add(f, V::set1(2.0f))));
    return V::fma(e, V::set1(kLn2Hi), V::fma(e, V::set1(kLn2Lo), log_m));
}

// log(1 + x) for x > -1: log(u) * x / (u - 1) with u = 1 + x rounded corrects for that rounding (Goldberg,
// "What every computer scientist should know about floating-point arithmetic", theorem 4); x where u == 1.
template <class V>
inline typename V::F vlog1p(typename V::F x) {
    using F = typename V::F;
    const F one = V::set1(1.0f);
    F u = V::add(one, x);
    F um1 = V::sub(u, one);
    F r = V::mul(vlog<V>(u), V::div(x, V::select(V::equal(um1, V::zero()), one, um1)));
    return V::select(V::equal(u, one), x, r);
}

// 2 atanh(s) for |s| <= 1/3: 2s (1 + z Q(z)), z = s^2, with Q of degree 3 interpolating (atanh(s) / s - 1) / z at
// four Chebyshev nodes of [0, 1/9] (native/tools/fit_polynomials.py): relative error below 1.7e-8 over the whole
// range (2.4e-9 for z < 0.02), as close as the Taylor polynomial to s^13/13 (1.4e-8) with two multiply-adds fewer.
template <class V>
inline typename V::F two_atanh_third(typename V::F s) {
    using F = typename V::F;
    const F z = V::mul(s, s);
    F q = V::fma(V::set1(1.342574954e-01f), z, V::set1(1.411830932e-01f));
    q = V::fma(q, z, V::set1(2.000378072e-01f));
    q = V::fma(q, z, V::set1(3.333331943e-01f));
    const F two_s = V::add(s, s);
    return V::fma(V::mul(two_s, z), q, two_s);
}

// log1p(x) for x in [-1/2, 1] by one polynomial, without vlog1p's exponent split and rounding correction:
// log(1 + x) = 2 atanh(s), s = x / (2 + x) in [-1/3, 1/3] taken from x itself (1 + x is never rounded, so a tiny x
// keeps its relative precision), and two_atanh_third leaves under 1.7e-8 relative. About half of vlog1p's
// operations and one division instead of two.
template <class V>
inline typename V::F vlog1p_atanh_half(typename V::F x) {
    return two_atanh_third<V>(V::div(x, V::add(V::set1(2.0f), x)));
}

// log1p(x) for x in (-1, 1]: vlog1p_atanh_half where x >= -1/2; below, 1 + x = 2^(e+1) (m/2) with m in [1, 2)
// (frexp1), log1p(x) = (e + 1) ln2 + log1p(m/2 - 1), m/2 - 1 in [-1/2, 0) exact. Still about two thirds of
// vlog1p's operations (jsd's logs, distill_divergences.inl).
template <class V>
inline typename V::F vlog1p_atanh(typename V::F x) {
    using F = typename V::F;
    F m, e;
    V::frexp1(V::add(V::set1(1.0f), x), m, e);
    const auto low = V::less(x, V::set1(-0.5f));
    const F y = V::select(low, V::fma(m, V::set1(0.5f), V::set1(-1.0f)), x);
    const F k = V::select(low, V::add(e, V::set1(1.0f)), V::zero());
    return V::fma(k, V::set1(kLn2Hi), V::fma(k, V::set1(kLn2Lo), vlog1p_atanh_half<V>(y)));
}

// log S for S = (n terms at the maximum, each exactly 1) + R: log1p(R + n - 1), which keeps the full relative
// precision of a sum barely above 1 (n = 1) and is log S otherwise; n = S - R rounded to an integer.
template <class V>
inline typename V::F vlog_sum(typename V::F S, typename V::F R) {
    using F = typename V::F;
    const F shifter = V::set1(12582912.0f);  // adding and removing 1.5 * 2^23 rounds to an integer
    const F n = V::sub(V::add(V::sub(S, R), shifter), shifter);
    return vlog1p<V>(V::add(R, V::sub(n, V::set1(1.0f))));
}

}  // namespace
}  // namespace mtkd
