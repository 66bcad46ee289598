// Validation of a distillation call's arguments into a DistillProblem.
#pragma once

#include "kernels.h"

namespace mtkd {

enum class DistillPass { Stats, Gradient, Fused };

// Throws ApiError (MTKD_INVALID_ARGUMENT) naming the argument at fault: a null pointer the pass needs, a bad
// shape (B, K < 1, C < 2, widths < 1, offsets that are not the prefix sums of D, sizes that overflow), a
// hyper-parameter out of range, or a label outside [-1, C).
DistillProblem make_distill_problem(DistillPass pass, const mtkd_shape* shape, const mtkd_inputs* in,
                                    const mtkd_hyper* hyper, const mtkd_stats* stats, const mtkd_grads* grads);

}  // namespace mtkd
