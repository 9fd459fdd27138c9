// What a server does with a tensor another server sends it, as it arrives: copies it into native
// memory (a HeldPayload), so that the wire's buffer can be freed at once (WsEndpointOptions.release,
// backend/wire_buffers.ts) instead of waiting for V8's collector.
// For the offline pool's messages, which wait for their query, this was done first (tenth
// session): kept in the wire's buffer, every byte of them waited in the JavaScript heap's external
// memory, and each 64 MB of that started a full collection (about one per FSS query of network C).
// Online messages are read as they come, but their buffers still waited for a full collection
// once read: back to back, FSS C_max's compute servers spent about a third of their CPU in the
// collector (bench/RESULTS.md, "Freeing wire buffers at once").
import type { Payload, Received } from '../net/transport';
import { RingTensor } from '../tensor/ring_tensor';

/** The compute servers' and server2's WsEndpointOptions.adopt: every tensor held in native memory. */
export function holdOnArrival(_session: string, p: Payload): Received {
  if (p.kind !== 'tensor') return p;
  return { kind: 'held', dtype: p.dtype, shape: p.shape, tensor: RingTensor.fromBytes(p.data, p.shape, p.dtype) };
}
