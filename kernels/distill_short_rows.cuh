/*
 * distill_short_rows.cuh - the three passes of distill.cu for short rows, C <= MTKD_SHORT_ROW_MAX_CLASSES
 * (segmentation's pixel rows, small classifiers). Included by distill.cu, whose row math it reuses unchanged:
 * the same sweeps, the same sums in the same form, the same statistics and gradients.
 *
 * Why another geometry. distill.cu gives each row a block and each teacher row a warp. For C = 11 a warp's 32
 * lanes hold 11 columns, and a row of 16 images of 64x64 pixels is 65,536 blocks whose time goes to block
 * barriers and to the latency of one short load after another, not to moving bytes (the first GPU run measured
 * 3 % of copy bandwidth there; docs/PERF.md, section GPU).
 *
 * Here a group of G lanes (G = short_row_width(C): the smallest power of two >= C/2, at least 4, so a lane holds
 * at most two columns) owns one row and takes its K teachers one after another; a block of 32 W threads holds
 * 32 W / G rows, b = blockIdx.x * (32 W / G) + group. Each group has its own shared rows (no block barrier
 * anywhere), and reductions are xor butterflies inside the group's segment of the warp. A lane touches only its
 * own columns c = lane + G j of the shared rows, except the reads of column y (ce_t, ce_s), which follow a
 * __syncwarp. Every lane of a warp runs every shuffle: the loops run the same count in every group (K is
 * uniform), rows past B redo row B - 1 (storing the same values as the group that owns it), and ignored rows
 * take the same shuffles as counted ones, their gradients zeroed at the end.
 *
 * Shared rows of Cp floats per group: stats 3 (s, v, stage), gradient 1 (accumulator), fused 4 (s, v, stage,
 * accumulator); no scratch area. The launcher: src/MtkdRl.Gpu/Cuda/DistillKernels.cs.
 */

/* The fused kernel asks for four blocks per multiprocessor (at most 64 registers): on the H200 12 % faster at
 * 65536,4,11,16 than unbounded; the stats kernel was 4 % slower so, and the gradient the same (docs/PERF.md,
 * section GPU). MTKD_SHORT_MIN_BLOCKS puts one bound on all three, to compare. */
#ifdef MTKD_SHORT_MIN_BLOCKS
#define MTKD_SHORT_BOUNDS MTKD_KERNEL_BOUNDS_MIN(MTKD_DISTILL_MAX_THREADS, MTKD_SHORT_MIN_BLOCKS)
#define MTKD_SHORT_FUSED_BOUNDS MTKD_SHORT_BOUNDS
#else
#define MTKD_SHORT_BOUNDS MTKD_KERNEL_BOUNDS(MTKD_DISTILL_MAX_THREADS)
#define MTKD_SHORT_FUSED_BOUNDS MTKD_KERNEL_BOUNDS_MIN(MTKD_DISTILL_MAX_THREADS, 4)
#endif

namespace {

/* Lanes per row for C classes (the launcher mirrors it). */
MTKD_DEVICE int short_row_width(int C) {
    int g = 4;
    while (2 * g < C) g <<= 1;
    return g;
}

struct ShortRow {
    GroupLanes lanes;
    int b;
    float* area; /* the group's shared rows */
};

MTKD_DEVICE ShortRow short_row(int B, int C, float* smem, int rows) {
    const int g = short_row_width(C);
    const int group = static_cast<int>(threadIdx.x) / g;
    ShortRow r;
    r.lanes.lane_in_group = static_cast<int>(threadIdx.x) % g;
    r.lanes.width = g;
    const int b = static_cast<int>(blockIdx.x) * (static_cast<int>(blockDim.x) / g) + group;
    r.b = b < B ? b : B - 1;
    r.area = smem + group * rows * padded(C);
    return r;
}

MTKD_DEVICE bool short_launch_fits(int C, int rows) {
    const unsigned g = static_cast<unsigned>(short_row_width(C));
    const unsigned need = 4u * (blockDim.x / g) * static_cast<unsigned>(rows * padded(C));
    return C >= 1 && C <= MTKD_SHORT_ROW_MAX_CLASSES && blockDim.x % MTKD_WARP_SIZE == 0 &&
           blockDim.x <= MTKD_DISTILL_MAX_THREADS && blockDim.y == 1 && blockDim.z == 1 && mtkd_dynamic_smem_bytes() >= need;
}

/* The student row into the group's shared rows (s raw, v = e^{(s-ms)/T}); writes ce_s, lse_s1, lse_st. */
MTKD_DEVICE StudentRow short_student_stats(const GroupLanes& g, const float* zs_row, float* s, float* v, int C, int y,
                                           float inv_t, float* stats, const RowParams& p, int b) {
    StudentLoad load = {zs_row, s, -MTKD_INFINITY, 0.f};
    g.sweep_columns(C, load);
    const float m = g.max(load.m);
    StudentSums sums = {s, v, m, inv_t, 0.f, 0.f, 0.f};
    g.sweep_columns(C, sums);
    const float n = g.sum(sums.n), r1 = g.sum(sums.r1), rt = g.sum(sums.rt), nf = g.sum(load.nf);
    __syncwarp(MTKD_FULL_WARP); /* the writer reads s[y] */
    return student_row(m, n, r1, rt, nf, s, y, inv_t, stats, p, b, g.lane() == 0);
}

/* An ignored row's gradient: zeros everywhere (the group's share of zero_row_gradient). */
MTKD_DEVICE void short_zero_row(const GroupLanes& g, float* dzs_row, float* dfs_row, float* row_loss, int C, int F, int b) {
    Zero z1 = {dzs_row};
    g.sweep_columns(C, z1);
    Zero z2 = {dfs_row};
    g.sweep_columns(F, z2);
    if (g.lane() == 0) row_loss[b] = 0.f;
}

}  // namespace

