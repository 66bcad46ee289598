/*
 * mtkd.h - C ABI of libmtkd_native, the CPU core of MtkdRl.
 *
 * Conventions (every export):
 *   - names start with mtkd_;
 *   - functions return an mtkd_status; on failure the reason is kept in a thread-local string that
 *     mtkd_last_error() returns (valid until the next call on the same thread);
 *   - no C++ exception ever crosses this boundary;
 *   - shapes use B rows, K teachers, C classes, D[k] teacher embedding widths, F = sum D[k];
 *     layouts are those of MtkdRl.Core.Distill.DistillShape (zt teacher-major [K,B,C];
 *     fs/ft [B,F] with teacher k in columns [feat_off[k], feat_off[k+1]); stats [B,K]).
 */
#ifndef MTKD_H
#define MTKD_H

#include <stdint.h>

#if defined(_WIN32)
#define MTKD_API __declspec(dllexport)
#else
#define MTKD_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mtkd_status {
    MTKD_OK = 0,
    MTKD_INVALID_ARGUMENT = 1, /* null pointer, bad shape, label out of range */
    MTKD_UNSUPPORTED = 2,      /* e.g. a SIMD level this CPU lacks */
    MTKD_OUT_OF_MEMORY = 3,
    MTKD_INTERNAL = 4          /* an unexpected failure inside the library */
} mtkd_status;

/* SIMD level of a context. MTKD_SIMD_AUTO picks the best the CPU supports. */
typedef enum mtkd_simd {
    MTKD_SIMD_AUTO = 0,
    MTKD_SIMD_SCALAR = 1,
    MTKD_SIMD_AVX2 = 2,   /* AVX2 + FMA */
    MTKD_SIMD_AVX512 = 3  /* AVX-512 F/BW/DQ/VL */
} mtkd_simd;

typedef struct mtkd_context mtkd_context; /* opaque: SIMD level, thread count, scratch memory */

typedef struct mtkd_shape {
    int32_t B, K, C;
    const int32_t* D;        /* [K] teacher embedding widths, each >= 0; 0: the teacher has no features (cos = mse = 0) */
    const int32_t* feat_off; /* [K+1] prefix sums of D; feat_off[K] = F */
} mtkd_shape;

/* The logit divergence of the KD term and the feature loss (docs/DESIGN.md §7); the names and values are those
 * of MtkdRl.Core.Distill.DistillLossCatalog. Zero for both is the op's original kl + mse. */
typedef enum mtkd_divergence {
    MTKD_DIVERGENCE_KL = 0,
    MTKD_DIVERGENCE_REVERSE_KL = 1,
    MTKD_DIVERGENCE_JSD = 2, /* div_beta: mixing coefficient in (0, 1) */
    MTKD_DIVERGENCE_DKD = 3  /* div_alpha, div_beta: weights of TCKD and NCKD, > 0 */
} mtkd_divergence;

typedef enum mtkd_feature_loss {
    MTKD_FEATURE_MSE = 0,
    MTKD_FEATURE_COSINE = 1,
    MTKD_FEATURE_SMOOTH_L1 = 2
} mtkd_feature_loss;

typedef struct mtkd_hyper {
    float temperature; /* T > 0 */
    float a_ce, a_kd, beta;
    float cos_eps;
    float inv_counted_rows; /* 1/B' (rows with y >= 0), or 0 when every row is ignored */
    int32_t divergence;     /* mtkd_divergence; stats.kl holds it (times T^2) */
    float div_alpha, div_beta;
    int32_t feature_loss;   /* mtkd_feature_loss; stats.mse holds it */
} mtkd_hyper;

typedef struct mtkd_inputs {
    const float* zs;   /* [B,C]   */
    const float* zt;   /* [K,B,C] */
    const float* fs;   /* [B,F]   */
    const float* ft;   /* [B,F]   */
    const int32_t* y;  /* [B], -1 = ignored row */
    const float* wl;   /* [B,K], read by gradient and fused only (may be null for stats) */
    const float* wf;   /* [B,K], likewise */
} mtkd_inputs;

