// The catalog losses other than kl and mse (docs/DESIGN.md §7), compiled once per SIMD level like the KL kernels.
//
// The driver runs them after the KL kernels (distill_driver.cpp): the stats pass first runs the KL kernel, which
// writes every statistic and the log-sum-exps, then catalog_losses<V> (distill_catalog.inl, with the sweeps that
// drive the policies below) overwrites kl with T^2 D (the selected divergence) and mse with the selected feature
// loss. In the gradient pass a replaced divergence writes the whole gradient there (the cross-entropy part from
// lse_s1, the divergence, the mse term or, after it, the selected feature loss) and no KL kernel runs; a replaced
// feature loss alone runs the KL kernel with beta set to 0, then catalog_losses<V> writes its dfs and adds its
// row_loss term. Their formulas and derivations are those of ReferenceLosses (src/MtkdRl.Core/Distill) and
// docs/DESIGN.md §7.
//
// Float32 vector arithmetic, at most one exponential per teacher element (docs/PERF.md counts them per divergence
// and pass). For row b the student's log-probabilities ls = s/T - lse_st (renormalised) and ps = e^ls are formed
// once and shared by the K teachers. Teacher k enters only
// through d_c = log ps_c - log pt_c = (s_c - z_c)/T - (lse_st - lse_t,k), the log-sum-exps the KL stats pass
// wrote: the difference s_c - z_c of two inputs keeps its relative precision when teacher and student agree, and
// the rounding of the two log-sum-exps shifts every d_c by the same small e. Each divergence is summed as
// non-negative terms p phi(x), phi(x) = x - 1 + e^-x (a series for |x| < 1/2), in which such a shift cancels to
// first order (docs/DESIGN.md §2, "KL as a sum of non-negative terms"), and each gradient is written in a form
// that a shift of d leaves unchanged (jsd's: moved by about the shift relative to itself, docs/DESIGN.md §7), so a
// divergence of 1e-7 keeps its relative precision. Like the KL kernels,
// this file lives in an anonymous namespace of each SIMD level's translation unit.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <type_traits>
#include <vector>

#include "distill_features.inl"
#include "distill_layout.inl"
#include "kernels.h"
#include "prefetch.h"
#include "simd_twice.h"
#include "vector_exp.h"
#include "vector_log.h"