/* ====================================================================== pass 1, short rows */

extern "C" __global__ void MTKD_SHORT_BOUNDS
    mtkd_distill_stats_short(const float* __restrict__ zs, const float* __restrict__ zt, const float* __restrict__ fs,
                             const float* __restrict__ ft, const int* __restrict__ labels,
                             const int* __restrict__ feature_offsets, float* __restrict__ stats, int B, int K, int C,
                             int F, float t, float inv_t, float cos_eps) {
    MTKD_DYNAMIC_SHARED(float, smem);
    MTKD_KERNEL_REQUIRE(short_launch_fits(C, 3));
    const RowParams p = row_params(B, K, C, F);
    const ShortRow row = short_row(B, C, smem, 3);
    const int b = row.b, cp = padded(C);
    const int y = labels[b];
    float* s = row.area;
    float* v = s + cp;
    float* stage = v + cp;

    const StudentRow student = short_student_stats(row.lanes, zs + static_cast<index_t>(b) * C, s, v, C, y, inv_t,
                                                   stats, p, b);
    for (int k = 0; k < K; ++k) {
        const index_t at = static_cast<index_t>(b) * K + k;
        teacher_stats(row.lanes, zt + (static_cast<index_t>(k) * B + b) * C, false, s, v, stage, nullptr, 0.f, C, y,
                      t, inv_t, student, stats, at, p.BK);
        const int off = feature_offsets[k], d = feature_offsets[k + 1] - off;
        const index_t f0 = static_cast<index_t>(b) * F + off;
        feature_stats<false>(row.lanes, fs + f0, ft + f0, nullptr, d, 0.f, cos_eps, stats, at, p.BK);
    }
}
MTKD_EMU_KERNEL(mtkd_distill_stats_short)

/* ====================================================================== pass 2, short rows */

/* No shuffle and no barrier: each lane works on its own columns, so ignored rows may leave at once. */
extern "C" __global__ void MTKD_SHORT_BOUNDS
    mtkd_distill_gradient_short(const float* __restrict__ zs, const float* __restrict__ zt,
                                const float* __restrict__ fs, const float* __restrict__ ft,
                                const int* __restrict__ labels, const int* __restrict__ feature_offsets,
                                const float* __restrict__ weights, const float* __restrict__ stats,
                                float* __restrict__ dzs, float* __restrict__ dfs, float* __restrict__ row_loss, int B,
                                int K, int C, int F, float t, float inv_t, float a_ce, float a_kd, float beta,
                                float inv_counted_rows) {
    MTKD_DYNAMIC_SHARED(float, smem);
    MTKD_KERNEL_REQUIRE(short_launch_fits(C, 1));
    const RowParams p = row_params(B, K, C, F);
    const ShortRow row = short_row(B, C, smem, 1);
    const GroupLanes& g = row.lanes;
    const int b = row.b;
    const int y = labels[b];
    float* dzs_row = dzs + static_cast<index_t>(b) * C;
    float* dfs_row = dfs + static_cast<index_t>(b) * F;
    if (y < 0) {
        short_zero_row(g, dzs_row, dfs_row, row_loss, C, F, b);
        return;
    }

    float* acc = row.area;
    const float* student = stats + MTKD_TEACHER_STATS * p.BK;
    float weight_sum = 0.f, loss = 0.f;
    for (int k = 0; k < K; ++k) {
        const index_t at = static_cast<index_t>(b) * K + k;
        const float wl = weights[at], wf = weights[p.BK + at];
        AddTeacherProbabilities add = {acc, wl, inv_t, stats[MTKD_STAT_LSE_T * p.BK + at], k == 0};
        g.sweep(zt + (static_cast<index_t>(k) * B + b) * C, C, add);

        const int off = feature_offsets[k], d = feature_offsets[k + 1] - off;
        const index_t f0 = static_cast<index_t>(b) * F + off;
        FeatureSweep<false, true> grad = {0.f, 0.f, 0.f, 0.f, 0.f, dfs + f0,
                                          inv_counted_rows * beta * wf * 2.f / static_cast<float>(d)};
        g.sweep_pair(fs + f0, ft + f0, dfs + f0, d, grad);

        weight_sum += wl;
        loss += a_kd * wl * stats[MTKD_STAT_KL * p.BK + at] + beta * wf * stats[MTKD_STAT_MSE * p.BK + at];
    }

    const float* zs_row = zs + static_cast<index_t>(b) * C;
    StudentGradient sg = {zs_row, nullptr, acc, dzs_row, padded(C), 1, y,
                          student[MTKD_STAT_LSE_S1 * p.B + b], student[MTKD_STAT_LSE_ST * p.B + b], inv_t, 0.f,
                          inv_counted_rows * a_ce, inv_counted_rows * a_kd * t, weight_sum};
    g.sweep_columns(C, sg);
    if (g.lane() == 0) row_loss[b] = inv_counted_rows * (a_ce * student[MTKD_STAT_CE_S * p.B + b] + loss);
}
MTKD_EMU_KERNEL(mtkd_distill_gradient_short)

