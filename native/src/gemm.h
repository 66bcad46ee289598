// SGEMM entry points behind mtkd_sgemm / mtkd_sgemm_blocked.
#pragma once

#include "kernels.h"

struct mtkd_context;

namespace mtkd {

// Checks sizes, leading dimensions and pointers; throws ApiError naming the argument at fault.
GemmArgs make_gemm_args(int32_t trans_a, int32_t trans_b, int32_t m, int32_t n, int32_t k, float alpha,
                        const float* a, int32_t lda, const float* b, int32_t ldb, float beta, float* c, int32_t ldc);

// C = beta * C over m x n (beta = 0 writes zeros without reading C): the whole product when k = 0 or
// alpha = 0, where BLAS implementations disagree on whether C is read.
void scale_only(const GemmArgs& g);

// The built-in blocked SGEMM at the context's SIMD level, threaded over C tiles.
void blocked_sgemm(mtkd_context& ctx, const GemmArgs& g);

// cblas_sgemm (only linked when CMake found OpenBLAS).
void openblas_sgemm(int threads, const GemmArgs& g);

}  // namespace mtkd
