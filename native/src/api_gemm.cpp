// GEMM exports.
#include "boundary.h"
#include "build_info.h"
#include "context.h"
#include "gemm.h"

namespace mtkd {
namespace {

void run_gemm(mtkd_context* ctx, bool allow_blas, const GemmArgs& g) {
    if (g.m == 0 || g.n == 0) return;
    if (g.k == 0 || g.alpha == 0.0f) {
        scale_only(g);
        return;
    }
    if (allow_blas && have_openblas()) openblas_sgemm(ctx->threads, g);
    else blocked_sgemm(*ctx, g);
}

}  // namespace
}  // namespace mtkd

extern "C" {

MTKD_API mtkd_status mtkd_sgemm(mtkd_context* ctx, int32_t trans_a, int32_t trans_b, int32_t m, int32_t n, int32_t k,
                                float alpha, const float* a, int32_t lda, const float* b, int32_t ldb, float beta,
                                float* c, int32_t ldc) {
    return mtkd::guarded("mtkd_sgemm", [&] {
        if (ctx == nullptr) mtkd::throw_invalid("ctx is null");
        auto g = mtkd::make_gemm_args(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        mtkd::run_gemm(ctx, true, g);
    });
}

MTKD_API mtkd_status mtkd_sgemm_blocked(mtkd_context* ctx, int32_t trans_a, int32_t trans_b, int32_t m, int32_t n,
                                        int32_t k, float alpha, const float* a, int32_t lda, const float* b,
                                        int32_t ldb, float beta, float* c, int32_t ldc) {
    return mtkd::guarded("mtkd_sgemm_blocked", [&] {
        if (ctx == nullptr) mtkd::throw_invalid("ctx is null");
        auto g = mtkd::make_gemm_args(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        mtkd::run_gemm(ctx, false, g);
    });
}

}  // extern "C"
