/*
 * distill.cu - the fused multi-teacher distillation op (docs/DESIGN.md §2) as three kernels:
 * mtkd_distill_stats (pass 1), mtkd_distill_gradient (pass 2) and mtkd_distill_fused (both at once).
 * Layouts are those of MtkdRl.Core.Distill.DistillShape; ReferenceDistill is the specification.
 *
 * ---------------------------------------------------------------------------------------------------
 * The math, per row b (label y) and teacher k, with z = zt[k,b,:], s = zs[b,:], temperature T.
 *
 * Max-shifted sums, with the max's own term split off. With m = max_c z_c (one m serves every T > 0,
 * dividing by T keeps order) and n = the number of columns equal to m:
 *     R1 = sum_{z_c<m} e^{z_c - m} + (n - 1)         S1 = 1 + R1 = sum_c e^{z_c - m}
 *     RT = sum_{z_c<m} e^{(z_c - m)/T} + (n - 1)     ST = 1 + RT
 *     lse_1 = m + log1p(R1)          lse_t = m/T + log1p(RT)        (every exponent is <= 0)
 * Keeping R = S - 1 instead of S keeps the digits of a confident row: with S = 1 + 1e-6 in float32,
 * log S would be off by 6%; log1p(R) is exact to rounding.
 * Competence at T = 1, p_c = e^{z_c - m} / S1:
 *     H    = -sum_c p_c log p_c = log1p(R1) + E / S1,   E = sum_c e^{z_c - m} (m - z_c)   (terms >= 0)
 *     conf = max_c p_c = 1 / S1
 *     ce_t = lse_1 - z_y = (m - z_y) + log1p(R1),   hit = [first argmax of z == y]   (0 when y = -1)
 * The student row likewise: ms, Rs1, RsT; lse_s1 = ms + log1p(Rs1), lse_st = ms/T + log1p(RsT),
 * ce_s = (ms - s_y) + log1p(Rs1).
 *
 * Logit KD as a sum of non-negative terms. With r_c = log pt_c - log ps_c (temperature T) and
 * phi(r) = e^-r - 1 + r >= 0:
 *     KL/T^2 = sum_c pt_c r_c = sum_c pt_c phi(r_c)     because sum_c pt_c (e^-r_c - 1) = sum ps - sum pt = 0.
 * The usual form E_pt[log pt] - E_pt[log ps] subtracts terms of size ~1 to get a KL that may be 1e-6;
 * here every term is >= 0 and small where the two distributions agree, so the relative error stays
 * at rounding level however small KL is. The pieces:
 *     r_c = ((z_c - s_c) - K) / T,   K = (m - ms) + T (log1p(RT) - log1p(RsT)),
 * z_c - s_c = hi + lo exactly (TwoSum), so r_c keeps its digits when teacher and student agree;
 * an error in K shifts every r_c alike and moves the sum only at second order (d/dK = sum (pt - ps) = 0),
 * and small_kl measures that shift (sum pt e^-r = e^shift) and removes it.
 *     pt_c = w_c / ST with w_c = e^{(z_c - m)/T};  ps_c = v_c / SsT with v_c = e^{(s_c - ms)/T}.
 * phi: a Taylor series for |r| < 1/2 (no cancellation), else w phi(r) = (ST/SsT) v_c - w_c + w_c r_c, where
 * (ST/SsT) v_c = w_c e^-r_c needs no exponential and cannot overflow (it is ST ps_c <= ST); at |r| >= 1/2
 * the three terms exceed the result by at most 22 times, so that form loses under 5 bits.
 * Features, over teacher k's D_k columns: cos = <fs,ft> / (|fs| |ft| + eps), mse = sum (fs-ft)^2 / D_k.
 *
 * One read of a teacher row. A lane streams its share of the row once, keeping (m, n, R1, RT, E) for
 * the columns it has seen. When its running max grows from m to m' = m + d (d > 0), the old maxima
 * join the rest:  R1 <- e^-d (R1 + n),  RT <- e^{-d/T} (RT + n),  E <- e^-d (E + d (R1 + n)),  n <- 0.
 * Lanes merge by the same rule (the side with the smaller max is re-based; equal maxima add their n),
 * which is symmetric, so an xor butterfly leaves every lane with the whole row's state. The first
 * argmax survives: a lane keeps the first column of its max, a merge keeps the larger max or, on a tie,
 * the smaller column. While streaming, the row is copied into the warp's shared-memory stage (the fused
 * pass has it copied there by cp.async and streams the stage instead); the KL sweep (which needs m and ST
 * first) and the fused pass's gradient term read the stage, not DRAM.
 * Rows are read as float4 when 16-byte aligned (C % 4 == 0), with one max check per four columns.
 *
 * Non-finite inputs. nf = sum_c (z_c - z_c) is 0 for finite rows and NaN as soon as one value is NaN
 * or +-Inf; it is added to lse_t (to lse_s1 and lse_st for the student, to cos and mse for a feature
 * slice). A plain max/exp-sum would let -Inf pass silently as a zero probability.
 *
 * Gradients (B' = counted rows, W = sum_k wl_k). Since d/ds_c sum_j pt_j log ps_j = (pt_c - ps_c)/T
 * (softmax cross-entropy at temperature T, sum pt = 1), d(T^2 KL_k)/ds_c = T (ps^T_c - pt^T_c), so
 *     dL/dzs_c  = (1/B') [ a_ce (ps1_c - [c == y]) + a_kd T (W ps^T_c - sum_k wl_k pt^T_{k,c}) ]
 *     dL/dfs_kd = (1/B') beta wf_k (2/D_k) (fs_kd - ft_kd)
 *     row_loss  = (1/B') [ a_ce ce_s + sum_k (a_kd wl_k KL_k + beta wf_k mse_k) ]
 * The gradient pass takes pt^T_{k,c} = e^{z_c/T - lse_t}: the stats pass stored lse_t, so pass 2 needs
 * no max/sum sweep. Ignored rows (y = -1) get zero gradients and row_loss; every statistic but ce_t,
 * hit and ce_s is still computed for them.
 *
 * ---------------------------------------------------------------------------------------------------
 * Kernels. One block per row b (grid = B), W warps (32 W threads, W <= K, W <= 8); warp w takes
 * teachers w, w + W, ... . Each teacher row and each feature slice is swept from global memory by
 * exactly one warp of exactly one block, once; second looks go to shared memory. So no pass reads a
 * teacher row from DRAM twice. No atomics: per-row results combine in registers and shared memory, in a fixed
 * order, so every output is the same from run to run.
 *
 *   stats:    reads y[b], the zs row (into shared memory), each zt row, each fs/ft slice;
 *             writes kl ce_t h_t conf hit cos mse lse_t [b,:] and ce_s lse_s1 lse_st [b].
 *   gradient: reads y[b]; for counted rows each zt row, fs/ft slice, wl wf lse_t kl mse [b,:], the zs
 *             row and ce_s lse_s1 lse_st [b]; writes dzs, dfs, row_loss. Ignored rows read only y[b].
 *             Each warp adds wl_k pt_k into its own shared accumulator row; after one barrier the block
 *             sums the W accumulators in warp order (deterministic) and writes dzs.
 *   fused:    the stats pass, plus dfs from the feature sweep and wl_k pt_k: teachers go in rounds of W
 *             (warp w takes teacher round W + w), the KL sweep leaves wl_k pt_k in the warp's stage in place,
 *             and after a barrier the block adds the round's stages into one accumulator row in warp order.
 *             Reads each input once, writes stats and gradients.
 * Shared memory layout and the launch contract: distill_layout.h.
 */
