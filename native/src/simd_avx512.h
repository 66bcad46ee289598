// Vector traits for AVX-512 (F/BW/DQ/VL): 16 floats per register, k-register masks.
// Included only by kernels_avx512.cpp, which CMake compiles with the matching -m flags.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace mtkd {
namespace {  // one copy per SIMD translation unit (see distill_kernels.inl)

struct VecAvx512 {
    // Whether scale2 underflows to 0 by itself under flush-to-zero (see vexp_kernel).
    static constexpr bool kScalefUnderflows = true;
    static constexpr int W = 16;
    static constexpr const char* name = "AVX-512";
    using F = __m512;
    using M = __mmask16;

    static F zero() { return _mm512_setzero_ps(); }
    static F set1(float a) { return _mm512_set1_ps(a); }
    static F load(const float* p) { return _mm512_loadu_ps(p); }
    // Lanes outside the mask read as 0 and are not touched in memory.
    static F load(const float* p, M m) { return _mm512_maskz_loadu_ps(m, p); }
    static void store(float* p, F v) { _mm512_storeu_ps(p, v); }
    static void store(float* p, F v, M m) { _mm512_mask_storeu_ps(p, m, v); }
    // Non-temporal store to a W-float-aligned address: no read-for-ownership of the line.
    static void stream(float* p, F v) { _mm512_stream_ps(p, v); }
    static void stream_fence() { _mm_sfence(); }
    static M first(int n) { return static_cast<M>((1u << n) - 1u); }
    // base[i * stride] = lane i of x for i < n (stride * 15 below 2^31).
    static void scatter(float* base, int stride, F x, int n) {
        const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        _mm512_mask_i32scatter_ps(base, first(n), _mm512_mullo_epi32(lane, _mm512_set1_epi32(stride)), x, 4);
    }

    // Rows of K lanes from K vectors, out[i K + k] = lane i of v[k] for i < n and k < K <= W: a lane group's per-pair
    // statistics into [B,K] row-major, n K contiguous floats. Output vector j takes its element W j + t from lane
    // (W j + t) / K of v[(W j + t) % K], so it is K masked permutes; at most K output vectors, where one scatter per
    // teacher (K in all) costs several times more on the cores measured (docs/PERF.md). The plan holds the permutes'
    // indices and masks for one K.
    struct InterleavePlan {
        int K = 0;
        __m512i index[W][W];
        __mmask16 take[W][W];
    };
    static void plan_interleave(int K, InterleavePlan& plan) {
        plan.K = K;
        for (int j = 0; j < K; ++j)
            for (int k = 0; k < K; ++k) {
                alignas(64) int index[W];
                unsigned take = 0;
                for (int t = 0; t < W; ++t) {
                    const int e = W * j + t;
                    index[t] = e / K;
                    if (e % K == k) take |= 1u << t;
                }
                plan.index[j][k] = _mm512_load_si512(index);
                plan.take[j][k] = static_cast<__mmask16>(take);
            }
    }
    // With Stream, a whole output vector on a line boundary goes out by a non-temporal store (no read of its line
    // first); the caller fences (stream_fence) before the pass returns.
    template <bool Stream = false>
    static void interleave_store(const InterleavePlan& plan, float* out, const F* v, int n) {
        const int K = plan.K, total = n * K;
        for (int j = 0; j * W < total; ++j) {
            F acc = _mm512_setzero_ps();
            for (int k = 0; k < K; ++k) acc = _mm512_mask_permutexvar_ps(acc, plan.take[j][k], plan.index[j][k], v[k]);
            const int left = total - j * W;
            float* to = out + j * W;
            if (left < W) store(to, acc, first(left));
            else if (Stream && (reinterpret_cast<std::uintptr_t>(to) & 63) == 0) stream(to, acc);
            else store(to, acc);
        }
    }

