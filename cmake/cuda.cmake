# Optional CUDA build: only when nvcc is found (TFE_CUDA=OFF skips it). Included from
# CMakeLists.txt after the CPU module is defined.
option(TFE_CUDA "Build the CUDA module when a CUDA compiler is found" ON)
if(NOT TFE_CUDA)
  return()
endif()

include(CheckLanguage)
# The architecture list must be set before enable_language(CUDA), or CMake picks its own default.
# Release binaries (npm run prebuild) are built for 75 Turing, 80 A100, 86 Ampere, 89 Ada and
# 90 Hopper. A source build (npm install) is for its own machine: the GPU it finds ("native"), or
# with no GPU visible (CI, build hosts) sm_75 plus PTX, which every newer GPU's driver compiles
# at load: one architecture keeps the install to minutes instead of five times that.
# TFE_CUDA_ARCHS (or -DCMAKE_CUDA_ARCHITECTURES) overrides either.
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
  if(DEFINED ENV{TFE_CUDA_ARCHS})
    set(CMAKE_CUDA_ARCHITECTURES "$ENV{TFE_CUDA_ARCHS}")
  else()
    execute_process(COMMAND nvidia-smi -L RESULT_VARIABLE tfe_smi OUTPUT_VARIABLE tfe_gpus ERROR_QUIET)
    if(tfe_smi EQUAL 0 AND tfe_gpus MATCHES "GPU [0-9]" AND CMAKE_VERSION VERSION_GREATER_EQUAL 3.24)
      set(CMAKE_CUDA_ARCHITECTURES native)
    else()
      set(CMAKE_CUDA_ARCHITECTURES 75)
    endif()
  endif()
endif()
# Accept "75;80", "75,80" or "75 80" (the environment and npm scripts are easier with commas).
string(REGEX REPLACE "[, ]+" ";" CMAKE_CUDA_ARCHITECTURES "${CMAKE_CUDA_ARCHITECTURES}")
list(REMOVE_ITEM CMAKE_CUDA_ARCHITECTURES "")
foreach(tfe_arch IN LISTS CMAKE_CUDA_ARCHITECTURES)
  if(NOT tfe_arch MATCHES "^([0-9]+[a-z]?(-real|-virtual)?|native|all|all-major)$")
    message(FATAL_ERROR "tfe: CUDA architecture '${tfe_arch}' in '${CMAKE_CUDA_ARCHITECTURES}' is not valid: "
      "expected numbers such as 75;80;86;89;90 (TFE_CUDA_ARCHS or -DCMAKE_CUDA_ARCHITECTURES)")
  endif()
endforeach()
check_language(CUDA)
if(NOT CMAKE_CUDA_COMPILER)
  message(STATUS "tfe: no CUDA compiler found; building the CPU module only")
  return()
endif()
enable_language(CUDA)
set(CMAKE_CUDA_STANDARD 17)
set(CMAKE_CUDA_STANDARD_REQUIRED ON)
find_package(CUDAToolkit REQUIRED)
message(STATUS "tfe: CUDA ${CMAKE_CUDA_COMPILER_VERSION}, architectures ${CMAKE_CUDA_ARCHITECTURES}")

# Host code shared by the .node and the harness, compiled once as position-independent objects.
add_library(tfe_core_pic OBJECT ${TFE_CORE_SOURCES})
set_target_properties(tfe_core_pic PROPERTIES POSITION_INDEPENDENT_CODE ON)
target_include_directories(tfe_core_pic PRIVATE "${CMAKE_CURRENT_SOURCE_DIR}/native/src")
target_compile_options(tfe_core_pic PRIVATE -O3 -fvisibility=hidden -Wall -Wextra -Wno-unused-parameter)

# The device layer, the CUDA kernels and the CUDA backend of the binding.
add_library(tfe_cuda_kernels STATIC ${TFE_CUDA_SOURCES})
set_target_properties(tfe_cuda_kernels PROPERTIES POSITION_INDEPENDENT_CODE ON)
target_include_directories(tfe_cuda_kernels PUBLIC "${CMAKE_CURRENT_SOURCE_DIR}/native/src" "${CMAKE_CURRENT_SOURCE_DIR}/native")
target_compile_options(tfe_cuda_kernels PRIVATE
  $<$<COMPILE_LANGUAGE:CUDA>:-O3 --expt-relaxed-constexpr -Xcompiler=-fvisibility=hidden>
  $<$<COMPILE_LANGUAGE:CXX>:-O3 -fvisibility=hidden -Wall -Wextra -Wno-unused-parameter>)
