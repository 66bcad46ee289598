#include "build_info.h"

#include <string>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace mtkd {
namespace {

std::string openmp_text() {
#ifdef _OPENMP
    // _OPENMP is the yyyymm date of the specification the compiler implements.
    switch (_OPENMP) {
        case 201511: return "OpenMP 4.5";
        case 201811: return "OpenMP 5.0";
        case 202011: return "OpenMP 5.1";
        case 202111: return "OpenMP 5.2";
        default: return "OpenMP " + std::to_string(_OPENMP);
    }
#else
    return "no OpenMP (one thread)";
#endif
}

std::string describe_build() {
    std::string text = std::string("mtkd_native ") + MTKD_VERSION_TEXT + "; " + MTKD_COMPILER_TEXT + ", " +
                       MTKD_BUILD_TYPE_TEXT + "; " + openmp_text() +
                       "; SIMD kernels: scalar, AVX2+FMA, AVX-512 (F/BW/DQ/VL); GEMM: " + gemm_info();
    return text;
}

}  // namespace

const char* gemm_info() noexcept {
    return have_openblas() ? openblas_description() : "built-in blocked GEMM (OpenBLAS not found at build time)";
}

const char* build_info() noexcept {
    // Built once; a failure to allocate here leaves a fixed fallback rather than throwing across the ABI.
    static const std::string text = [] {
        try {
            return describe_build();
        } catch (...) {
            return std::string("mtkd_native (description unavailable)");
        }
    }();
    return text.c_str();
}

}  // namespace mtkd
