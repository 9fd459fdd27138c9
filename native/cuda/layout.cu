// CUDA instantiation of the layout kernels (kernels/layout_impl.h) over device memory.
#include "cuda/device_mem.cuh"
#include "kernels/layout_impl.h"

namespace tfe {
namespace cuda {
namespace {

TFE_REGISTER_CUDA_KERNEL("Reshape", 1, layout::reshape);
TFE_REGISTER_CUDA_KERNEL("Transpose", 1, layout::transpose<DeviceMem>);
TFE_REGISTER_CUDA_KERNEL("Slice", 1, layout::slice<DeviceMem>);
TFE_REGISTER_CUDA_KERNEL("Concat", -1, layout::concat<DeviceMem>);
TFE_REGISTER_CUDA_KERNEL("Pad", 1, layout::pad<DeviceMem>);
TFE_REGISTER_CUDA_KERNEL("Gather", 1, layout::gather<DeviceMem>);

}  // namespace
}  // namespace cuda
}  // namespace tfe