#include "distill_layout.h"
#include "mtkd_cuda.cuh"
#include "mtkd_math.cuh"
#include "mtkd_reduce.cuh"

namespace {

typedef long long index_t;

/* ------------------------------------------------------------------ generic sweeps */

/* 1: every lane of the warp runs the same number of four-tile steps, a tile past the row's end masked; 0: four-tile
 * steps while a lane has four tiles left, then single tiles. At C = 1000 (250 tiles, 7.8 per lane) the second form
 * issues the second half of the row twice, a step of four tiles for lanes 0-25 and then three single tiles for lanes
 * 26-31 (eleven tile issues, part of the warp idle in each), which fits Nsight Compute's 22.6 active lanes of 32 in
 * the stats pass (docs/PERF.md, section GPU); the first issues eight tile steps for everyone. Not yet measured on a
 * GPU, hence off: build with -DMTKD_UNIFORM_SWEEP=1 and compare with tests/gpu/variants.sh. */
#ifndef MTKD_UNIFORM_SWEEP
#define MTKD_UNIFORM_SWEEP 0
#endif

/* Warp sweep of one row of n floats. Lane l sees float4 tiles at columns 4(l + 32i) in increasing
 * order, then the tail columns; misaligned rows are swept one column at a time (still coalesced). */
template <class F>
MTKD_DEVICE void warp_sweep(const float* row, int n, F& f) {
    const int lane = mtkd_lane();
#if MTKD_UNIFORM_SWEEP
    if (mtkd_aligned16(row)) {
        const int n4 = n >> 2;
        for (int base = 0; base < n4; base += 4 * MTKD_WARP_SIZE) {
            const int i0 = base + lane, i1 = i0 + MTKD_WARP_SIZE, i2 = i0 + 2 * MTKD_WARP_SIZE, i3 = i0 + 3 * MTKD_WARP_SIZE;
            const mtkd_f4 zero = {0.f, 0.f, 0.f, 0.f};
            /* The loads first, so all four are in flight before any math. */
            const mtkd_f4 v0 = i0 < n4 ? mtkd_load4(row + 4 * i0) : zero;
            const mtkd_f4 v1 = i1 < n4 ? mtkd_load4(row + 4 * i1) : zero;
            const mtkd_f4 v2 = i2 < n4 ? mtkd_load4(row + 4 * i2) : zero;
            const mtkd_f4 v3 = i3 < n4 ? mtkd_load4(row + 4 * i3) : zero;
            if (i0 < n4) f.tile(4 * i0, v0);
            if (i1 < n4) f.tile(4 * i1, v1);
            if (i2 < n4) f.tile(4 * i2, v2);
            if (i3 < n4) f.tile(4 * i3, v3);
        }
        for (int c = 4 * n4 + lane; c < n; c += MTKD_WARP_SIZE) f.one(c, row[c]);
        return;
    }
#endif
    if (mtkd_aligned16(row)) {
        const int n4 = n >> 2;
        int i = lane;
        /* Four independent 16-byte loads in flight per lane before any math. */
        for (; i + 3 * MTKD_WARP_SIZE < n4; i += 4 * MTKD_WARP_SIZE) {
            const mtkd_f4 v0 = mtkd_load4(row + 4 * i);
            const mtkd_f4 v1 = mtkd_load4(row + 4 * (i + MTKD_WARP_SIZE));
            const mtkd_f4 v2 = mtkd_load4(row + 4 * (i + 2 * MTKD_WARP_SIZE));
            const mtkd_f4 v3 = mtkd_load4(row + 4 * (i + 3 * MTKD_WARP_SIZE));
            f.tile(4 * i, v0);
            f.tile(4 * (i + MTKD_WARP_SIZE), v1);
            f.tile(4 * (i + 2 * MTKD_WARP_SIZE), v2);
            f.tile(4 * (i + 3 * MTKD_WARP_SIZE), v3);
        }
        for (; i < n4; i += MTKD_WARP_SIZE) f.tile(4 * i, mtkd_load4(row + 4 * i));
        for (int c = 4 * n4 + lane; c < n; c += MTKD_WARP_SIZE) f.one(c, row[c]);
    } else {
        for (int c = lane; c < n; c += MTKD_WARP_SIZE) f.one(c, row[c]);
    }
}

/* Warp sweep of two equally offset slices a, b (and an output slice of the same offset). */
template <class F>
MTKD_DEVICE void warp_sweep_pair(const float* a, const float* b, const float* out, int n, F& f) {
    const int lane = mtkd_lane();
    if (mtkd_aligned16(a) && mtkd_aligned16(b) && mtkd_aligned16(out)) {
        const int n4 = n >> 2;
        int i = lane;
        for (; i + MTKD_WARP_SIZE < n4; i += 2 * MTKD_WARP_SIZE) {
            const mtkd_f4 a0 = mtkd_load4(a + 4 * i), b0 = mtkd_load4(b + 4 * i);
            const mtkd_f4 a1 = mtkd_load4(a + 4 * (i + MTKD_WARP_SIZE)), b1 = mtkd_load4(b + 4 * (i + MTKD_WARP_SIZE));
            f.tile(4 * i, a0, b0);
            f.tile(4 * (i + MTKD_WARP_SIZE), a1, b1);
        }
        for (; i < n4; i += MTKD_WARP_SIZE) f.tile(4 * i, mtkd_load4(a + 4 * i), mtkd_load4(b + 4 * i));
        for (int j = 4 * n4 + lane; j < n; j += MTKD_WARP_SIZE) f.one(j, a[j], b[j]);
    } else {
        for (int j = lane; j < n; j += MTKD_WARP_SIZE) f.one(j, a[j], b[j]);
    }
}

/* Block sweep over n columns: f.tile(c) handles columns c..c+3 (only when vec), f.one(c) one column. */
template <class F>
MTKD_DEVICE void block_sweep(bool vec, int n, F& f) {
    const int tid = static_cast<int>(threadIdx.x), threads = static_cast<int>(blockDim.x);
    const int n4 = vec ? n >> 2 : 0;
    for (int i = tid; i < n4; i += threads) f.tile(4 * i);
    for (int c = 4 * n4 + tid; c < n; c += threads) f.one(c);
}

/* ------------------------------------------------------------------ accurate small quantities */

/* phi(r) / r^2 = sum_{j>=0} (-r)^j / (j+2)! for |r| < 1/2; truncated after r^6: error < 6e-8 of phi. */
MTKD_DEVICE float phi_series_over_r2(float r) {
    return 1.f / 2 + r * (-1.f / 6 + r * (1.f / 24 + r * (-1.f / 120 + r * (1.f / 720 + r * (-1.f / 5040 + r * (1.f / 40320))))));
}

/* KL/T^2 from phi_bar = sum pt phi(r) and mu = sum pt r as computed. K's rounding shifts every r_c by the same
 * e, which moves phi_bar at second order (e^e - 1 - e), visible for KL/T^2 below ~1e-8. With
 * Q = sum pt e^-r = 1 + q, q = phi_bar - mu, the shift is e = log Q and KL/T^2 = mu + log Q = phi_bar - g(q),
 * g(q) = q - log1p(q) >= 0: a correction of order e^2, series below |q| = 0.01 (truncation < 3e-11). */
MTKD_DEVICE float small_kl(float phi_bar, float mu) {
    const float q = phi_bar - mu;
    const float g = (q < 0.01f && q > -0.01f)
        ? q * q * (0.5f + q * (-1.f / 3 + q * (0.25f + q * (-0.2f + q * (1.f / 6)))))
        : q - log1p_accurate(q);
    return phi_bar - g;
}

/* ------------------------------------------------------------------ streaming softmax state */

struct SoftmaxState {
    float m;   /* running max of z */
    float n;   /* columns equal to m */
    float r1;  /* sum over z < m of e^{z-m} */
    float rt;  /* sum over z < m of e^{(z-m)/T} */
    float e;   /* sum e^{z-m} (m-z) */
    float nf;  /* sum (z-z): 0, or NaN once a value was not finite */
    int arg;   /* first column holding m */
};

MTKD_DEVICE SoftmaxState softmax_empty() {
    SoftmaxState s;
    s.m = -MTKD_INFINITY;
    s.n = s.r1 = s.rt = s.e = s.nf = 0.f;
    s.arg = 0x7fffffff;
    return s;
}

/* Moves the sums to the larger max m: the old maxima become ordinary terms. An empty state (m = -inf)
 * has nothing to move, and moving it would compute inf * 0. */
MTKD_DEVICE void softmax_rebase(SoftmaxState& s, float m, float inv_t) {
    if (s.m != -MTKD_INFINITY) {
        const float d = m - s.m;
        const float k1 = mtkd_exp(-d), kt = mtkd_exp(-d * inv_t);
        const float below1 = s.r1 + s.n;
        s.e = k1 * mtkd_fma(d, below1, s.e);
        s.r1 = k1 * below1;
        s.rt = kt * (s.rt + s.n);
        s.n = 0.f;
    }
    s.m = m;
}

/* Adds column value z <= s.m. */
MTKD_DEVICE void softmax_add(SoftmaxState& s, float z, float inv_t) {
    const float t = z - s.m;
    const float e1 = mtkd_exp(t), et = mtkd_exp(t * inv_t);
    const bool top = z == s.m;
    s.n += top ? 1.f : 0.f;
    s.r1 += top ? 0.f : e1;
    s.rt += top ? 0.f : et;
    s.e = mtkd_fma(-e1, t, s.e);
    s.nf += z - z;
}

/* Side x's share of a merge at max m: itself if it holds m (or is empty), else re-based. */
MTKD_DEVICE void softmax_share(const SoftmaxState& x, float m, float inv_t, float& n, float& r1, float& rt, float& e) {
    if (x.m == m || x.m == -MTKD_INFINITY) {
        n = x.n; r1 = x.r1; rt = x.rt; e = x.e;
        return;
    }
    const float d = m - x.m;
    const float k1 = mtkd_exp(-d), kt = mtkd_exp(-d * inv_t);
    const float below1 = x.r1 + x.n;
    n = 0.f;
    r1 = k1 * below1;
    rt = kt * (x.rt + x.n);
    e = k1 * mtkd_fma(d, below1, x.e);
}

MTKD_DEVICE void softmax_merge(SoftmaxState& x, const SoftmaxState& y, float inv_t) {
    const float m = mtkd_fmax(x.m, y.m);
    float xn, xr1, xrt, xe, yn, yr1, yrt, ye;
    softmax_share(x, m, inv_t, xn, xr1, xrt, xe);
    softmax_share(y, m, inv_t, yn, yr1, yrt, ye);
    x.arg = x.m > y.m ? x.arg : y.m > x.m ? y.arg : (x.arg < y.arg ? x.arg : y.arg);
    x.m = m;
    x.n = xn + yn;
    x.r1 = xr1 + yr1;
    x.rt = xrt + yrt;
    x.e = xe + ye;
    x.nf += y.nf;
}

/* Merges the states of each segment of `width` lanes (a power of two <= 32; xor partners below width stay in the
 * segment), leaving every lane of a segment with its whole row's state. */
MTKD_DEVICE void softmax_reduce(SoftmaxState& s, float inv_t, int width) {
    for (int offset = width / 2; offset > 0; offset >>= 1) {
        SoftmaxState o;
        o.m = __shfl_xor_sync(MTKD_FULL_WARP, s.m, offset);
        o.n = __shfl_xor_sync(MTKD_FULL_WARP, s.n, offset);
        o.r1 = __shfl_xor_sync(MTKD_FULL_WARP, s.r1, offset);
        o.rt = __shfl_xor_sync(MTKD_FULL_WARP, s.rt, offset);
        o.e = __shfl_xor_sync(MTKD_FULL_WARP, s.e, offset);
        o.nf = __shfl_xor_sync(MTKD_FULL_WARP, s.nf, offset);
        o.arg = __shfl_xor_sync(MTKD_FULL_WARP, s.arg, offset);
        softmax_merge(s, o, inv_t);
    }
}

/* Who sweeps one teacher row. WarpLanes: the 32 lanes of a warp, float4 tiles where aligned (the block-per-row
 * kernels). GroupLanes: a segment of `width` lanes of a warp, one column at a time (the short-row kernels, several
 * rows per warp; every lane of the warp takes part in every shuffle, so their control flow around these calls is
 * uniform over the warp). The row math below is written once against either. */
struct WarpLanes {
    MTKD_DEVICE int lane() const { return mtkd_lane(); }
    template <class F>
    MTKD_DEVICE void sweep(const float* row, int n, F& f) const { warp_sweep(row, n, f); }
    template <class F>
    MTKD_DEVICE void sweep_pair(const float* a, const float* b, const float* out, int n, F& f) const {
        warp_sweep_pair(a, b, out, n, f);
    }
    MTKD_DEVICE float sum(float v) const { return mtkd_warp_sum(v); }
    MTKD_DEVICE void reduce(SoftmaxState& s, float inv_t) const { softmax_reduce(s, inv_t, MTKD_WARP_SIZE); }
    /* Starts copying a 16-byte aligned row into the stage (cp.async, no register held while in flight, every
     * tile of the lane's share at once) and returns true; the columns past the last tile are copied at once.
     * A misaligned row returns false and is swept from global memory as before. Each lane copies exactly the
     * columns warp_sweep gives it on the stage, so after mtkd_copy_async_wait it reads only its own copies. */
    MTKD_DEVICE bool start_copy(const float* row, int n, float* stage) const {
        if (!mtkd_aligned16(row)) return false;
        const int lane = mtkd_lane(), n4 = n >> 2;
        for (int i = lane; i < n4; i += MTKD_WARP_SIZE) mtkd_copy_async16(stage + 4 * i, row + 4 * i);
        for (int c = 4 * n4 + lane; c < n; c += MTKD_WARP_SIZE) stage[c] = row[c];
        return true;
    }
};

struct GroupLanes {
    int lane_in_group; /* 0 .. width-1 */
    int width;         /* a power of two <= 32 */
    MTKD_DEVICE int lane() const { return lane_in_group; }
    template <class F>
    MTKD_DEVICE void sweep(const float* row, int n, F& f) const {
        for (int c = lane_in_group; c < n; c += width) f.one(c, row[c]);
    }
    template <class F>
    MTKD_DEVICE void sweep_pair(const float* a, const float* b, const float*, int n, F& f) const {
        for (int j = lane_in_group; j < n; j += width) f.one(j, a[j], b[j]);
    }
    /* f.one(c) for the lane's columns of a row already in shared memory, or written column by column. */
    template <class F>
    MTKD_DEVICE void sweep_columns(int n, F& f) const {
        for (int c = lane_in_group; c < n; c += width) f.one(c);
    }
    MTKD_DEVICE float sum(float v) const { return mtkd_segment_sum(v, width); }
    MTKD_DEVICE float max(float v) const { return mtkd_segment_max(v, width); }
    MTKD_DEVICE void reduce(SoftmaxState& s, float inv_t) const { softmax_reduce(s, inv_t, width); }
};

/* Sweep 1 of a teacher row: the streaming state, and (store) a copy of the row in the warp's stage; a row
 * already copied there (cp.async) is swept from the stage itself. */
struct TeacherSweep {
    SoftmaxState s;
    float* stage;
    float inv_t;
    bool store;

