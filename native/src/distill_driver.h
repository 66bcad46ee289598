// Runs one pass of the distillation op over all rows, threaded over blocks of rows.
#pragma once

#include "distill_args.h"

struct mtkd_context;

namespace mtkd {

void run_distill(mtkd_context& ctx, DistillPass pass, const DistillProblem& p);

}  // namespace mtkd
