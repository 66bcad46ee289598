// Vector traits of two registers of V per value: every operation is V's on both halves, written side by side, so a
// sweep compiled over Twice<V> carries two independent chains of the same element through each step.
//
// Why: a sweep whose element is a long chain of dependent operations (jsd's: an exponential, a division, a series, a
// log1p, another series, about 80 vector operations) is bound by latency when the core's scheduler holds little more
// than one element's operations: the next vector's chain cannot start early enough. Two vectors interleaved in
// program order give the scheduler independent work at every step (docs/PERF.md, "jsd with one exponential per
// element, and its row sweeps two vectors at a time": 5 % on jsd's sweeps at 1,000 classes with AVX-512, 8 % with
// AVX2). The callers run whole pairs of vectors with it and hand the rest to V (sweep_twice).
#pragma once

namespace mtkd {
namespace {  // compiled per SIMD level: see distill_kernels.inl

template <class V>
struct Twice {
    static constexpr bool kScalefUnderflows = V::kScalefUnderflows;
    static constexpr int W = 2 * V::W;
    struct F {
        typename V::F lo, hi;
    };
    struct M {
        typename V::M lo, hi;
    };

    template <class Op>
    static F each(Op op, F a) { return {op(a.lo), op(a.hi)}; }
    template <class Op>
    static F each(Op op, F a, F b) { return {op(a.lo, b.lo), op(a.hi, b.hi)}; }
    template <class Op>
    static F each(Op op, F a, F b, F c) { return {op(a.lo, b.lo, c.lo), op(a.hi, b.hi, c.hi)}; }

    static F zero() { return {V::zero(), V::zero()}; }
    static F set1(float a) { return {V::set1(a), V::set1(a)}; }
    static F load(const float* p) { return {V::load(p), V::load(p + V::W)}; }
    static F load(const float* p, M m) { return {V::load(p, m.lo), V::load(p + V::W, m.hi)}; }
    static void store(float* p, F v) {
        V::store(p, v.lo);
        V::store(p + V::W, v.hi);
    }
    static void store(float* p, F v, M m) {
        V::store(p, v.lo, m.lo);
        V::store(p + V::W, v.hi, m.hi);
    }
    static M first(int n) {
        return n >= V::W ? M{V::first(V::W), V::first(n - V::W)} : M{V::first(n), V::first(0)};
    }

    static F add(F a, F b) { return each([](auto x, auto y) { return V::add(x, y); }, a, b); }
    static F sub(F a, F b) { return each([](auto x, auto y) { return V::sub(x, y); }, a, b); }
    static F mul(F a, F b) { return each([](auto x, auto y) { return V::mul(x, y); }, a, b); }
    static F div(F a, F b) { return each([](auto x, auto y) { return V::div(x, y); }, a, b); }
    static F rcp_approx(F b) { return each([](auto x) { return V::rcp_approx(x); }, b); }
    static F abs(F a) { return each([](auto x) { return V::abs(x); }, a); }
    static F fma(F a, F b, F c) { return each([](auto x, auto y, auto z) { return V::fma(x, y, z); }, a, b, c); }
    static F fnma(F a, F b, F c) { return each([](auto x, auto y, auto z) { return V::fnma(x, y, z); }, a, b, c); }
    static F max(F a, F b) { return each([](auto x, auto y) { return V::max(x, y); }, a, b); }
    static F min(F a, F b) { return each([](auto x, auto y) { return V::min(x, y); }, a, b); }
    static F keep(F x, M m) { return {V::keep(x.lo, m.lo), V::keep(x.hi, m.hi)}; }
    static F add_where(F acc, F x, M m) { return {V::add_where(acc.lo, x.lo, m.lo), V::add_where(acc.hi, x.hi, m.hi)}; }
    static F zero_where(F x, M m) { return {V::zero_where(x.lo, m.lo), V::zero_where(x.hi, m.hi)}; }
    static M less(F a, F b) { return {V::less(a.lo, b.lo), V::less(a.hi, b.hi)}; }
    static M equal(F a, F b) { return {V::equal(a.lo, b.lo), V::equal(a.hi, b.hi)}; }
    static M both(M a, M b) { return {V::both(a.lo, b.lo), V::both(a.hi, b.hi)}; }
    static F select(M m, F if_true, F if_false) {
        return {V::select(m.lo, if_true.lo, if_false.lo), V::select(m.hi, if_true.hi, if_false.hi)};
    }
    static bool any(M m) { return V::any(m.lo) || V::any(m.hi); }
    static float sum(F v) { return V::sum(V::add(v.lo, v.hi)); }

    static void frexp1(F x, F& mant, F& expo) {
        V::frexp1(x.lo, mant.lo, expo.lo);
        V::frexp1(x.hi, mant.hi, expo.hi);
    }
    static F scale2(F x, F n) { return each([](auto a, auto b) { return V::scale2(a, b); }, x, n); }
    static F pow2_of_shifted(F j) { return each([](auto a) { return V::pow2_of_shifted(a); }, j); }
};

}  // namespace
}  // namespace mtkd
