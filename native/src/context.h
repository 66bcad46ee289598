// The opaque mtkd_context: the chosen kernels, the thread count, and per-thread scratch that grows to the
// largest call seen so the hot path never allocates once warm.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "kernels.h"

struct mtkd_context {
    const mtkd::Kernels* kernels = nullptr;
    int threads = 1;
    // The CPU features the context may use (mtkd_cpu_features' bits, less those mtkd_context_create_limited masked).
    int32_t features = 0;
    // Whether mtkd_sgemm runs OpenBLAS (else the built-in GEMM), and that choice in words.
    bool use_openblas = false;
    std::string gemm_info;
    // Serialises calls on one context: the scratch below is shared by them.
    std::mutex mutex;

    // Scratch for thread t of the next parallel region; at least `floats` floats, 64-byte aligned.
    // Call with the mutex held, before the parallel region.
    void reserve_scratch(int thread_count, std::size_t floats);
    float* scratch(int thread) const { return scratch_[static_cast<std::size_t>(thread)].data.get(); }

private:
    struct FreeDeleter {
        void operator()(float* p) const noexcept { std::free(p); }
    };
    struct Buffer {
        std::unique_ptr<float, FreeDeleter> data;
        std::size_t floats = 0;
    };
    std::vector<Buffer> scratch_;
};

namespace mtkd {

// Threads an OpenMP region may use (1 without OpenMP).
int available_cores() noexcept;

// Runs body(thread_index) on `threads` threads with flush-to-zero and denormals-are-zero set, restoring
// each thread's floating-point mode afterwards. Subnormal floats carry nothing the op needs, and
// arithmetic on them can cost a hundred cycles per instruction.
template <class Body>
void parallel_region(int threads, Body&& body);

}  // namespace mtkd

#include "parallel.inl"
