// CUDA instantiation of ReduceSum (kernels/reduce_impl.h) over device memory.
#include "cuda/device_mem.cuh"
#include "kernels/reduce_impl.h"

namespace tfe {
namespace cuda {
namespace {

TFE_REGISTER_CUDA_KERNEL("ReduceSum", 1, reduce::reduceSum<DeviceMem>);

}  // namespace
}  // namespace cuda
}  // namespace tfe
