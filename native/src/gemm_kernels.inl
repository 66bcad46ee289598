// GEMM micro-kernel of the built-in blocked SGEMM, written once over vector traits V.
//
// The driver (gemm_driver.cpp) packs op(A) into panels of MR rows ([kc][MR], row index fastest) and op(B)
// into panels of NR = 2W columns ([kc][NR]); this kernel forms the MR x NR product of one pair with
// MR * 2 vector accumulators (rank-1 updates: acc[i] += A[i,p] * B[p, :]) and merges it into C as
// C = alpha * acc + beta * C. beta = 0 stores without reading C, so NaN or garbage there never leaks in.
#pragma once

#include "kernels.h"

namespace mtkd {
// Internal linkage: every SIMD level's translation unit must keep its own copy of each function here.
// A shared (inline) definition could be merged by the linker with one compiled for a wider
// instruction set and then run on a CPU that lacks it.
namespace {
namespace gemm {

constexpr int kMR = 6;

template <class V>
void tile(int kc, const float* a_panel, const float* b_panel, float alpha, float beta, float* c, int ldc, int rows,
          int cols) {
    using F = typename V::F;
    constexpr int W = V::W, NR = 2 * V::W;
    F acc[kMR][2];
    for (int i = 0; i < kMR; ++i) acc[i][0] = acc[i][1] = V::zero();
    for (int p = 0; p < kc; ++p) {
        const F b0 = V::load(b_panel + p * NR), b1 = V::load(b_panel + p * NR + W);
        for (int i = 0; i < kMR; ++i) {
            const F a = V::set1(a_panel[p * kMR + i]);
            acc[i][0] = V::fma(a, b0, acc[i][0]);
            acc[i][1] = V::fma(a, b1, acc[i][1]);
        }
    }
    const F va = V::set1(alpha), vb = V::set1(beta);
    if (rows == kMR && cols == NR) {
        for (int i = 0; i < kMR; ++i) {
            float* row = c + static_cast<long>(i) * ldc;
            for (int h = 0; h < 2; ++h) {
                F out = V::mul(va, acc[i][h]);
                if (beta != 0.0f) out = V::fma(vb, V::load(row + h * W), out);
                V::store(row + h * W, out);
            }
        }
        return;
    }
    // Edge tile: only rows x cols of C exist.
    alignas(64) float buffer[kMR * NR];
    for (int i = 0; i < kMR; ++i) {
        V::store(buffer + i * NR, acc[i][0]);
        V::store(buffer + i * NR + W, acc[i][1]);
    }
    for (int i = 0; i < rows; ++i) {
        float* row = c + static_cast<long>(i) * ldc;
        for (int j = 0; j < cols; ++j) {
            float out = alpha * buffer[i * NR + j];
            row[j] = beta != 0.0f ? out + beta * row[j] : out;
        }
    }
}

}  // namespace gemm
}  // namespace
}  // namespace mtkd
