// Loops over a row of floats in vectors of V::W with one masked tail, written once over the vector traits V:
// the full vectors run without masks; the last partial vector loads zeros outside its mask and stores only
// inside it, so rows of any length are processed without touching memory past their end.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

namespace mtkd {
namespace {  // compiled per SIMD level: see distill_kernels.inl
namespace distill {

template <bool Tail, class V>
inline typename V::F load(const float* p, typename V::M m) {
    if constexpr (Tail) return V::load(p, m);
    else return V::load(p);
}

template <bool Tail, class V>
inline void store(float* p, typename V::F x, typename V::M m) {
    if constexpr (Tail) V::store(p, x, m);
    else V::store(p, x);
}

template <bool Tail, class V>
inline typename V::F keep(typename V::F x, typename V::M m) {
    if constexpr (Tail) return V::keep(x, m);
    else return x;
}

// Calls body(c, mask, tail) for each vector of [0, n): full vectors first, then one masked tail.
template <class V, class Body>
inline void for_each_vector(int n, Body&& body) {
    const typename V::M all = V::first(V::W);
    int c = 0;
    for (; c + V::W <= n; c += V::W) body(c, all, std::false_type{});
    if (c < n) body(c, V::first(n - c), std::true_type{});
}

// Calls body(c, mask, masked) over [0, n) so that every unmasked vector (masked = false_type) starts at a W-float
// boundary of out, where a non-temporal store may write it: a masked head up to the first boundary, the aligned whole
// vectors, then a masked tail.
template <class V, class Body>
inline void for_each_aligned_vector(const float* out, int n, Body&& body) {
    const int misalign = static_cast<int>((reinterpret_cast<std::uintptr_t>(out) / sizeof(float)) % V::W);
    const int head = misalign == 0 ? 0 : std::min(n, V::W - misalign);
    if (head > 0) body(0, V::first(head), std::true_type{});
    const typename V::M all = V::first(V::W);
    int c = head;
    for (; c + V::W <= n; c += V::W) body(c, all, std::false_type{});
    if (c < n) body(c, V::first(n - c), std::true_type{});
}

}  // namespace distill
}  // namespace
}  // namespace mtkd
