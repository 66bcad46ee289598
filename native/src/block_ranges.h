// Each thread's range of row blocks, which the other threads may take blocks from once their own are done.
//
// The passes give every thread the same contiguous range of blocks, so a thread's caches hold the blocks it will read
// again in the next pass (distill_driver.cpp, for_row_blocks). On a shared machine one core is often slower than the
// other for a while (a busy neighbour on its other hardware thread), and with fixed ranges the faster thread then
// waits at the end of every pass: on a 2-vCPU Zen 4 guest the slower thread was busy 1.07 to 1.69 times as long as the
// faster one, by shape (docs/PERF.md, "Zen 4: threads that take each other's blocks"; 1024,8,1000,512 -11 to -15 %
// with this). Here the owner takes its blocks from one end of its range and a thread that has run out takes single
// blocks from the other end, the one the owner would reach last (and whose inputs its caches hold least), so each
// block still runs exactly once and the owner's order is kept.
//
// A range is [lo, hi) packed into one 64-bit word (lo in the low half), so owner and taker claim blocks by one
// compare-and-swap each.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>

namespace mtkd {

class BlockRange {
public:
    void reset(int lo, int hi) { bounds_.store(pack(lo, hi), std::memory_order_relaxed); }

    enum End { kLow, kHigh };

    // Up to n blocks from one end: [first, last), first == last when none is left.
    void take(End end, int n, int& first, int& last) {
        std::uint64_t seen = bounds_.load(std::memory_order_relaxed);
        for (;;) {
            const int lo = low(seen), hi = high(seen);
            if (lo >= hi) {
                first = last = lo;
                return;
            }
            const int begin = end == kLow ? lo : std::max(lo, hi - n), stop = end == kLow ? std::min(hi, lo + n) : hi;
            const std::uint64_t rest = end == kLow ? pack(stop, hi) : pack(lo, begin);
            if (bounds_.compare_exchange_weak(seen, rest, std::memory_order_acq_rel)) {
                first = begin;
                last = stop;
                return;
            }
        }
    }

private:
    static std::uint64_t pack(int lo, int hi) {
        return static_cast<std::uint32_t>(lo) | (static_cast<std::uint64_t>(static_cast<std::uint32_t>(hi)) << 32);
    }
    static int low(std::uint64_t v) { return static_cast<int>(static_cast<std::uint32_t>(v)); }
    static int high(std::uint64_t v) { return static_cast<int>(static_cast<std::uint32_t>(v >> 32)); }

    alignas(64) std::atomic<std::uint64_t> bounds_{0};
};

}  // namespace mtkd
