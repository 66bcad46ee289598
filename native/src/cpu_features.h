// What the CPU running us supports, as the bitmask mtkd_cpu_features() reports.
#pragma once

#include <cstdint>

namespace mtkd {

constexpr int32_t kFeatureAvx2Fma = 1;
constexpr int32_t kFeatureAvx512 = 2;  // F, BW, DQ and VL together

int32_t detected_cpu_features() noexcept;

}  // namespace mtkd
