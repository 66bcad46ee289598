#!/usr/bin/env python3
"""The fitted polynomials of the native kernels, recomputed and checked in high precision (mpmath).

    python3 native/tools/fit_polynomials.py

- two_atanh_third (native/src/vector_log.h): Q(z) = (atanh(s) / s - 1) / z, z = s^2 in [0, 1/9], of degree 3,
  interpolated at four Chebyshev nodes; prints its float coefficients and the relative error of 1 + z Q(z) against
  atanh(s) / s, beside the Taylor polynomials it replaces.
- expm1_series and phi_series (native/src/distill_divergences.inl): (e^x - 1) / x of degree 6 and phi(x) / x^2,
  phi(x) = x - 1 + e^-x, of degree 5, each through Chebyshev nodes of [-1/2, 1/2].
- JsdSeries (native/src/distill_divergences.inl): H(d) = h(d) / d^2 on [-1/2, 1/2] for jsd's mixing beta,
  interpolated at N Chebyshev nodes as the library does at run time; prints the worst relative error over a set of
  betas for each N, beside the Taylor polynomial with as many coefficients.
"""
import struct

import mpmath as mp

mp.mp.dps = 50


def f32(x):
    return struct.unpack("f", struct.pack("f", float(x)))[0]


def horner(coefficients_low_first, x):
    q = mp.mpf(0)
    for c in reversed(coefficients_low_first):
        q = q * x + c
    return q


def chebyshev_interpolation(f, a, b, n):
    """Monomial coefficients (low first) of the degree n - 1 polynomial through f at n Chebyshev nodes of [a, b]."""
    nodes = [(a + b) / 2 + (b - a) / 2 * mp.cos(mp.pi * (2 * k + 1) / (2 * n)) for k in range(n)]
    matrix = mp.matrix([[x ** j for j in range(n)] for x in nodes])
    solution = mp.lu_solve(matrix, mp.matrix([f(x) for x in nodes]))
    return [solution[j] for j in range(n)]


def atanh_fit():
    def q_of(z):
        if z < mp.mpf(10) ** -40:
            return mp.mpf(1) / 3
        s = mp.sqrt(z)
        return (mp.atanh(s) / s - 1) / z

    def worst(coefficients, top=mp.mpf(1) / 9):
        error = mp.mpf(0)
        for i in range(1, 2001):
            z = top * i / 2000
            s = mp.sqrt(z)
            error = max(error, abs((1 + z * horner(coefficients, z)) / (mp.atanh(s) / s) - 1))
        return error

    fit = [f32(c) for c in chebyshev_interpolation(q_of, mp.mpf(0), mp.mpf(1) / 9, 4)]
    print("two_atanh_third: Q(z) coefficients, highest degree first:", ", ".join("%.9e" % c for c in reversed(fit)))
    print("  relative error: %.2e over z in [0, 1/9], %.2e for z < 0.02" % (worst(fit), worst(fit, mp.mpf("0.02"))))
    for terms in (5, 6):
        taylor = [f32(mp.mpf(1) / (2 * j + 3)) for j in range(terms)]
        print("  Taylor to s^%d/%d: %.2e" % (2 * terms + 1, 2 * terms + 1, worst(taylor)))


def series_fits():
    def expm1_over_x(x):
        return mp.expm1(x) / x if abs(x) > mp.mpf(10) ** -30 else mp.mpf(1)

    def phi_over_x2(x):
        return (mp.expm1(-x) + x) / x ** 2 if abs(x) > mp.mpf(10) ** -30 else mp.mpf(1) / 2

    def worst(coefficients, f):
        return max(abs(horner(coefficients, x) / f(x) - 1) for x in (mp.mpf(i) / 1000 for i in range(-500, 501)))

    for name, f, n, taylor in (
            ("expm1_series", expm1_over_x, 7, [1 / mp.factorial(k + 1) for k in range(9)]),
            ("phi_series", phi_over_x2, 6, [(-1) ** k / mp.factorial(k + 2) for k in range(8)])):
        fit = [f32(c) for c in chebyshev_interpolation(f, mp.mpf(-0.5), mp.mpf(0.5), n)]
        print("%s: coefficients, highest degree first: %s" % (name, ", ".join("%.9e" % c for c in reversed(fit))))
        print("  relative error %.2e on [-1/2, 1/2]; the Taylor polynomial with %d coefficients %.2e"
              % (worst(fit, f), len(taylor), worst([f32(c) for c in taylor], f)))


def jsd_fit():
    def big_h(d, beta):
        if abs(d) < mp.mpf(10) ** -30:
            return beta * (1 - beta) / 2
        u = -mp.log(beta + (1 - beta) * mp.e ** d)
        v = -mp.log(1 - beta + beta * mp.e ** (-d))
        return (beta * mp.e ** (-d) * u + (1 - beta) * v) / d ** 2

    def taylor_of(beta, n):
        return [c for c in mp.taylor(lambda d: big_h(d, beta), 0, n - 1, method="quad", radius=mp.mpf(1))]

    def worst(coefficients, beta):
        error = mp.mpf(0)
        for i in range(-250, 251):
            d = mp.mpf(i) / 500
            error = max(error, abs(horner(coefficients, d) / big_h(d, beta) - 1))
        return error

    betas = [mp.mpf(b) for b in ("0.02", "0.1", "0.3", "0.5", "0.7", "0.9", "0.98")]
    for n in (5, 6, 7, 8):
        cheb = max(worst([f32(c) for c in chebyshev_interpolation(lambda d: big_h(d, b), mp.mpf(-0.5), mp.mpf(0.5), n)], b)
                   for b in betas)
        taylor = max(worst([f32(c) for c in taylor_of(b, n)], b) for b in betas)
        print("JsdSeries N = %d: Chebyshev interpolation %.2e, Taylor %.2e (worst relative error, betas 0.02-0.98)"
              % (n, cheb, taylor))


if __name__ == "__main__":
    atanh_fit()
    series_fits()
    jsd_fit()
