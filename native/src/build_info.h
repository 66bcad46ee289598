// Human-readable description of this build and of the GEMM in use.
#pragma once

namespace mtkd {

const char* build_info() noexcept;
const char* gemm_info() noexcept;

// Implemented by gemm_openblas.cpp or gemm_openblas_absent.cpp, whichever CMake picked.
bool have_openblas() noexcept;
const char* openblas_description() noexcept;
// "OpenBLAS 0.3.21" (version only).
const char* openblas_version() noexcept;
// OpenBLAS's kernel family for this CPU ("SkylakeX", "Haswell", "Prescott", ...).
const char* openblas_core() noexcept;
// Width in bits of the float vectors OpenBLAS's SGEMM kernels for that family use with FMA: 512 for the
// AVX-512 families, 256 for the AVX2 ones, 128 for everything older or generic.
int openblas_vector_bits() noexcept;

}  // namespace mtkd