    MTKD_DEVICE void tile(int c, mtkd_f4 v) {
        if (store) mtkd_store4(stage + c, v);
        float best = v.x;
        int at = c;
        if (v.y > best) { best = v.y; at = c + 1; }
        if (v.z > best) { best = v.z; at = c + 2; }
        if (v.w > best) { best = v.w; at = c + 3; }
        if (best > s.m) {
            softmax_rebase(s, best, inv_t);
            s.arg = at;
        }
        softmax_add(s, v.x, inv_t);
        softmax_add(s, v.y, inv_t);
        softmax_add(s, v.z, inv_t);
        softmax_add(s, v.w, inv_t);
    }

    MTKD_DEVICE void one(int c, float z) {
        if (store) stage[c] = z;
        if (z > s.m) {
            softmax_rebase(s, z, inv_t);
            s.arg = c;
        }
        softmax_add(s, z, inv_t);
    }
};

/* How the fused pass's KL sweep hands on wl pt_c (acc non-null), with no atomics either way:
 *   Add:   acc[c] += ..., a row whose columns belong to the sweeping lane alone (the short-row group's own row);
 *   Store: acc[c] = ..., in place over the stage the sweep reads (each lane writes the columns it read; the block
 *          kernel sums the warps' stages after a barrier). */
enum class Accumulate { Add, Store };

/* Sweep 2 of a teacher row, over its stage: sum_c w_c phi(r_c) (= ST KL/T^2), and in the fused pass
 * acc[c] (+)= scale w_c, i.e. wl pt_c. */
template <Accumulate A>
struct KlSweep {
    const float* s;   /* raw student row (shared) */
    const float* v;   /* e^{(s - ms)/T} (shared) */
    float* acc;       /* the block's accumulator row (zeroed before the first teacher), or null */
    float m, k, inv_t, st_over_sst, scale;
    float phi;
    float rsum;       /* sum_c w_c r_c, for the shift correction of small_kl */

