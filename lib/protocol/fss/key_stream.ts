// DCF keys dealt in chunks: server2 makes chunk c + 1 while chunk c is on its way, and the compute
// servers evaluate each chunk as it arrives (docs/fss.md "Large queries: keys in chunks"). Shared
// by both gate forms (drelu.ts, compact_gate.ts); what a key is, is theirs.
import { awaitedLater } from '../../awaited_later';
import { concat, slice } from '../../ops';
import type { RingTensor } from '../../tensor/ring_tensor';
import { type OpCtx, type Party, SERVER0, SERVER1, SERVER2, tag } from '../party';
import { FSS_STEPS } from './steps';

/** [first, length] of each key message: at most FSS_STEPS.chunkBytes of keys each (at least one chunk). */
export function keyChunks(n: number, words: number): [number, number][] {
  const c = Math.max(1, Math.floor(FSS_STEPS.chunkBytes / (8 * words)));
  const out: [number, number][] = [];
  for (let lo = 0; lo < n || out.length === 0; lo += c) out.push([lo, Math.min(c, n - lo)]);
  return out;
}

/** Elements (rows, for a tensor of rank > 1) [lo, lo + len) of t (t itself when there is one chunk). */
export async function part(t: RingTensor, chunks: number, [lo, len]: [number, number]): Promise<RingTensor> {
  return chunks === 1 ? t : slice(t, [lo, ...t.shape.slice(1).map(() => 0)], [len, ...t.shape.slice(1).map(() => -1)]);
}

/**
 * server2: each chunk's key pair from `make(chunk)` (which gets the chunk's [first, length]; the
 * kernels' `first` attribute makes the chunks' keys those of one call on the whole vector), sent
 * to server0 and server1; a chunk's keys are made while the previous chunk's are on their way,
 * and at most one chunk is in flight.
 */
export async function dealKeys(p: Party, op: OpCtx, parts: [number, number][], make: (chunk: [number, number]) => Promise<[RingTensor, RingTensor]>): Promise<void> {
  let inflight: Promise<unknown> = Promise.resolve();
  try {
    for (let c = 0; c < parts.length; c++) {
      const keys = await make(parts[c]);
      try {
        await inflight;
      } catch (e) {
        for (const k of keys) k.dispose();
        throw e;
      }
      const keyTag = tag(op, 'fss.key', String(c));
      // Awaited once the next chunk is made: a send may fail meanwhile (a peer gone, a run ahead discarded).
      inflight = awaitedLater(
        Promise.all([p.sendTensor(SERVER0, keyTag, keys[0]), p.sendTensor(SERVER1, keyTag, keys[1])]).finally(() => {
          keys[0].dispose();
          keys[1].dispose();
        }),
      );
    }
  } finally {
    await inflight;
  }
}

/**
 * server0 and server1: `evaluate(key, x)` on each chunk's keys [length, words] as they arrive,
 * with the chunk's elements of x, joined along the first axis per output ([n], or [n, P]).
 */
export async function evalKeys(p: Party, op: OpCtx, parts: [number, number][], words: number, outputs: number, x: RingTensor, evaluate: (key: RingTensor, x: RingTensor) => Promise<RingTensor[]>): Promise<RingTensor[]> {
  const outs: RingTensor[][] = Array.from({ length: outputs }, () => []);
  try {
    for (let c = 0; c < parts.length; c++) {
      // The key's shape is checked before it is read (recvTensor): a peer declares nothing else.
      const key = await p.recvTensor(SERVER2, tag(op, 'fss.key', String(c)), [parts[c][1], words]);
      const xc = await part(x, parts.length, parts[c]);
      try {
        (await evaluate(key, xc)).forEach((y, i) => outs[i].push(y));
      } finally {
        key.dispose();
        if (parts.length > 1) xc.dispose();
      }
    }
    if (parts.length === 1) return outs.map((o) => o[0]);
    return await Promise.all(outs.map((o) => concat(o, 0)));
  } finally {
    if (parts.length > 1) for (const o of outs) for (const t of o) t.dispose();
  }
}
