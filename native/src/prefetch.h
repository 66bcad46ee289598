// Hints to bring one cache line in ahead of its use. The hardware prefetchers follow a stream only within a 4 KiB
// page, so where the next row to be read lies elsewhere (the next teacher's rows of a block, or a row of about a
// page), the kernels ask for it while they compute on the current one. A hint never faults, and a compiler without the
// builtin gets nothing.
//
// Where a hint leaves its line (Hint): into L1 by default; into L2 where a sweep asks for rows that come from memory
// (the row kernels' next teacher row and feature slice in a pass past the cache, the gradient row kernel's next row,
// and the feature sweeps whose dfs streams past the caches). A line on its way from memory holds one of the L1's few
// miss buffers until it arrives; asked for into L2 it waits in the L2's longer queue, so more lines are in flight at
// once and the sweep's loads meet them in L2. Zen 4, 2 threads, 1024,8,1000,512: stats -9 %, gradient -16 %, fused
// -5 %; where the lines sit in the L3 (256,16,100,256's feature sweeps) L2 hints were 6-10 % slower, which is why the
// level follows the pass (docs/PERF.md, "Zen 4: hints into L2 for rows from memory").
#pragma once

#include <cstddef>
#include <cstdint>

namespace mtkd {
namespace {  // compiled per SIMD level: see distill_kernels.inl

// The cache level a hint brings its line into (the builtin's temporal locality: 3 for every level, 2 for L2 and out).
enum class Hint : int { IntoL2 = 2, IntoL1 = 3 };

template <Hint H = Hint::IntoL1>
inline void prefetch_line(const float* p) {
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(p, 0, static_cast<int>(H));
#else
    (void)p;
#endif
}

// How far ahead the sweeps that prefetch along a stream ask for it: the feature sweeps past their own slice
// (distill_features.inl) and the catalog's gradient sweeps, which ask for the teacher row this far later in their
// order (distill_divergences.inl). Distances from the next row to 8 KiB measured alike; 2 KiB is kept.
constexpr int kPrefetchAheadBytes = 2048;

// The address `floats` floats past p, as a hint's target only: it may lie past the end of p's array, so it is formed
// as an integer rather than by pointer arithmetic.
inline const float* address_ahead(const float* p, std::ptrdiff_t floats) {
    return reinterpret_cast<const float*>(reinterpret_cast<std::uintptr_t>(p) + floats * sizeof(float));
}

// Prefetches the line of `next` that matches column c of the current sweep, once per 16 floats (a 64-byte line),
// so a sweep over a row of n floats brings in the first n floats of next (two lines per step of a sweep that goes
// 32 floats at a time, Twice<VecAvx512>). The scalar build (W = 1) asks for nothing:
// a test per float would cost more than the hint saves.
template <int W, Hint H = Hint::IntoL1>
inline void prefetch_along(const float* next, int c) {
    if constexpr (W >= 32) {
        if (next != nullptr) {
            prefetch_line<H>(next + c);
            prefetch_line<H>(next + c + 16);
        }
    } else if constexpr (W >= 16) {
        if (next != nullptr) prefetch_line<H>(next + c);
    } else if constexpr (W >= 8) {
        if (next != nullptr && c % 16 == 0) prefetch_line<H>(next + c);
    }
}

}  // namespace
}  // namespace mtkd
