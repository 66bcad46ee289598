/*
 * cuemu_device.h - what a kernel sees when the .cu files in kernels/ are compiled as C++ for the CPU emulator.
 *
 * Each thread of a block is an OS thread with its own threadIdx; __syncthreads and __syncwarp are
 * real barriers, warp shuffles exchange values through a per-warp slot array between two barriers,
 * shared memory is one buffer per block. Nothing here is fast; all of it is faithful enough that wrong
 * indexing, a missing barrier or a bad launch geometry shows up as a wrong result or a failed launch.
 * Only mtkd_cuda.cuh includes this file.
 */
#ifndef MTKD_CUEMU_DEVICE_H
#define MTKD_CUEMU_DEVICE_H

#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <functional>
#include <limits>
#include <utility>
#include <vector>

#define __host__
#define __device__
#define __global__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __restrict__ __restrict

namespace mtkd_emu {

struct dim3_value {
    unsigned x, y, z;
};

/* Set by the emulator for the calling thread before it runs a block. */
extern thread_local dim3_value thread_idx, block_idx, block_dim, grid_dim;

void syncthreads();
void syncwarp(unsigned mask);
int lane_id();
/* Publishes `bytes` (<= 8) of *value for the warp and returns, in *result, what lane src_lane published. */
void warp_exchange(unsigned mask, const void* value, void* result, std::size_t bytes, int src_lane);
void* dynamic_shared();
/* Whether the running launch emulates the GPU's approximate exp2/log2 (mtkd_cuemu_options). */
bool approximate_math();
/* ex2.approx.ftz.f32 and lg2.approx.ftz.f32 as far as their precision goes (see cuemu.cpp). */
float approx_exp2(float x);
float approx_log2(float x);
unsigned dynamic_shared_bytes();
/* Per-block static shared memory: every thread of the block gets the same address for its n-th call. */
void* static_shared(std::size_t bytes, std::size_t align);
/* A failed launch-contract check (MTKD_KERNEL_REQUIRE): recorded for the launch, which still completes (the
 * kernel returns); the launching thread reads it with mtkd_cuemu_take_contract_failure, as the host reads a
 * module's mtkd_contract_failure on a GPU. */
void contract_failed(const char* condition, const char* file, int line);

using kernel_invoker = std::function<void(void* const* args)>;
void register_kernel(const char* name, kernel_invoker invoke, std::vector<std::size_t> parameter_sizes);

template <class T>
T load_argument(const void* p) {
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
}

template <class... A, std::size_t... I>
void invoke_kernel(void (*kernel)(A...), void* const* args, std::index_sequence<I...>) {
    kernel(load_argument<A>(args[I])...);
}

/* Unpacks a cuLaunchKernel-style argument array (args[i] points at parameter i) into the kernel's types. */
template <class... A>
struct registrar {
    registrar(const char* name, void (*kernel)(A...)) {
        register_kernel(
            name, [kernel](void* const* args) { invoke_kernel(kernel, args, std::index_sequence_for<A...>{}); },
            std::vector<std::size_t>{sizeof(A)...});
    }
};

}  // namespace mtkd_emu

#define threadIdx (::mtkd_emu::thread_idx)
#define blockIdx (::mtkd_emu::block_idx)
#define blockDim (::mtkd_emu::block_dim)
#define gridDim (::mtkd_emu::grid_dim)

#define MTKD_EMU_REGISTER_KERNEL(name) \
    static const ::mtkd_emu::registrar mtkd_emu_registrar_##name(#name, &name);

inline void __syncthreads() { ::mtkd_emu::syncthreads(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { ::mtkd_emu::syncwarp(mask); }

/* CUDA semantics for width w (a power of two <= 32): the warp is split into segments of w lanes, and
 * a source outside the caller's segment yields the caller's own value. */
template <class T>
inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
    const int lane = ::mtkd_emu::lane_id();
    int src = lane ^ lane_mask;
    if ((src & ~(width - 1)) != (lane & ~(width - 1))) src = lane;
    T r;
    ::mtkd_emu::warp_exchange(mask, &v, &r, sizeof(T), src);
    return r;
}

template <class T>
inline T __shfl_sync(unsigned mask, T v, int src_lane, int width = 32) {
    const int lane = ::mtkd_emu::lane_id();
    const int src = (lane & ~(width - 1)) + (src_lane & (width - 1));
    T r;
    ::mtkd_emu::warp_exchange(mask, &v, &r, sizeof(T), src);
    return r;
}

template <class T>
inline T atomicAdd(T* p, T v) {
    return std::atomic_ref<T>(*p).fetch_add(v);
}

#endif /* MTKD_CUEMU_DEVICE_H */
