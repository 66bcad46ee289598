// Linked when CMake did not find OpenBLAS: mtkd_sgemm then runs the built-in blocked GEMM.
#include "build_info.h"
#include "gemm.h"

namespace mtkd {

bool have_openblas() noexcept { return false; }
const char* openblas_description() noexcept { return ""; }
const char* openblas_version() noexcept { return ""; }
const char* openblas_core() noexcept { return ""; }
int openblas_vector_bits() noexcept { return 0; }

void openblas_sgemm(int, const GemmArgs&) {}

}  // namespace mtkd
