// A view of a backend bound to one stream: kernels, uploads and downloads issued through it run
// on that stream, so parties sharing a device overlap their kernels and copies. For the CPU
// backend, which has no streams, it is the backend itself.
import type { Backend } from './backends';
import type { Attrs, NativeBinding, NativeHandle } from './native_binding';

export const STREAM_ATTR = '__stream';

const views = new Map<string, Backend>();

export function streamBackend(base: Backend, stream: number): Backend {
  if (!base.streams || stream === 0) return base;
  if (!Number.isInteger(stream) || stream < 0 || stream >= 64) throw new RangeError(`stream must be an integer in [0, 64), got ${stream}`);
  const key = `${base.name}:${stream}`;
  let b = views.get(key);
  if (!b) {
    const n = base.native;
    const withStream = (attrs?: Attrs): Attrs => ({ ...attrs, [STREAM_ATTR]: stream });
    const native: NativeBinding = {
      ...n,
      run: (kernel, inputs, attrs) => n.run(kernel, inputs, withStream(attrs)),
      runSync: (kernel, inputs, attrs) => n.runSync(kernel, inputs, withStream(attrs)),
      fromBytes: (data, shape, dtype) => n.fromBytes(data, shape, dtype, stream),
      toBytes: (handle: NativeHandle) => n.toBytes(handle, stream),
      toBytesAsync: (handle: NativeHandle) => n.toBytesAsync(handle, stream),
    };
    b = { name: base.name, native, streams: true, stream };
    views.set(key, b);
  }
  return b;
}
