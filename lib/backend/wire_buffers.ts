// Freeing wire buffers as soon as they are done with, instead of at some later garbage collection.
// V8 counts every ArrayBuffer's memory as "external" and starts a full collection for each 64 MB
// or so of it allocated since the last one; a buffer that survived a young-generation collection
// (a message waiting in the mailbox, a write waiting for the socket) is only freed by such a full
// collection. A server taking in or sending tens of MB per query (FSS keys) then spent about a
// third of its CPU in the collector (bench/RESULTS.md, "FSS under steady load" and "Freeing wire
// buffers at once"). Detached, the memory goes back at once and leaves V8's count with it.
import { getBackend } from './backends';

/**
 * Frees `buffer` now (afterwards it, and every view of it, reads as empty). Only for a buffer
 * that nothing else will read: one ws allocated for a frame and handed over, once its bytes were
 * copied into native memory, or one toBytes made for a message, once written. Never throws: a
 * buffer that cannot be freed early is left to the collector.
 */
export function freeBuffer(buffer: ArrayBuffer): void {
  try {
    getBackend().native.detach(buffer);
  } catch {
    // Left to the collector: early freeing is an optimisation, never a condition.
  }
}