    MTKD_DEVICE float weight_and_term(float z, float sc, float vc, float& w) {
        w = mtkd_exp((z - m) * inv_t);
        /* z - sc = hi + lo exactly (Knuth's TwoSum; additions only, so no contraction can touch it). */
        const float hi = z - sc, bb = hi - z;
        const float lo = (z - (hi - bb)) + (-sc - bb);
        const float r = ((hi - k) + lo) * inv_t;
        rsum = mtkd_fma(w, r, rsum);
        const float series = w * (r * r) * phi_series_over_r2(r);
        const float direct = mtkd_fma(w, r, st_over_sst * vc - w);
        return (r < 0.5f && r > -0.5f) ? series : direct;
    }

    MTKD_DEVICE void tile(int c, mtkd_f4 z) {
        const mtkd_f4 sc = mtkd_load4(s + c), vc = mtkd_load4(v + c);
        mtkd_f4 w;
        phi += weight_and_term(z.x, sc.x, vc.x, w.x) + weight_and_term(z.y, sc.y, vc.y, w.y) +
               weight_and_term(z.z, sc.z, vc.z, w.z) + weight_and_term(z.w, sc.w, vc.w, w.w);
        if (acc == nullptr) return;
        mtkd_f4 u;
        u.x = scale * w.x; u.y = scale * w.y; u.z = scale * w.z; u.w = scale * w.w;
        if (A == Accumulate::Add) {
            const mtkd_f4 old = mtkd_load4(acc + c);
            u.x += old.x; u.y += old.y; u.z += old.z; u.w += old.w;
        }
        mtkd_store4(acc + c, u);
    }

    MTKD_DEVICE void one(int c, float z) {
        float w;
        phi += weight_and_term(z, s[c], v[c], w);
        if (acc == nullptr) return;
        if (A == Accumulate::Add) acc[c] += scale * w;
        else acc[c] = scale * w;
    }
};

/* acc[c] (+)= w e^{z_c/T - lse}: teacher k's weighted probabilities at T (gradient pass). The first
 * teacher of a warp stores, so the accumulator needs no clearing. */
struct AddTeacherProbabilities {
    float* acc;
    float weight, inv_t, lse;
    bool first;

    MTKD_DEVICE float p(float z) const { return weight * mtkd_exp(mtkd_fma(z, inv_t, -lse)); }

    MTKD_DEVICE void tile(int c, mtkd_f4 v) {
        mtkd_f4 r;
        r.x = p(v.x); r.y = p(v.y); r.z = p(v.z); r.w = p(v.w);
        if (!first) {
            const mtkd_f4 old = mtkd_load4(acc + c);
            r.x += old.x; r.y += old.y; r.z += old.z; r.w += old.w;
        }
        mtkd_store4(acc + c, r);
    }