# One string for info(): the list joined with commas. A CMake list (semicolons) inside a compile
# definition is split into several -D options and leaves an unterminated quote on the command line.
string(JOIN "," TFE_CUDA_ARCHS_STRING ${CMAKE_CUDA_ARCHITECTURES})
target_compile_definitions(tfe_cuda_kernels PRIVATE
  TFE_CUDA_ARCHS="${TFE_CUDA_ARCHS_STRING}" TFE_CUDA_VERSION="${CMAKE_CUDA_COMPILER_VERSION}")
# Static cudart: a GPU host needs only the NVIDIA driver (libcuda.so), not a CUDA toolkit.
target_link_libraries(tfe_cuda_kernels PUBLIC CUDA::cudart_static)

# Kernel registrations are static initialisers: link the whole archive so that none is dropped.
set(TFE_CUDA_WHOLE -Wl,--whole-archive tfe_cuda_kernels -Wl,--no-whole-archive)

add_library(tfe_cuda SHARED ${TFE_BINDING_SOURCES} $<TARGET_OBJECTS:tfe_core_pic> ${CMAKE_JS_SRC})
set_target_properties(tfe_cuda PROPERTIES PREFIX "" SUFFIX ".node")
target_include_directories(tfe_cuda PRIVATE ${CMAKE_JS_INC} "${CMAKE_CURRENT_SOURCE_DIR}/${NODE_ADDON_API_DIR}"
  "${CMAKE_CURRENT_SOURCE_DIR}/native/src" ${TFE_OPENSSL_INCLUDE})
target_compile_definitions(tfe_cuda PRIVATE NAPI_VERSION=8 NAPI_CPP_EXCEPTIONS TFE_BUILD_SYSTEM="cmake-js")
target_compile_options(tfe_cuda PRIVATE -O3 -fvisibility=hidden -Wall -Wextra -Wno-unused-parameter)
target_link_libraries(tfe_cuda PRIVATE ${TFE_CUDA_WHOLE} ${CMAKE_JS_LIB} pthread)

# The test programs below are for checkouts (npm install, CI, GPU hosts); release builds skip them
# (scripts/prebuild.js sets TFE_CUDA_TESTS=OFF: an eighth less to compile, nothing shipped).
option(TFE_CUDA_TESTS "Build tfe_cuda_test and tfe_cuda_host_check" ON)
if(DEFINED ENV{TFE_CUDA_TESTS})
  set(TFE_CUDA_TESTS "$ENV{TFE_CUDA_TESTS}")
endif()
if(NOT TFE_CUDA_TESTS)
  message(STATUS "tfe: TFE_CUDA_TESTS=${TFE_CUDA_TESTS}: not building tfe_cuda_test and tfe_cuda_host_check")
  return()
endif()

# Standalone harness (no Node): every CUDA kernel against the CPU kernel, bit for bit, and the
# GEMM benchmark (`tfe_cuda_test --bench`). Without a device it exits 77, which ctest reports as
# skipped.
add_executable(tfe_cuda_test $<TARGET_OBJECTS:tfe_core_pic> ${TFE_CUDA_TEST_SOURCES})
target_include_directories(tfe_cuda_test PRIVATE "${CMAKE_CURRENT_SOURCE_DIR}/native/src" "${CMAKE_CURRENT_SOURCE_DIR}/native")
target_link_libraries(tfe_cuda_test PRIVATE ${TFE_CUDA_WHOLE} pthread)
enable_testing()
add_test(NAME cuda_vs_cpu COMMAND tfe_cuda_test)
set_tests_properties(cuda_vs_cpu PROPERTIES SKIP_RETURN_CODE 77)

# The kernels' TFE_HD arithmetic compiled for the host and checked against the CPU kernels: runs
# on any machine, so CI exercises the CUDA arithmetic even without a GPU.
tfe_sources(cudaHostCheck TFE_CUDA_HOST_CHECK_SOURCES)
add_executable(tfe_cuda_host_check $<TARGET_OBJECTS:tfe_core_pic> ${TFE_CUDA_HOST_CHECK_SOURCES})
target_include_directories(tfe_cuda_host_check PRIVATE "${CMAKE_CURRENT_SOURCE_DIR}/native/src" "${CMAKE_CURRENT_SOURCE_DIR}/native")
target_compile_options(tfe_cuda_host_check PRIVATE -O2 -Wall -Wextra -Wno-unused-parameter)
target_link_libraries(tfe_cuda_host_check PRIVATE pthread)
add_test(NAME cuda_host_check COMMAND tfe_cuda_host_check)
