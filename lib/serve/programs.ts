// What each server runs for a request: the same functions on every server (each on its own party),
// as the in-process API runs them on all three at once. The client runs its side with the same
// fixed op ids for input and output, so it never needs to know the servers' session index.
import type { ModelSpec } from '../api/layers_spec';
import type { MaskRef } from '../protocol/correlated';
import { type Cluster, OPS_PER_SESSION } from '../protocol/cluster';
import { type OpCtx, type Party, tag } from '../protocol/party';
import { prgRing } from '../prg/prg';
import { disposeMasked, type MaskedShare } from '../protocol/pond/arith';
import { output, outputNonce, type Share } from '../protocol/pond/share';
import type { PartyName } from '../net/transport';
import type { RingTensor } from '../tensor/ring_tensor';
import { weightBound } from '../api/bounds';
import { PrivateTensor, type PartyValues } from '../api/tensor';
import { collect } from '../api/tidy';
import { checkedOutputShare, maskedInputShares, type NextLease, reserveInputMaskOp, sendNextMaskShare } from './input_mask';

export const CLIENT: PartyName = 'client';
/** Input i of a request uses op id 1 + i; the output uses OUTPUT_OP. Below any session's range. */
export const inputOp = (i: number): OpCtx => ({ id: 1 + i, name: 'input' });
export const OUTPUT_OP: OpCtx = { id: 1 << 20, name: 'output' };
/** server0, server1 -> client with the output (leaseNext): its share of the next query's input mask (input_mask.ts). */
export const nextMaskTag = () => tag(OUTPUT_OP, 'output', 'next-mask');
/** A client's input seed (see shareInput). */
const SEED_BYTES = 16;

/** A model's weights masked under one setup: every query's copy of a weight reuses its mask. */
export interface MaskedWeights {
  masked: Promise<PartyValues<MaskedShare>>[];
  refs: MaskRef[];
}

function wrap(cluster: Cluster, me: PartyName, share: Share, shape: readonly number[], premasked?: { masked: Promise<PartyValues<MaskedShare>>; ref: MaskRef } | { maskOp: OpCtx }): PrivateTensor {
  return new PrivateTensor(cluster, shape, Promise.resolve(new Map([[me, share]])), premasked);
}

/** Frees masked weights (each mask share and opened x - a), once each masking has settled. */
export function freeMaskedWeights(m: MaskedWeights): void {
  for (const p of m.masked) void p.then((v) => v.forEach((s) => disposeMasked(s)), () => undefined);
}

/**
 * Masks each weight once (x - a opened to server0 and server1) in `cluster`'s op range. When one
 * fails (its session aborted), the others' masks are freed: nothing is kept of a failed setup.
 */
export async function maskWeights(cluster: Cluster, me: PartyName, spec: ModelSpec, shares: (RingTensor | null)[]): Promise<MaskedWeights> {
  const ts = spec.params.map((p, i) => wrap(cluster, me, shares[i], p.shape));
  const masked = ts.map((t) => t.masked());
  const refs = ts.map((t) => t.maskRef());
  try {
    await Promise.all(masked);
  } catch (e) {
    freeMaskedWeights({ masked, refs });
    throw e;
  }
  return { masked, refs };
}

/**
 * Receives the client's shared inputs (one per shape), as shareInput() does on a server, but
 * checking what each message declares against the request's shape BEFORE anything is built: a
 * 16-byte seed declaring a huge shape is refused, never expanded.
 */
export async function receiveInputs(party: Party, shapes: readonly (readonly number[])[], arrived?: () => void): Promise<Share[]> {
  // `arrived`: called once every message is here, before the seeds are expanded.
  let waiting = shapes.length;
  const here = () => --waiting === 0 && arrived?.();
  const got = await Promise.allSettled(shapes.map(async (shape, i): Promise<Share> => {
    const t = tag(inputOp(i), 'input');
    if (party.role === 1) {
      const x = await party.recvTensor(CLIENT, t, shape, 'ring64');
      here();
      return x;
    }
    if (party.role !== 0) return null;
    const msg = await party.transport.recv(party.name, CLIENT, t);
    here();
    if (msg.kind !== 'seed') throw new Error(`input ${i}: expected a seed from the client, got a ${msg.kind} message`);
    if (msg.dtype !== 'ring64' || msg.seed.byteLength !== SEED_BYTES)
      throw new Error(`input ${i}: the seed must be ${SEED_BYTES} bytes for ring64, got ${msg.seed.byteLength} bytes for ${String(msg.dtype).slice(0, 16)}`);
    if (msg.shape.length !== shape.length || msg.shape.some((d, j) => d !== shape[j]))
      throw new Error(`input ${i}: the seed declares shape [${msg.shape.slice(0, 8)}${msg.shape.length > 8 ? ',...' : ''}], the request said [${shape}]`);
    return prgRing(msg.seed, shape, { nonce: msg.nonce });
  }));
  // One refused or lost: the others received are freed with it.
  const failed = got.find((r) => r.status === 'rejected');
  if (failed) {
    for (const r of got) if (r.status === 'fulfilled') r.value?.dispose();
    throw (failed as PromiseRejectedResult).reason;
  }
  return got.map((r) => (r as PromiseFulfilledResult<Share>).value);
}

