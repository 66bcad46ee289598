// mtkd_sgemm through OpenBLAS's cblas_sgemm (row-major), with OpenBLAS's thread count kept in step with
// the context's.
#include <cblas.h>

#include <cstring>
#include <string>

#include "build_info.h"
#include "gemm.h"

namespace mtkd {

bool have_openblas() noexcept { return true; }

const char* openblas_description() noexcept {
    static const std::string text = [] {
        try {
            // e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY SkylakeX MAX_THREADS=64"
            const char* config = openblas_get_config();
            return std::string(config != nullptr ? config : "OpenBLAS");
        } catch (...) {
            return std::string("OpenBLAS");
        }
    }();
    return text.c_str();
}

const char* openblas_version() noexcept {
    static const std::string text = [] {
        try {
            // The first two words of the configuration: "OpenBLAS 0.3.21".
            std::string config = openblas_description();
            std::size_t first = config.find(' ');
            std::size_t second = first == std::string::npos ? first : config.find(' ', first + 1);
            return second == std::string::npos ? config : config.substr(0, second);
        } catch (...) {
            return std::string("OpenBLAS");
        }
    }();
    return text.c_str();
}

const char* openblas_core() noexcept {
    const char* core = openblas_get_corename();
    return core != nullptr ? core : "unknown";
}

int openblas_vector_bits() noexcept {
    const char* core = openblas_core();
    for (const char* wide : {"SkylakeX", "Cooperlake", "SapphireRapids"})
        if (std::strcmp(core, wide) == 0) return 512;
    for (const char* avx2 : {"Haswell", "Zen", "Excavator"})
        if (std::strcmp(core, avx2) == 0) return 256;
    return 128;
}

void openblas_sgemm(int threads, const GemmArgs& g) {
    // OpenBLAS's pool is process-wide; only touch it when the requested size differs.
    if (threads > 0 && openblas_get_num_threads() != threads) openblas_set_num_threads(threads);
    cblas_sgemm(CblasRowMajor, g.trans_a ? CblasTrans : CblasNoTrans, g.trans_b ? CblasTrans : CblasNoTrans, g.m,
                g.n, g.k, g.alpha, g.a, g.lda, g.b, g.ldb, g.beta, g.c, g.ldc);
}

}  // namespace mtkd