namespace mtkd {
namespace {  // compiled per SIMD level: see distill_kernels.inl
namespace distill {


// body(c, m) for c = 0, W, 2W, ... < n, m the lanes inside [0, n). The whole vectors get the mask of all W lanes as
// a constant, which the compiler folds away (plain loads, no blends); only the last partial vector is masked.
template <class V, class Body>
inline void for_vectors(int n, Body body) {
    for_each_vector<V>(n, [&](int c, typename V::M m, auto) { body(c, m); });
}

// The same with the mask computed for every vector: one loop body, which dkd's sweeps keep (with for_vectors'
// two bodies they compiled 5-18 % slower, docs/PERF.md).
template <class V, class Body>
inline void for_vectors_masked(int n, Body body) {
    for (int c = 0; c < n; c += V::W) body(c, V::first(std::min(V::W, n - c)));
}

// The type U as a value, for the generic bodies of sweep_twice.
template <class U>
struct VectorsOf {
    using type = U;
};

// N accumulators of vectors of U, indexed like an array (std::array of a vector type would drop its alignment
// attributes).
template <class U, int N>
struct Sums {
    typename U::F v[N];
    typename U::F& operator[](int i) { return v[i]; }
    const typename U::F& operator[](int i) const { return v[i]; }
};

// body(VectorsOf<U>{}, c, m, sums) over [0, n), one body written once for two vector types: first two vectors at a
// time (U = Twice<V>, simd_twice.h: two independent chains of the element interleaved, for sweeps bound by the
// latency of a long element), then the rest one at a time with the masked tail (U = V). sums: N accumulators of U
// (Sums<U, N>) from 0, the pairs' folded into V's between; returned as V's.
template <class V, int N, class Body>
inline Sums<V, N> sweep_twice(int n, Body body) {
    Sums<V, N> one;
    for (int i = 0; i < N; ++i) one[i] = V::zero();
    int done = 0;
    if constexpr (V::W > 1) {
        using P = Twice<V>;
        Sums<P, N> two;
        for (int i = 0; i < N; ++i) two[i] = P::zero();
        const typename P::M all = P::first(P::W);
        for (; done + P::W <= n; done += P::W) body(VectorsOf<P>{}, done, all, two);
        for (int i = 0; i < N; ++i) one[i] = V::add(two[i].lo, two[i].hi);
    }
    for_each_vector<V>(n - done, [&](int i, typename V::M m, auto) { body(VectorsOf<V>{}, done + i, m, one); });
    return one;
}

// log1p(x) for the x near 0 that the log-sum-exps' rounding leaves (a few 1e-7: a row's measured probability sum
// minus 1, a pair's q): x - x^2/2 + x^3/3 below 1e-3 (truncation under x^3/4 relative, 2.5e-10), libm beyond and for
// NaN. Called once per row or pair, where a libm call weighed as much as the row's own sweep at 11 classes.
inline double log1p_near_zero(double x) {
    return std::fabs(x) < 1e-3 ? x * (1.0 - x * (0.5 - x * (1.0 / 3.0))) : std::log1p(x);
}

// p phi(x) = p x - p + q, where q = p e^-x is given (so a p that underflowed leaves q exact): the series for
// |x| < 1/2, where p x - p + q would cancel.
template <class V>
inline typename V::F p_phi(typename V::F p, typename V::F x, typename V::F q) {
    return V::select(V::less(V::abs(x), V::set1(0.5f)), V::mul(p, V::mul(V::mul(x, x), phi_series<V>(x))),
                     V::fma(p, x, V::sub(q, p)));
}

// The same in double, for the few per-pair terms of dkd.
inline double p_phi_d(double p, double x, double q) {
    if (std::abs(x) < 1e-2) return p * x * x * (0.5 + x * (-1.0 / 6.0 + x * (1.0 / 24.0 + x * (-1.0 / 120.0))));
    return p * x - p + q;
}

// One row b and teacher k. ls, ps: the student's log-probabilities and probabilities at T (zero past C, rows
// padded to padded_classes); zs, zt: the logits; shift = lse_st - lse_t,k. d and e: scratch rows. ahead: a teacher
// row read later in the pass, prefetched along the sweep over zt (null: none).
struct DivergenceRow {
    const float *zs, *zt, *ls, *ps, *ahead;
    float *d, *e;
    int C, y;
    float inv_T, shift, alpha, beta;
    float shift_error;  // a bound on the rounding of shift: 2^-24 (|lse_st| + |lse_t,k| + |shift|)
    const float* series;  // jsd: JsdSeries::c for this beta; null otherwise
};

// A bound on the rounding of a pair's shift lse_st - lse_t (DivergenceRow::shift_error).
inline float shift_rounding_bound(float lse_st, float lse_t) {
    return 0x1p-24f * (std::fabs(lse_st) + std::fabs(lse_t) + std::fabs(lse_st - lse_t));
}

// d_c = log ps_c - log pt_c, up to a shift shared by the row (see the top of the file).
template <class V>
inline typename V::F log_ratio(const DivergenceRow& r, int c, typename V::M m) {
    prefetch_along<V::W>(r.ahead, c);
    return V::fnma(V::sub(V::load(r.zt + c, m), V::load(r.zs + c, m)), V::set1(r.inv_T), V::set1(-r.shift));
}

// pt_c = e^(ls_c - d_c), exact where ps_c underflowed.
template <class V>
inline typename V::F teacher_prob(const DivergenceRow& r, int c, typename V::F d) {
    return vexp<V>(V::sub(V::load(r.ls + c), d));
}

// Whether ps = e^ls underflowed (or nearly) in some lane, where pt = ps e^-d must come from e^(ls - d) instead.
template <class V>
inline bool has_underflow(typename V::F ls) {
    return V::any(V::less(ls, V::set1(-80.0f)));
}

// Reverse KL from its plain form sum ps d (no exponential) when it is at least this large and the shift's rounding
// bound is at most kPlainShiftError of it; else from the sum of non-negative terms (ReverseKl::value).
constexpr double kPlainReverseKlFrom = 0.1;
constexpr double kPlainShiftError = 4e-6;

template <class V>
struct ReverseKl {
    // R = sum ps d exactly when d is the exact log-ratio, whatever the size of R: one multiply-add per element and
    // no exponential. A shift a of d moves it by a (sum ps = 1), so it is kept where |a| <= shift_error is below
    // kPlainShiftError R and R >= kPlainReverseKlFrom (the per-element roundings then add a few 1e-7 of R).
    // Otherwise R = sum ps phi(d), equal to sum ps d since sum ps (e^-d - 1) = sum pt - sum ps = 0: one more
    // sweep, one exponential per element. A shift a of d changes sum ps phi(d) by a + (e^-a - 1)(1 + q), with
    // q = sum ps expm1(-d) measured in the same sweep as sum ps phi(d) - sum ps d (no exponential of its own);
    // with a = log1p(q) the shift-free value is R = sum ps phi(d) - (q - log1p(q)), a correction of order q^2.
    static double value(const DivergenceRow& r) {
        using F = typename V::F;
        F plain = V::zero();
        for_vectors<V>(r.C, [&](int c, typename V::M m) {
            plain = V::fma(V::load(r.ps + c), log_ratio<V>(r, c, m), plain);  // ps is 0 past C
        });
        const double rp = V::sum(plain);
        if (plain_holds(rp, r.shift_error)) return rp;  // NaN goes on
        F s = V::zero(), q = V::zero();
        for_vectors<V>(r.C, [&](int c, typename V::M m) {
            const F d = log_ratio<V>(r, c, m), ps = V::load(r.ps + c);
            const F term = V::keep(p_phi<V>(ps, d, teacher_prob<V>(r, c, d)), m);
            s = V::add(s, term);
            q = V::add(q, V::keep(V::fnma(ps, d, term), m));
        });
        return from_terms(V::sum(s), V::sum(q));
    }
    // Whether the plain sum rp is reverse KL to its own precision, the shift's rounding being at most shift_error.
    static bool plain_holds(double rp, float shift_error) {
        return rp >= kPlainReverseKlFrom && shift_error <= kPlainShiftError * rp;
    }
    // R from the sums s = sum ps phi(d) and q = sum ps expm1(-d) of the measured d: the shift-free value.
    static double from_terms(double s, double q) { return s - (q - log1p_near_zero(q)); }
    // dR/ds_c = ps_c (d_c - R) = ps_c (d_c - sum ps d), which a shift of d leaves unchanged. Over the row's
    // teachers, sum_k coef_k ps_c (d_kc - mean_k) = ps_c (sum_k coef_k d_kc - sum_k coef_k mean_k): each teacher's
    // single pass adds coef d to acc and coef mean to offset, and finish_gradient multiplies by ps once per row.
    static void add_gradient(const DivergenceRow& r, float coef, float* acc, double& offset) {
        using F = typename V::F;
        const F k = V::set1(coef);
        F s = V::zero();
        for_vectors<V>(r.C, [&](int c, typename V::M m) {
            const F d = log_ratio<V>(r, c, m);
            s = V::fma(V::load(r.ps + c), d, s);  // ps is 0 past C
            V::store(acc + c, V::fma(k, d, V::load(acc + c)));
        });
        offset += static_cast<double>(coef) * V::sum(s);
    }
    // acc = ps (acc - offset): 0 past C again, where ps is 0.
    static void finish_gradient(const float* ps, int C, double offset, float* acc) {
        using F = typename V::F;
        const F o = V::set1(static_cast<float>(offset));
        for_vectors<V>(C, [&](int c, typename V::M) {
            V::store(acc + c, V::mul(V::load(ps + c), V::sub(V::load(acc + c), o)));
        });
    }
};

// Whether a divergence gathers its gradient over the row's teachers and finishes it once per row (ReverseKl, jsd).
template <class D, class = void>
struct GathersRowGradient : std::false_type {};
template <class D>
struct GathersRowGradient<D, std::void_t<decltype(&D::finish_gradient)>> : std::true_type {};

// JSD per element as a function of d alone. With pt = ps e^-d, u = log pt - log M = -log(beta + (1 - beta) e^d)
// and v = log ps - log M = -log(1 - beta + beta e^-d), the element's two non-negative terms add up to
//   beta pt phi(u) + (1 - beta) ps phi(v) = beta pt u + (1 - beta) ps v = ps h(d),
//   h(d) = beta e^-d u(d) + (1 - beta) v(d),
// because beta pt + (1 - beta) ps = M cancels the rest. h(0) = h'(0) = 0, so near d = 0 the sum of the two
// logarithms cancels to second order and h is taken from its Taylor series there: h(d) = d^2 H(d). h is analytic
// wherever beta + (1 - beta) e^d and 1 - beta + beta e^-d do not vanish, that is at distance pi or more from 0 for
// every beta in (0, 1), so at |d| < 1/2 its Taylor series converges with terms falling by 1/(2 pi) each. H is taken
// there as the polynomial of degree 5 that interpolates it at six Chebyshev nodes of [-1/2, 1/2] (the Taylor
// series, to degree 30 in double, gives H at the nodes): relative error below 1.6e-7 at every beta from 0.02 to
// 0.98 with float coefficients (native/tools/fit_polynomials.py), where the Taylor polynomial needed 8 coefficients
// for 4.8e-8 and 6 leave 5e-6. Past 1/2 the direct form cancels by a factor below 10 for every beta (both terms
// are of the size of |d| times the smaller probability), a few float roundings of the element's value.
struct JsdSeries {
    static constexpr int N = 6;
    float c[N];  // H(d) = sum_n c[n] d^n, |d| <= 1/2

    JsdSeries() : c{} {}

    explicit JsdSeries(double beta) {
        const auto taylor = taylor_of_h(beta);
        // The Vandermonde system at the nodes, solved by Gaussian elimination with partial pivoting.
        double a[N][N + 1];
        for (int i = 0; i < N; ++i) {
            const double x = 0.5 * std::cos(3.14159265358979323846 * (2 * i + 1) / (2 * N));
            double power = 1.0, h = 0.0;
            for (int j = static_cast<int>(taylor.size()) - 1; j >= 2; --j) h = h * x + taylor[j];  // h(x) / x^2
            for (int j = 0; j < N; ++j, power *= x) a[i][j] = power;
            a[i][N] = h;
        }
        for (int col = 0; col < N; ++col) {
            int pivot = col;
            for (int i = col + 1; i < N; ++i)
                if (std::fabs(a[i][col]) > std::fabs(a[pivot][col])) pivot = i;
            for (int j = 0; j <= N; ++j) std::swap(a[col][j], a[pivot][j]);
            for (int i = 0; i < N; ++i) {
                if (i == col) continue;
                const double f = a[i][col] / a[col][col];
                for (int j = col; j <= N; ++j) a[i][j] -= f * a[col][j];
            }
        }
        for (int j = 0; j < N; ++j) c[j] = static_cast<float>(a[j][N] / a[j][j]);
    }

