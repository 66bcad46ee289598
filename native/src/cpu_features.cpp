#include "cpu_features.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#if defined(__unix__)
#include <unistd.h>
#endif

namespace mtkd {

namespace {

// MTKD_MAX_SIMD=avx2|scalar hides the wider instruction sets from every context, as OPENBLAS_CORETYPE or
// ONEDNN_MAX_CPU_ISA do: the whole program then runs as on a CPU without them. Unset or "avx512": no limit.
// Any other value is ignored, so a typo never turns the fast kernels off silently in one run but not another.
int32_t features_allowed_by_environment() noexcept {
    const char* limit = std::getenv("MTKD_MAX_SIMD");
    if (limit == nullptr) return ~0;
    // Only the instruction sets: what the CPU is otherwise like (kFeatureOneShufflePort, kFeatureLastLevelCache) stays
    // as detected.
    if (std::strcmp(limit, "scalar") == 0) return ~(kFeatureAvx2Fma | kFeatureAvx512);
    if (std::strcmp(limit, "avx2") == 0) return ~kFeatureAvx512;
    return ~0;
}

#if defined(__unix__)
// A cache size sysconf reports, or 0 where it does not say.
std::size_t reported_bytes(int name) noexcept {
    const long reported = sysconf(name);
    return reported > 0 ? static_cast<std::size_t>(reported) : 0;
}
#endif

}  // namespace

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
    if (__builtin_cpu_is("intel")) features |= kFeatureOneShufflePort;
#endif
    if (last_level_cache_bytes() > 0) features |= kFeatureLastLevelCache;
    return features & features_allowed_by_environment();
}

std::size_t level2_cache_bytes() noexcept {
#if defined(_SC_LEVEL2_CACHE_SIZE)
    static const std::size_t bytes = reported_bytes(_SC_LEVEL2_CACHE_SIZE);
#else
    static const std::size_t bytes = 0;
#endif
    return bytes > 0 ? bytes : std::size_t{1} << 20;
}

std::size_t last_level_cache_bytes() noexcept {
#if defined(_SC_LEVEL3_CACHE_SIZE)
    static const std::size_t bytes = std::min(reported_bytes(_SC_LEVEL3_CACHE_SIZE), kLastLevelCacheCap);
#else
    static const std::size_t bytes = 0;
#endif
    return bytes;
}

}  // namespace mtkd
