// What the CPU running us supports, as the bitmask mtkd_cpu_features() reports.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mtkd {

constexpr int32_t kFeatureAvx2Fma = 1;
constexpr int32_t kFeatureAvx512 = 2;  // F, BW, DQ and VL together

int32_t detected_cpu_features() noexcept;

// Bytes of one core's L2 cache as the OS reports it (1 MiB where it does not say).
std::size_t level2_cache_bytes() noexcept;

}  // namespace mtkd