    MTKD_DEVICE void one(int c, float z) { acc[c] = first ? p(z) : acc[c] + p(z); }
};

/* Feature sweep: with Stats the dot/norm/distance sums, with Grad dfs = coef (fs - ft). */
template <bool Stats, bool Grad>
struct FeatureSweep {
    float dot, ss, tt, sq, nf;
    float* dfs;
    float coef;

    MTKD_DEVICE void add(float a, float b) {
        const float d = a - b;
        dot = mtkd_fma(a, b, dot);
        ss = mtkd_fma(a, a, ss);
        tt = mtkd_fma(b, b, tt);
        sq = mtkd_fma(d, d, sq);
        nf += (a - a) + (b - b);
    }

    MTKD_DEVICE void tile(int j, mtkd_f4 a, mtkd_f4 b) {
        if (Stats) { add(a.x, b.x); add(a.y, b.y); add(a.z, b.z); add(a.w, b.w); }
        if (Grad) {
            mtkd_f4 g;
            g.x = coef * (a.x - b.x); g.y = coef * (a.y - b.y); g.z = coef * (a.z - b.z); g.w = coef * (a.w - b.w);
            mtkd_store4(dfs + j, g);
        }
    }

    MTKD_DEVICE void one(int j, float a, float b) {
        if (Stats) add(a, b);
        if (Grad) dfs[j] = coef * (a - b);
    }
};

/* ------------------------------------------------------------------ block-level pieces */

struct RowParams {
    int B, K, C, F;
    index_t BK;
};

MTKD_DEVICE RowParams row_params(int B, int K, int C, int F) {
    RowParams p;
    p.B = B; p.K = K; p.C = C; p.F = F;
    p.BK = static_cast<index_t>(B) * K;
    return p;
}

MTKD_DEVICE int padded(int c) { return (c + 3) & ~3; }

/* Scratch area i (one float per warp) inside the first MTKD_DISTILL_SCRATCH_FLOATS floats. */
MTKD_DEVICE float* scratch_area(float* smem, int area) { return smem + area * MTKD_DISTILL_MAX_WARPS; }

/* Student phase 1: copy the row into shared memory; max and non-finite flag. */
struct StudentLoad {
    const float* row;
    float* s;
    float m, nf;
    MTKD_DEVICE void tile(int c) {
        const mtkd_f4 v = mtkd_load4(row + c);
        mtkd_store4(s + c, v);
        m = mtkd_fmax(mtkd_fmax(m, v.x), mtkd_fmax(v.y, mtkd_fmax(v.z, v.w)));
        nf += (v.x - v.x) + (v.y - v.y) + (v.z - v.z) + (v.w - v.w);
    }
    MTKD_DEVICE void one(int c) {
        const float v = row[c];
        s[c] = v;
        m = mtkd_fmax(m, v);
        nf += v - v;
    }
};

/* Student phase 2: the split sums (as for a teacher, with the max known) and v = e^{(s - ms)/T}. */
struct StudentSums {
    const float* s;
    float* v;
    float m, inv_t, n, r1, rt;
    MTKD_DEVICE float add(float sc) {
        const float u = sc - m;
        const float e1 = mtkd_exp(u), et = mtkd_exp(u * inv_t);
        const bool top = sc == m;
        n += top ? 1.f : 0.f;
        r1 += top ? 0.f : e1;
        rt += top ? 0.f : et;
        return et;
    }
    MTKD_DEVICE void tile(int c) {
        const mtkd_f4 x = mtkd_load4(s + c);
        mtkd_f4 e;
        e.x = add(x.x); e.y = add(x.y); e.z = add(x.z); e.w = add(x.w);
        mtkd_store4(v + c, e);
    }
    MTKD_DEVICE void one(int c) { v[c] = add(s[c]); }
};

struct StudentRow {
    float m;      /* ms */
    float log_s1; /* log1p(Rs1) */
    float log_st; /* log1p(RsT) */
    float sum_t;  /* SsT = 1 + RsT */
};

/* The student row's logs from its split sums (n columns at the max m, r1 and rt below it, nf the non-finite flag);
 * `writer` stores ce_s, lse_s1 and lse_st (s[y] must be visible to it). */
MTKD_DEVICE StudentRow student_row(float m, float n, float r1, float rt, float nf, const float* s, int y, float inv_t,
                                   float* stats, const RowParams& p, int b, bool writer) {
    StudentRow r;
    r.m = m;
    r.log_s1 = log1p_accurate(r1 + (n - 1.f));
    const float rst = rt + (n - 1.f);
    r.log_st = log1p_accurate(rst);
    r.sum_t = 1.f + rst;
    if (writer) {
        float* student = stats + MTKD_TEACHER_STATS * p.BK;
        student[MTKD_STAT_LSE_S1 * p.B + b] = m + r.log_s1 + nf;
        student[MTKD_STAT_LSE_ST * p.B + b] = m * inv_t + r.log_st + nf;
        student[MTKD_STAT_CE_S * p.B + b] = y >= 0 ? (m - s[y]) + r.log_s1 : 0.f;
    }
    return r;
}

/* Loads student row b into shared memory (s raw, v = e^{(s-ms)/T}) and writes ce_s, lse_s1, lse_st.
 * Every thread of the block calls it (two barriers). It uses scratch areas 0-4; later code of the same
 * block uses areas 5 and 6, so no barrier is needed to release them. */
MTKD_DEVICE StudentRow student_stats(const float* zs_row, float* s, float* v, float* smem, int C, int y, float inv_t,
                                     float* stats, const RowParams& p, int b) {
    StudentLoad load = {zs_row, s, -MTKD_INFINITY, 0.f};
    block_sweep(mtkd_aligned16(zs_row), C, load);
    const float m = mtkd_block_max(load.m, scratch_area(smem, 0));

    StudentSums sums = {s, v, m, inv_t, 0.f, 0.f, 0.f};
    block_sweep(true, C, sums);
    /* Four sums, one barrier. */
    const float part[4] = {mtkd_warp_sum(sums.n), mtkd_warp_sum(sums.r1), mtkd_warp_sum(sums.rt), mtkd_warp_sum(load.nf)};
    if (mtkd_lane() == 0)
        for (int i = 0; i < 4; ++i) scratch_area(smem, 1 + i)[mtkd_warp()] = part[i];
    __syncthreads();
    /* Every thread has passed the barrier after writing v, so s and v are complete and visible. */
    float total[4] = {0.f, 0.f, 0.f, 0.f};
    for (int w = 0; w < mtkd_warps(); ++w)
        for (int i = 0; i < 4; ++i) total[i] += scratch_area(smem, 1 + i)[w];
    return student_row(m, total[0], total[1], total[2], total[3], s, y, inv_t, stats, p, b, threadIdx.x == 0);
}

struct TeacherResult {
    float lse_t;
    float kl;
};

/* Teacher k of row b (one warp): sweep 1 from global memory into the stage (or, staged, over the stage that
 * WarpLanes::start_copy is filling), sweep 2 over the stage; writes the six logit statistics. With acc (fused
 * pass, counted row) it also hands weight * pt on as A says. */
template <Accumulate A = Accumulate::Add, class Lanes>
MTKD_DEVICE TeacherResult teacher_stats(const Lanes& lanes, const float* zt_row, bool staged, const float* s,
                                        const float* v, float* stage, float* acc, float weight, int C, int y, float t,
                                        float inv_t, const StudentRow& student, float* stats, index_t at, index_t BK) {
    TeacherSweep sweep;
    sweep.s = softmax_empty();
    sweep.stage = stage;
    sweep.inv_t = inv_t;
    sweep.store = !staged;
    if (staged) {
        mtkd_copy_async_wait();
        __syncwarp(MTKD_FULL_WARP);
        lanes.sweep(stage, C, sweep);
    } else {
        lanes.sweep(zt_row, C, sweep);
    }
    SoftmaxState& st = sweep.s;
    lanes.reduce(st, inv_t);
    /* Lanes read stage columns that other lanes wrote when the row was misaligned. */
    __syncwarp(MTKD_FULL_WARP);
    /* The label's logit, read by every lane before a Store sweep overwrites the stage. */
    const float z_y = y >= 0 ? stage[y] : 0.f;
    if (A == Accumulate::Store) __syncwarp(MTKD_FULL_WARP);

    const float r1 = st.r1 + (st.n - 1.f), rt = st.rt + (st.n - 1.f);
    const float log_s1 = log1p_accurate(r1), log_st = log1p_accurate(rt);
    const float sum_t = 1.f + rt;

    KlSweep<A> kl;
    kl.s = s;
    kl.v = v;
    kl.acc = acc;
    kl.m = st.m;
    kl.k = (st.m - student.m) + t * (log_st - student.log_st);
    kl.inv_t = inv_t;
    kl.st_over_sst = sum_t / student.sum_t;
    kl.scale = weight / sum_t;
    kl.phi = 0.f;
    kl.rsum = 0.f;
    lanes.sweep(stage, C, kl);
    const float phi = lanes.sum(kl.phi);
    const float rsum = lanes.sum(kl.rsum);

    TeacherResult r;
    r.lse_t = st.m * inv_t + log_st + st.nf;
    r.kl = t * t * small_kl(phi / sum_t, rsum / sum_t);
    if (lanes.lane() == 0) {
        stats[MTKD_STAT_KL * BK + at] = r.kl;
        stats[MTKD_STAT_H_T * BK + at] = log_s1 + st.e / (1.f + r1);
        stats[MTKD_STAT_CONF * BK + at] = 1.f / (1.f + r1);
        stats[MTKD_STAT_LSE_T * BK + at] = r.lse_t;
        stats[MTKD_STAT_CE_T * BK + at] = y >= 0 ? (st.m - z_y) + log_s1 : 0.f;
        stats[MTKD_STAT_HIT * BK + at] = y >= 0 && st.arg == y ? 1.f : 0.f;
    }
    /* The next teacher overwrites the stage, and may touch other lanes' accumulator columns. */
    __syncwarp(MTKD_FULL_WARP);
    return r;
}

/* Teacher k's feature slice for row b (one warp): writes cos and mse, and with Grad dfs. */
template <bool Grad, class Lanes>
MTKD_DEVICE float feature_stats(const Lanes& lanes, const float* fs, const float* ft, float* dfs, int d, float coef,
                                float eps, float* stats, index_t at, index_t BK) {
    FeatureSweep<true, Grad> f = {0.f, 0.f, 0.f, 0.f, 0.f, dfs, coef};
    lanes.sweep_pair(fs, ft, Grad ? dfs : fs, d, f);
    const float dot = lanes.sum(f.dot), ss = lanes.sum(f.ss), tt = lanes.sum(f.tt);
    const float sq = lanes.sum(f.sq), nf = lanes.sum(f.nf);
    const float mse = sq / static_cast<float>(d) + nf;
    if (lanes.lane() == 0) {
        stats[MTKD_STAT_COS * BK + at] = dot / (mtkd_sqrt(ss) * mtkd_sqrt(tt) + eps) + nf;
        stats[MTKD_STAT_MSE * BK + at] = mse;
    }
    return mse;
}

/* dzs for one row from the W accumulators. Student probabilities: ps1 = e^{x - log S1} and
 * psT = e^{x/T - log ST} for the raw row x (gradient pass: the logs are lse_s1 and lse_st), or, in the
 * fused pass, psT = v / SsT straight from shared memory. */
struct StudentGradient {
    const float* x;   /* student row */
    const float* v;   /* fused: e^{(s-ms)/T}; gradient pass: null */
    const float* acc; /* W rows of stride cp */
    float* dzs;
    int cp, warps, y;
    float lse1, lse_t, inv_t, inv_sum_t, scale_ce, scale_kd, weight_sum;

