// Vector traits without intrinsics: 8 floats in a plain array and a bitmask, written as ordinary loops that
// any compiler maps onto whatever the baseline instruction set offers. This is the "scalar" level: it
// runs on every x86-64 CPU, and its 8 partial sums keep rounding in line with the wider levels.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace mtkd {
namespace {  // one copy per SIMD translation unit (see distill_kernels.inl)

struct VecPortable {
    // Whether scale2 underflows to 0 by itself under flush-to-zero (see vexp_kernel).
    static constexpr bool kScalefUnderflows = false;
    static constexpr int W = 8;
    static constexpr const char* name = "scalar";
    struct F {
        float v[W];
    };
    using M = std::uint32_t;

    static F zero() { return set1(0.0f); }
    static F set1(float a) {
        F r;
        for (int i = 0; i < W; ++i) r.v[i] = a;
        return r;
    }
    static F load(const float* p) {
        F r;
        for (int i = 0; i < W; ++i) r.v[i] = p[i];
        return r;
    }
    static F load(const float* p, M m) {
        F r;
        for (int i = 0; i < W; ++i) r.v[i] = (m >> i) & 1u ? p[i] : 0.0f;
        return r;
    }
    static void store(float* p, F a) {
        for (int i = 0; i < W; ++i) p[i] = a.v[i];
    }
    static void store(float* p, F a, M m) {
        for (int i = 0; i < W; ++i)
            if ((m >> i) & 1u) p[i] = a.v[i];
    }
    static M first(int n) { return (1u << n) - 1u; }
    // base[i * stride] = lane i of x for i < n.
    static void scatter(float* base, int stride, F x, int n) {
        for (int i = 0; i < n; ++i) base[static_cast<long>(i) * stride] = x.v[i];
    }
    // Plain stores here: streaming needs intrinsics.
    static void stream(float* p, F a) { store(p, a); }
    static void stream_fence() {}

    template <class Op>
    static F map(F a, F b, Op op) {
        F r;
        for (int i = 0; i < W; ++i) r.v[i] = op(a.v[i], b.v[i]);
        return r;
    }
    static F add(F a, F b) { return map(a, b, [](float x, float y) { return x + y; }); }
    static F sub(F a, F b) { return map(a, b, [](float x, float y) { return x - y; }); }
    static F mul(F a, F b) { return map(a, b, [](float x, float y) { return x * y; }); }
    static F div(F a, F b) { return map(a, b, [](float x, float y) { return x / y; }); }
    // 1 / b (the vector builds take a 12- to 14-bit estimate): for terms that only carry a small correction.
    static F rcp_approx(F b) { return div(set1(1.0f), b); }
    static F sqrt(F a) {
        F r;
        for (int i = 0; i < W; ++i) r.v[i] = std::sqrt(a.v[i]);
        return r;
    }
    static F abs(F a) {
        F r;
        for (int i = 0; i < W; ++i) r.v[i] = std::fabs(a.v[i]);
        return r;
    }
    static F fma(F a, F b, F c) { return add(mul(a, b), c); }
    // a * b + c rounded once (std::fma), for error-free products; fma above rounds twice, as the baseline
    // instruction set has no fused multiply-add.
    static F fma_exact(F a, F b, F c) {
        F r;
        for (int i = 0; i < W; ++i) r.v[i] = std::fma(a.v[i], b.v[i], c.v[i]);
        return r;
    }
    static F fnma(F a, F b, F c) { return sub(c, mul(a, b)); }
    // Same NaN rule as the x86 instructions: the second operand wins unless the first is strictly larger.
    static F max(F a, F b) { return map(a, b, [](float x, float y) { return x > y ? x : y; }); }
    static F min(F a, F b) { return map(a, b, [](float x, float y) { return x < y ? x : y; }); }
    static F max(F acc, F x, M m) {
        F r = acc;
        for (int i = 0; i < W; ++i)
            if ((m >> i) & 1u) r.v[i] = acc.v[i] > x.v[i] ? acc.v[i] : x.v[i];
        return r;
    }
    static F keep(F x, M m) {
        F r;
        for (int i = 0; i < W; ++i) r.v[i] = (m >> i) & 1u ? x.v[i] : 0.0f;
        return r;
    }
    static F zero_where(F x, M m) { return keep(x, ~m); }
    static F add_where(F acc, F x, M m) { return add(acc, keep(x, m)); }
    static M less(F a, F b) {
        M m = 0;
        for (int i = 0; i < W; ++i) m |= (a.v[i] < b.v[i] ? 1u : 0u) << i;
        return m;
    }
    static M equal(F a, F b) {
        M m = 0;
        for (int i = 0; i < W; ++i) m |= (a.v[i] == b.v[i] ? 1u : 0u) << i;
        return m;
    }
    static M both(M a, M b) { return a & b; }
    static F select(M m, F if_true, F if_false) {
        F r;
        for (int i = 0; i < W; ++i) r.v[i] = (m >> i) & 1u ? if_true.v[i] : if_false.v[i];
        return r;
    }
    static bool any(M m) { return m != 0; }

