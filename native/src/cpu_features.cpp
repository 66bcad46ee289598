#include "cpu_features.h"

namespace mtkd {

int32_t detected_cpu_features() noexcept {
    int32_t features = 0;
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
    // __builtin_cpu_supports also checks that the OS saves the AVX/AVX-512 register state (XCR0).
    __builtin_cpu_init();
    bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                  __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    if (avx2) features |= kFeatureAvx2Fma;
    if (avx2 && avx512) features |= kFeatureAvx512;
#endif
    return features;
}

}  // namespace mtkd
