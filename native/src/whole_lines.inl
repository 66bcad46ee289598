// Runs of an output array written as whole lines (W-float vectors on W-float boundaries of the array) whatever the
// caller's alignment of it and the lengths of the pieces a kernel produces (the feature widths of dfs).
//
// A streamed store covers a whole line; a store to part of a line (a masked head or tail) first reads the line for
// ownership, and the streamed lines issued after it wait for that read. With every slice of dfs off the line
// boundaries (dfs 16 bytes past a line, as malloc and numpy give it, or feature widths not a multiple of W) the
// gradient pass took 1.8x its time at 256,64,100,128 with slices of 128 floats (docs/PERF.md, "dfs off the line
// boundaries"). Such a piece is computed into a stage in L1 laid out with the array's own alignment, which leaves as
// whole lines once it fills or the staged run ends on a boundary; only a run's first and last lines go out partial,
// float by float. Which pieces are staged is the kernels' choice (kStageFromFloats, feature_gradients_of_rows).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace mtkd {
namespace {  // compiled per SIMD level: see distill_kernels.inl
namespace distill {

// Floats the stage holds (8 KiB, beside the rows the kernels read in L1), and the longest piece a caller stages at
// once.
constexpr int kStageFloats = 2048;
constexpr int kStagePieceFloats = kStageFloats / 2;
// The slices staged when off the line boundaries: from 4 lines (64 floats), where the two partial lines of a slice
// written in place cost the most against its whole ones (256,64,100,128, slices of 128 floats: the gradient pass 30 %
// faster staged), to below 32 lines, where they cost least and the stage's copy more (1024,8,1000,512, slices of 512
// floats: 4-7 % slower staged). Shorter slices go in place: one-vector slices measured faster in place than staged in
// the fused pass (the dense shape: 13.2 against 15.1 ms with dfs off a line), and the gradient pass stages a lane group's
// run of short rows whole instead (feature_gradients_of_rows). A sweep that also sums the slice for the statistics
// stages the longer slices too: in place, its vectors would start at the line boundary rather than at the slice's
// start, and its sums would differ from the stats pass's in their last bits.
constexpr int kStageFromFloats = 64;
constexpr int kStageBelowFloats = 512;

template <class V>
class WholeLines {
public:
    // Positions count from out. Whole lines go out by non-temporal stores (the caller fences).
    explicit WholeLines(float* out)
        : out_(out),
          misalign_(static_cast<std::size_t>((reinterpret_cast<std::uintptr_t>(out) / sizeof(float)) % V::W)) {}
    WholeLines(const WholeLines&) = delete;
    WholeLines& operator=(const WholeLines&) = delete;

    // Floats from position pos to the next line boundary of out (0 on one).
    int head(std::size_t pos) const { return static_cast<int>((V::W - (pos + misalign_) % V::W) % V::W); }

    // Whether [pos, pos + n) starts and ends on line boundaries (a slice that goes out in place, streamed).
    bool whole(std::size_t pos, int n) const { return head(pos) == 0 && n % V::W == 0; }

    // Whether a slice [pos, pos + n) goes through the stage: off the line boundaries, at least kStageFromFloats long,
    // and (unless keep_order: a sweep that sums the slice for the statistics too) below kStageBelowFloats.
    bool stages(std::size_t pos, int n, bool keep_order) const {
        return !whole(pos, n) && n >= kStageFromFloats && (keep_order || n < kStageBelowFloats);
    }

    // Writes the stage out when what it holds ends on a line boundary (a run of staged slices rarely does; a lane
    // group's rows often).
    void drain() {
        if (!empty() && hi_ % V::W == 0) flush(true);
    }

    // Where the caller writes positions [pos, pos + n) (n <= kStagePieceFloats, pos at or after the positions given
    // before): in the stage, at the alignment they have in out.
    float* stage(std::size_t pos, int n) {
        const std::size_t a = pos + misalign_;
        if (!empty() && (a != hi_ || a + n > base_ + kStageFloats)) flush(a != hi_);
        if (empty()) {
            base_ = a - a % V::W;
            lo_ = a;
        }
        hi_ = a + n;
        return buffer_ + (a - base_);
    }

    // Writes out what the stage still holds (before the caller's fence).
    void finish() {
        if (!empty()) flush(true);
    }

private:
    bool empty() const { return hi_ == lo_; }

    // Writes the staged positions out: all of them, or (all = false) all but the last partial line, which moves to
    // the front of the stage for the positions that follow it. Inside, positions are counted from the W-float boundary
    // at or before out (a = pos + misalign), so lines start at multiples of W.
    void flush(bool all) {
        if (empty()) return;
        const std::size_t end = all ? hi_ : hi_ - hi_ % V::W;
        for (std::size_t x = base_; x < end; x += V::W) {
            const float* from = buffer_ + (x - base_);
            if (x >= lo_ && x + V::W <= hi_) {
                V::stream(out_ + (x - misalign_), V::load(from));
                continue;
            }
            // A partial line (the run's first or last): only its staged floats, which leaves the rest of the line to
            // whoever writes it (the next block of rows, another thread).
            for (std::size_t i = std::max(x, lo_); i < std::min(x + V::W, hi_); ++i)
                out_[i - misalign_] = buffer_[i - base_];
        }
        if (all) {
            lo_ = hi_ = 0;
            return;
        }
        if (end == base_) return;  // only the run's first line, still partial: it stays where it is
        for (std::size_t i = end; i < hi_; ++i) buffer_[i - end] = buffer_[i - base_];  // under W floats
        lo_ = std::max(lo_, end);
        base_ = end;
    }

    float* const out_;
    const std::size_t misalign_;   // out's offset past a W-float boundary, in floats
    std::size_t base_ = 0;         // the position (from that boundary) of buffer_[0], a multiple of W
    std::size_t lo_ = 0, hi_ = 0;  // the staged positions, likewise; empty when equal
    alignas(64) float buffer_[kStageFloats];
};

}  // namespace distill
}  // namespace
}  // namespace mtkd
