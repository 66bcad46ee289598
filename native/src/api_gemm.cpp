// GEMM exports.
#include "boundary.h"
#include "build_info.h"
#include "context.h"
#include "gemm.h"

namespace mtkd {
namespace {

enum class Gemm { Chosen, OpenBlas, Blocked };

void run_gemm(mtkd_context* ctx, Gemm which, const GemmArgs& g) {
    if (which == Gemm::OpenBlas && !have_openblas())
        throw_unsupported("this build has no OpenBLAS (it was not found when the library was configured)");
    if (g.m == 0 || g.n == 0) return;
    if (g.k == 0 || g.alpha == 0.0f) {
        scale_only(g);
        return;
    }
    bool openblas = which == Gemm::OpenBlas || (which == Gemm::Chosen && ctx->use_openblas);
    if (openblas) openblas_sgemm(ctx->threads, g);
    else blocked_sgemm(*ctx, g);
}

mtkd_status sgemm(const char* function, Gemm which, mtkd_context* ctx, int32_t trans_a, int32_t trans_b, int32_t m,
                  int32_t n, int32_t k, float alpha, const float* a, int32_t lda, const float* b, int32_t ldb,
                  float beta, float* c, int32_t ldc) {
    return guarded(function, [&] {
        if (ctx == nullptr) throw_invalid("ctx is null");
        auto g = make_gemm_args(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        run_gemm(ctx, which, g);
    });
}

}  // namespace
}  // namespace mtkd

extern "C" {

MTKD_API mtkd_status mtkd_sgemm(mtkd_context* ctx, int32_t trans_a, int32_t trans_b, int32_t m, int32_t n, int32_t k,
                                float alpha, const float* a, int32_t lda, const float* b, int32_t ldb, float beta,
                                float* c, int32_t ldc) {
    return mtkd::sgemm("mtkd_sgemm", mtkd::Gemm::Chosen, ctx, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta,
                       c, ldc);
}

MTKD_API mtkd_status mtkd_sgemm_openblas(mtkd_context* ctx, int32_t trans_a, int32_t trans_b, int32_t m, int32_t n,
                                         int32_t k, float alpha, const float* a, int32_t lda, const float* b,
                                         int32_t ldb, float beta, float* c, int32_t ldc) {
    return mtkd::sgemm("mtkd_sgemm_openblas", mtkd::Gemm::OpenBlas, ctx, trans_a, trans_b, m, n, k, alpha, a, lda, b,
                       ldb, beta, c, ldc);
}

MTKD_API mtkd_status mtkd_sgemm_blocked(mtkd_context* ctx, int32_t trans_a, int32_t trans_b, int32_t m, int32_t n,
                                        int32_t k, float alpha, const float* a, int32_t lda, const float* b,
                                        int32_t ldb, float beta, float* c, int32_t ldc) {
    return mtkd::sgemm("mtkd_sgemm_blocked", mtkd::Gemm::Blocked, ctx, trans_a, trans_b, m, n, k, alpha, a, lda, b,
                       ldb, beta, c, ldc);
}

}  // extern "C"
