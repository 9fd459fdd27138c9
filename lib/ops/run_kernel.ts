// Dispatch: validated inputs go to the backend that holds them; results come back as RingTensors.
import { type Backend, getBackend } from '../backend/backends';
import type { Attrs } from '../backend/native_binding';
import { RingTensor } from '../tensor/ring_tensor';
import type { KernelName } from './kernel_names';

function backendOf(kernel: KernelName, inputs: readonly RingTensor[]): Backend {
  const b = inputs[0]?.backend ?? getBackend();
  for (const t of inputs)
    if (t.backend !== b)
      throw new Error(`${kernel}: inputs live on different backends (${b.name} and ${t.backend.name})`);
  return b;
}

/** Runs a kernel off the JS thread. Native failures reject with an Error naming the kernel. */
export async function runKernel(kernel: KernelName, inputs: readonly RingTensor[], attrs: Attrs = {}, backend?: Backend): Promise<RingTensor[]> {
  const b = backend ?? backendOf(kernel, inputs);
  const handles = inputs.map((t) => t.handle);
  const outs = await b.native.run(kernel, handles, attrs);
  return outs.map((o) => new RingTensor(o, b));
}

/** Runs a cheap kernel (no compute, e.g. reshape) on the JS thread. */
export function runKernelSync(kernel: KernelName, inputs: readonly RingTensor[], attrs: Attrs = {}, backend?: Backend): RingTensor[] {
  const b = backend ?? backendOf(kernel, inputs);
  return b.native.runSync(kernel, inputs.map((t) => t.handle), attrs).map((o) => new RingTensor(o, b));
}

export async function runKernel1(kernel: KernelName, inputs: readonly RingTensor[], attrs: Attrs = {}, backend?: Backend): Promise<RingTensor> {
  return (await runKernel(kernel, inputs, attrs, backend))[0];
}
