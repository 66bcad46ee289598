// Exports of the fused multi-teacher distillation op.
#include "boundary.h"
#include "context.h"
#include "cpu_features.h"
#include "distill_driver.h"

namespace mtkd {
namespace {

mtkd_status run(const char* function, mtkd_context* ctx, DistillPass pass, const mtkd_shape* shape,
                const mtkd_inputs* in, const mtkd_hyper* hyper, const mtkd_stats* stats, const mtkd_grads* grads) {
    return guarded(function, [&] {
        if (ctx == nullptr) throw_invalid("ctx is null");
        DistillProblem p = make_distill_problem(pass, shape, in, hyper, stats, grads);
        p.wide_gradient_lane_groups = (ctx->features & kFeatureOneShufflePort) == 0;
        p.pass_past_cache =
            (ctx->features & kFeatureLastLevelCache) == 0 || passes_past_cache(p, last_level_cache_bytes());
        run_distill(*ctx, pass, p);
    });
}

// y = fn(x) for n floats: a building block exported for tests and benchmarks, its arguments checked.
mtkd_status run_elementwise(const char* function, mtkd_context* ctx, int64_t n, const float* x, float* y,
                            void (*Kernels::*fn)(std::int64_t, const float*, float*)) {
    return guarded(function, [&] {
        if (ctx == nullptr) throw_invalid("ctx is null");
        if (n < 0) throw_invalid(format("n = %lld (must be >= 0)", static_cast<long long>(n)));
        if (n > 0 && x == nullptr) throw_invalid("x is null");
        if (n > 0 && y == nullptr) throw_invalid("y is null");
        FlushDenormalsScope mode;
        (ctx->kernels->*fn)(n, x, y);
    });
}

}  // namespace
}  // namespace mtkd

extern "C" {

MTKD_API mtkd_status mtkd_distill_stats(mtkd_context* ctx, const mtkd_shape* shape, const mtkd_inputs* in,
                                        const mtkd_hyper* hyper, const mtkd_stats* out) {
    return mtkd::run("mtkd_distill_stats", ctx, mtkd::DistillPass::Stats, shape, in, hyper, out, nullptr);
}

MTKD_API mtkd_status mtkd_distill_gradient(mtkd_context* ctx, const mtkd_shape* shape, const mtkd_inputs* in,
                                           const mtkd_hyper* hyper, const mtkd_stats* stats, const mtkd_grads* out) {
    return mtkd::run("mtkd_distill_gradient", ctx, mtkd::DistillPass::Gradient, shape, in, hyper, stats, out);
}

MTKD_API mtkd_status mtkd_distill_fused(mtkd_context* ctx, const mtkd_shape* shape, const mtkd_inputs* in,
                                        const mtkd_hyper* hyper, const mtkd_stats* out_stats,
                                        const mtkd_grads* out_grads) {
    return mtkd::run("mtkd_distill_fused", ctx, mtkd::DistillPass::Fused, shape, in, hyper, out_stats, out_grads);
}

MTKD_API mtkd_status mtkd_vector_exp(mtkd_context* ctx, int64_t n, const float* x, float* y) {
    return mtkd::run_elementwise("mtkd_vector_exp", ctx, n, x, y, &mtkd::Kernels::exp);
}

MTKD_API mtkd_status mtkd_vector_log1p(mtkd_context* ctx, int64_t n, const float* x, float* y) {
    return mtkd::run_elementwise("mtkd_vector_log1p", ctx, n, x, y, &mtkd::Kernels::log1p);
}

MTKD_API mtkd_status mtkd_vector_expm1(mtkd_context* ctx, int64_t n, const float* x, float* y) {
    return mtkd::run_elementwise("mtkd_vector_expm1", ctx, n, x, y, &mtkd::Kernels::expm1);
}

}  // extern "C"
