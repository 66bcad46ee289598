// Context exports: pick the SIMD level (checked against the CPU) and the thread count.
#include <memory>

#include "boundary.h"
#include "build_info.h"
#include "context.h"
#include "cpu_features.h"

namespace mtkd {
namespace {

const char* level_name(int32_t simd) {
    switch (simd) {
        case MTKD_SIMD_AVX512: return "AVX-512 (F/BW/DQ/VL)";
        case MTKD_SIMD_AVX2: return "AVX2+FMA";
        case MTKD_SIMD_SCALAR: return "scalar";
        default: return "auto";
    }
}

std::string features_text(int32_t features) {
    if (features & kFeatureAvx512) return "AVX2+FMA, AVX-512";
    if (features & kFeatureAvx2Fma) return "AVX2+FMA";
    return "neither AVX2+FMA nor AVX-512";
}

mtkd_simd choose_level(int32_t simd, int32_t features) {
    switch (simd) {
        case MTKD_SIMD_AUTO:
            if (features & kFeatureAvx512) return MTKD_SIMD_AVX512;
            if (features & kFeatureAvx2Fma) return MTKD_SIMD_AVX2;
            return MTKD_SIMD_SCALAR;
        case MTKD_SIMD_SCALAR: return MTKD_SIMD_SCALAR;
        case MTKD_SIMD_AVX2:
        case MTKD_SIMD_AVX512: {
            int32_t needed = simd == MTKD_SIMD_AVX512 ? kFeatureAvx512 : kFeatureAvx2Fma;
            if ((features & needed) == 0)
                throw_unsupported(format("simd = %s is not available on this CPU (it offers %s)", level_name(simd),
                                         features_text(features).c_str()));
            return static_cast<mtkd_simd>(simd);
        }
        default:
            throw_invalid(format("simd = %d is not a level (0 auto, 1 scalar, 2 AVX2+FMA, 3 AVX-512)", simd));
    }
}

int level_bits(mtkd_simd level) {
    switch (level) {
        case MTKD_SIMD_AVX512: return 512;
        case MTKD_SIMD_AVX2: return 256;
        default: return 0;
    }
}

// OpenBLAS unless its kernels for this CPU are narrower than the context's own: OpenBLAS 0.3.21 does not
// recognise some recent CPUs and then runs its generic SSE3 kernels, several times slower than ours.
void choose_gemm(mtkd_context& ctx) {
    const char* level = ctx.kernels->name;
    if (!have_openblas()) {
        ctx.use_openblas = false;
        ctx.gemm_info = std::string("built-in ") + level + " GEMM (no OpenBLAS in this build)";
        return;
    }
    ctx.use_openblas = openblas_vector_bits() >= level_bits(ctx.kernels->level);
    if (ctx.use_openblas) {
        ctx.gemm_info = std::string(openblas_version()) + " (" + openblas_core() + " kernels)";
    } else {
        ctx.gemm_info = std::string("built-in ") + level + " GEMM (" + openblas_version() + " has only its " +
                        openblas_core() + " kernels for this CPU; OPENBLAS_CORETYPE can name a better one)";
    }
}

void create(int32_t simd, int32_t threads, int32_t allowed_features, mtkd_context** out) {
    if (out == nullptr) throw_invalid("out is null");
    *out = nullptr;
    const int32_t features = detected_cpu_features() & allowed_features;
    mtkd_simd level = choose_level(simd, features);
    auto ctx = std::make_unique<mtkd_context>();
    ctx->kernels = &kernels_for(level);
    ctx->features = features;
    ctx->threads = threads > 0 ? threads : available_cores();
    choose_gemm(*ctx);
    *out = ctx.release();
}

}  // namespace
}  // namespace mtkd

extern "C" {

MTKD_API mtkd_status mtkd_context_create(int32_t simd, int32_t threads, mtkd_context** out) {
    return mtkd::guarded("mtkd_context_create", [&] { mtkd::create(simd, threads, ~0, out); });
}

MTKD_API mtkd_status mtkd_context_create_limited(int32_t simd, int32_t threads, int32_t allowed_features,
                                                 mtkd_context** out) {
    return mtkd::guarded("mtkd_context_create_limited", [&] { mtkd::create(simd, threads, allowed_features, out); });
}

MTKD_API void mtkd_context_destroy(mtkd_context* ctx) { delete ctx; }

MTKD_API const char* mtkd_context_gemm_info(const mtkd_context* ctx) {
    return ctx != nullptr ? ctx->gemm_info.c_str() : "";
}

MTKD_API mtkd_status mtkd_context_describe(const mtkd_context* ctx, int32_t* simd, int32_t* threads) {
    return mtkd::guarded("mtkd_context_describe", [&] {
        if (ctx == nullptr) mtkd::throw_invalid("ctx is null");
        if (simd != nullptr) *simd = ctx->kernels->level;
        if (threads != nullptr) *threads = ctx->threads;
    });
}

}  // extern "C"