    static float sum(F a) {
        // Pairwise, like the wider levels' horizontal adds.
        float s4[4], s2[2];
        for (int i = 0; i < 4; ++i) s4[i] = a.v[i] + a.v[i + 4];
        for (int i = 0; i < 2; ++i) s2[i] = s4[i] + s4[i + 2];
        return s2[0] + s2[1];
    }
    // Lane j of the result is the sum of the lanes of v[j].
    static F sum_lanes(const F* v) {
        F r;
        for (int j = 0; j < W; ++j) r.v[j] = sum(v[j]);
        return r;
    }
    static float max_of(F a) {
        float m = a.v[0];
        for (int i = 1; i < W; ++i) m = a.v[i] > m ? a.v[i] : m;
        return m;
    }

    // Transposes the W x W matrix whose rows are r[0..W) in place.
    static void transpose(F* r) {
        for (int i = 0; i < W; ++i)
            for (int j = i + 1; j < W; ++j) {
                float x = r[i].v[j];
                r[i].v[j] = r[j].v[i];
                r[j].v[i] = x;
            }
    }

    // x = mant * 2^expo with mant in [1, 2), for positive normal x (read from the exponent field).
    static void frexp1(F x, F& mant, F& expo) {
        for (int i = 0; i < W; ++i) {
            std::uint32_t bits;
            std::memcpy(&bits, &x.v[i], sizeof bits);
            expo.v[i] = static_cast<float>(static_cast<std::int32_t>((bits >> 23) & 0xffu) - 127);
            bits = (bits & 0x007fffffu) | 0x3f800000u;
            std::memcpy(&mant.v[i], &bits, sizeof bits);
        }
    }
    static F scale2(F x, F n) {
        F r;
        for (int i = 0; i < W; ++i) {
            // A NaN n (from a NaN argument) must not reach the int conversion, where it is undefined.
            std::int32_t exponent = n.v[i] == n.v[i] ? static_cast<std::int32_t>(n.v[i]) : 0;
            std::uint32_t bits = static_cast<std::uint32_t>(exponent + 127) << 23;
            float scale;
            std::memcpy(&scale, &bits, sizeof scale);
            r.v[i] = x.v[i] * scale;
        }
        return r;
    }
    // 2^n from j = n + 1.5 * 2^23 (n integral, -127 <= n <= 127; n = -127 gives 0): j's low bits hold n, so
    // (j << 23) + the bits of 1.0 is n + 127 in the exponent field.
    static F pow2_of_shifted(F j) {
        F r;
        for (int i = 0; i < W; ++i) {
            std::uint32_t bits;
            std::memcpy(&bits, &j.v[i], sizeof bits);
            bits = (bits << 23) + 0x3f800000u;
            std::memcpy(&r.v[i], &bits, sizeof bits);
        }
        return r;
    }
};

}  // namespace
}  // namespace mtkd