    // The power series of h in double, to degree L - 1 (h_0 = h_1 = 0).
    static constexpr int L = 31;
    static std::array<double, L> taylor_of_h(double beta) {
        using S = std::array<double, L>;
        auto mul = [](const S& a, const S& b) {
            S r{};
            for (int i = 0; i < L; ++i)
                for (int j = 0; i + j < L; ++j) r[i + j] += a[i] * b[j];
            return r;
        };
        auto log1p_of = [&](const S& x) {  // x[0] = 0: sum_j (-1)^(j+1) x^j / j
            S r{}, power = x;
            for (int j = 1; j < L; ++j) {
                for (int i = 0; i < L; ++i) r[i] += (j % 2 ? 1.0 : -1.0) * power[i] / j;
                power = mul(power, x);
            }
            return r;
        };
        S e_neg{}, a{}, b{};
        double f = 1.0;  // 1 / n!
        for (int n = 0; n < L; ++n) {
            if (n > 0) f /= n;
            e_neg[n] = n % 2 ? -f : f;
            a[n] = n > 0 ? (1.0 - beta) * f : 0.0;              // beta + (1 - beta) e^d - 1
            b[n] = n > 0 ? beta * e_neg[n] : 0.0;               // 1 - beta + beta e^-d - 1
        }
        const S u = log1p_of(a), v = log1p_of(b), eu = mul(e_neg, u);  // u, v with the sign flipped
        S h{};
        for (int n = 0; n < L; ++n) h[n] = -beta * eu[n] - (1.0 - beta) * v[n];
        return h;
    }

    // The coefficients for beta, computed once per thread and beta (row blocks call this many times a pass). Returned
    // as a copy for the caller's stack: a sweep that read them through a pointer into thread-local storage had the
    // compiler form that address (a call to __tls_get_addr, every vector register saved around it) once per vector.
    static JsdSeries of(float beta) {
        thread_local float cached_beta = -1.0f;
        thread_local JsdSeries cached(0.5);
        if (beta != cached_beta) {
            cached = JsdSeries(beta);
            cached_beta = beta;
        }
        return cached;
    }
};

// Symmetric: beta = 1/2, where the logs' log1p argument stays in [-1/2, 0] (logs below), the catalog's jsd default
// and the Jensen-Shannon divergence itself; any other beta takes the general form (Jsd).
template <class V, bool Symmetric>
struct JsdOf {
    template <class U>
    using Of = JsdOf<U, Symmetric>;
    // J = beta KL(pt || M) + (1 - beta) KL(ps || M), M = beta pt + (1 - beta) ps: J = sum ps h(d) (JsdSeries).
    // e^-|d| - 1 needs no exponential of its own: it is min(pt, ps) / max(pt, ps) - 1 (pt = ps e^-d, both at hand),
    // without cancellation for |d| >= 1/2; the series below. A pair whose both probabilities underflowed has weight 0.
    static typename V::F expm1_neg_abs(typename V::F d, typename V::F pt, typename V::F ps) {
        using F = typename V::F;
        const F one = V::set1(1.0f), hi = V::max(pt, ps);
        const F ratio = V::select(V::less(V::zero(), hi), V::div(V::min(pt, ps), hi), V::zero());
        const F a = V::abs(d);
        return V::select(V::less(a, V::set1(0.5f)), expm1_series<V>(V::sub(V::zero(), a)), V::sub(ratio, one));
    }

    // The logs of the mixture at one element: u = log pt - log M and v = log ps - log M from log1p of a small
    // argument: for d > 0, M / ps = 1 + beta (e^-d - 1); for d <= 0, M / pt = 1 + (1 - beta) (e^d - 1).
    struct Logs {
        typename V::F em;  // e^-|d| - 1
        typename V::F u, v;
        typename V::M pos;  // d > 0
    };
    static Logs logs(const DivergenceRow& r, typename V::F d, typename V::F pt, typename V::F ps) {
        return logs_of_em(r, d, expm1_neg_abs(d, pt, ps));
    }
    // The same from em = e^-|d| - 1 at hand.
    static Logs logs_of_em(const DivergenceRow& r, typename V::F d, typename V::F em) {
        using F = typename V::F;
        Logs g;
        g.pos = V::less(V::zero(), d);
        g.em = em;
        const F x = V::mul(V::select(g.pos, V::set1(r.beta), V::set1(1.0f - r.beta)), g.em);
        // x >= -beta': in [-1/2, 0] for every element when beta = 1/2, else down to -max(beta, 1 - beta).
        const F l = Symmetric ? vlog1p_atanh_half<V>(x) : vlog1p_atanh<V>(x);
        const F neg_l = V::sub(V::zero(), l);
        g.u = V::select(g.pos, V::sub(neg_l, d), neg_l);
        g.v = V::select(g.pos, neg_l, V::sub(d, l));
        return g;
    }

    // One element of the row, d measured (with the pair's shift): pt, its logs, and ps expm1(-d) = pt - ps without
    // cancellation (gap: sums to q).
    struct Element : Logs {
        typename V::F pt, gap;
    };
    static Element element(const DivergenceRow& r, typename V::F d, typename V::F ls, typename V::F ps, typename V::M m) {
        using F = typename V::F;
        Element e;
        if (!has_underflow<V>(ls)) {  // one exponential of |d| (exp_of_abs)
            const ExpOfAbs<V> x = exp_of_abs<V>(d);
            const auto pos = V::less(V::zero(), d);
            e.pt = V::keep(V::mul(ps, V::select(pos, x.inv_g, x.g)), m);
            const F em = V::sub(V::zero(), V::mul(x.G, x.inv_g));
            static_cast<Logs&>(e) = logs_of_em(r, d, em);
            e.gap = V::mul(ps, V::select(pos, em, x.G));
            return e;
        }
        e.pt = V::keep(vexp<V>(V::sub(ls, d)), m);
        static_cast<Logs&>(e) = logs(r, d, e.pt, ps);
        e.gap = V::select(e.pos, V::mul(ps, e.em), V::sub(V::zero(), V::mul(e.pt, e.em)));
        return e;
    }

    static typename V::F h_series(const DivergenceRow& r, typename V::F d) {
        using F = typename V::F;
        F q = V::set1(r.series[JsdSeries::N - 1]);
        for (int n = JsdSeries::N - 2; n >= 0; --n) q = V::fma(q, d, V::set1(r.series[n]));
        return V::mul(V::mul(d, d), q);
    }

    static bool trivial_beta(float beta) { return !(beta > 0.0f && beta < 1.0f); }  // M = pt or ps
    static bool trivial(const DivergenceRow& r) { return trivial_beta(r.beta); }

    // One sweep. The measured d carries the pair's shift a (see the top of the file): the shift-free d is d + a,
    // a = log1p(q), q = sum ps expm1(-d) (pt sums to 1 + q). J(d + a) = J(d) + a sum ps h'(d) + a^2/2 sum ps h''(d)
    // + O(a^3), with h'(d) = -beta e^-d u and h''(d) = beta (1 - beta) + O(d): the last term matters only where J
    // is of the order of a^2 (teacher and student nearly equal, so d is of the order of a), where that value holds,
    // so J = sum ps h(d) - a beta sum pt u + a^2 beta (1 - beta) / 2. The first-order term alone left a relative
    // error of 1e-4 on divergences of 1e-9.
    static double value(const DivergenceRow& r) {
        if (trivial(r)) return 0.0 * (r.shift - r.shift);  // NaN for a non-finite row, as elsewhere
        const auto sums = sweep_twice<V, 3>(r.C, [&](auto vectors, int c, auto m, auto& acc) {
            using U = typename decltype(vectors)::type;
            typename JsdOf<U, Symmetric>::ValueSums terms{acc[0], acc[1], acc[2]};
            JsdOf<U, Symmetric>::add_value_terms(r, log_ratio<U>(r, c, m), U::load(r.ls + c), U::load(r.ps + c), m, terms);
            acc[0] = terms.s;
            acc[1] = terms.q;
            acc[2] = terms.w;
        });
        return finish_value(V::sum(sums[0]), V::sum(sums[1]), V::sum(sums[2]), r.beta);
    }

