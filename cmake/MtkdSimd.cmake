# Per-file instruction-set flags: each SIMD level's kernels are compiled in their own translation unit,
# and the library picks one at run time (mtkd_context_create), so the rest of the library stays
# runnable on any x86-64 CPU.

function(mtkd_simd_source source level)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    if(level STREQUAL "AVX2")
      set(flags -mavx2 -mfma)
    elseif(level STREQUAL "AVX512")
      set(flags -mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx2 -mfma)
      if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
        # GCC's own AVX-512 intrinsics start from _mm512_undefined_ps(), which GCC 12 at -O3 then reports
        # as (maybe) uninitialized inside its headers: a false positive in code we do not own.
        list(APPEND flags -Wno-uninitialized -Wno-maybe-uninitialized)
      endif()
    else()
      message(FATAL_ERROR "mtkd_simd_source: unknown level ${level}")
    endif()
  elseif(MSVC)
    if(level STREQUAL "AVX2")
      set(flags /arch:AVX2)
    else()
      set(flags /arch:AVX512)
    endif()
  endif()
  set_source_files_properties(${source} PROPERTIES COMPILE_OPTIONS "${flags}")
endfunction()