    MTKD_DEVICE float at(int c, float xc) const {
        float pt = 0.f;
        for (int w = 0; w < warps; ++w) pt += acc[w * cp + c];
        return column(c, xc, pt, v != nullptr ? v[c] : 0.f);
    }
    /* Four columns per thread: the shared rows (accumulators, v) are read as float4 too, not four scalars with a
     * stride of four words across the warp (a 4-way bank conflict); each column sums the same terms in the same
     * order as at(). */
    MTKD_DEVICE void tile(int c) {
        const mtkd_f4 s = mtkd_load4(x + c);
        mtkd_f4 pt = {0.f, 0.f, 0.f, 0.f};
        for (int w = 0; w < warps; ++w) {
            const mtkd_f4 a = mtkd_load4(acc + w * cp + c);
            pt.x += a.x; pt.y += a.y; pt.z += a.z; pt.w += a.w;
        }
        mtkd_f4 vt = {0.f, 0.f, 0.f, 0.f};
        if (v != nullptr) vt = mtkd_load4(v + c);
        mtkd_f4 g;
        g.x = column(c, s.x, pt.x, vt.x); g.y = column(c + 1, s.y, pt.y, vt.y);
        g.z = column(c + 2, s.z, pt.z, vt.z); g.w = column(c + 3, s.w, pt.w, vt.w);
        mtkd_store4(dzs + c, g);
    }
    MTKD_DEVICE float column(int c, float xc, float pt, float vc) const {
        const float ps1 = mtkd_exp(xc - lse1);
        const float pst = v != nullptr ? vc * inv_sum_t : mtkd_exp(mtkd_fma(xc, inv_t, -lse_t));
        return scale_ce * (ps1 - (c == y ? 1.f : 0.f)) + scale_kd * mtkd_fma(weight_sum, pst, -pt);
    }
    MTKD_DEVICE void one(int c) { dzs[c] = at(c, x[c]); }
};

/* acc[c] += the first `count` stages' column c, in stage order (the fused pass's per-round sum). */
struct AddStages {
    float* acc;
    const float* stages;
    int cp, count;
    MTKD_DEVICE void tile(int c) {
        mtkd_f4 a = mtkd_load4(acc + c);
        for (int w = 0; w < count; ++w) {
            const mtkd_f4 x = mtkd_load4(stages + w * cp + c);
            a.x += x.x; a.y += x.y; a.z += x.z; a.w += x.w;
        }
        mtkd_store4(acc + c, a);
    }
    MTKD_DEVICE void one(int c) {
        float a = acc[c];
        for (int w = 0; w < count; ++w) a += stages[w * cp + c];
        acc[c] = a;
    }
};

struct Zero {
    float* out;
    MTKD_DEVICE void tile(int c) {
        mtkd_f4 z;
        z.x = z.y = z.z = z.w = 0.f;
        mtkd_store4(out + c, z);
    }
    MTKD_DEVICE void one(int c) { out[c] = 0.f; }
};

/* An ignored row's gradient: zeros everywhere (whole block). */
MTKD_DEVICE void zero_row_gradient(float* dzs_row, float* dfs_row, float* row_loss, int C, int F, int b) {
    Zero z1 = {dzs_row};
    block_sweep(mtkd_aligned16(dzs_row), C, z1);
    Zero z2 = {dfs_row};
    block_sweep(mtkd_aligned16(dfs_row), F, z2);
    if (threadIdx.x == 0) row_loss[b] = 0.f;
}

/* Sums the per-warp partials of areas 5 and 6 after the barrier the caller passed. */
MTKD_DEVICE void block_partials(float* smem, float& weight_sum, float& loss) {
    weight_sum = 0.f;
    loss = 0.f;
    for (int w = 0; w < mtkd_warps(); ++w) {
        weight_sum += scratch_area(smem, 5)[w];
        loss += scratch_area(smem, 6)[w];
    }
}

MTKD_DEVICE bool launch_fits(int K, int C, int rows) {
    const int warps = mtkd_warps();
    const unsigned need = 4u * static_cast<unsigned>(MTKD_DISTILL_SCRATCH_FLOATS + padded(C) * rows);
    return blockDim.x % MTKD_WARP_SIZE == 0 && warps >= 1 && warps <= MTKD_DISTILL_MAX_WARPS && warps <= K &&
           blockDim.y == 1 && blockDim.z == 1 && mtkd_dynamic_smem_bytes() >= need;
}

}  // namespace