/**
 * One prediction on this server (session `index` of its epoch):
 * 1. reserve the session's first op for the input's mask (input_mask.ts), masked or not;
 * 2. receive the client's input: plain, a share (seed from the client on server0, x - PRG(seed)
 *    on server1); `maskedInput` (a leased query), m = x - a on both, so x comes masked;
 * 3. run the model's steps, the weights reusing their masks;
 * 4. send the output share to the client only (with the masked input's check applied), re-randomised
 *    by a fresh sharing of zero (share.ts output);
 * 5. `leaseNext` (the client asked for its next query's lease): send the client this server's
 *    share of that query's input mask, or that it has none (input_mask.ts).
 * Every tensor the query made is freed, whether it succeeded or not.
 */
export async function predictOnServer(fork: Cluster, me: PartyName, spec: ModelSpec, shares: (RingTensor | null)[], masks: MaskedWeights, shape: number[], query: { index: number; maskedInput: boolean; leaseNext?: () => Promise<NextLease | undefined>; input?: { awaited: () => void; came: () => void } }): Promise<number[]> {
  const party = fork.party(me);
  const maskOp = reserveInputMaskOp(fork, query.index);
  // The input's deadline (inputTimeoutMs) runs from here: waits before this one (the setup,
  // server2's gate form and the recording it follows) are the cluster's, not the client's.
  // It stops once the input is here, before its share is built (a seed's expansion may run on
  // the thread pool, turns of the event loop later).
  query.input?.awaited();
  const came = query.input?.came;
  const received = query.maskedInput && party.isCompute ? await receiveMaskedInput(party, fork, query.index, shape, came) : undefined;
  const [input] = received ? [received.share] : await receiveInputs(party, [shape], came);
  came?.();
  // The owner's client refused weights beyond the range weightBound assumes (checkWeightRange).
  const weights = spec.params.map((p, i) => wrap(fork, me, shares[i], p.shape, { masked: masks.masked[i], ref: masks.refs[i] }).withBound(weightBound(fork.fixed.fracBits)));
  const { result, tensors } = collect(() => {
    const premasked = received ? { masked: Promise.resolve(new Map([[me, received.masked]])), ref: received.masked.ref } : { maskOp: maskOp };
    const x = wrap(fork, me, input, shape, premasked);
    return spec.build(weights).reduce<PrivateTensor>((h, step) => {
      const y = step(h);
      if (y.kind !== 'private') throw new Error('the model produced a public value');
      return y;
    }, x);
  });
  try {
    const out = (await result.shares).get(me) ?? null;
    const checked = received && out ? await checkedOutputShare(party, fork.provider, query.index, received.masked.alpha!, out) : out;
    try {
      // Fresh shares per query: the session's base id is no op's, so no other output shares its nonce.
      await output(party, OUTPUT_OP, checked, CLIENT, outputNonce(query.index * OPS_PER_SESSION));
    } finally {
      if (checked !== out) checked?.dispose();
    }
    if (query.leaseNext && party.isCompute) await sendNextMaskShare(party, fork.provider, await query.leaseNext(), CLIENT, nextMaskTag());
    return [...result.shape];
  } finally {
    await Promise.allSettled(tensors.map((t) => t.dispose()));
  }
}

/** server0/server1: m = x - a from the client (its shape checked before anything is built), as a share and a masked form. */
async function receiveMaskedInput(party: Party, fork: Cluster, index: number, shape: readonly number[], arrived?: () => void): Promise<{ share: RingTensor; masked: MaskedShare }> {
  const m = await party.recvTensor(CLIENT, tag(inputOp(0), 'input'), shape, 'ring64');
  arrived?.();
  try {
    return await maskedInputShares(party, fork.provider, index, m);
  } catch (e) {
    m.dispose();
    throw e;
  }
}

/** Receives a deployed model's weights as shares (server2 gets none) and masks them. */
export async function deployOnServer(fork: Cluster, me: PartyName, spec: ModelSpec): Promise<{ shares: Share[]; masks: MaskedWeights }> {
  const shares = await receiveInputs(fork.party(me), spec.params.map((p) => p.shape));
  try {
    return { shares, masks: await maskWeights(fork, me, spec, shares) };
  } catch (e) {
    for (const s of shares) s?.dispose();
    throw e;
  }
}