/* ====================================================================== both passes, short rows */

extern "C" __global__ void MTKD_SHORT_FUSED_BOUNDS
    mtkd_distill_fused_short(const float* __restrict__ zs, const float* __restrict__ zt, const float* __restrict__ fs,
                             const float* __restrict__ ft, const int* __restrict__ labels,
                             const int* __restrict__ feature_offsets, const float* __restrict__ weights,
                             float* __restrict__ stats, float* __restrict__ dzs, float* __restrict__ dfs,
                             float* __restrict__ row_loss, int B, int K, int C, int F, float t, float inv_t,
                             float a_ce, float a_kd, float beta, float cos_eps, float inv_counted_rows) {
    MTKD_DYNAMIC_SHARED(float, smem);
    MTKD_KERNEL_REQUIRE(short_launch_fits(C, 4));
    const RowParams p = row_params(B, K, C, F);
    const ShortRow row = short_row(B, C, smem, 4);
    const GroupLanes& g = row.lanes;
    const int b = row.b, cp = padded(C);
    const int y = labels[b];
    const bool counted = y >= 0;
    float* s = row.area;
    float* v = s + cp;
    float* stage = v + cp;
    float* acc = stage + cp;
    Zero clear = {acc};
    g.sweep_columns(C, clear);

    const StudentRow student = short_student_stats(g, zs + static_cast<index_t>(b) * C, s, v, C, y, inv_t, stats, p, b);

    float weight_sum = 0.f, loss = 0.f;
    for (int k = 0; k < K; ++k) {
        const index_t at = static_cast<index_t>(b) * K + k;
        const float wl = weights[at], wf = weights[p.BK + at];
        /* Lane l of the group owns columns l, l + G, ... of acc in every sweep: plain adds, no atomics. */
        const TeacherResult r = teacher_stats<Accumulate::Add>(g, zt + (static_cast<index_t>(k) * B + b) * C, false, s,
                                                               v, stage, counted ? acc : nullptr, wl, C, y, t, inv_t,
                                                               student, stats, at, p.BK);
        const int off = feature_offsets[k], d = feature_offsets[k + 1] - off;
        const index_t f0 = static_cast<index_t>(b) * F + off;
        /* dfs for ignored rows too (the same shuffles in every group); they are zeroed below. */
        const float mse = feature_stats<true>(g, fs + f0, ft + f0, dfs + f0, d,
                                              inv_counted_rows * beta * wf * 2.f / static_cast<float>(d), cos_eps,
                                              stats, at, p.BK);
        weight_sum += wl;
        loss += a_kd * wl * r.kl + beta * wf * mse;
    }

    float* dzs_row = dzs + static_cast<index_t>(b) * C;
    if (!counted) {
        short_zero_row(g, dzs_row, dfs + static_cast<index_t>(b) * F, row_loss, C, F, b);
        return;
    }
    StudentGradient sg = {s, v, acc, dzs_row, cp, 1, y, student.m + student.log_s1, 0.f, inv_t,
                          1.f / student.sum_t, inv_counted_rows * a_ce, inv_counted_rows * a_kd * t, weight_sum};
    g.sweep_columns(C, sg);
    if (g.lane() == 0) {
        const float ce_s = (student.m - s[y]) + student.log_s1;
        row_loss[b] = inv_counted_rows * (a_ce * ce_s + loss);
    }
}
MTKD_EMU_KERNEL(mtkd_distill_fused_short)
