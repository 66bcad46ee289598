// What the CPU running us supports, as the bitmask mtkd_cpu_features() reports.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mtkd {

constexpr int32_t kFeatureAvx2Fma = 1;
constexpr int32_t kFeatureAvx512 = 2;  // F, BW, DQ and VL together
// Vector shuffles issue on one port (Intel's cores: port 5, beside the second FMA unit), so the transposes of the lane
// groups cost more than on cores with two shuffle pipes (AMD's Zen): the gradient pass then takes rows of more than 32
// classes row by row (distill_kernels.inl, gradient_by_lane_groups). Masking it off (mtkd_context_create_limited)
// gives the lane groups back.
constexpr int32_t kFeatureOneShufflePort = 4;

int32_t detected_cpu_features() noexcept;

// Bytes of one core's L2 cache as the OS reports it (1 MiB where it does not say).
std::size_t level2_cache_bytes() noexcept;

}  // namespace mtkd
