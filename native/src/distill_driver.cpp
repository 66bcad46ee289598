#include "distill_driver.h"

#include <algorithm>
#include <memory>

#include "block_ranges.h"
#include "context.h"
#include "cpu_features.h"

namespace mtkd {
namespace {

// Rows per block: the block's student rows (and, in the gradient passes, its dzs rows) stay in L1 while
// every teacher sweeps over them, so rows * C is kept near 3K floats (12 KB per array); short rows go by
// lane groups of up to 16 rows (distill_tiles.inl), one per block. Then blocks are evened out so every thread
// gets the same number.
int rows_per_block(int B, int C, int threads) {
    int rows = C <= kTileMaxClasses ? kMaxVectorWidth : std::clamp(3072 / C, 1, 64);
    int blocks = (B + rows - 1) / rows;
    if (threads > 1) blocks = (blocks + threads - 1) / threads * threads;
    return std::max(1, (B + blocks - 1) / blocks);
}

// Blocks per run of the gradient pass's order (see for_row_blocks): the inputs of about half an L2 cache, where the
// last ones a pass read before are still held.
int blocks_per_run(const DistillProblem& p, int rows) {
    const double row_bytes = sizeof(float) * (static_cast<double>(p.K + 1) * p.C + 2.0 * p.F);
    const double run_bytes = 0.5 * static_cast<double>(level2_cache_bytes());
    return static_cast<int>(std::clamp(run_bytes / (row_bytes * rows), 1.0, 1e9));
}

// Runs body(scratch, b0, b1) over blocks of rows, threaded as every pass is. Each thread takes the same contiguous
// range of blocks in every pass; the stats and fused passes go through it first to last, the gradient pass in runs
// of about half an L2 cache of inputs from the last run to the first, each run first to last. So the gradient pass
// begins on the rows the stats pass over the same inputs read last, which its core's L2 still holds, and ends on
// the rows the next stats pass begins with, while within a run the hardware prefetchers see the forward streams
// they follow (blocks taken one by one from last to first left them behind: the dense shape's gradient pass ran 11 %
// slower that way). A thread done with its range takes blocks one at a time from the other end of another's
// (BlockRange), so a core slowed by a neighbour does not hold the pass up.
template <class Body>
void for_row_blocks(mtkd_context& ctx, const DistillProblem& p, DistillPass pass, Body&& body) {
    const int rows = rows_per_block(p.B, p.C, ctx.threads);
    const int blocks = (p.B + rows - 1) / rows;
    const int threads = std::max(1, std::min(ctx.threads, blocks));
    const bool runs_backward = pass == DistillPass::Gradient;
    const int run = runs_backward ? blocks_per_run(p, rows) : 1;

    std::lock_guard<std::mutex> lock(ctx.mutex);
    ctx.reserve_scratch(threads, distill_scratch_floats(p.C, rows));
    const std::unique_ptr<BlockRange[]> ranges(new BlockRange[threads]);
    for (int t = 0; t < threads; ++t)
        ranges[t].reset(static_cast<int>(static_cast<long long>(blocks) * t / threads),
                        static_cast<int>(static_cast<long long>(blocks) * (t + 1) / threads));
    parallel_region(threads, [&](int thread, int) {
        float* scratch = ctx.scratch(thread);
        auto run_blocks = [&](int first, int last) {
            for (int block = first; block < last; ++block)
                body(scratch, block * rows, std::min(p.B, (block + 1) * rows));
        };
        // Its own range from the end its order starts at, then the other ranges' blocks one at a time from the end
        // their owners reach last.
        const BlockRange::End own = runs_backward ? BlockRange::kHigh : BlockRange::kLow;
        const BlockRange::End others = runs_backward ? BlockRange::kLow : BlockRange::kHigh;
        for (int step = 0; step < threads; ++step) {
            BlockRange& range = ranges[(thread + step) % threads];
            for (int first = 0, last = 0;;) {
                range.take(step == 0 ? own : others, step == 0 ? run : 1, first, last);
                if (first == last) break;
                run_blocks(first, last);
            }
        }
    });
}

void run_kl_mse(mtkd_context& ctx, DistillPass pass, const DistillProblem& p) {
    const Kernels& kern = *ctx.kernels;
    auto kernel = pass == DistillPass::Stats ? kern.distill_stats
                  : pass == DistillPass::Gradient ? kern.distill_gradient
                                                  : kern.distill_fused;
    for_row_blocks(ctx, p, pass, [&](float* scratch, int b0, int b1) { kernel(p, b0, b1, scratch); });
}

// A divergence or feature loss other than kl + mse (distill_divergences.inl): the KL stats kernel writes every
// statistic, then the catalog sweep overwrites the replaced ones. In the gradient pass a replaced divergence's
// sweep writes the whole gradient (cross-entropy, divergence, the mse term unless the feature sweep writes it), so
// no teacher row is read for a KL term times 0; a replaced feature loss alone runs the KL gradient kernel with beta
// at 0. A replaced feature loss is swept by the catalog alone (features_by_catalog): cos and its value in the stats,
// dfs and its row_loss term in the gradient. The fused pass runs, block of rows by block of rows, the KL stats kernel
// (the fused KL kernel where the divergence is kl) and then one catalog call that takes the statistics and the
// gradient together.
void run_catalog_loss(mtkd_context& ctx, DistillPass pass, const DistillProblem& p) {
    const Kernels& kern = *ctx.kernels;
    DistillProblem base = p;
    base.divergence = MTKD_DIVERGENCE_KL;
    base.feature_loss = MTKD_FEATURE_MSE;
    base.features_by_catalog = p.feature_loss != MTKD_FEATURE_MSE;
    DistillProblem gradient_base = base;
    gradient_base.beta = 0.0f;
    // Reverse KL is taken in the KL stats kernel's own teacher sweep where its plain form holds (kernels.h).
    if (reverse_kl_in_stats_sweep(p)) base.divergence = MTKD_DIVERGENCE_REVERSE_KL;
    // jsd's and dkd's sweeps write every pair's kl: the KL kernel's accurate small-KL sweep would be thrown away.
    base.kl_overwritten = p.divergence == MTKD_DIVERGENCE_JSD || p.divergence == MTKD_DIVERGENCE_DKD;
    const bool kl_kernel = p.divergence == MTKD_DIVERGENCE_KL;
    // Each block of rows goes through the KL kernel and the catalog sweep in turn (and, in the fused pass, through
    // the gradient sweeps after them), so every sweep after the first finds the block's teacher rows still in cache
    // instead of reading every teacher row from memory again.
    auto stats = [&](float* scratch, int b0, int b1) {
        kern.distill_stats(base, b0, b1, scratch);
        kern.distill_losses(p, true, false, b0, b1);
    };
    auto gradient = [&](float* scratch, int b0, int b1) {
        if (kl_kernel) kern.distill_gradient(gradient_base, b0, b1, scratch);
        kern.distill_losses(p, false, true, b0, b1);
    };
    switch (pass) {
        case DistillPass::Stats: for_row_blocks(ctx, p, pass, stats); break;
        case DistillPass::Gradient: for_row_blocks(ctx, p, pass, gradient); break;
        case DistillPass::Fused:
            // One catalog call for both: the divergence's sweeps form the student's probabilities once per row (or
            // lane group) and take the value and the gradient of each pair while its teacher row is in L1; where a
            // form has both in one element sweep (jsd, dkd), each element is evaluated once.
            for_row_blocks(ctx, p, pass, [&](float* scratch, int b0, int b1) {
                if (kl_kernel) {
                    // kl with a replaced feature loss: the KL kernels leave the features to the catalog, so the fused
                    // KL kernel takes the logits' statistics and gradient in one sweep, beta unread.
                    kern.distill_fused(base, b0, b1, scratch);
                } else {
                    kern.distill_stats(base, b0, b1, scratch);
                }
                kern.distill_losses(p, true, true, b0, b1);
            });
            break;
    }
}

}  // namespace

void run_distill(mtkd_context& ctx, DistillPass pass, const DistillProblem& p) {
    if (p.divergence != MTKD_DIVERGENCE_KL || p.feature_loss != MTKD_FEATURE_MSE) run_catalog_loss(ctx, pass, p);
    else run_kl_mse(ctx, pass, p);
}

}  // namespace mtkd