/* Pass-1 outputs (written by stats and fused; read by gradient). */
typedef struct mtkd_stats {
    float *kl, *ce_t, *h_t, *conf, *hit, *cos, *mse, *lse_t; /* [B,K] */
    float *ce_s, *lse_s1, *lse_st;                            /* [B]   */
} mtkd_stats;

/* Pass-2 outputs. */
typedef struct mtkd_grads {
    float* dzs;      /* [B,C] */
    float* dfs;      /* [B,F] */
    float* row_loss; /* [B], already divided by B' */
} mtkd_grads;

/* ---- library ---- */
MTKD_API const char* mtkd_last_error(void);
MTKD_API const char* mtkd_version(void);
/* Bitmask of what this CPU supports: 1 = AVX2+FMA, 2 = AVX-512 (F/BW/DQ/VL); 4 = vector shuffles on one port
 * (Intel's cores), where the op's gradient pass takes rows of 33 to 128 classes row by row, not by lane groups;
 * 8 = an L3 cache the OS reports, where a pass whose bytes fit half of it (at most 32 MiB) leaves its gradients in the
 * cache rather than streaming them past it, and asks for its next rows into L1 rather than L2. */
MTKD_API int32_t mtkd_cpu_features(void);
/* Short description of the build: compiler, BLAS found or not, OpenMP. */
MTKD_API const char* mtkd_build_info(void);
/* The BLAS this build links: OpenBLAS's configuration string ("OpenBLAS 0.3.21 ... SkylakeX ...") or a note
 * that only the built-in GEMM exists. Which one mtkd_sgemm runs is per context: mtkd_context_gemm_info. */
MTKD_API const char* mtkd_gemm_info(void);
/* Incremented whenever a declaration here changes incompatibly; bindings refuse another value. */
#define MTKD_ABI_VERSION 2
MTKD_API int32_t mtkd_abi_version(void);

/* ---- contexts ---- */
/* threads <= 0 means every available core. Fails with MTKD_UNSUPPORTED for a SIMD level the CPU lacks. */
MTKD_API mtkd_status mtkd_context_create(int32_t simd, int32_t threads, mtkd_context** out);
MTKD_API void mtkd_context_destroy(mtkd_context* ctx);
/* As mtkd_context_create, but the context may only use the CPU features in allowed_features (the bitmask of
 * mtkd_cpu_features): lets a caller cap the SIMD level, and tests see how a smaller CPU behaves. */
MTKD_API mtkd_status mtkd_context_create_limited(int32_t simd, int32_t threads, int32_t allowed_features,
                                                 mtkd_context** out);
/* The level and thread count actually in use. */
MTKD_API mtkd_status mtkd_context_describe(const mtkd_context* ctx, int32_t* simd, int32_t* threads);
/* Which GEMM mtkd_sgemm runs for this context, e.g. "OpenBLAS 0.3.21 (SkylakeX kernels)"; "" for a null ctx.
 * Valid while the context lives. */
MTKD_API const char* mtkd_context_gemm_info(const mtkd_context* ctx);

/* ---- the fused multi-teacher distillation op (docs/DESIGN.md §2) ----
 * Calls on one context are serialised (it owns the per-thread scratch); use one context per caller thread
 * for concurrency. Every pointer named in mtkd_inputs/mtkd_stats/mtkd_grads that a pass reads or writes must
 * be non-null; gradient reads kl, mse, lse_t, ce_s, lse_s1 and lse_st from stats.
 * Non-finite inputs never fail a pass: a NaN or +-Inf in teacher k's logits of row b makes lse_t[b,k] NaN, one in
 * teacher k's slice of fs or ft makes cos[b,k] and mse[b,k] NaN, one in zs row b makes lse_s1[b] and lse_st[b]
 * NaN; other rows are unaffected. Results do not depend on the thread count. */
