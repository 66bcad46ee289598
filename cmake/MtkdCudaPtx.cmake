# MtkdCudaPtx.cmake - compiles CUDA kernels (.cu) to PTX, with or without a CUDA toolkit.
#
#   mtkd_find_ptx_compiler()
#       nvcc when it is found (PATH, $CUDA_HOME/bin, /usr/local/cuda/bin), else clang (clang-14 first):
#       clang compiles CUDA device code to PTX with no toolkit installed (-nocudainc -nocudalib).
#       MTKD_PTX_COMPILER=auto|nvcc|clang (cache) forces one. Sets MTKD_PTX_COMPILER_PATH and
#       MTKD_PTX_COMPILER_KIND; stops the configure with the package to install when neither exists.
#
#   mtkd_add_ptx(<target> SOURCES <a.cu>... [DEPENDS <header>...] OUTPUT_DIR <dir> ARCH <sm_NN>)
#       <dir>/<a>.ptx for each source, rebuilt when the source or a listed header changes, built by ALL.
#       PTX in <dir> without a source is deleted, so a removed kernel file does not linger in the build.
#
# The PTX targets ARCH (sm_80: the oldest card with the features the kernels use); the driver JIT-compiles
# it for newer GPUs when the module is loaded. clang emits PTX ISA 7.0 (+ptx70: the sync shuffles need >= 6.0).

set(MTKD_PTX_COMPILER "auto" CACHE STRING "Compiler for kernels/*.cu -> PTX: auto, nvcc or clang")
set_property(CACHE MTKD_PTX_COMPILER PROPERTY STRINGS auto nvcc clang)
set(MTKD_CLANG_NAMES "clang-14;clang" CACHE STRING "clang executables to look for, in order")

function(mtkd_find_ptx_compiler)
  if(MTKD_PTX_COMPILER STREQUAL "auto" OR MTKD_PTX_COMPILER STREQUAL "nvcc")
    find_program(MTKD_NVCC nvcc HINTS "$ENV{CUDA_HOME}/bin" "$ENV{CUDA_PATH}/bin" /usr/local/cuda/bin)
  endif()
  if(MTKD_PTX_COMPILER STREQUAL "auto" OR MTKD_PTX_COMPILER STREQUAL "clang")
    find_program(MTKD_CLANG_CUDA NAMES ${MTKD_CLANG_NAMES})
  endif()

  if(MTKD_NVCC AND NOT MTKD_PTX_COMPILER STREQUAL "clang")
    set(MTKD_PTX_COMPILER_PATH "${MTKD_NVCC}" PARENT_SCOPE)
    set(MTKD_PTX_COMPILER_KIND nvcc PARENT_SCOPE)
  elseif(MTKD_CLANG_CUDA)
    set(MTKD_PTX_COMPILER_PATH "${MTKD_CLANG_CUDA}" PARENT_SCOPE)
    set(MTKD_PTX_COMPILER_KIND clang PARENT_SCOPE)
  elseif(MTKD_PTX_COMPILER STREQUAL "nvcc")
    message(FATAL_ERROR "CUDA kernels (kernels/): MTKD_PTX_COMPILER=nvcc but nvcc was not found. "
                        "Install the CUDA toolkit, or build with clang (Debian/Ubuntu: apt-get install -y clang-14).")
  else()
    message(FATAL_ERROR "CUDA kernels (kernels/): no compiler for .cu -> PTX was found (looked for nvcc and "
                        "${MTKD_CLANG_NAMES}). Install clang (Debian/Ubuntu: apt-get install -y clang-14), then build again.")
  endif()
endfunction()

function(mtkd_add_ptx target)
  cmake_parse_arguments(PTX "" "OUTPUT_DIR;ARCH" "SOURCES;DEPENDS" ${ARGN})
  if(NOT PTX_OUTPUT_DIR OR NOT PTX_ARCH OR NOT PTX_SOURCES)
    message(FATAL_ERROR "mtkd_add_ptx(${target}): SOURCES, OUTPUT_DIR and ARCH are required")
  endif()
  if(NOT MTKD_PTX_COMPILER_KIND)
    mtkd_find_ptx_compiler()
  endif()
  file(MAKE_DIRECTORY "${PTX_OUTPUT_DIR}")

  set(outputs)
  foreach(src IN LISTS PTX_SOURCES)
    get_filename_component(stem "${src}" NAME_WE)
    get_filename_component(dir "${src}" DIRECTORY)
    set(out "${PTX_OUTPUT_DIR}/${stem}.ptx")
    if(MTKD_PTX_COMPILER_KIND STREQUAL "nvcc")
      set(cmd "${MTKD_PTX_COMPILER_PATH}" -ptx -arch=${PTX_ARCH} -std=c++17 -O3 -I "${dir}" -o "${out}" "${src}")
    else()
      set(cmd "${MTKD_PTX_COMPILER_PATH}" -x cuda --cuda-device-only -nocudainc -nocudalib
              --cuda-gpu-arch=${PTX_ARCH} -Xclang -target-feature -Xclang +ptx70
              -std=c++17 -O3 -Wall -Wextra -I "${dir}" -S -o "${out}" "${src}")
    endif()
    add_custom_command(OUTPUT "${out}" COMMAND ${cmd} DEPENDS "${src}" ${PTX_DEPENDS}
                       COMMENT "PTX (${MTKD_PTX_COMPILER_KIND}, ${PTX_ARCH}): ${stem}.cu" VERBATIM)
    list(APPEND outputs "${out}")
  endforeach()

  file(GLOB existing "${PTX_OUTPUT_DIR}/*.ptx")
  foreach(old IN LISTS existing)
    if(NOT old IN_LIST outputs)
      file(REMOVE "${old}")
    endif()
  endforeach()

  add_custom_target(${target} ALL DEPENDS ${outputs})
  message(STATUS "CUDA kernels: PTX for ${PTX_ARCH} by ${MTKD_PTX_COMPILER_KIND} (${MTKD_PTX_COMPILER_PATH})")
endfunction()