/* ====================================================================== pass 1: statistics */

/* Four blocks per multiprocessor (at most 64 registers): on the H200 5 % faster at 4096,16,1000,512 than the
 * unbounded 80 registers and three blocks, the same elsewhere (docs/PERF.md, section GPU). MTKD_STATS_MIN_BLOCKS
 * builds another bound to compare. */
#ifndef MTKD_STATS_MIN_BLOCKS
#define MTKD_STATS_MIN_BLOCKS 4
#endif
extern "C" __global__ void MTKD_KERNEL_BOUNDS_MIN(MTKD_DISTILL_MAX_THREADS, MTKD_STATS_MIN_BLOCKS)
    mtkd_distill_stats(const float* __restrict__ zs, const float* __restrict__ zt, const float* __restrict__ fs,
                       const float* __restrict__ ft, const int* __restrict__ labels,
                       const int* __restrict__ feature_offsets, float* __restrict__ stats, int B, int K, int C, int F,
                       float t, float inv_t, float cos_eps) {
    MTKD_DYNAMIC_SHARED(float, smem);
    MTKD_KERNEL_REQUIRE(launch_fits(K, C, 2 + mtkd_warps()));
    const RowParams p = row_params(B, K, C, F);
    const int b = static_cast<int>(blockIdx.x);
    const int y = labels[b];
    const int cp = padded(C), warp = mtkd_warp(), warps = mtkd_warps();
    float* s = smem + MTKD_DISTILL_SCRATCH_FLOATS;
    float* v = s + cp;
    float* stage = v + cp + warp * cp;

    const StudentRow student = student_stats(zs + static_cast<index_t>(b) * C, s, v, smem, C, y, inv_t, stats, p, b);

    for (int k = warp; k < K; k += warps) {
        const index_t at = static_cast<index_t>(b) * K + k;
        teacher_stats(WarpLanes(), zt + (static_cast<index_t>(k) * B + b) * C, false, s, v, stage, nullptr, 0.f, C, y,
                      t, inv_t, student, stats, at, p.BK);
        const int off = feature_offsets[k], d = feature_offsets[k + 1] - off;
        const index_t f0 = static_cast<index_t>(b) * F + off;
        feature_stats<false>(WarpLanes(), fs + f0, ft + f0, nullptr, d, 0.f, cos_eps, stats, at, p.BK);
    }
}
MTKD_EMU_KERNEL(mtkd_distill_stats)

/* ====================================================================== pass 2: gradients */

extern "C" __global__ void MTKD_KERNEL_BOUNDS(MTKD_DISTILL_MAX_THREADS)
    mtkd_distill_gradient(const float* __restrict__ zs, const float* __restrict__ zt, const float* __restrict__ fs,
                          const float* __restrict__ ft, const int* __restrict__ labels,
                          const int* __restrict__ feature_offsets, const float* __restrict__ weights,
                          const float* __restrict__ stats, float* __restrict__ dzs, float* __restrict__ dfs,
                          float* __restrict__ row_loss, int B, int K, int C, int F, float t, float inv_t, float a_ce,
                          float a_kd, float beta, float inv_counted_rows) {
    MTKD_DYNAMIC_SHARED(float, smem);
    MTKD_KERNEL_REQUIRE(launch_fits(K, C, mtkd_warps()));
    const RowParams p = row_params(B, K, C, F);
    const int b = static_cast<int>(blockIdx.x);
    const int y = labels[b];
    float* dzs_row = dzs + static_cast<index_t>(b) * C;
    float* dfs_row = dfs + static_cast<index_t>(b) * F;
    if (y < 0) {
        zero_row_gradient(dzs_row, dfs_row, row_loss, C, F, b);
        return;
    }

    const int cp = padded(C), warp = mtkd_warp(), warps = mtkd_warps();
    float* acc = smem + MTKD_DISTILL_SCRATCH_FLOATS;
    const float* student = stats + MTKD_TEACHER_STATS * p.BK;
    float weight_sum = 0.f, loss = 0.f;
    for (int k = warp; k < K; k += warps) {
        const index_t at = static_cast<index_t>(b) * K + k;
        const float wl = weights[at], wf = weights[p.BK + at];
        AddTeacherProbabilities add = {acc + warp * cp, wl, inv_t, stats[MTKD_STAT_LSE_T * p.BK + at], k == warp};
        warp_sweep(zt + (static_cast<index_t>(k) * B + b) * C, C, add);
        /* The next teacher's row may be aligned differently, so other lanes may touch these columns. */
        __syncwarp(MTKD_FULL_WARP);

        const int off = feature_offsets[k], d = feature_offsets[k + 1] - off;
        const index_t f0 = static_cast<index_t>(b) * F + off;
        FeatureSweep<false, true> g = {0.f, 0.f, 0.f, 0.f, 0.f, dfs + f0,
                                       inv_counted_rows * beta * wf * 2.f / static_cast<float>(d)};
        warp_sweep_pair(fs + f0, ft + f0, dfs + f0, d, g);

        weight_sum += wl;
        loss += a_kd * wl * stats[MTKD_STAT_KL * p.BK + at] + beta * wf * stats[MTKD_STAT_MSE * p.BK + at];
    }
    if (mtkd_lane() == 0) {
        scratch_area(smem, 5)[warp] = weight_sum;
        scratch_area(smem, 6)[warp] = loss;
    }
    __syncthreads();
    block_partials(smem, weight_sum, loss);

    const float* zs_row = zs + static_cast<index_t>(b) * C;
    StudentGradient g = {zs_row, nullptr, acc, dzs_row, cp, warps, y,
                         student[MTKD_STAT_LSE_S1 * p.B + b], student[MTKD_STAT_LSE_ST * p.B + b], inv_t, 0.f,
                         inv_counted_rows * a_ce, inv_counted_rows * a_kd * t, weight_sum};
    block_sweep(mtkd_aligned16(zs_row) && mtkd_aligned16(dzs_row), C, g);
    if (threadIdx.x == 0) row_loss[b] = inv_counted_rows * (a_ce * student[MTKD_STAT_CE_S * p.B + b] + loss);
}
MTKD_EMU_KERNEL(mtkd_distill_gradient)

