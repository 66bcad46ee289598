/*
 * selftest.cu - small kernels that check the machinery distill.cu stands on rather than the op:
 * block reductions over odd sizes, static and dynamic shared memory, barriers, warp shuffles and
 * atomics. The emulator tests run them on the CPU; the GPU tests run them on buffers that ILGPU
 * allocated, to prove a .cu kernel reads and writes ILGPU's memory in ILGPU's context.
 */
#include "mtkd_cuda.cuh"
#include "mtkd_reduce.cuh"

/* One block per row: stages the row in dynamic shared memory, then each thread sums columns that
 * other threads staged (the reversed walk needs the barrier), and reduces over the block.
 * sums[r] = sum of row r, maxes[r] = its max, *total += every row's sum (one global atomic per row). */
extern "C" __global__ void mtkd_selftest_row_reduce(const float* __restrict__ x, int rows, int cols,
                                                    float* __restrict__ sums, float* __restrict__ maxes,
                                                    float* __restrict__ total) {
    MTKD_STATIC_SHARED(float, scratch, 2 * MTKD_WARP_SIZE);
    MTKD_DYNAMIC_SHARED(float, row);
    MTKD_KERNEL_REQUIRE(blockDim.x % MTKD_WARP_SIZE == 0 && blockDim.y == 1 && blockDim.z == 1 &&
                        mtkd_dynamic_smem_bytes() >= 4u * static_cast<unsigned>(cols));
    const int r = static_cast<int>(blockIdx.x);
    if (r >= rows) return;
    const int tid = static_cast<int>(threadIdx.x), threads = static_cast<int>(blockDim.x);
    for (int c = tid; c < cols; c += threads) row[c] = x[static_cast<long long>(r) * cols + c];
    __syncthreads();
    float sum = 0.f, best = -MTKD_INFINITY;
    for (int c = cols - 1 - tid; c >= 0; c -= threads) {
        sum += row[c];
        best = mtkd_fmax(best, row[c]);
    }
    sum = mtkd_block_sum(sum, scratch);
    best = mtkd_block_max(best, scratch + MTKD_WARP_SIZE);
    if (tid == 0) {
        sums[r] = sum;
        maxes[r] = best;
        atomicAdd(total, sum);
    }
}
MTKD_EMU_KERNEL(mtkd_selftest_row_reduce)

/* One block: for each thread t (lane l) with value v = 7t + 3,
 * xor_out[5t + j] = v of lane l ^ 2^j (j = 0..4), idx_out[t] = float(thread index of lane (3l + 1) mod 32). */
extern "C" __global__ void mtkd_selftest_shuffle(int* __restrict__ xor_out, float* __restrict__ idx_out) {
    const int t = static_cast<int>(threadIdx.x), lane = mtkd_lane();
    const int v = 7 * t + 3;
    for (int j = 0; j < 5; ++j) xor_out[5 * t + j] = __shfl_xor_sync(MTKD_FULL_WARP, v, 1 << j);
    idx_out[t] = __shfl_sync(MTKD_FULL_WARP, static_cast<float>(t), (3 * lane + 1) & (MTKD_WARP_SIZE - 1));
}
MTKD_EMU_KERNEL(mtkd_selftest_shuffle)

/* out[i] = i + 0.5 after a trip through dynamic shared memory, each value written by one thread and
 * read by another: checks shared-memory sizes (and the opt-in above the default limit). */
extern "C" __global__ void mtkd_selftest_shared_roundtrip(float* __restrict__ out, int n) {
    MTKD_DYNAMIC_SHARED(float, buffer);
    MTKD_KERNEL_REQUIRE(mtkd_dynamic_smem_bytes() >= 4u * static_cast<unsigned>(n));
    const int tid = static_cast<int>(threadIdx.x), threads = static_cast<int>(blockDim.x);
    for (int i = tid; i < n; i += threads) buffer[i] = static_cast<float>(i) + 0.5f;
    __syncthreads();
    for (int i = tid; i < n; i += threads) {
        const int j = (i + 37) % n;
        out[j] = buffer[j];
    }
}
MTKD_EMU_KERNEL(mtkd_selftest_shared_roundtrip)

#if defined(MTKD_CUDA_EMULATE)
/* Emulator only: a __syncthreads that the odd threads never reach. On a GPU that is undefined
 * behaviour; the emulator has to report it rather than hang. */
extern "C" __global__ void mtkd_selftest_divergent_barrier(int* __restrict__ out) {
    if (threadIdx.x % 2 == 0) __syncthreads();
    out[threadIdx.x] = 1;
}
MTKD_EMU_KERNEL(mtkd_selftest_divergent_barrier)

/* Emulator only: whether blocks overlap in time. Thread 0 of each block announces itself, waits a bounded while
 * for every block of the grid, and records how many had arrived: blocks run one after another see only those
 * before them, blocks run at once see each other. */
extern "C" __global__ void mtkd_selftest_block_overlap(int* __restrict__ arrived, int* __restrict__ seen, int spins) {
    if (threadIdx.x != 0) return;
    atomicAdd(arrived, 1);
    int now = 0;
    for (int i = 0; i < spins; ++i) {
        now = std::atomic_ref<int>(*arrived).load();
        if (now >= static_cast<int>(gridDim.x)) break;
    }
    seen[blockIdx.x] = now;
}
MTKD_EMU_KERNEL(mtkd_selftest_block_overlap)
#endif