MTKD_API mtkd_status mtkd_distill_stats(mtkd_context* ctx, const mtkd_shape* shape, const mtkd_inputs* in,
                                        const mtkd_hyper* hyper, const mtkd_stats* out);
MTKD_API mtkd_status mtkd_distill_gradient(mtkd_context* ctx, const mtkd_shape* shape, const mtkd_inputs* in,
                                           const mtkd_hyper* hyper, const mtkd_stats* stats,
                                           const mtkd_grads* out);
MTKD_API mtkd_status mtkd_distill_fused(mtkd_context* ctx, const mtkd_shape* shape, const mtkd_inputs* in,
                                        const mtkd_hyper* hyper, const mtkd_stats* out_stats,
                                        const mtkd_grads* out_grads);

/* ---- GEMM (OpenBLAS when found at build time, else a blocked fallback) ----
 * Row-major C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C, op = transpose when trans_* != 0.
 * mtkd_sgemm runs OpenBLAS unless OpenBLAS's kernels for this CPU are narrower than the context's SIMD level
 * (OpenBLAS falls back to its generic Prescott kernels on CPUs it does not recognise, several times slower
 * than the built-in AVX-512 GEMM); mtkd_context_gemm_info says which one a context uses. */
MTKD_API mtkd_status mtkd_sgemm(mtkd_context* ctx, int32_t trans_a, int32_t trans_b, int32_t m, int32_t n,
                                int32_t k, float alpha, const float* a, int32_t lda, const float* b,
                                int32_t ldb, float beta, float* c, int32_t ldc);
/* Same contract as mtkd_sgemm, always through OpenBLAS; MTKD_UNSUPPORTED in a build without it. */
MTKD_API mtkd_status mtkd_sgemm_openblas(mtkd_context* ctx, int32_t trans_a, int32_t trans_b, int32_t m,
                                         int32_t n, int32_t k, float alpha, const float* a, int32_t lda,
                                         const float* b, int32_t ldb, float beta, float* c, int32_t ldc);
/* Same contract as mtkd_sgemm, always on the built-in blocked GEMM at the context's SIMD level
 * (so the fallback is tested on machines that have OpenBLAS). beta = 0 never reads C (NaN there is ignored). */
MTKD_API mtkd_status mtkd_sgemm_blocked(mtkd_context* ctx, int32_t trans_a, int32_t trans_b, int32_t m,
                                        int32_t n, int32_t k, float alpha, const float* a, int32_t lda,
                                        const float* b, int32_t ldb, float beta, float* c, int32_t ldc);

/* ---- building blocks, exported for tests and benchmarks ----
 * y[i] = exp(x[i]) with the kernels' vectorised exp at the context's SIMD level: within 2 ulp of the true
 * value for x in [ln(FLT_MIN), 88]; exactly 0 below ln(FLT_MIN) (no subnormal results), e^88 above 88,
 * NaN for NaN. */
MTKD_API mtkd_status mtkd_vector_exp(mtkd_context* ctx, int64_t n, const float* x, float* y);
/* y[i] = log1p(x[i]) with the catalog's vectorised log1p (jsd's logarithms) at the context's SIMD level: within
 * 3 ulp of the true value for x in (-1, 1] down to |x| = 2^-124 (tiny x keep their relative precision), NaN for
 * NaN; outside (-1, 1] the result is unspecified (finite or NaN, no trap). */
MTKD_API mtkd_status mtkd_vector_log1p(mtkd_context* ctx, int64_t n, const float* x, float* y);
/* y[i] = exp(x[i]) - 1 with the catalog's vectorised expm1 (jsd's expm1(-d), one exponential of |x|) at the
 * context's SIMD level: within 4 ulp of the true value for x in [-80, 80], tiny x of either sign keeping their
 * relative precision, NaN for NaN; outside [-80, 80] the result is that at +-80. */
MTKD_API mtkd_status mtkd_vector_expm1(mtkd_context* ctx, int64_t n, const float* x, float* y);

#ifdef __cplusplus
}
#endif

#endif /* MTKD_H */
