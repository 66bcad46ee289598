# BLAS for mtkd_sgemm: OpenBLAS when its library and cblas.h are found, else the library's own blocked
# GEMM. Debian/Ubuntu: apt-get install -y libopenblas-dev. -DMTKD_USE_OPENBLAS=OFF forces the fallback.

option(MTKD_USE_OPENBLAS "Use OpenBLAS for mtkd_sgemm when it is found" ON)

function(mtkd_link_blas target)
  if(MTKD_USE_OPENBLAS)
    find_library(MTKD_OPENBLAS_LIBRARY NAMES openblas openblasp openblaso)
    # Prefer the header that ships with OpenBLAS (next to openblas_config.h): a distribution's plain
    # cblas.h may belong to another BLAS and lack openblas_get_config.
    find_path(MTKD_OPENBLAS_INCLUDE_DIR NAMES openblas_config.h
      PATH_SUFFIXES openblas-pthread openblas-openmp openblas-serial openblas
                    x86_64-linux-gnu/openblas-pthread x86_64-linux-gnu/openblas-openmp x86_64-linux-gnu/openblas-serial
                    aarch64-linux-gnu/openblas-pthread aarch64-linux-gnu/openblas-openmp)
  endif()
  if(MTKD_USE_OPENBLAS AND MTKD_OPENBLAS_LIBRARY AND MTKD_OPENBLAS_INCLUDE_DIR
     AND EXISTS "${MTKD_OPENBLAS_INCLUDE_DIR}/cblas.h")
    target_include_directories(${target} PRIVATE "${MTKD_OPENBLAS_INCLUDE_DIR}")
    target_link_libraries(${target} PRIVATE "${MTKD_OPENBLAS_LIBRARY}")
    target_compile_definitions(${target} PRIVATE MTKD_HAVE_OPENBLAS=1)
    target_sources(${target} PRIVATE "${PROJECT_SOURCE_DIR}/src/gemm_openblas.cpp")
    message(STATUS "mtkd_native: GEMM: OpenBLAS (${MTKD_OPENBLAS_LIBRARY}, cblas.h in ${MTKD_OPENBLAS_INCLUDE_DIR})")
  else()
    target_sources(${target} PRIVATE "${PROJECT_SOURCE_DIR}/src/gemm_openblas_absent.cpp")
    if(MTKD_USE_OPENBLAS)
      message(STATUS "mtkd_native: GEMM: built-in blocked fallback (OpenBLAS not found; apt-get install -y libopenblas-dev for it)")
    else()
      message(STATUS "mtkd_native: GEMM: built-in blocked fallback (MTKD_USE_OPENBLAS=OFF)")
    endif()
  endif()
endfunction()