    // The per-element sums of value: s = sum ps h(d), q = sum ps expm1(-d), w = sum pt u, zero past m (the lanes
    // are the classes of one row here, the rows of a lane group in distill_divergence_lanes.inl).
    struct ValueSums {
        typename V::F s = V::zero(), q = V::zero(), w = V::zero();
    };
    static void add_value_terms(const DivergenceRow& r, typename V::F d, typename V::F ls, typename V::F ps,
                                typename V::M m, ValueSums& sums) {
        add_value_terms_with_v(r, d, ls, ps, m, sums);
    }
    // add_value_terms and log_ratio_to_mixture of one element at once, for the pass that takes the value and the
    // gradient together (the fused pass): the element's v, which add_value_terms leaves unused.
    static typename V::F add_value_terms_with_v(const DivergenceRow& r, typename V::F d, typename V::F ls,
                                                typename V::F ps, typename V::M m, ValueSums& sums) {
        if constexpr (Symmetric) {
            const SymmetricElement e = symmetric_element(r, d, ls, ps, m);
            add_symmetric_terms(r, e, d, ps, m, sums);
            return e.v;
        } else {
            const Element e = element(r, d, ls, ps, m);
            add_general_terms(r, e, d, ps, m, sums);
            return e.v;
        }
    }
    static void add_general_terms(const DivergenceRow& r, const Element& e, typename V::F d, typename V::F ps,
                                  typename V::M m, ValueSums& sums) {
        using F = typename V::F;
        const F b = V::set1(r.beta), nb = V::set1(1.0f - r.beta), half = V::set1(0.5f);
        const F direct = V::fma(V::mul(b, e.pt), e.u, V::mul(V::mul(nb, ps), e.v));
        const F term = V::select(V::less(V::abs(d), half), V::mul(ps, h_series(r, d)), direct);
        sums.s = V::add(sums.s, V::keep(term, m));
        sums.q = V::add(sums.q, V::keep(e.gap, m));
        sums.w = V::fma(e.pt, e.u, sums.w);  // pt is 0 outside m
    }
    // At beta = 1/2 the logs need no ratio: their log1p argument em / 2, em = e^-|d| - 1, enters only as
    // s = em / (4 + em) = (1 - g) / (1 + 3 g) = -G / (4 + 3 G) from one exponential of |d| (exp_of_abs), with
    // pt = ps / g or ps g and ps expm1(-d) = pt - ps = -ps G / g for d > 0 (not -pt G: pt may flush to 0 where
    // ps G / g does not) or ps G. A vector with a lane whose ps underflowed takes the general element (pt from ls).
    struct SymmetricElement {
        typename V::F pt, u, v, gap;
        typename V::M small, pos;  // |d| < 1/2, d > 0
    };
    // The rare vector with an underflowed ps, kept out of the sweeps' loops.
    __attribute__((noinline)) static SymmetricElement symmetric_from_element(const DivergenceRow& r, typename V::F d,
                                                                             typename V::F ls, typename V::F ps,
                                                                             typename V::M m) {
        SymmetricElement e;
        e.small = V::less(V::abs(d), V::set1(0.5f));
        e.pos = V::less(V::zero(), d);
        const Element g = element(r, d, ls, ps, m);
        e.pt = g.pt;
        e.u = g.u;
        e.v = g.v;
        e.gap = g.gap;
        return e;
    }
    static SymmetricElement symmetric_element(const DivergenceRow& r, typename V::F d, typename V::F ls,
                                              typename V::F ps, typename V::M m) {
        using F = typename V::F;
        if (has_underflow<V>(ls)) return symmetric_from_element(r, d, ls, ps, m);
        SymmetricElement e;
        e.small = V::less(V::abs(d), V::set1(0.5f));
        e.pos = V::less(V::zero(), d);
        const ExpOfAbs<V> x = exp_of_abs<V>(d);
        e.pt = V::keep(V::mul(ps, V::select(e.pos, x.inv_g, x.g)), m);
        const F neg_l = two_atanh_third<V>(V::div(x.G, V::fma(V::set1(3.0f), x.G, V::set1(4.0f))));
        e.u = V::select(e.pos, V::sub(neg_l, d), neg_l);
        e.v = V::select(e.pos, neg_l, V::add(d, neg_l));
        e.gap = V::mul(ps, V::select(e.pos, V::sub(V::zero(), V::mul(x.G, x.inv_g)), x.G));
        return e;
    }
    static void add_symmetric_terms(const DivergenceRow& r, const SymmetricElement& e, typename V::F d,
                                    typename V::F ps, typename V::M m, ValueSums& sums) {
        using F = typename V::F;
        const F direct = V::mul(V::set1(0.5f), V::fma(e.pt, e.u, V::mul(ps, e.v)));
        const F term = V::select(e.small, V::mul(ps, h_series(r, d)), direct);
        sums.s = V::add(sums.s, V::keep(term, m));
        sums.q = V::add(sums.q, V::keep(e.gap, m));
        sums.w = V::fma(e.pt, e.u, sums.w);  // pt is 0 outside m
    }
    static double finish_value(double s, double q, double w, double beta) {
        const double a = log1p_near_zero(q);
        return s - a * beta * w + 0.5 * a * a * beta * (1.0 - beta);
    }

    // dJ/ds_c = (1 - beta) ps_c (v_c - sum ps v). The measured d carries the pair's shift a (a few 1e-7: the rounding
    // of the two log-sum-exps), and unlike the value the gradient needs no correction for it: a shift moves v_c - V
    // by a (w_c - W), w = v'(d) = beta pt / M, and w_c - W = -(1 - beta) (v_c - V) (1 + O(d)) near agreement, O(1)
    // beside an O(1) v_c - V elsewhere, so the gradient moves by about a relative to itself. So one sweep at the
    // measured d (add_gradient_measured; the lane groups' jsd_gradient_lanes likewise).
    // Like ReverseKl's, the gradient gathers over the row's teachers: each adds coef (1 - beta) ps v to acc and
    // coef (1 - beta) V to offset, and finish_gradient subtracts offset ps once per row, so no teacher sweeps the row
    // again for its own mean.
    static void add_gradient(const DivergenceRow& r, float coef, float* acc, double& offset) {
        if (trivial(r)) return;
        add_gradient_measured(r, coef, acc, offset);
    }
    // acc -= offset ps (0 past C again, where ps is 0).
    static void finish_gradient(const float* ps, int C, double offset, float* acc) {
        using F = typename V::F;
        const F o = V::set1(static_cast<float>(offset));
        for_vectors<V>(C, [&](int c, typename V::M) { V::store(acc + c, V::fnma(o, V::load(ps + c), V::load(acc + c))); });
    }

