// Dispatch: validated inputs go to the backend that holds them; results come back as RingTensors.
import { contextBackend } from '../backend/backend_context';
import { type Backend, getBackend } from '../backend/backends';
import { wholeNumberEnv } from '../backend/env_settings';
import type { Attrs } from '../backend/native_binding';
import { RingTensor } from '../tensor/ring_tensor';
import { traceEvent, traceNow, tracing } from '../trace';
import type { KernelName } from './kernel_names';

// Inputs must share a module (cpu or cuda); they may come from different streams of it (the
// device orders that). The kernel runs on the current party's stream when there is one.
function backendOf(kernel: KernelName, inputs: readonly RingTensor[]): Backend {
  const first = inputs[0]?.backend ?? getBackend();
  for (const t of inputs)
    if (t.backend.name !== first.name)
      throw new Error(`${kernel}: inputs live on different backends (${first.name} and ${t.backend.name})`);
  const ctx = contextBackend();
  return ctx && ctx.name === first.name ? ctx : first;
}

// Below this many elements a kernel takes a few microseconds, less than the hop to the native
// thread pool and back (~20-40 us), so it runs on the JS thread. MPC protocols issue many such
// small kernels (masks, truncations, corrections at batch 1). TFE_SYNC_KERNEL_ELEMENTS=0 disables.
// A garbage value was read as the default (elements) or as "never" (multiply-adds), silently;
// now it fails the first kernel with its name (read then, not at import: the CLI reports it).
// A matmul of TFE_SYNC_KERNEL_MACS multiply-adds takes ~50 us here: still cheaper than a pool round trip.
let sync: { elements: number; macs: number } | undefined;
function syncBounds(): { elements: number; macs: number } {
  if (!sync) {
    const elements = wholeNumberEnv('TFE_SYNC_KERNEL_ELEMENTS', 16384, 0, 2 ** 40);
    sync = { elements, macs: wholeNumberEnv('TFE_SYNC_KERNEL_MACS', 8 * elements, 0, 2 ** 50) };
  }
  return sync;
}

function isSmall(kernel: KernelName, inputs: readonly RingTensor[], attrs: Attrs): boolean {
  if (kernel === 'MatMul') {
    // Work is m*k*n (times the batch), not the input size.
    const [a, b] = inputs;
    const n = b.shape[b.rank - 1] ?? 0;
    return a.size * n <= syncBounds().macs;
  }
  // Conv2D's work grows faster than its inputs; be conservative.
  if (kernel === 'Conv2D') return inputs[0].size * inputs[1].size <= syncBounds().macs;
  let n = 0;
  for (const t of inputs) n += t.size;
  if (inputs.length === 0 && Array.isArray(attrs.shape)) n = (attrs.shape as number[]).reduce((a, b) => a * b, 1);
  return n <= syncBounds().elements;
}

/**
 * Runs a kernel, off the JS thread unless it is tiny. Native failures reject with an Error naming
 * the kernel.
 */
export async function runKernel(kernel: KernelName, inputs: readonly RingTensor[], attrs: Attrs = {}, backend?: Backend): Promise<RingTensor[]> {
  const b = backend ?? backendOf(kernel, inputs);
  const handles = inputs.map((t) => t.handle);
  const t0 = tracing ? traceNow() : 0;
  const small = isSmall(kernel, inputs, attrs);
  const outs = small ? b.native.runSync(kernel, handles, attrs) : await b.native.run(kernel, handles, attrs);
  if (tracing) traceKernel(kernel, inputs, small, t0);
  return outs.map((o) => new RingTensor(o, b));
}

/** A kernel call for the trace (lib/trace.ts): name and input shapes, where it ran, how long from t0. */
export function traceKernel(kernel: string, inputs: readonly RingTensor[], onJsThread: boolean, t0: number): void {
  traceEvent(onJsThread ? 'kernel' : 'kernel-pool', `${kernel} ${inputs.map((t) => t.shape.join('x')).join(',')}`, traceNow() - t0, t0);
}

/** Runs a cheap kernel (no compute, e.g. reshape) on the JS thread. */
export function runKernelSync(kernel: KernelName, inputs: readonly RingTensor[], attrs: Attrs = {}, backend?: Backend): RingTensor[] {
  const b = backend ?? backendOf(kernel, inputs);
  return b.native.runSync(kernel, inputs.map((t) => t.handle), attrs).map((o) => new RingTensor(o, b));
}

export async function runKernel1(kernel: KernelName, inputs: readonly RingTensor[], attrs: Attrs = {}, backend?: Backend): Promise<RingTensor> {
  return (await runKernel(kernel, inputs, attrs, backend))[0];
}