    static F add(F a, F b) { return _mm512_add_ps(a, b); }
    static F sub(F a, F b) { return _mm512_sub_ps(a, b); }
    static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
    static F div(F a, F b) { return _mm512_div_ps(a, b); }
    // 1 / b to about 14 bits (a reciprocal estimate): for terms that only carry a small correction.
    static F rcp_approx(F b) { return _mm512_rcp14_ps(b); }
    static F sqrt(F a) { return _mm512_sqrt_ps(a); }
    static F abs(F a) { return _mm512_abs_ps(a); }
    static F fma(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }    // a*b + c
    // a * b + c rounded once: the hardware FMA already is.
    static F fma_exact(F a, F b, F c) { return fma(a, b, c); }
    static F fnma(F a, F b, F c) { return _mm512_fnmadd_ps(a, b, c); }  // c - a*b
    // max/min return the second operand when either is NaN (as the x86 instructions do).
    static F max(F a, F b) { return _mm512_max_ps(a, b); }
    static F min(F a, F b) { return _mm512_min_ps(a, b); }
    static F max(F acc, F x, M m) { return _mm512_mask_max_ps(acc, m, acc, x); }
    static F keep(F x, M m) { return _mm512_maskz_mov_ps(m, x); }     // 0 outside m
    static F add_where(F acc, F x, M m) { return _mm512_mask_add_ps(acc, m, acc, x); }
    static F zero_where(F x, M m) { return _mm512_mask_mov_ps(x, m, _mm512_setzero_ps()); }
    static M less(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
    static M equal(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
    static M both(M a, M b) { return static_cast<M>(a & b); }
    static F select(M m, F if_true, F if_false) { return _mm512_mask_blend_ps(m, if_false, if_true); }
    static bool any(M m) { return m != 0; }

    static float sum(F v) { return _mm512_reduce_add_ps(v); }
    // Lane j of the result is the sum of the lanes of v[j], for W vectors at once: an add tree that pairs
    // 32-bit, 64-bit, then 128-bit and 256-bit halves, 45 instructions instead of 16 separate reductions (128).
    static F sum_lanes(const F* v) {
        F t[8], u[4], w[2];
        for (int i = 0; i < 8; ++i)
            t[i] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
        for (int i = 0; i < 4; ++i) {
            __m512d a = _mm512_castps_pd(t[2 * i]), b = _mm512_castps_pd(t[2 * i + 1]);
            u[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(a, b)), _mm512_castpd_ps(_mm512_unpackhi_pd(a, b)));
        }
        for (int i = 0; i < 2; ++i)
            w[i] = _mm512_add_ps(_mm512_shuffle_f32x4(u[2 * i], u[2 * i + 1], 0x88),
                                 _mm512_shuffle_f32x4(u[2 * i], u[2 * i + 1], 0xDD));
        return _mm512_add_ps(_mm512_shuffle_f32x4(w[0], w[1], 0x88), _mm512_shuffle_f32x4(w[0], w[1], 0xDD));
    }
    static float max_of(F v) { return _mm512_reduce_max_ps(v); }
    // Transposes the W x W matrix whose rows are r[0..W) in place: 64 shuffles (32-bit, 64-bit, then two
    // rounds of 128-bit lanes).
    __attribute__((always_inline)) static void transpose(F* r) {
        F t[16], u[16];
        for (int i = 0; i < 8; ++i) {
            t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
        }
        for (int i = 0; i < 4; ++i) {
            u[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
            u[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
            u[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
            u[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
        }
        for (int i = 0; i < 4; ++i) {
            t[i] = _mm512_shuffle_f32x4(u[i], u[i + 4], 0x88);
            t[i + 4] = _mm512_shuffle_f32x4(u[i], u[i + 4], 0xDD);
            t[i + 8] = _mm512_shuffle_f32x4(u[i + 8], u[i + 12], 0x88);
            t[i + 12] = _mm512_shuffle_f32x4(u[i + 8], u[i + 12], 0xDD);
        }
        for (int i = 0; i < 8; ++i) {
            r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
            r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
        }
    }

    // x = mant * 2^expo with mant in [1, 2), for positive normal x.
    static void frexp1(F x, F& mant, F& expo) {
        mant = _mm512_getmant_ps(x, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_src);
        expo = _mm512_getexp_ps(x);
    }
    // x * 2^n for integral n in [-126, 127].
    static F scale2(F x, F n) { return _mm512_scalef_ps(x, n); }
};

}  // namespace
}  // namespace mtkd