/* ====================================================================== both passes in one sweep */

/* Three blocks per multiprocessor (at most 80 registers): 3 + W rows of C = 1000 floats (44 KiB at W = 8) would let
 * five fit in 228 KiB. On the H200, with the rounds and the asynchronous row copies below, three blocks beat four
 * (64 registers, 120 B of spills) by 9-18 % at 4096,16,1000,512, 1024,8,1000,512 and 256,64,100,128 (docs/PERF.md,
 * section GPU). MTKD_FUSED_MIN_BLOCKS builds another bound, to compare. */
#ifndef MTKD_FUSED_MIN_BLOCKS
#define MTKD_FUSED_MIN_BLOCKS 3
#endif
extern "C" __global__ void MTKD_KERNEL_BOUNDS_MIN(MTKD_DISTILL_MAX_THREADS, MTKD_FUSED_MIN_BLOCKS)
    mtkd_distill_fused(const float* __restrict__ zs, const float* __restrict__ zt, const float* __restrict__ fs,
                       const float* __restrict__ ft, const int* __restrict__ labels,
                       const int* __restrict__ feature_offsets, const float* __restrict__ weights,
                       float* __restrict__ stats, float* __restrict__ dzs, float* __restrict__ dfs,
                       float* __restrict__ row_loss, int B, int K, int C, int F, float t, float inv_t, float a_ce,
                       float a_kd, float beta, float cos_eps, float inv_counted_rows) {
    MTKD_DYNAMIC_SHARED(float, smem);
    MTKD_KERNEL_REQUIRE(launch_fits(K, C, 3 + mtkd_warps()));
    const RowParams p = row_params(B, K, C, F);
    const int b = static_cast<int>(blockIdx.x);
    const int y = labels[b];
    const bool counted = y >= 0;
    const int cp = padded(C), warp = mtkd_warp(), warps = mtkd_warps();
    float* s = smem + MTKD_DISTILL_SCRATCH_FLOATS;
    float* v = s + cp;
    float* stages = v + cp;
    float* stage = stages + warp * cp;
    float* acc = stages + warps * cp; /* one row for the whole block */
    if (counted) {
        Zero clear = {acc};
        block_sweep(true, C, clear); /* student_stats' barriers order this before the first round's sum */
    }

    const StudentRow student = student_stats(zs + static_cast<index_t>(b) * C, s, v, smem, C, y, inv_t, stats, p, b);

    /* Round by round: warp w takes teacher base + w. Its row is copied into the stage asynchronously while the warp
     * sweeps the feature slice; the KL sweep then leaves wl pt in the stage in place, and after a barrier the block
     * adds the round's stages into acc column by column in warp order (no atomics, the same sum every run). */
    float weight_sum = 0.f, loss = 0.f;
    for (int base = 0; base < K; base += warps) {
        const int k = base + warp;
        if (k < K) {
            const index_t at = static_cast<index_t>(b) * K + k;
            const float wl = weights[at], wf = weights[p.BK + at];
            const float* zt_row = zt + (static_cast<index_t>(k) * B + b) * C;
            const bool staged = WarpLanes().start_copy(zt_row, C, stage);
            const int off = feature_offsets[k], d = feature_offsets[k + 1] - off;
            const index_t f0 = static_cast<index_t>(b) * F + off;
            const float mse = counted ? feature_stats<true>(WarpLanes(), fs + f0, ft + f0, dfs + f0, d,
                                                            inv_counted_rows * beta * wf * 2.f / static_cast<float>(d),
                                                            cos_eps, stats, at, p.BK)
                                      : feature_stats<false>(WarpLanes(), fs + f0, ft + f0, nullptr, d, 0.f, cos_eps, stats, at, p.BK);
            const TeacherResult r = teacher_stats<Accumulate::Store>(WarpLanes(), zt_row, staged, s, v, stage,
                                                                     counted ? stage : nullptr, wl, C, y, t, inv_t,
                                                                     student, stats, at, p.BK);
            weight_sum += wl;
            loss += a_kd * wl * r.kl + beta * wf * mse;
        }
        if (counted) { /* uniform over the block */
            __syncthreads();
            AddStages add = {acc, stages, cp, warps < K - base ? warps : K - base};
            block_sweep(true, C, add);
            __syncthreads(); /* the next round overwrites the stages */
        }
    }

    float* dzs_row = dzs + static_cast<index_t>(b) * C;
    if (!counted) {
        zero_row_gradient(dzs_row, dfs + static_cast<index_t>(b) * F, row_loss, C, F, b);
        return;
    }
    if (mtkd_lane() == 0) {
        scratch_area(smem, 5)[warp] = weight_sum;
        scratch_area(smem, 6)[warp] = loss;
    }
    __syncthreads();
    block_partials(smem, weight_sum, loss);

    StudentGradient g = {s, v, acc, dzs_row, cp, 1, y, student.m + student.log_s1, 0.f, inv_t,
                         1.f / student.sum_t, inv_counted_rows * a_ce, inv_counted_rows * a_kd * t, weight_sum};
    block_sweep(mtkd_aligned16(dzs_row), C, g);
    if (threadIdx.x == 0) {
        const float ce_s = (student.m - s[y]) + student.log_s1;
        row_loss[b] = inv_counted_rows * (a_ce * ce_s + loss);
    }
}
MTKD_EMU_KERNEL(mtkd_distill_fused)

/* The same three passes for short rows: a group of lanes per row, several rows per block. */
#include "distill_short_rows.cuh"
