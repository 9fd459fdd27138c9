// Functions marked TFE_HD compile for the device under nvcc and as plain inline C++ under g++, so
// the arithmetic inside the CUDA kernels (AES rounds, limb decompositions) is unit-tested on
// machines without a GPU (test/host_check_*.cc) against the CPU kernels.
#pragma once
#if defined(__CUDACC__)
#define TFE_HD __host__ __device__ __forceinline__
#else
#define TFE_HD inline
#endif
