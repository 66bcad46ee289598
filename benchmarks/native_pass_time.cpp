// CPU time and wall time of each pass of the native distillation op, called through its C API on Gaussian inputs
// (logits of standard deviation 2, features 1, 10 % ignored rows, T = 4 unless given):
// the measure docs/PERF.md uses to weigh kernel changes on a shared machine, where CPU time swings far less with
// the load than wall time. Two builds of libmtkd_native were compared by running this program against each in
// alternation (LD_LIBRARY_PATH); native_pass_pair.cpp now times them call by call in one process, which the machine's
// drift touches far less. One build, e.g.
//
//   g++ -O2 -o /tmp/native_pass_time benchmarks/native_pass_time.cpp -Inative/include -Lartifacts/native -lmtkd_native
//   LD_LIBRARY_PATH=artifacts/native /tmp/native_pass_time 3 1 1024 8 1000 512 20
//
// Arguments: simd (0 auto, 1 scalar, 2 AVX2, 3 AVX-512), threads, B, K, C, D (0: no features, as the dense step's pixel
// rows), calls per pass, [T = 4],
// [divergence = 0: mtkd_divergence, 0 kl, 1 reverse-kl, 2 jsd (beta 0.5), 3 dkd (alpha 1, beta 8)],
// [pass = all, or stats, gradient or fused alone (the gradient pass after one untimed stats call, whose statistics it
// reads), or two-pass (stats then gradient, call after call, each timed inside the pair, and their sum)],
// [the divergence's beta instead of its default above, e.g. 0.3 for jsd off its symmetric case (- keeps the
// default)], [near: teachers are the student's logits plus Gaussian noise of this width instead of independent ones,
// as student and teachers come to agree in training, e.g. 0.3], [offset: bytes past a 64-byte boundary at which dzs
// and dfs start, e.g. 16 as malloc and numpy give; 0 by default, as the library's own sessions and PyTorch's tensors
// (every array is allocated on a 64-byte boundary)], [feature loss = 0: mtkd_feature_loss, 0 mse, 1 cosine,
// 2 smooth-l1], e.g.
//   LD_LIBRARY_PATH=artifacts/native /tmp/native_pass_time 3 1 65536 4 11 16 20 4 2
//   LD_LIBRARY_PATH=artifacts/native /tmp/native_pass_time 3 1 256 64 1000 0 20 4 2 stats 0.3
//   LD_LIBRARY_PATH=artifacts/native /tmp/native_pass_time 3 2 1024 8 1000 512 20 4 1 gradient
//   LD_LIBRARY_PATH=artifacts/native /tmp/native_pass_time 3 1 65536 4 11 0 20 4 0 gradient - 0.3
//   LD_LIBRARY_PATH=artifacts/native /tmp/native_pass_time 3 2 256 64 100 128 20 4 0 stats - 0 0 1
//   LD_LIBRARY_PATH=artifacts/native /tmp/native_pass_time 3 2 256 64 100 128 20 4 0 gradient - 0 16
// Output per pass: the fastest, 20th percentile and median wall ms, the median and 10th percentile CPU ms of the
// process (the percentile is steadier when other jobs share the cores), and the MB a pass must move
// (MtkdRl.Core.Distill.DistillTraffic) divided by the 20th percentile.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <time.h>
#include <utility>
#include <vector>

#include "mtkd.h"
#include "native_problem.h"

