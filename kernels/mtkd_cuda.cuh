/*
 * mtkd_cuda.cuh - one kernel source for three compilers.
 *
 * The .cu files in kernels/ are CUDA C++ written against this header so that the same text builds:
 *   1. with nvcc, where the toolkit headers are implicit;
 *   2. with clang -x cuda --cuda-device-only -nocudainc -nocudalib, i.e. without any CUDA toolkit:
 *      there is no cuda_runtime.h and no libdevice, so the builtin variables come from clang's own
 *      header, the CUDA keywords are spelled as the clang attributes they stand for, and exp/log are
 *      the PTX approximate instructions (ex2.approx, lg2.approx) reached through clang builtins;
 *   3. as ordinary C++ with MTKD_CUDA_EMULATE, linked into the CPU emulator (emu/), which supplies
 *      threadIdx & co., barriers, warp shuffles and shared memory with the same semantics.
 *
 * What the kernels may use, and nothing else:
 *   threadIdx blockIdx blockDim gridDim, __syncthreads(), __syncwarp(mask),
 *   __shfl_xor_sync / __shfl_sync (float, int), atomicAdd (float, int),
 *   MTKD_DYNAMIC_SHARED(type, name), MTKD_STATIC_SHARED(type, name, count), mtkd_dynamic_smem_bytes(),
 *   mtkd_exp / mtkd_log / mtkd_sqrt / mtkd_fmax / mtkd_fma, mtkd_f4 with mtkd_load4 / mtkd_store4,
 *   mtkd_copy_async16(shared, global) and mtkd_copy_async_wait(): 16-byte copies from global into shared memory
 *     that hold no register while in flight (cp.async, sm_80); after the wait the thread sees its own copies,
 *     other threads' only after a barrier,
 *   MTKD_KERNEL_REQUIRE(cond) for launch-contract checks that are uniform over the block, in a kernel's own
 *     body (it returns from the kernel): a failed check records its line where the host reads it after the
 *     launch (mtkd_contract_failure, one per module; the emulator keeps it per launching target) and the
 *     kernel returns without writing anything. A trap instead would be a sticky error that ends the whole
 *     CUDA context, and every later launch and copy of the process with it.
 *   MTKD_EMU_KERNEL(name) after each extern "C" kernel, so the emulator can find it by name.
 */
#ifndef MTKD_CUDA_CUH
#define MTKD_CUDA_CUH

#if defined(MTKD_CUDA_EMULATE)
/* ------------------------------------------------------------------ CPU emulator */
#include "emu/cuemu_device.h"

#define MTKD_DEVICE inline
#define MTKD_KERNEL_BOUNDS(threads)
#define MTKD_KERNEL_BOUNDS_MIN(threads, blocks)
#define MTKD_DYNAMIC_SHARED(type, name) type* name = static_cast<type*>(::mtkd_emu::dynamic_shared())
#define MTKD_STATIC_SHARED(type, name, count) \
    type* name = static_cast<type*>(::mtkd_emu::static_shared(sizeof(type) * (count), alignof(type)))
