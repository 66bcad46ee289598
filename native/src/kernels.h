// The interface between the dispatching code (compiled for any x86-64) and the kernels, which are compiled
// once per SIMD level in kernels_scalar.cpp, kernels_avx2.cpp and kernels_avx512.cpp.
#pragma once

#include <cstddef>
#include <cstdint>

#include "mtkd.h"

namespace mtkd {

// One validated call of the distillation op, flattened for the kernels.
struct DistillProblem {
    int B, K, C, F;
    const int32_t* D;    // [K]
    const int32_t* off;  // [K+1]
    const float* zs;
    const float* zt;
    const float* fs;
    const float* ft;
    const int32_t* y;
    const float* wl;
    const float* wf;
    float T, inv_T, a_ce, a_kd, beta, cos_eps, inv_counted_rows;
    int divergence, feature_loss;  // mtkd_divergence, mtkd_feature_loss: anything but kl + mse runs distill_losses
    float div_alpha, div_beta;
    mtkd_stats stats;  // written by stats and fused, read by gradient
    mtkd_grads grads;  // written by gradient and fused
    // Set by the catalog's driver where its sweep overwrites every kl the stats kernel writes (jsd, dkd): the kernel
    // then skips the accurate re-summation of small KLs (distill_groups.inl, distill_tiles.inl), which nothing reads.
    bool kl_overwritten = false;
    // Set by the catalog's driver for the KL kernels where a feature loss other than mse sweeps the features itself
    // (distill_catalog.inl, feature_rows): the kernels then leave fs, ft, dfs, cos and mse alone, which they would
    // only sweep for a cos the catalog forms from its own sums, an mse it overwrites and a dfs of zeros.
    bool features_by_catalog = false;
    // Whether the gradient pass may take rows of 33 to kTileMaxClasses classes by lane groups (gradient_by_lane_groups):
    // not where the CPU issues shuffles on one port (kFeatureOneShufflePort, set from the context).
    bool wide_gradient_lane_groups = true;
    // Whether the pass's inputs and outputs together exceed half the last-level cache (passes_past_cache, set from the
    // context). Only then may the gradients go out with non-temporal stores (stream_feature_grads, stream_logit_grads,
    // catalog_streams_dfs), and the row kernels' teacher sweeps ask for their next lines into L2 (with_hint_level,
    // prefetch.h). A pass whose bytes fit leaves its gradients in the cache for the step's next reader, and the next
    // call finds its inputs there.
    bool pass_past_cache = true;
};

// The bytes a gradient pass moves: zs, zt, fs and ft read, dzs and dfs written.
inline std::size_t gradient_pass_bytes(const DistillProblem& p) {
    const std::size_t B = static_cast<std::size_t>(p.B), C = static_cast<std::size_t>(p.C),
                      K = static_cast<std::size_t>(p.K), F = static_cast<std::size_t>(p.F);
    return sizeof(float) * (B * C * (K + 2) + 3 * B * F);
}

// Whether a pass's bytes exceed half the last-level cache (DistillProblem::pass_past_cache). Measured on Zen 4
// (32 MiB L3, 2 threads; docs/PERF.md, "Zen 4: gradients left in the cache where the pass fits it"): plain stores
// made 256,16,100,256 (15 MB) 22 % faster in the gradient pass and 15 % in the fused pass, 256,4,100,256 (3.7 MB) 22 %
// and 16 %; streaming stayed faster at 256,64,100,128 (32 MB: plain stores +30 %) and 1024,8,1000,512 (76 MB, +17 %).
inline bool passes_past_cache(const DistillProblem& p, std::size_t last_level_bytes) {
    return 2 * gradient_pass_bytes(p) > last_level_bytes;
}

// Whether the KL kernels sweep the feature slices (the pair loops skip them altogether otherwise).
inline bool kl_kernel_features(const DistillProblem& p) {
    return p.F > 0 && !p.features_by_catalog;
}

// Rows of at most this many classes are processed W rows at a time, one per vector lane (distill_tiles.inl), by the
// stats and fused passes, and by the gradient pass where gradient_by_lane_groups says so; longer rows one at a time
// (distill_kernels.inl).
constexpr int kTileMaxClasses = 128;

// Whether the stats kernel takes reverse KL in its own teacher sweep (rows one at a time: distill_groups.inl; lane
// groups: distill_tiles.inl), where its plain form is reliable, and leaves the catalog's sweep
// (distill_divergences.inl) the pairs it marks.
inline bool reverse_kl_in_stats_sweep(const DistillProblem& p) { return p.divergence == MTKD_DIVERGENCE_REVERSE_KL; }
constexpr int kMaxVectorWidth = 16;  // floats in the widest level's vectors
constexpr int kMaxPairsInGroup = kMaxVectorWidth;

// Per-thread scratch of the distillation kernels for a block of rows. Rows one at a time: two rows of C floats
// per block row (the student's scaled, shifted logits and their exponentials), one row per (row, teacher) pair
// waiting in a group (its exponentials, kept for the accurate KL and the fused gradient), and a few scalars per
// block row. W rows at a time: six tiles of C x W floats. Rows are padded to 16 floats so every level's vectors
// stay inside.
inline std::size_t padded_classes(int C) { return (static_cast<std::size_t>(C) + 15) & ~static_cast<std::size_t>(15); }
inline std::size_t distill_scratch_floats(int C, int rows) {
    if (C <= kTileMaxClasses) return 6 * padded_classes(C) * kMaxVectorWidth;
    return padded_classes(C) * (2 * static_cast<std::size_t>(rows) + kMaxPairsInGroup) + 4 * static_cast<std::size_t>(rows) + 16;
}

// Row-major C[m,n] = alpha * op(A) * op(B) + beta * C (already validated).
struct GemmArgs {
    bool trans_a, trans_b;
    int m, n, k;
    float alpha;
    const float* a;
    int lda;
    const float* b;
    int ldb;
    float beta;
    float* c;
    int ldc;
};

struct Kernels {
    mtkd_simd level;
    const char* name;
    // Rows [b0, b1) of one pass; scratch holds distill_scratch_floats(C, b1 - b0) floats.
    void (*distill_stats)(const DistillProblem&, int b0, int b1, float* scratch);
    void (*distill_gradient)(const DistillProblem&, int b0, int b1, float* scratch);
    void (*distill_fused)(const DistillProblem&, int b0, int b1, float* scratch);
    void (*exp)(std::int64_t n, const float* x, float* y);
    void (*log1p)(std::int64_t n, const float* x, float* y);  // vlog1p_atanh, x in (-1, 1]
    void (*expm1)(std::int64_t n, const float* x, float* y);  // vexpm1, x in [-80, 80]
    // Rows [b0, b1) of the catalog losses other than kl and mse (distill_divergences.inl), run after the KL kernels:
    // with stats, overwrites kl / mse with the selected divergence / feature loss; with grads, adds their terms.
    void (*distill_losses)(const DistillProblem&, bool stats, bool grads, int b0, int b1);
    // GEMM micro-kernel: C[rows, cols] (rows <= gemm_mr, cols <= gemm_nr) = alpha * A_panel * B_panel
    // + beta * C, where A_panel is packed [kc][gemm_mr] and B_panel [kc][gemm_nr]. beta = 0 never reads C.
    int gemm_mr, gemm_nr;
    void (*gemm_tile)(int kc, const float* a_panel, const float* b_panel, float alpha, float beta, float* c,
                      int ldc, int rows, int cols);
};

const Kernels& kernels_scalar();
const Kernels& kernels_avx2();
const Kernels& kernels_avx512();
const Kernels& kernels_for(mtkd_simd level);

}  // namespace mtkd
