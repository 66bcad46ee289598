#include "context.h"

#include <new>

#ifdef _OPENMP
#include <omp.h>
#endif

void mtkd_context::reserve_scratch(int thread_count, std::size_t floats) {
    if (scratch_.size() < static_cast<std::size_t>(thread_count)) scratch_.resize(static_cast<std::size_t>(thread_count));
    for (int t = 0; t < thread_count; ++t) {
        Buffer& buffer = scratch_[static_cast<std::size_t>(t)];
        if (buffer.floats >= floats) continue;
        // Round up to whole cache lines, and grow by half again so slowly growing shapes do not reallocate
        // on every call.
        std::size_t want = floats + floats / 2;
        std::size_t bytes = (want * sizeof(float) + 63) & ~static_cast<std::size_t>(63);
        void* p = std::aligned_alloc(64, bytes);
        if (p == nullptr) throw std::bad_alloc();
        buffer.data.reset(static_cast<float*>(p));
        buffer.floats = bytes / sizeof(float);
    }
}

namespace mtkd {

int available_cores() noexcept {
#ifdef _OPENMP
    int n = omp_get_num_procs();
    return n > 0 ? n : 1;
#else
    return 1;
#endif
}

const Kernels& kernels_for(mtkd_simd level) {
    switch (level) {
        case MTKD_SIMD_AVX512: return kernels_avx512();
        case MTKD_SIMD_AVX2: return kernels_avx2();
        default: return kernels_scalar();
    }
}

}  // namespace mtkd
