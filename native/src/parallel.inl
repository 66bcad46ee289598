// Definition of mtkd::parallel_region (declared in context.h).
#pragma once

#if defined(__x86_64__) || defined(_M_X64)
#include <xmmintrin.h>
#endif

#ifdef _OPENMP
#include <omp.h>
#endif

namespace mtkd {

class FlushDenormalsScope {
public:
#if defined(__x86_64__) || defined(_M_X64)
    FlushDenormalsScope() noexcept : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | kFlushToZero | kDenormalsAreZero); }
    ~FlushDenormalsScope() { _mm_setcsr(saved_); }

private:
    static constexpr unsigned kFlushToZero = 0x8000;
    static constexpr unsigned kDenormalsAreZero = 0x0040;
    unsigned saved_;
#endif
};

template <class Body>
void parallel_region(int threads, Body&& body) {
#ifdef _OPENMP
    if (threads > 1) {
#pragma omp parallel num_threads(threads)
        {
            FlushDenormalsScope mode;
            body(omp_get_thread_num(), omp_get_num_threads());
        }
        return;
    }
#else
    (void)threads;
#endif
    FlushDenormalsScope mode;
    body(0, 1);
}

}  // namespace mtkd
