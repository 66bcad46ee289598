/*
 * distill_layout.h - the launch contract of distill.cu. The launcher (src/MtkdRl.Gpu/Cuda/DistillKernels.cs)
 * mirrors every number here; the kernels check the dynamic shared-memory size they were given.
 */
#ifndef MTKD_DISTILL_LAYOUT_H
#define MTKD_DISTILL_LAYOUT_H

/* Threads per block = 32 * warps, warps in [1, MTKD_DISTILL_MAX_WARPS] and never more than K. */
#define MTKD_DISTILL_MAX_WARPS 8
#define MTKD_DISTILL_MAX_THREADS (32 * MTKD_DISTILL_MAX_WARPS)

/* Dynamic shared memory, in floats: MTKD_DISTILL_SCRATCH_FLOATS, then rows of Cp = C rounded up to a
 * multiple of 4 (so every row is 16-byte aligned):
 *   stats:    2 + W rows   (student row s, v = e^{(s-ms)/T}, one teacher stage per warp)
 *   gradient: W rows       (one accumulator per warp)
 *   fused:    3 + W rows   (s, v, one stage per warp, one accumulator the rounds' stages add into) */
/* Eight scratch areas of one float per warp (block reductions and per-warp partial sums). */
#define MTKD_DISTILL_SCRATCH_FLOATS (8 * MTKD_DISTILL_MAX_WARPS)

/* The stats buffer: 8 planes [B,K], then 3 planes [B], in the order of DistillStats.Named(). */
#define MTKD_STAT_KL 0
#define MTKD_STAT_CE_T 1
#define MTKD_STAT_H_T 2
#define MTKD_STAT_CONF 3
#define MTKD_STAT_HIT 4
#define MTKD_STAT_COS 5
#define MTKD_STAT_MSE 6
#define MTKD_STAT_LSE_T 7
#define MTKD_TEACHER_STATS 8
#define MTKD_STAT_CE_S 0
#define MTKD_STAT_LSE_S1 1
#define MTKD_STAT_LSE_ST 2
#define MTKD_STUDENT_STATS 3

/* distill_short_rows.cuh: rows of at most this many classes may take the short-row kernels (a group of
 * G = short_row_width(C) lanes per row, 32 W / G rows per block), whose dynamic shared memory is, per group,
 * rows of Cp floats: stats 3, gradient 1, fused 4. */
#define MTKD_SHORT_ROW_MAX_CLASSES 32

/* Weights buffer: wl [B,K] then wf [B,K]. */

/* distill_catalog.cu: the catalog's ids (native/include/mtkd.h's mtkd_divergence and mtkd_feature_loss, the C#
 * LogitDivergence and FeatureLoss), and its dynamic shared memory: MTKD_DISTILL_SCRATCH_FLOATS, then
 * MTKD_CATALOG_ROWS rows of Cp floats (ps, d, pt, the gradient accumulator) whatever the block size. */
#define MTKD_DIVERGENCE_KL_ID 0
#define MTKD_DIVERGENCE_REVERSE_KL_ID 1
#define MTKD_DIVERGENCE_JSD_ID 2
#define MTKD_DIVERGENCE_DKD_ID 3
#define MTKD_FEATURE_MSE_ID 0
#define MTKD_FEATURE_COSINE_ID 1
#define MTKD_FEATURE_SMOOTH_L1_ID 2
#define MTKD_CATALOG_ROWS 4

#endif /* MTKD_DISTILL_LAYOUT_H */
