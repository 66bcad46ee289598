/*
 * cuemu.h - C ABI of libmtkd_cuemu, the CPU emulator that runs the .cu files in kernels/ (compiled as C++) the way
 * the CUDA driver runs their PTX: by name, with a grid, a block, dynamic shared memory and an array of
 * pointers to the arguments, exactly as cuLaunchKernel takes them.
 *
 * Conventions (as in native/include/mtkd.h): functions return an mtkd_cuemu_status; on failure the
 * reason is kept in a thread-local string that mtkd_cuemu_last_error() returns (valid until the next
 * call on the same thread); no C++ exception crosses this boundary. Launches run synchronously; several
 * launches may run at once from different threads.
 */
#ifndef MTKD_CUEMU_H
#define MTKD_CUEMU_H

#include <stdint.h>

#define MTKD_CUEMU_API __attribute__((visibility("default")))

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mtkd_cuemu_status {
    MTKD_CUEMU_OK = 0,
    MTKD_CUEMU_INVALID_ARGUMENT = 1, /* unknown kernel, bad geometry, argument count or size mismatch */
    MTKD_CUEMU_UNSUPPORTED = 2,      /* something the emulator does not model */
    MTKD_CUEMU_OUT_OF_MEMORY = 3,    /* host memory or threads could not be had */
    MTKD_CUEMU_INTERNAL = 4,
    MTKD_CUEMU_KERNEL_FAILED = 5     /* the kernel failed a check, or its barriers could never complete */
} mtkd_cuemu_status;

/* The emulated device: the limits a launch is checked against (those of an sm_90 GPU). */
typedef struct mtkd_cuemu_limits {
    int32_t warp_size;                 /* 32 */
    int32_t max_threads_per_block;     /* 1024 */
    int32_t default_dynamic_smem;      /* 49152: what a kernel may use without raising its attribute */
    int32_t max_smem_per_block_optin;  /* 232448: the most static + dynamic shared memory of a block */
    int32_t max_static_smem;           /* 49152 */
} mtkd_cuemu_limits;

MTKD_CUEMU_API const char* mtkd_cuemu_last_error(void);
MTKD_CUEMU_API const char* mtkd_cuemu_version(void);
MTKD_CUEMU_API mtkd_cuemu_status mtkd_cuemu_get_limits(mtkd_cuemu_limits* out);

/* Registered kernels: count, i-th name (null when out of range), parameter sizes in bytes. */
MTKD_CUEMU_API int32_t mtkd_cuemu_kernel_count(void);
MTKD_CUEMU_API const char* mtkd_cuemu_kernel_name(int32_t index);
/* Writes up to `capacity` sizes and the true parameter count. */
MTKD_CUEMU_API mtkd_cuemu_status mtkd_cuemu_kernel_parameters(const char* name, int32_t* sizes, int32_t capacity,
                                                              int32_t* count);

/* The counterpart of cuFuncSetAttribute(CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES). */
MTKD_CUEMU_API mtkd_cuemu_status mtkd_cuemu_set_max_dynamic_smem(const char* name, int32_t bytes);
MTKD_CUEMU_API mtkd_cuemu_status mtkd_cuemu_get_max_dynamic_smem(const char* name, int32_t* bytes);

/*
 * How a launch runs. Both modes exist to show on the CPU what the default hides:
 *   concurrent_blocks  blocks running at once (1 = one after another, the default; 2 = two blocks at a time,
 *                      each with its own threads and shared memory), so races between blocks show;
 *   approximate_math   mtkd_exp/mtkd_log with the precision of the GPU's ex2.approx.ftz / lg2.approx.ftz
 *                      (about 2 ulp, an absolute error near 1 for lg2, denormals flushed to zero) instead of
 *                      exact libm results, so the kernels' accuracy with them is tested here.
 */
typedef struct mtkd_cuemu_options {
    int32_t concurrent_blocks;
    int32_t approximate_math;
} mtkd_cuemu_options;

/* mtkd_cuemu_launch with options (null = the defaults: blocks in turn, exact math). */
MTKD_CUEMU_API mtkd_cuemu_status mtkd_cuemu_launch_with(const char* name, uint32_t gx, uint32_t gy, uint32_t gz,
                                                        uint32_t bx, uint32_t by, uint32_t bz, uint32_t dynamic_smem,
                                                        void* const* args, const int32_t* arg_sizes, int32_t arg_count,
                                                        const mtkd_cuemu_options* options);

/*
 * Runs kernel `name` over grid (gx,gy,gz) of blocks (bx,by,bz) with `dynamic_smem` bytes of dynamic
 * shared memory. args[i] points at the value of parameter i; arg_sizes[i] is its size in bytes, checked
 * against the kernel's parameter (a check the GPU cannot make). Returns when every block has finished.
 */
MTKD_CUEMU_API mtkd_cuemu_status mtkd_cuemu_launch(const char* name, uint32_t gx, uint32_t gy, uint32_t gz,
                                                   uint32_t bx, uint32_t by, uint32_t bz, uint32_t dynamic_smem,
                                                   void* const* args, const int32_t* arg_sizes, int32_t arg_count);

/*
 * The launch-contract failure (MTKD_KERNEL_REQUIRE) of the last launch made by the calling thread, then cleared:
 * *line is the failing check's line (0 when every check held) and, when it is not 0, mtkd_cuemu_last_error() says
 * which kernel, block, condition and file. A failed check does not fail the launch, as on a GPU, where the kernel
 * records the line in its module's mtkd_contract_failure and returns.
 */
MTKD_CUEMU_API mtkd_cuemu_status mtkd_cuemu_take_contract_failure(int32_t* line);

#ifdef __cplusplus
}
#endif

#endif /* MTKD_CUEMU_H */