    // v = log ps - log M of one vector of elements at d (the symmetric element at beta = 1/2: its exponential, one
    // division and the atanh polynomial).
    static typename V::F log_ratio_to_mixture(const DivergenceRow& r, typename V::F d, typename V::F ls,
                                              typename V::F ps, typename V::M m) {
        if constexpr (Symmetric) return symmetric_element(r, d, ls, ps, m).v;
        else return element(r, d, ls, ps, m).v;
    }
    // value and add_gradient of one pair in one sweep (the fused pass): each element evaluated once for both, the
    // same sums and the same acc as the two sweeps.
    static double value_and_gradient(const DivergenceRow& r, float coef, float* acc, double& offset) {
        if (trivial(r)) return 0.0 * (r.shift - r.shift);
        const float k = coef * (1.0f - r.beta);
        const auto sums = sweep_twice<V, 4>(r.C, [&](auto vectors, int c, auto m, auto& acc4) {
            using U = typename decltype(vectors)::type;
            using G = typename U::F;
            using JU = JsdOf<U, Symmetric>;
            const G d = log_ratio<U>(r, c, m), ps = U::load(r.ps + c);
            typename JU::ValueSums terms{acc4[0], acc4[1], acc4[2]};
            const G v = JU::add_value_terms_with_v(r, d, U::load(r.ls + c), ps, m, terms);
            acc4[0] = terms.s;
            acc4[1] = terms.q;
            acc4[2] = terms.w;
            const G psv = U::keep(U::mul(ps, v), m);
            U::store(acc + c, U::fma(U::set1(k), psv, U::load(acc + c)));
            acc4[3] = U::add(acc4[3], psv);
        });
        offset += static_cast<double>(k) * V::sum(sums[3]);
        return finish_value(V::sum(sums[0]), V::sum(sums[1]), V::sum(sums[2]), r.beta);
    }
    // One sweep at the measured d: acc += coef (1 - beta) ps v, V = sum ps v.
    static void add_gradient_measured(const DivergenceRow& r, float coef, float* acc, double& offset) {
        const float k = coef * (1.0f - r.beta);
        const auto sv = sweep_twice<V, 1>(r.C, [&](auto vectors, int c, auto m, auto& sums) {
            using U = typename decltype(vectors)::type;
            using G = typename U::F;
            using JU = JsdOf<U, Symmetric>;
            const G d = log_ratio<U>(r, c, m), ps = U::load(r.ps + c);
            const G v = JU::log_ratio_to_mixture(r, d, U::load(r.ls + c), ps, m);
            const G psv = U::keep(U::mul(ps, v), m);
            U::store(acc + c, U::fma(U::set1(k), psv, U::load(acc + c)));
            sums[0] = U::add(sums[0], psv);
        });
        offset += static_cast<double>(k) * V::sum(sv[0]);
    }
};

template <class V>
using Jsd = JsdOf<V, false>;
template <class V>
using JsdSymmetric = JsdOf<V, true>;

// Whether divergence D is a jsd (it carries JsdSeries coefficients in DivergenceRow::series).
template <class D>
struct IsJsd : std::false_type {};
template <class V, bool Symmetric>
struct IsJsd<JsdOf<V, Symmetric>> : std::true_type {};

// DKD in double, for the rare pair whose non-target mass underflows in float (a student or teacher certain of the
// target at large logits): the float formulas would divide 0 by 0 there.
inline double x_log_ratio_d(double lp, double lq) {
    const double p = std::exp(lp);
    return p == 0.0 ? 0.0 : p * (lp - lq);
}

// log(1 - p_y) = log sum_{c != y} e^lp_c.
inline double log_non_target_d(const double* lp, int C, int y) {
    double hi = -INFINITY;
    for (int c = 0; c < C; ++c) if (c != y) hi = std::max(hi, lp[c]);
    if (!std::isfinite(hi)) return hi;
    double sum = 0.0;
    for (int c = 0; c < C; ++c) if (c != y) sum += std::exp(lp[c] - hi);
    return hi + std::log(sum);
}

// log softmax(z / T) in double; NaN everywhere when a z is not finite (the KL kernel reports that row).
inline void log_probs_d(const float* z, int C, double T, double* out) {
    double m = -INFINITY, probe = 0.0;
    for (int c = 0; c < C; ++c) {
        m = std::max(m, static_cast<double>(z[c]));
        probe += static_cast<double>(z[c]) - z[c];
    }
    double sum = 0.0;
    for (int c = 0; c < C; ++c) sum += std::exp((z[c] - m) / T);
    const double lse = m / T + std::log(sum) + probe;
    for (int c = 0; c < C; ++c) out[c] = z[c] / T - lse;
}

// The divergence (returned) and, with acc, coef times its gradient added to acc, for row r (y >= 0) in double.
inline double dkd_in_double(const DivergenceRow& r, float coef, float* acc) {
    thread_local std::vector<double> buf;
    buf.resize(2 * static_cast<std::size_t>(r.C));
    double *ls = buf.data(), *lt = ls + r.C;
    const double T = 1.0 / static_cast<double>(r.inv_T);
    log_probs_d(r.zs, r.C, T, ls);
    log_probs_d(r.zt, r.C, T, lt);
    const int y = r.y;
    const double ls_not = log_non_target_d(ls, r.C, y), lt_not = log_non_target_d(lt, r.C, y);
    const double tckd = x_log_ratio_d(lt[y], ls[y]) + x_log_ratio_d(lt_not, ls_not);
    double nckd = 0.0;
    for (int c = 0; c < r.C; ++c)
        if (c != y) nckd += x_log_ratio_d(lt[c] - lt_not, ls[c] - ls_not);
    if (acc) {
        const double dt = std::exp(ls[y]) - std::exp(lt[y]);
        for (int c = 0; c < r.C; ++c) {
            double g = r.alpha * dt;
            if (c != y) {
                const double ps_hat = std::exp(ls[c] - ls_not), pt_hat = std::exp(lt[c] - lt_not);
                g = -r.alpha * dt * ps_hat + r.beta * (ps_hat - pt_hat);
            }
            acc[c] = static_cast<float>(acc[c] + coef * g);
        }
    }
    return r.alpha * tckd + r.beta * nckd;
}

// Below this non-target mass (student's or teacher's), a DKD pair is computed in double (dkd_in_double).
constexpr double kDkdFloatFloor = 1e-20;

template <class V>
struct Dkd {
    // alpha TCKD + beta NCKD with target t = y: TCKD = KL([pt_t, 1 - pt_t] || [ps_t, 1 - ps_t]), NCKD = KL over the
    // classes != t of the renormalised distributions. A row without a label is ignored (0). Sums over c != y use
    // ps with ps_y set to 0 (the row's psn). With A = sum_{c != y} ps_c expm1(-d_c) and Sn = sum_{c != y} ps_c,
    // log(1 - pt_y) - log(1 - ps_y) = log1p(A / Sn) = lambda keeps its precision when the two agree; NCKD =
    // sum pt^ phi(r), r_c = -d_c - lambda = log pt^_c - log ps^_c, and TCKD is the same over the pair.
    // dt is formed with the shift removed: the log-sum-exps' rounding moves every measured d by the same a, which
    // mu (log Nt / Ns from the same d) measures, so pt_y / ps_y = e^{-dy - mu} Ns / Nt and
    // dt = -(psy / Ns) expm1(-dy - mu) keeps its relative precision where teacher and student agree (expm1(-dy) alone
    // was off by a / dy there).
    struct Pair {
        double tckd, lambda, dt;  // dt = ps_y - pt_y
        float St;                 // sum_{c != y} pt_c
    };
    // pn expm1(-d): the series near d = 0, else pt - pn (= pn e^-d - pn, no exponential of its own); 0 where pn is
    // 0 (the label, an underflowed ps).
    static typename V::F gap(typename V::F d, typename V::F pt, typename V::F pn) {
        using F = typename V::F;
        const F near = V::mul(pn, expm1_series<V>(V::sub(V::zero(), d)));
        return V::keep(V::select(V::less(V::abs(d), V::set1(0.5f)), near, V::sub(pt, pn)), V::less(V::zero(), pn));
    }
    // The NCKD term pt^ phi(r) of one element, r = -d - lambda, pt^ = pt / St, ps^ = pn / Sn (it = 1/St, is = 1/Sn).
    static typename V::F nckd_term(typename V::F d, typename V::F pt, typename V::F pn, typename V::F lam,
                                   typename V::F it, typename V::F is) {
        const typename V::F rr = V::sub(V::sub(V::zero(), d), lam);
        return p_phi<V>(V::mul(pt, it), rr, V::mul(pn, is));
    }
    // dD/ds of one element off the label: -alpha dt ps^ + beta (ps^ - pt^) (ka = -alpha dt), ps^ - pt^ =
    // -ps^ expm1(r) near agreement.
    static typename V::F gradient_term(typename V::F d, typename V::F pt, typename V::F pn, typename V::F lam,
                                       typename V::F it, typename V::F is, typename V::F ka, typename V::F kb) {
        using F = typename V::F;
        const F rr = V::sub(V::sub(V::zero(), d), lam);
        const F pt_hat = V::mul(pt, it), ps_hat = V::mul(pn, is);
        const F near = V::sub(V::zero(), V::mul(ps_hat, expm1_series<V>(rr)));  // taken for |rr| < 1/2 only
        const F diff = V::select(V::less(V::abs(rr), V::set1(0.5f)), near, V::sub(ps_hat, pt_hat));
        return V::fma(ka, ps_hat, V::mul(kb, diff));
    }
    // pair_from_sums for W pairs at once, in float (the lane form, distill_divergence_lanes.inl): every step is the
    // double form's, with expm1 by its series below 1/2 and log1p where its argument is below 1/2, so no step
    // cancels; lambda, the TCKD and dt come out with a few float roundings of relative error.
    struct PairLanes {
        typename V::F tckd, lambda, dt;
    };
    static PairLanes pair_from_sums(typename V::F A, typename V::F St, typename V::F Sn, typename V::F dy,
                                    typename V::F psy, typename V::F pty) {
        using F = typename V::F;
        const F half = V::set1(0.5f), one = V::set1(1.0f), zero = V::zero();
        auto small = [&](F x) { return V::less(V::abs(x), half); };
        const F neg_dy = V::sub(zero, dy);
        const F emy = V::select(small(dy), expm1_series<V>(neg_dy), V::sub(vexp<V>(neg_dy), one));
        const F ratio_n = V::div(A, Sn);
        const F lambda = V::select(small(ratio_n), vlog1p_atanh_half<V>(ratio_n), vlog<V>(V::div(St, Sn)));
        const F Ns = V::add(psy, Sn), All = V::fma(psy, emy, A), ratio = V::div(All, Ns), Nt = V::add(pty, St);
        const F mu = V::select(small(ratio), vlog1p_atanh_half<V>(ratio), vlog<V>(V::div(Nt, Ns)));
        const F inv_Nt = V::div(one, Nt), inv_Ns = V::div(one, Ns);
        const F tckd = V::add(p_phi<V>(V::mul(pty, inv_Nt), V::sub(neg_dy, mu), V::mul(psy, inv_Ns)),
                              p_phi<V>(V::mul(St, inv_Nt), V::sub(lambda, mu), V::mul(Sn, inv_Ns)));
        // dt = psy / Ns - pty / Nt = -(psy / Ns) expm1(-dy - mu): mu removes the shift d carries (see Pair).
        const F ry = V::sub(neg_dy, mu), psn_y = V::mul(psy, inv_Ns);
        const F dt = V::select(small(ry), V::sub(zero, V::mul(psn_y, expm1_series<V>(ry))),
                               V::fnma(pty, inv_Nt, psn_y));
        return {tckd, lambda, dt};
    }
    // First sweep: d into r.d, pt (0 at y) into r.e; the pair's sums.
    static Pair pair(const DivergenceRow& r, const float* psn, double Sn) {
        using F = typename V::F;
        F a = V::zero(), st = V::zero();
        for_vectors_masked<V>(r.C, [&](int c, typename V::M m) {
            const F d = log_ratio<V>(r, c, m);
            const F pn = V::load(psn + c);
            V::store(r.d + c, d);
            const F pt = V::keep(teacher_prob<V>(r, c, d), m);
            V::store(r.e + c, pt);
            a = V::add(a, V::keep(gap(d, pt, pn), m));
        });
        const int y = r.y;
        const double dy = r.d[y], psy = r.ps[y], pty = r.e[y];
        r.e[y] = 0.0f;  // summed without it: 1 - pt_y by subtraction would lose a confident teacher's digits
        for_vectors_masked<V>(r.C, [&](int c, typename V::M) { st = V::add(st, V::load(r.e + c)); });
        return pair_from_sums(V::sum(a), V::sum(st), Sn, dy, psy, pty);
    }
    // The pair's scalars from the first sweep's sums A and St, Sn and the label's d, ps and pt.
    static Pair pair_from_sums(double A, double St, double Sn, double dy, double psy, double pty) {
        const double emy = std::expm1(-dy);
        const double ratio_n = A / Sn;
        const double lambda = std::abs(ratio_n) < 0.5 ? std::log1p(ratio_n) : std::log(St / Sn);
        const double Ns = psy + Sn, All = A + psy * emy, ratio = All / Ns;
        const double Nt = pty + St;
        const double mu = std::abs(ratio) < 0.5 ? std::log1p(ratio) : std::log(Nt / Ns);
        const double tckd = p_phi_d(pty / Nt, -dy - mu, psy / Ns) + p_phi_d(St / Nt, lambda - mu, Sn / Ns);
        const double ry = -dy - mu;
        const double dt = std::abs(ry) < 0.5 ? -psy / Ns * std::expm1(ry) : psy / Ns - pty / Nt;
        return {tckd, lambda, dt, static_cast<float>(St)};
    }
    static double value(const DivergenceRow& r, const float* psn, double Sn) {
        using F = typename V::F;
        if (r.y < 0) return 0.0;
        const Pair q = pair(r, psn, Sn);
        if (!(Sn > kDkdFloatFloor && q.St > kDkdFloatFloor)) return dkd_in_double(r, 0.0f, nullptr);
        const F lam = V::set1(static_cast<float>(q.lambda)), it = V::set1(1.0f / q.St), is = V::set1(1.0f / static_cast<float>(Sn));
        F s = V::zero();
        for_vectors_masked<V>(r.C, [&](int c, typename V::M m) {
            s = V::add(s, V::keep(nckd_term(V::load(r.d + c), V::load(r.e + c), V::load(psn + c), lam, it, is), m));
        });
        return r.alpha * q.tckd + r.beta * static_cast<double>(V::sum(s));
    }
    // beta as the weight of the NCKD gradient: 0 with a single class off the target (C = 2), where ps^ = pt^ = 1
    // and NCKD and its gradient are 0 whatever the logits. Its r = -d - lambda would be the rounding of lambda
    // against d there (a few 1e-11 at |d| near 1e-3), which beta (8 in the DKD paper) carries into the row: where
    // the teachers' dt nearly cancel that was 1.5e-4 of the gradient.
    static float nckd_gradient_weight(float beta, int C) { return C > 2 ? beta : 0.0f; }
    // alpha dt at y; elsewhere -alpha dt ps^_c + beta (ps^_c - pt^_c), ps^ - pt^ = -ps^ expm1(r) near agreement.
    static void add_gradient(const DivergenceRow& r, const float* psn, double Sn, float coef, float* acc) {
        using F = typename V::F;
        if (r.y < 0) return;
        const Pair q = pair(r, psn, Sn);
        if (!(Sn > kDkdFloatFloor && q.St > kDkdFloatFloor)) {
            dkd_in_double(r, coef, acc);
            return;
        }
        const F lam = V::set1(static_cast<float>(q.lambda)), it = V::set1(1.0f / q.St), is = V::set1(1.0f / static_cast<float>(Sn));
        const F ka = V::set1(static_cast<float>(-r.alpha * q.dt)), kb = V::set1(nckd_gradient_weight(r.beta, r.C)),
                k = V::set1(coef);
        for_vectors_masked<V>(r.C, [&](int c, typename V::M) {
            const F g = gradient_term(V::load(r.d + c), V::load(r.e + c), V::load(psn + c), lam, it, is, ka, kb);
            V::store(acc + c, V::fma(k, g, V::load(acc + c)));
        });
        acc[r.y] += coef * static_cast<float>(r.alpha * q.dt);
    }
    // value and add_gradient of one pair from one sweep over it (the fused pass; pair's exponential per element
    // once): the same arithmetic as each alone, so the same results.
    static double value_and_gradient(const DivergenceRow& r, const float* psn, double Sn, float coef, float* acc) {
        using F = typename V::F;
        if (r.y < 0) return 0.0;
        const Pair q = pair(r, psn, Sn);
        if (!(Sn > kDkdFloatFloor && q.St > kDkdFloatFloor)) return dkd_in_double(r, coef, acc);
        const F lam = V::set1(static_cast<float>(q.lambda)), it = V::set1(1.0f / q.St), is = V::set1(1.0f / static_cast<float>(Sn));
        const F ka = V::set1(static_cast<float>(-r.alpha * q.dt)), kb = V::set1(nckd_gradient_weight(r.beta, r.C)),
                k = V::set1(coef);
        // Two loops over the row (in L1), each value's and add_gradient's own: in one loop the compiler shares
        // pt / St between the terms and contracts the gradient's arithmetic differently, a rounding apart.
        F s = V::zero();
        for_vectors_masked<V>(r.C, [&](int c, typename V::M m) {
            s = V::add(s, V::keep(nckd_term(V::load(r.d + c), V::load(r.e + c), V::load(psn + c), lam, it, is), m));
        });
        for_vectors_masked<V>(r.C, [&](int c, typename V::M) {
            const F g = gradient_term(V::load(r.d + c), V::load(r.e + c), V::load(psn + c), lam, it, is, ka, kb);
            V::store(acc + c, V::fma(k, g, V::load(acc + c)));
        });
        acc[r.y] += coef * static_cast<float>(r.alpha * q.dt);
        return r.alpha * q.tckd + r.beta * static_cast<double>(V::sum(s));
    }
};

// Plain KL, for a run that replaces only the feature loss: the KL kernel already did this divergence.
template <class V>
struct KeepKl {};

// Sums over one feature slice, with the probe (x - x summed, NaN exactly when an element is not finite). With
// plain set (the cosine loss's sums away from parallel, cosine_sums), also cos = dot / den and what its gradient
// takes: nm = |a||t| = sqrt(aa tt) and den = nm + eps.
template <class V>
struct FeatureSums {
    double dot, aa, tt, probe;
    bool plain = false;
    double cos = 0.0, nm = 0.0, den = 0.0;
};

// The rounding error of each product is summed apart (FMA gives it exactly), so that a one-wide slice, whose a and t
// are always parallel, keeps the precision that 1 - cos and its nearly cancelling gradient terms need: its sums are
// then exact. (Over two or more elements the lanes' float additions round as plain sums do.)
template <class V>
inline FeatureSums<V> feature_sums(const float* a, const float* t, int d) {
    using F = typename V::F;
    F dot = V::zero(), aa = V::zero(), tt = V::zero(), probe = V::zero();
    F dot_lo = V::zero(), aa_lo = V::zero(), tt_lo = V::zero();
    auto add_product = [](F x, F u, F& hi, F& lo) {
        const F p = V::mul(x, u);
        lo = V::add(lo, V::fma_exact(x, u, V::sub(V::zero(), p)));
        hi = V::add(hi, p);
    };
    for_each_vector<V>(d, [&](int c, typename V::M m, auto tail) {
        constexpr bool is_tail = decltype(tail)::value;
        const F x = load<is_tail, V>(a + c, m), u = load<is_tail, V>(t + c, m);
        add_product(x, u, dot, dot_lo);
        add_product(x, x, aa, aa_lo);
        add_product(u, u, tt, tt_lo);
        probe = V::add(probe, V::add(V::sub(x, x), V::sub(u, u)));
    });
    auto total = [](F hi, F lo) { return static_cast<double>(V::sum(hi)) + static_cast<double>(V::sum(lo)); };
    return {total(dot, dot_lo), total(aa, aa_lo), total(tt, tt_lo), V::sum(probe)};
}

// The same sums by one FMA per product, two accumulators each, and no probe: where every element is finite (a and t
// finite exactly when sum a^2 and sum t^2 are) the probe is 0.
template <class V>
inline FeatureSums<V> plain_feature_sums(const float* a, const float* t, int d) {
    using F = typename V::F;
    F dot[2] = {V::zero(), V::zero()}, aa[2] = {V::zero(), V::zero()}, tt[2] = {V::zero(), V::zero()};
    auto step = [&](int c, typename V::M m, bool tail, int h) {
        const F x = tail ? V::load(a + c, m) : V::load(a + c), u = tail ? V::load(t + c, m) : V::load(t + c);
        dot[h] = V::fma(x, u, dot[h]);
        aa[h] = V::fma(x, x, aa[h]);
        tt[h] = V::fma(u, u, tt[h]);
    };
    const auto all = V::first(V::W);
    const int end = d / V::W * V::W;
    int c = 0;
    for (; c + 2 * V::W <= end; c += 2 * V::W) {
        step(c, all, false, 0);
        step(c + V::W, all, false, 1);
    }
    if (c + V::W <= end) step(c, all, false, 0);
    if (end < d) step(end, V::first(d - end), true, 1);
    auto total = [](F x, F y) { return static_cast<double>(V::sum(V::add(x, y))); };
    return {total(dot[0], dot[1]), total(aa[0], aa[1]), total(tt[0], tt[1]), 0.0};
}

// <a,t> / (|a||t| + eps) of a slice from its sums, in double.
template <class V>
inline double cosine_of(const FeatureSums<V>& s, double eps) {
    return s.dot / (std::sqrt(s.aa) * std::sqrt(s.tt) + eps);
}

// The cos statistic of a slice, cosine_of its sums, as the KL kernels define it (distill_groups.inl, finish_features):
// NaN where an element is not finite (the probe) or a sum of squares overflowed.
template <class V>
inline float cosine_statistic(const FeatureSums<V>& s, double cos) {
    if (!(std::isfinite(s.aa) && std::isfinite(s.tt)) || std::isnan(s.probe)) return kNaN;
    return static_cast<float>(cos);
}

// The cosine loss's sums of a slice, the same in every pass (the fused pass keeps the statistics' sums for the
// gradient, which so writes the gradient pass's dfs bit for bit). Where the slice has two or more elements, all
// finite, neither |a| nor |t| is 0 and |cos| is at most kCosinePlainAtMost, plain_feature_sums (plain set): cos and
// 1 - cos from one square root and one division, the gradient from float coefficients and one division more
// (CosineLoss::gradient). An FMA per element rounds the running sum once, as feature_sums' addition of
// the rounded product does while its lo keeps the product's error: the same order of error at a fifth of the
// operations (3 per vector of elements against 15). Otherwise feature_sums (exact products and the probe), with the
// arithmetic such a slice always had: nearer parallel (a one-wide slice always, fs = ft) the exact products and the
// gradient's split coefficients are what 1 - cos and its nearly cancelling terms keep their digits by.
constexpr double kCosinePlainAtMost = 0.99;

template <class V>
__attribute__((always_inline)) inline FeatureSums<V> cosine_sums(const float* a, const float* t, int d, double eps) {
    if (d >= 2) {
        FeatureSums<V> s = plain_feature_sums<V>(a, t, d);
        // aa, tt finite: every element is; > 0: the quotients below are finite.
        if (std::isfinite(s.aa) && std::isfinite(s.tt) && s.aa > 0.0 && s.tt > 0.0) {
            s.nm = std::sqrt(s.aa * s.tt);
            s.den = s.nm + eps;
            s.cos = s.dot / s.den;
            if (std::fabs(s.cos) <= kCosinePlainAtMost) {
                s.plain = true;
                return s;
            }
        }
    }
    return feature_sums<V>(a, t, d);
}

// A feature loss's statistics of one slice, from one sweep over it: the loss's value (written where mse is for the
// kl + mse op), cos (written as every loss writes it) and the sums, which a gradient sweep after it may reuse.
template <class V>
struct FeatureStatistics {
    double value;
    float cos;
    FeatureSums<V> sums;
};

template <class V>
struct CosineLoss {
    // 1 - <a,t> / (|a||t| + eps); d/da = -t / den + <a,t> |t| a / (|a| den^2), the second term 0 at a = 0.
    static FeatureStatistics<V> statistics(const float* a, const float* t, int d, double eps) {
        const FeatureSums<V> s = cosine_sums<V>(a, t, d, eps);
        const double cos = s.plain ? s.cos : cosine_of(s, eps);
        return {1.0 - cos + s.probe, cosine_statistic(s, cos), s};
    }
    // known: the slice's sums from statistics() (the fused pass), or null to sum them here (the same sums).
    static void gradient(const float* a, const float* t, int d, double eps, float scale, float* out,
                         const FeatureSums<V>* known) {
        using F = typename V::F;
        const FeatureSums<V> s = known != nullptr ? *known : cosine_sums<V>(a, t, d, eps);
        if (s.plain) {
            // -scale / den = -scale aa r and scale cos |t| / (|a| den) = scale cos nm r, r = 1 / (aa den): with
            // |cos| <= 0.99 the two terms cancel by at most a factor 1 / sqrt(1 - cos^2) (7), so float coefficients
            // keep the result to a few roundings.
            const double r = 1.0 / (s.aa * s.den);
            const F vt = V::set1(static_cast<float>(-scale * s.aa * r)),
                    va = V::set1(static_cast<float>(scale * s.cos * s.nm * r));
            for_each_vector<V>(d, [&](int c, typename V::M msk, auto tail) {
                constexpr bool is_tail = decltype(tail)::value;
                const F x = load<is_tail, V>(a + c, msk), u = load<is_tail, V>(t + c, msk);
                store<is_tail, V>(out + c, V::fma(va, x, V::mul(vt, u)), msk);
            });
            return;
        }
        const double n = std::sqrt(s.aa), m = std::sqrt(s.tt), den = n * m + eps;
        const double radial = n > 0.0 ? s.dot * m / (n * den * den) : 0.0;
        // The two terms nearly cancel when a and t are parallel: each coefficient is split into float hi + lo and
        // the product with hi is made exact (FMA), so the sum keeps the precision of the double formula.
        const double kt = -scale / den, ka = scale * radial;
        const float kt_hi = static_cast<float>(kt), ka_hi = static_cast<float>(ka);
        const F th = V::set1(kt_hi), tl = V::set1(static_cast<float>(kt - kt_hi)), ah = V::set1(ka_hi),
                al = V::set1(static_cast<float>(ka - ka_hi));
        for_each_vector<V>(d, [&](int c, typename V::M msk, auto tail) {
            constexpr bool is_tail = decltype(tail)::value;
            const F x = load<is_tail, V>(a + c, msk), u = load<is_tail, V>(t + c, msk);
            const F prod = V::mul(th, u), prod_err = V::fma_exact(th, u, V::sub(V::zero(), prod));
            const F hi = V::fma_exact(ah, x, prod), lo = V::fma_exact(tl, u, V::fma_exact(al, x, prod_err));
            store<is_tail, V>(out + c, V::add(hi, lo), msk);
        });
    }
};

template <class V>
struct SmoothL1Loss {
    // (1/D) sum huber_1(a - t); d/da = clamp(a - t, -1, 1) / D. One sweep sums the loss and, for cos, the products
    // (plain FMAs: cos needs no more, where the cosine loss near 0 keeps each product's rounding error).
    static FeatureStatistics<V> statistics(const float* a, const float* t, int d, double eps) {
        using F = typename V::F;
        const F one = V::set1(1.0f), half = V::set1(0.5f);
        F s = V::zero(), dot = V::zero(), aa = V::zero(), tt = V::zero();
        for_each_vector<V>(d, [&](int c, typename V::M m, auto tail) {
            constexpr bool is_tail = decltype(tail)::value;
            const F x = load<is_tail, V>(a + c, m), u = load<is_tail, V>(t + c, m);
            const F e = V::sub(x, u), ae = V::abs(e);
            s = V::add(s, keep<is_tail, V>(V::select(V::less(ae, one), V::mul(half, V::mul(e, e)), V::sub(ae, half)), m));
            dot = V::fma(x, u, dot);
            aa = V::fma(x, x, aa);
            tt = V::fma(u, u, tt);
        });
        // Finite sums of squares imply finite elements, so the probe (NaN exactly when an element is not finite) is
        // taken from feature_sums' sweep only where one of them is not (a non-finite element, or squares past the
        // float range).
        const float sum_aa = V::sum(aa), sum_tt = V::sum(tt);
        const double probe = std::isfinite(sum_aa) && std::isfinite(sum_tt) ? 0.0 : feature_sums<V>(a, t, d).probe;
        const FeatureSums<V> sums{V::sum(dot), sum_aa, sum_tt, probe};
        return {static_cast<double>(V::sum(s)) / d + sums.probe, cosine_statistic(sums, cosine_of(sums, eps)), sums};
    }
    static void gradient(const float* a, const float* t, int d, double, float scale, float* out,
                         const FeatureSums<V>*) {
        using F = typename V::F;
        const F one = V::set1(1.0f), k = V::set1(scale / static_cast<float>(d));
        for_each_vector<V>(d, [&](int c, typename V::M m, auto tail) {
            constexpr bool is_tail = decltype(tail)::value;
            const F e = V::sub(load<is_tail, V>(a + c, m), load<is_tail, V>(t + c, m));
            store<is_tail, V>(out + c, V::mul(k, V::max(V::sub(V::zero(), one), V::min(one, e))), m);
        });
    }
};

template <class V>
struct KeepMse {};

// ls = z/T - log sum e^(z/T) and ps = e^ls for one student row, zero past C, from lse_st = log sum e^(z/T) of the
// stats pass: one exponential per element. e^(z/T - lse_st) sums to 1 up to the rounding of lse_st, which the
// division by its measured sum takes out (ls shifted by the log of that sum), so ps sums to 1 to float precision
// as when the row's own maximum and sum were formed here. A non-finite row has a NaN lse_st: ls and ps are NaN.
template <class V>
inline void student_log_probs(const float* z, int C, float inv_T, float lse_st, float* ls, float* ps) {
    using F = typename V::F;
    const F it = V::set1(inv_T), neg_lse = V::set1(-lse_st);
    F s = V::zero();
    for_vectors<V>(C, [&](int c, typename V::M m) {
        const F l = V::keep(V::fma(V::load(z + c, m), it, neg_lse), m);
        const F e = V::keep(vexp<V>(l), m);
        V::store(ls + c, l);
        V::store(ps + c, e);
        s = V::add(s, e);
    });
    const double sum = V::sum(s);
    const F log_s = V::set1(static_cast<float>(log1p_near_zero(sum - 1.0))), inv_s = V::set1(static_cast<float>(1.0 / sum));
    for_vectors<V>(C, [&](int c, typename V::M m) {
        V::store(ls + c, V::keep(V::sub(V::load(ls + c), log_s), m));
        V::store(ps + c, V::mul(V::load(ps + c), inv_s));
    });
}

}  // namespace distill
}  // namespace
}  // namespace mtkd