#define MTKD_KERNEL_REQUIRE(cond)                                        \
    do {                                                                 \
        if (!(cond)) {                                                   \
            ::mtkd_emu::contract_failed(#cond, __FILE__, __LINE__);      \
            return;                                                      \
        }                                                                \
    } while (0)
#define MTKD_EMU_KERNEL(name) MTKD_EMU_REGISTER_KERNEL(name)

#define MTKD_INFINITY std::numeric_limits<float>::infinity()

MTKD_DEVICE unsigned mtkd_dynamic_smem_bytes() { return ::mtkd_emu::dynamic_shared_bytes(); }
/* Exact float math by default: the emulator checks indexing and reductions. With approximate_math it uses the
 * GPU path's formulas with ex2.approx/lg2.approx precision (emu/cuemu.cpp), so their accuracy is tested too. */
#define MTKD_LOG2E 1.4426950408889634f
#define MTKD_LN2 0.6931471805599453f
MTKD_DEVICE float mtkd_exp(float x) {
    return ::mtkd_emu::approximate_math() ? ::mtkd_emu::approx_exp2(x * MTKD_LOG2E) : std::exp(x);
}
MTKD_DEVICE float mtkd_log(float x) {
    return ::mtkd_emu::approximate_math() ? ::mtkd_emu::approx_log2(x) * MTKD_LN2 : std::log(x);
}
MTKD_DEVICE float mtkd_sqrt(float x) { return std::sqrt(x); }
MTKD_DEVICE float mtkd_fmax(float a, float b) { return std::fmax(a, b); }
MTKD_DEVICE float mtkd_fma(float a, float b, float c) { return std::fma(a, b, c); }
/* The emulator copies at once; waiting has nothing left to do. */
MTKD_DEVICE void mtkd_copy_async16(float* shared_dst, const float* global_src) {
    std::memcpy(shared_dst, global_src, 16);
}
MTKD_DEVICE void mtkd_copy_async_wait() {}

#else
/* ------------------------------------------------------------------ GPU compilers */
#if defined(__NVCC__)
/* nvcc brings __global__, __shfl_xor_sync, atomicAdd, exp2f, __log2f with its implicit headers. */
#elif defined(__clang__) && defined(__CUDA__)
#include <__clang_cuda_builtin_vars.h>
#define __host__ __attribute__((host))
#define __device__ __attribute__((device))
#define __global__ __attribute__((global))
#define __shared__ __attribute__((shared))
#define __constant__ __attribute__((constant))
#define __forceinline__ __inline__ __attribute__((always_inline))
#define __launch_bounds__(...) __attribute__((launch_bounds(__VA_ARGS__)))

/* c = 0x1f: the whole warp is one shuffle segment (width 32). */
__device__ __forceinline__ float __shfl_xor_sync(unsigned mask, float v, int lane_mask) {
    return __nvvm_shfl_sync_bfly_f32(mask, v, lane_mask, 0x1f);
}
__device__ __forceinline__ int __shfl_xor_sync(unsigned mask, int v, int lane_mask) {
    return __nvvm_shfl_sync_bfly_i32(mask, v, lane_mask, 0x1f);
}
__device__ __forceinline__ float __shfl_sync(unsigned mask, float v, int src_lane) {
    return __nvvm_shfl_sync_idx_f32(mask, v, src_lane, 0x1f);
}
__device__ __forceinline__ int __shfl_sync(unsigned mask, int v, int src_lane) {
    return __nvvm_shfl_sync_idx_i32(mask, v, src_lane, 0x1f);
}
__device__ __forceinline__ void __syncwarp(unsigned mask = 0xffffffffu) { __nvvm_bar_warp_sync(mask); }
__device__ __forceinline__ float atomicAdd(float* p, float v) { return __nvvm_atom_add_gen_f(p, v); }
__device__ __forceinline__ int atomicAdd(int* p, int v) { return __nvvm_atom_add_gen_i(p, v); }
#else
#error "kernels/*.cu need nvcc, clang -x cuda, or MTKD_CUDA_EMULATE"
#endif

#define MTKD_DEVICE __device__ __forceinline__
#define MTKD_KERNEL_BOUNDS(threads) __launch_bounds__(threads)
/* ... and at least `blocks` such blocks resident per multiprocessor: registers are capped to fit them. */
#define MTKD_KERNEL_BOUNDS_MIN(threads, blocks) __launch_bounds__(threads, blocks)
#define MTKD_DYNAMIC_SHARED(type, name) extern __shared__ __attribute__((aligned(16))) type name[]
#define MTKD_STATIC_SHARED(type, name, count) __shared__ type name[count]
/* A broken launch contract is a bug in the launcher: the line goes to the module's flag, which the host reads
 * (and clears) after the launch and reports as an error, and the kernel returns without writing wrong numbers.
 * Every failing thread stores the same kind of value, so a plain store is enough. */
extern "C" {
__device__ int mtkd_contract_failure;
}
#define MTKD_KERNEL_REQUIRE(cond)                                           \
    do {                                                                    \
        if (!(cond)) {                                                      \
            *static_cast<volatile int*>(&mtkd_contract_failure) = __LINE__; \
            return;                                                         \
        }                                                                   \
    } while (0)
#define MTKD_EMU_KERNEL(name)

MTKD_DEVICE unsigned mtkd_dynamic_smem_bytes() {
    unsigned bytes;
    asm("mov.u32 %0, %%dynamic_smem_size;" : "=r"(bytes));
    return bytes;
}

/* exp and log through the hardware base-2 approximations (about 2 ulp); the ftz forms are the
 * single-instruction ones, and a flushed e^-88 is invisible next to the sums it joins. */
#define MTKD_LOG2E 1.4426950408889634f
#define MTKD_LN2 0.6931471805599453f
#if defined(__NVCC__)
#define MTKD_INFINITY __int_as_float(0x7f800000)
MTKD_DEVICE float mtkd_exp(float x) { return exp2f(x * MTKD_LOG2E); }
MTKD_DEVICE float mtkd_log(float x) { return __log2f(x) * MTKD_LN2; }
MTKD_DEVICE float mtkd_sqrt(float x) { return sqrtf(x); }
MTKD_DEVICE float mtkd_fmax(float a, float b) { return fmaxf(a, b); }
MTKD_DEVICE float mtkd_fma(float a, float b, float c) { return fmaf(a, b, c); }
#else
#define MTKD_INFINITY __builtin_huge_valf()
MTKD_DEVICE float mtkd_exp(float x) { return __nvvm_ex2_approx_ftz_f(x * MTKD_LOG2E); }
MTKD_DEVICE float mtkd_log(float x) { return __nvvm_lg2_approx_ftz_f(x) * MTKD_LN2; }
MTKD_DEVICE float mtkd_sqrt(float x) { return __builtin_sqrtf(x); }
MTKD_DEVICE float mtkd_fmax(float a, float b) { return __builtin_fmaxf(a, b); }
MTKD_DEVICE float mtkd_fma(float a, float b, float c) { return __builtin_fmaf(a, b, c); }
#endif
/* cp.async.cg: 16 bytes from global memory into shared memory through L2 only, asynchronously; the shared
 * address is the 32-bit offset in the shared window (cvta.to.shared), the global one the generic address. */
MTKD_DEVICE void mtkd_copy_async16(float* shared_dst, const float* global_src) {
    asm volatile(
        "{\n\t.reg .u64 mtkd_a;\n\t.reg .u32 mtkd_s;\n\t"
        "cvta.to.shared.u64 mtkd_a, %0;\n\tcvt.u32.u64 mtkd_s, mtkd_a;\n\t"
        "cp.async.cg.shared.global [mtkd_s], [%1], 16;\n\t}" ::"l"(shared_dst),
        "l"(global_src)
        : "memory");
}
/* Waits for every cp.async this thread issued (commit and wait in one). */
MTKD_DEVICE void mtkd_copy_async_wait() { asm volatile("cp.async.wait_all;" ::: "memory"); }
#endif /* MTKD_CUDA_EMULATE */

/* ------------------------------------------------------------------ common to all three */
#define MTKD_FULL_WARP 0xffffffffu
#define MTKD_WARP_SIZE 32

/* Our own float4: no toolkit header is needed, and the 16-byte alignment makes clang and nvcc emit
 * one 128-bit load or store for it. */
struct __attribute__((aligned(16))) mtkd_f4 {
    float x, y, z, w;
};

MTKD_DEVICE bool mtkd_aligned16(const void* p) {
    return (reinterpret_cast<unsigned long long>(p) & 15u) == 0;
}
MTKD_DEVICE mtkd_f4 mtkd_load4(const float* p) { return *reinterpret_cast<const mtkd_f4*>(p); }
MTKD_DEVICE void mtkd_store4(float* p, mtkd_f4 v) { *reinterpret_cast<mtkd_f4*>(p) = v; }

#endif /* MTKD_CUDA_CUH */
