// Float64 recomputation of the KL statistics for batches whose every KL is tiny.
//
// The float32 kernels compute KL/T^2 = E_pt[u - v] + log(Ss/St) with an absolute error of a few 1e-7: both
// terms are rounded at the size of the log-probabilities, while KL (second order in the difference of the two
// distributions) can be far smaller. The op's accuracy contract is relative to the largest value of each
// output over the batch, so this only matters when every KL of the batch is small, e.g. a student that
// already matches its teachers on every row, or two classes at a high temperature. Then (largest KL/T^2
// below kRefineBelow) every KL of the batch is recomputed here in float64, and the fused pass's row losses
// with it. Realistic batches hold at least one larger KL and never pay for this.
#pragma once

#include "distill_args.h"

struct mtkd_context;

namespace mtkd {

constexpr double kRefineBelow = 0.1;

// Call with the context's mutex held, after the pass.
void refine_small_kl(mtkd_context& ctx, DistillPass pass, const DistillProblem& p);

}  // namespace mtkd
