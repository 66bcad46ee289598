/*
 * mtkd_reduce.cuh - warp and block reductions for 1-D blocks made of whole warps.
 *
 * Warp reductions use the xor butterfly: after log2(32) exchanges every lane holds the same value,
 * so no broadcast is needed. Block reductions combine the per-warp values in warp order, so every
 * thread computes bit-identical results and the sum does not depend on scheduling.
 */
#ifndef MTKD_REDUCE_CUH
#define MTKD_REDUCE_CUH

#include "mtkd_cuda.cuh"

MTKD_DEVICE int mtkd_lane() { return static_cast<int>(threadIdx.x) & (MTKD_WARP_SIZE - 1); }
MTKD_DEVICE int mtkd_warp() { return static_cast<int>(threadIdx.x) / MTKD_WARP_SIZE; }
MTKD_DEVICE int mtkd_warps() { return static_cast<int>(blockDim.x) / MTKD_WARP_SIZE; }

/* Sum and max over each segment of `width` lanes (a power of two <= 32: xor partners below width stay in the
 * segment). Every lane of the warp must call them. */
MTKD_DEVICE float mtkd_segment_sum(float v, int width) {
    for (int offset = width / 2; offset > 0; offset >>= 1) v += __shfl_xor_sync(MTKD_FULL_WARP, v, offset);
    return v;
}

MTKD_DEVICE float mtkd_segment_max(float v, int width) {
    for (int offset = width / 2; offset > 0; offset >>= 1) v = mtkd_fmax(v, __shfl_xor_sync(MTKD_FULL_WARP, v, offset));
    return v;
}

MTKD_DEVICE float mtkd_warp_sum(float v) { return mtkd_segment_sum(v, MTKD_WARP_SIZE); }

MTKD_DEVICE float mtkd_warp_max(float v) { return mtkd_segment_max(v, MTKD_WARP_SIZE); }

/* Sum over the block. scratch: one float per warp, used by this call alone (a second reduction that
 * follows immediately needs its own scratch, because slow threads may still be reading this one).
 * Contains one __syncthreads, so every thread of the block must call it. */
MTKD_DEVICE float mtkd_block_sum(float v, float* scratch) {
    v = mtkd_warp_sum(v);
    if (mtkd_lane() == 0) scratch[mtkd_warp()] = v;
    __syncthreads();
    float total = 0.f;
    for (int w = 0; w < mtkd_warps(); ++w) total += scratch[w];
    return total;
}

MTKD_DEVICE float mtkd_block_max(float v, float* scratch) {
    v = mtkd_warp_max(v);
    if (mtkd_lane() == 0) scratch[mtkd_warp()] = v;
    __syncthreads();
    float best = -MTKD_INFINITY;
    for (int w = 0; w < mtkd_warps(); ++w) best = mtkd_fmax(best, scratch[w]);
    return best;
}

#endif /* MTKD_REDUCE_CUH */
