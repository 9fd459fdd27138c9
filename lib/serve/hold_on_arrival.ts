// What a server does with a tensor another server sends it, as it arrives: copies it into native
// memory (a HeldPayload), so that the wire's buffer can be freed at once (WsEndpointOptions.release,
// backend/wire_buffers.ts) instead of waiting for V8's collector.
// For the offline pool's messages, which wait for their query, this was done first (tenth
// session): kept in the wire's buffer, every byte of them waited in the JavaScript heap's external
// memory, and each 64 MB of that started a full collection (about one per FSS query of network C).
// Online messages are read as they come, but their buffers still waited for a full collection
// once read: back to back, FSS C_max's compute servers spent about a third of their CPU in the
// collector (bench/RESULTS.md, "Freeing wire buffers at once").
import { getBackend } from '../backend/backends';
import { freeBuffer } from '../backend/wire_buffers';
import type { ArrivalTarget } from '../net/ws_endpoint';
import type { Payload, Received } from '../net/transport';
import type { DType } from '../tensor/dtype';
import { RingTensor } from '../tensor/ring_tensor';

/** The compute servers' and server2's WsEndpointOptions.adopt: every tensor held in native memory. */
export function holdOnArrival(_session: string, p: Payload): Received {
  if (p.kind !== 'tensor') return p;
  return { kind: 'held', dtype: p.dtype, shape: p.shape, tensor: RingTensor.fromBytes(p.data, p.shape, p.dtype) };
}

/**
 * The compute servers' and server2's WsEndpointOptions.holdInto: a tensor message arriving over a
 * lane is decrypted straight into the native tensor that will hold it (no copy, and memory the
 * host allocator had ready rather than fresh pages), where tensors live in host memory (the CPU
 * module). Its elements are checked as fromBytes checks them before it is handed on.
 */
export function holdInto(_session: string, dtype: DType, shape: number[]): ArrivalTarget | undefined {
  const b = getBackend();
  if (b.name !== 'cpu') return undefined;
  const handle = b.native.emptyHost(shape, dtype);
  const bytes = b.native.bytesView(handle);
  if (!bytes) {
    b.native.release(handle);
    return undefined;
  }
  const view = new Uint8Array(bytes);
  let done = false;
  const finish = () => {
    done = true;
    freeBuffer(bytes); // the tensor keeps its memory; the view's reference goes now, not at a collection
  };
  return {
    view,
    take: () => {
      if (done) throw new Error('holdInto: taken twice');
      try {
        b.native.checkHost(handle);
      } catch {
        // Elements out of range: filed as they came (a copy), as holdOnArrival's fromBytes would
        // leave them, for the protocol to refuse when it reads them.
        const data = new Uint8Array(view);
        b.native.release(handle);
        finish();
        return { kind: 'tensor', dtype, shape, data };
      }
      finish();
      return { kind: 'held', dtype, shape, tensor: new RingTensor({ handle, shape, dtype }, b) };
    },
    drop: () => {
      if (done) return;
      b.native.release(handle);
      finish();
    },
  };
}
