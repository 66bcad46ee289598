// Vector traits for AVX2 + FMA: 8 floats per register, masks as all-ones/all-zeros lanes.
// Included only by kernels_avx2.cpp, which CMake compiles with -mavx2 -mfma.
#pragma once

#include <immintrin.h>

namespace mtkd {
namespace {  // one copy per SIMD translation unit (see distill_kernels.inl)

struct VecAvx2 {
    // Whether scale2 underflows to 0 by itself under flush-to-zero (see vexp_kernel).
    static constexpr bool kScalefUnderflows = false;
    static constexpr int W = 8;
    static constexpr const char* name = "AVX2+FMA";
    using F = __m256;
    using M = __m256;

    static F zero() { return _mm256_setzero_ps(); }
    static F set1(float a) { return _mm256_set1_ps(a); }
    static F load(const float* p) { return _mm256_loadu_ps(p); }
    // Lanes outside the mask read as 0 and are not touched in memory (vmaskmov does not fault there).
    static F load(const float* p, M m) { return _mm256_maskload_ps(p, _mm256_castps_si256(m)); }
    static void store(float* p, F v) { _mm256_storeu_ps(p, v); }
    static void store(float* p, F v, M m) { _mm256_maskstore_ps(p, _mm256_castps_si256(m), v); }
    // base[i * stride] = lane i of x for i < n.
    static void scatter(float* base, int stride, F x, int n) {
        alignas(32) float lanes[W];
        _mm256_store_ps(lanes, x);
        for (int i = 0; i < n; ++i) base[static_cast<long>(i) * stride] = lanes[i];
    }
    // Non-temporal store to a W-float-aligned address: no read-for-ownership of the line.
    static void stream(float* p, F v) { _mm256_stream_ps(p, v); }
    static void stream_fence() { _mm_sfence(); }
    static M first(int n) {
        const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        return _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(n), lane));
    }

    static F add(F a, F b) { return _mm256_add_ps(a, b); }
    static F sub(F a, F b) { return _mm256_sub_ps(a, b); }
    static F mul(F a, F b) { return _mm256_mul_ps(a, b); }
    static F div(F a, F b) { return _mm256_div_ps(a, b); }
    // 1 / b to about 12 bits (a reciprocal estimate): for terms that only carry a small correction.
    static F rcp_approx(F b) { return _mm256_rcp_ps(b); }
    static F sqrt(F a) { return _mm256_sqrt_ps(a); }
    static F abs(F a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
    static F fma(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
    // a * b + c rounded once: the hardware FMA already is.
    static F fma_exact(F a, F b, F c) { return fma(a, b, c); }
    static F fnma(F a, F b, F c) { return _mm256_fnmadd_ps(a, b, c); }
    static F max(F a, F b) { return _mm256_max_ps(a, b); }
    static F min(F a, F b) { return _mm256_min_ps(a, b); }
    static F max(F acc, F x, M m) { return _mm256_blendv_ps(acc, _mm256_max_ps(acc, x), m); }
    static F keep(F x, M m) { return _mm256_and_ps(x, m); }
    static F add_where(F acc, F x, M m) { return _mm256_add_ps(acc, _mm256_and_ps(x, m)); }
    static F zero_where(F x, M m) { return _mm256_andnot_ps(m, x); }
    static M less(F a, F b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
    static M equal(F a, F b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
    static M both(M a, M b) { return _mm256_and_ps(a, b); }
    static F select(M m, F if_true, F if_false) { return _mm256_blendv_ps(if_false, if_true, m); }
    static bool any(M m) { return _mm256_movemask_ps(m) != 0; }

    static float sum(F v) {
        __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        s = _mm_add_ss(s, _mm_movehdup_ps(s));
        return _mm_cvtss_f32(s);
    }
    // Lane j of the result is the sum of the lanes of v[j], for W vectors at once (an add tree over 32-bit,
    // 64-bit and 128-bit halves: 21 instructions instead of 8 separate reductions).
    static F sum_lanes(const F* v) {
        F t[4], u[2];
        for (int i = 0; i < 4; ++i)
            t[i] = _mm256_add_ps(_mm256_unpacklo_ps(v[2 * i], v[2 * i + 1]), _mm256_unpackhi_ps(v[2 * i], v[2 * i + 1]));
        for (int i = 0; i < 2; ++i) {
            __m256d a = _mm256_castps_pd(t[2 * i]), b = _mm256_castps_pd(t[2 * i + 1]);
            u[i] = _mm256_add_ps(_mm256_castpd_ps(_mm256_unpacklo_pd(a, b)), _mm256_castpd_ps(_mm256_unpackhi_pd(a, b)));
        }
        return _mm256_add_ps(_mm256_permute2f128_ps(u[0], u[1], 0x20), _mm256_permute2f128_ps(u[0], u[1], 0x31));
    }
    static float max_of(F v) {
        __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        s = _mm_max_ps(s, _mm_movehl_ps(s, s));
        s = _mm_max_ss(s, _mm_movehdup_ps(s));
        return _mm_cvtss_f32(s);
    }

    // Transposes the W x W matrix whose rows are r[0..W) in place: 24 shuffles.
    static void transpose(F* r) {
        F t[8], u[8];
        for (int i = 0; i < 4; ++i) {
            t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
        }
        for (int i = 0; i < 2; ++i) {
            u[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
            u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
            u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
            u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
        }
        for (int i = 0; i < 4; ++i) {
            r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
            r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
        }
    }

    // x = mant * 2^expo with mant in [1, 2), for positive normal x (read from the exponent field).
    static void frexp1(F x, F& mant, F& expo) {
        __m256i bits = _mm256_castps_si256(x);
        __m256i biased = _mm256_srli_epi32(bits, 23);
        expo = _mm256_cvtepi32_ps(_mm256_sub_epi32(biased, _mm256_set1_epi32(127)));
        __m256i fraction = _mm256_and_si256(bits, _mm256_set1_epi32(0x007fffff));
        mant = _mm256_castsi256_ps(_mm256_or_si256(fraction, _mm256_set1_epi32(0x3f800000)));
    }
    // x * 2^n for integral n in [-126, 127]: 2^n built directly in the exponent field.
    static F scale2(F x, F n) {
        __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
        return _mm256_mul_ps(x, _mm256_castsi256_ps(bits));
    }
    // 2^n from j = n + 1.5 * 2^23 (n integral, -127 <= n <= 127; n = -127 gives 0): j's low bits hold n, so
    // (j << 23) + the bits of 1.0 is n + 127 in the exponent field. Two integer operations, no conversion.
    static F pow2_of_shifted(F j) {
        return _mm256_castsi256_ps(
            _mm256_add_epi32(_mm256_slli_epi32(_mm256_castps_si256(j), 23), _mm256_set1_epi32(0x3f800000)));
    }
};

}  // namespace
}  // namespace mtkd