namespace {

double milliseconds(clockid_t clock) {
    timespec t;
    clock_gettime(clock, &t);
    return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

// One line per pass: the fastest, 20th percentile and median wall ms, the median and 10th percentile CPU ms, and the
// pass's minimum MB over the 20th percentile.
void report(int B, int K, int C, int D, const char* name, std::vector<double> wall, std::vector<double> cpu, double mb) {
    std::sort(wall.begin(), wall.end());
    std::sort(cpu.begin(), cpu.end());
    const double p20 = wall[wall.size() / 5];
    std::printf("%d,%d,%d,%d %-8s wall min %.4f p20 %.4f med %.4f | cpu med %.4f p10 %.4f ms | %.1f GB/s(p20)\n", B, K, C,
                D, name, wall[0], p20, wall[wall.size() / 2], cpu[cpu.size() / 2], cpu[cpu.size() / 10], mb / p20);
}

// The two-pass route as an agent runs it: stats, then gradient, call after call. Each pass is timed inside the pair,
// so the gradient pass is measured after the stats pass over the same inputs rather than after itself.
int time_two_pass(mtkd_context* ctx, const mtkd_shape& shape, const mtkd_inputs& in, const mtkd_hyper& h,
                  const mtkd_stats& stats, const mtkd_grads& grads, int calls, const double (&mb)[3]) {
    std::vector<double> wall[3], cpu[3];
    const int warmup = 3;
    for (int i = 0; i < calls + warmup; ++i) {
        const double w0 = milliseconds(CLOCK_MONOTONIC), c0 = milliseconds(CLOCK_PROCESS_CPUTIME_ID);
        const mtkd_status first = mtkd_distill_stats(ctx, &shape, &in, &h, &stats);
        const double w1 = milliseconds(CLOCK_MONOTONIC), c1 = milliseconds(CLOCK_PROCESS_CPUTIME_ID);
        const mtkd_status second =
            first == MTKD_OK ? mtkd_distill_gradient(ctx, &shape, &in, &h, &stats, &grads) : first;
        const double w2 = milliseconds(CLOCK_MONOTONIC), c2 = milliseconds(CLOCK_PROCESS_CPUTIME_ID);
        if (second != MTKD_OK) {
            std::fprintf(stderr, "native_pass_time: two-pass: %s\n", mtkd_last_error());
            return 1;
        }
        if (i < warmup) continue;
        wall[0].push_back(w1 - w0), wall[1].push_back(w2 - w1), wall[2].push_back(w2 - w0);
        cpu[0].push_back(c1 - c0), cpu[1].push_back(c2 - c1), cpu[2].push_back(c2 - c0);
    }
    const char* names[3] = {"2p-stats", "2p-grad", "two-pass"};
    const double bytes[3] = {mb[0], mb[1], mb[0] + mb[1]};
    for (int j = 0; j < 3; ++j) report(shape.B, shape.K, shape.C, shape.D[0], names[j], wall[j], cpu[j], bytes[j]);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 8) {
        std::fprintf(stderr,
                     "usage: native_pass_time simd threads B K C D calls [T] [divergence] [pass] [beta] [near] [offset] "
                     "[feature_loss]\n");
        return 2;
    }
    const int simd = std::atoi(argv[1]), threads = std::atoi(argv[2]), B = std::atoi(argv[3]), K = std::atoi(argv[4]),
              C = std::atoi(argv[5]), D = std::atoi(argv[6]), calls = std::atoi(argv[7]);
    const float T = argc > 8 ? static_cast<float>(std::atof(argv[8])) : 4.0f;
    const int divergence = argc > 9 ? std::atoi(argv[9]) : MTKD_DIVERGENCE_KL;
    if (simd < 0 || threads < 0 || B < 1 || K < 1 || C < 1 || D < 0 || calls < 1 || !(T > 0)) {
        std::fprintf(stderr, "native_pass_time: every size must be positive (D may be 0: teachers without features)\n");
        return 2;
    }
    bench::ProblemOptions options;
    options.T = T;
    options.divergence = divergence;
    options.beta = argc > 11 ? argv[11] : nullptr;
    options.near = argc > 12 ? static_cast<float>(std::atof(argv[12])) : 0.0f;
    options.offset = argc > 13 ? std::atoi(argv[13]) : 0;
    options.feature_loss = argc > 14 ? std::atoi(argv[14]) : MTKD_FEATURE_MSE;
    if (!bench::valid_offset("native_pass_time", options.offset)) return 2;
    bench::Problem problem(B, K, C, D, options);
    const mtkd_shape& shape = problem.shape;
    const mtkd_inputs& in = problem.in;
    const mtkd_hyper& h = problem.h;
    const mtkd_stats& stats = problem.stats;
    const mtkd_grads& grads = problem.grads;
    const double(&mb)[3] = problem.mb;
    mtkd_context* ctx = nullptr;
    if (mtkd_context_create(simd, threads, &ctx) != MTKD_OK) {
        std::fprintf(stderr, "native_pass_time: %s\n", mtkd_last_error());
        return 1;
    }

    const char* const* names = bench::kPassNames;
    const char* only = argc > 10 ? argv[10] : "all";
    const bool all = std::strcmp(only, "all") == 0;
    if (std::strcmp(only, "two-pass") == 0) {
        const int status = time_two_pass(ctx, shape, in, h, stats, grads, calls, mb);
        mtkd_context_destroy(ctx);
        return status;
    }
    if (!all && std::strcmp(only, names[0]) != 0 && std::strcmp(only, names[1]) != 0 && std::strcmp(only, names[2]) != 0) {
        std::fprintf(stderr, "native_pass_time: pass must be all, stats, gradient, fused or two-pass, not '%s'\n", only);
        mtkd_context_destroy(ctx);
        return 2;
    }
    // The gradient pass alone still needs real statistics to read: one stats call first, not timed.
    if (std::strcmp(only, names[1]) == 0 && mtkd_distill_stats(ctx, &shape, &in, &h, &stats) != MTKD_OK) {
        std::fprintf(stderr, "native_pass_time: stats: %s\n", mtkd_last_error());
        mtkd_context_destroy(ctx);
        return 1;
    }
    const int warmup = 3;
    for (int pass = 0; pass < 3; ++pass) {
        if (!all && std::strcmp(only, names[pass]) != 0) continue;
        std::vector<double> wall, cpu;
        for (int i = 0; i < calls + warmup; ++i) {
            const double w0 = milliseconds(CLOCK_MONOTONIC), c0 = milliseconds(CLOCK_PROCESS_CPUTIME_ID);
            const mtkd_status status = pass == 0   ? mtkd_distill_stats(ctx, &shape, &in, &h, &stats)
                                       : pass == 1 ? mtkd_distill_gradient(ctx, &shape, &in, &h, &stats, &grads)
                                                   : mtkd_distill_fused(ctx, &shape, &in, &h, &stats, &grads);
            const double w1 = milliseconds(CLOCK_MONOTONIC), c1 = milliseconds(CLOCK_PROCESS_CPUTIME_ID);
            if (status != MTKD_OK) {
                std::fprintf(stderr, "native_pass_time: %s: %s\n", names[pass], mtkd_last_error());
                mtkd_context_destroy(ctx);
                return 1;
            }
            if (i >= warmup) {
                wall.push_back(w1 - w0);
                cpu.push_back(c1 - c0);
            }
        }
        report(B, K, C, D, names[pass], std::move(wall), std::move(cpu), mb[pass]);
    }
    mtkd_context_destroy(ctx);
    return 0;
}
