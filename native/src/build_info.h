// Human-readable description of this build and of the GEMM in use.
#pragma once

namespace mtkd {

const char* build_info() noexcept;
const char* gemm_info() noexcept;

// Implemented by gemm_openblas.cpp or gemm_openblas_absent.cpp, whichever CMake picked.
bool have_openblas() noexcept;
const char* openblas_description() noexcept;

}  // namespace mtkd
