// Two builds of libmtkd_native timed call by call in one process: the measure docs/PERF.md uses to weigh a kernel
// change on a shared machine whose speed drifts by tens of percent over minutes. Both libraries are loaded (dlopen,
// each with its own symbols; they share the process's OpenMP runtime) and run the same problem (native_problem.h) on
// the same arrays; every round times one call of A and one of B back to back, in alternating order, so the two calls of
// a round see the same moment of the machine. The verdict is the median of the rounds' own ratios B/A with its
// quartiles; a library against itself gives 1.00 with quartiles within a few percent.
//
//   g++ -O2 -o /tmp/native_pass_pair benchmarks/native_pass_pair.cpp -Inative/include -ldl
//   /tmp/native_pass_pair /tmp/old/libmtkd_native.so artifacts/native/libmtkd_native.so 3 2 1024 8 1000 512 100
//
// Arguments: library A, library B, simd (0 auto, 1 scalar, 2 AVX2, 3 AVX-512), threads, B, K, C, D (0: no features),
// rounds per pass, then as native_pass_time: [T = 4], [divergence = 0], [pass = all, stats, gradient or fused],
// [beta], [near], [offset], [feature loss = 0]. Three untimed rounds come first; the gradient pass reads the
// statistics of one untimed stats call of A.
// Output per pass: A's and B's 20th percentile and median ms, and the median (quartiles) of the rounds' B/A.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <time.h>
#include <type_traits>
#include <vector>

#include "mtkd.h"
#include "native_problem.h"

namespace {

double milliseconds() {
    timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

// The entry points of one loaded build, and its context.
struct Library {
    const char* path;
    decltype(&mtkd_context_create) context_create = nullptr;
    decltype(&mtkd_context_destroy) context_destroy = nullptr;
    decltype(&mtkd_distill_stats) stats = nullptr;
    decltype(&mtkd_distill_gradient) gradient = nullptr;
    decltype(&mtkd_distill_fused) fused = nullptr;
    decltype(&mtkd_last_error) last_error = nullptr;
    mtkd_context* ctx = nullptr;

    // Loads the library and finds its entry points; prints the reason and returns false if either fails.
    bool load() {
        void* handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (handle == nullptr) {
            std::fprintf(stderr, "native_pass_pair: %s\n", dlerror());
            return false;
        }
        bool found = true;
        auto find = [&](auto& fn, const char* name) {
            fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(handle, name));
            if (fn == nullptr) {
                std::fprintf(stderr, "native_pass_pair: %s: no symbol %s\n", path, name);
                found = false;
            }
        };
        find(context_create, "mtkd_context_create");
        find(context_destroy, "mtkd_context_destroy");
        find(stats, "mtkd_distill_stats");
        find(gradient, "mtkd_distill_gradient");
        find(fused, "mtkd_distill_fused");
        find(last_error, "mtkd_last_error");
        return found;
    }

    mtkd_status run(int pass, const bench::Problem& p) const {
        return pass == 0   ? stats(ctx, &p.shape, &p.in, &p.h, &p.stats)
               : pass == 1 ? gradient(ctx, &p.shape, &p.in, &p.h, &p.stats, &p.grads)
                           : fused(ctx, &p.shape, &p.in, &p.h, &p.stats, &p.grads);
    }
};

double at(const std::vector<double>& sorted, double q) { return sorted[static_cast<std::size_t>(q * (sorted.size() - 1))]; }

}  // namespace

int main(int argc, char** argv) {
    if (argc < 10) {
        std::fprintf(stderr, "usage: native_pass_pair libA libB simd threads B K C D rounds [T] [divergence] [pass] [beta] "
                             "[near] [offset] [feature_loss]\n");
        return 2;
    }
    Library libs[2];
    libs[0].path = argv[1];
    libs[1].path = argv[2];
    const int simd = std::atoi(argv[3]), threads = std::atoi(argv[4]), B = std::atoi(argv[5]), K = std::atoi(argv[6]),
              C = std::atoi(argv[7]), D = std::atoi(argv[8]), rounds = std::atoi(argv[9]);
    bench::ProblemOptions options;
    options.T = argc > 10 ? static_cast<float>(std::atof(argv[10])) : 4.0f;
    options.divergence = argc > 11 ? std::atoi(argv[11]) : MTKD_DIVERGENCE_KL;
    const char* only = argc > 12 ? argv[12] : "all";
    options.beta = argc > 13 ? argv[13] : nullptr;
    options.near = argc > 14 ? static_cast<float>(std::atof(argv[14])) : 0.0f;
    options.offset = argc > 15 ? std::atoi(argv[15]) : 0;
    options.feature_loss = argc > 16 ? std::atoi(argv[16]) : MTKD_FEATURE_MSE;
    if (simd < 0 || threads < 0 || B < 1 || K < 1 || C < 1 || D < 0 || rounds < 2 || !(options.T > 0)) {
        std::fprintf(stderr, "native_pass_pair: every size must be positive (D may be 0), rounds at least 2\n");
        return 2;
    }
    if (!bench::valid_offset("native_pass_pair", options.offset)) return 2;
    const bool all = std::strcmp(only, "all") == 0;
    bool known = all;
    for (const char* name : bench::kPassNames) known = known || std::strcmp(only, name) == 0;
    if (!known) {
        std::fprintf(stderr, "native_pass_pair: pass must be all, stats, gradient or fused, not '%s'\n", only);
        return 2;
    }
    for (Library& lib : libs) {
        if (!lib.load()) return 1;
        if (lib.context_create(simd, threads, &lib.ctx) != MTKD_OK) {
            std::fprintf(stderr, "native_pass_pair: %s: %s\n", lib.path, lib.last_error());
            return 1;
        }
    }
    bench::Problem problem(B, K, C, D, options);
    int status = libs[0].run(0, problem) == MTKD_OK ? 0 : 1;  // the statistics the gradient pass reads
    const int warmup = 3;
    for (int pass = 0; pass < 3 && status == 0; ++pass) {
        if (!all && std::strcmp(only, bench::kPassNames[pass]) != 0) continue;
        std::vector<double> times[2], ratios;
        for (int round = 0; round < rounds + warmup && status == 0; ++round) {
            double ms[2];
            for (int j = 0; j < 2; ++j) {
                const int which = round % 2 == 0 ? j : 1 - j;
                const double t0 = milliseconds();
                if (libs[which].run(pass, problem) != MTKD_OK) {
                    std::fprintf(stderr, "native_pass_pair: %s: %s: %s\n", libs[which].path, bench::kPassNames[pass],
                                 libs[which].last_error());
                    status = 1;
                }
                ms[which] = milliseconds() - t0;
            }
            if (round < warmup) continue;
            times[0].push_back(ms[0]);
            times[1].push_back(ms[1]);
            ratios.push_back(ms[1] / ms[0]);
        }
        if (status != 0) break;
        for (auto& t : times) std::sort(t.begin(), t.end());
        std::sort(ratios.begin(), ratios.end());
        std::printf("%d,%d,%d,%d %-8s A p20 %.4f med %.4f | B p20 %.4f med %.4f ms | B/A %.3f (quartiles %.3f-%.3f)\n",
                    B, K, C, D, bench::kPassNames[pass], at(times[0], 0.2), at(times[0], 0.5), at(times[1], 0.2),
                    at(times[1], 0.5), at(ratios, 0.5), at(ratios, 0.25), at(ratios, 0.75));
    }
    for (Library& lib : libs) lib.context_destroy(lib.ctx);
    return status;
}
