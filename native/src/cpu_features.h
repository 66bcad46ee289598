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
// The OS reports a last-level (L3) cache: a pass whose bytes fit half of it (at most kLastLevelCacheCap) writes its
// gradients by plain stores, which leave them in the cache for the step's next reader, instead of streaming them past
// it, and its row kernels ask for their next lines into L1 rather than L2 (DistillProblem::pass_past_cache). Masking
// it off treats every pass as past the cache, as without such a cache.
constexpr int32_t kFeatureLastLevelCache = 8;

int32_t detected_cpu_features() noexcept;

// Bytes of one core's L2 cache as the OS reports it (1 MiB where it does not say).
std::size_t level2_cache_bytes() noexcept;

// Bytes of the last-level (L3) cache as the OS reports it, at most kLastLevelCacheCap; 0 where it does not say.
// The cap: a guest of a few cores is told more than it holds under its neighbours (sysconf said 320 MiB on a Zen 4
// guest whose L3 is 32 MiB, 300 MiB on an Emerald Rapids one).
constexpr std::size_t kLastLevelCacheCap = std::size_t{32} << 20;
std::size_t last_level_cache_bytes() noexcept;

}  // namespace mtkd
