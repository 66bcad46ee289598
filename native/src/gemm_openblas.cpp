// mtkd_sgemm through OpenBLAS's cblas_sgemm (row-major), with OpenBLAS's thread count kept in step with
// the context's.
#include <cblas.h>

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

void openblas_sgemm(int threads, const GemmArgs& g) {
    // OpenBLAS's pool is process-wide; only touch it when the requested size differs.
    if (threads > 0 && openblas_get_num_threads() != threads) openblas_set_num_threads(threads);
    cblas_sgemm(CblasRowMajor, g.trans_a ? CblasTrans : CblasNoTrans, g.trans_b ? CblasTrans : CblasNoTrans, g.m,
                g.n, g.k, g.alpha, g.a, g.lda, g.b, g.ldb, g.beta, g.c, g.ldc);
}

}  // namespace mtkd
