// Masked inputs for leased batch-1 queries: the client sends its input already masked, so the
// first product needs no opening (one round off every such query, in every protocol).
//
// Without it, a query's first product opens x - a between server0 and server1: the client shares
// x (a seed to server0, x - PRG(seed) to server1), the servers mask it with a from server2's seeds
// and exchange their halves of x - a. With a lease the session index is known ahead, and so is the
// input's mask: a = PRG(s02, n) + PRG(s12, n) for the nonce n of the session's first op, which
// every server reserves for it (reserveInputMaskOp). Steps:
//   1. a batch-1 query asks for the next query's lease (leaseNext): server0 grants it as the query
//      starts and tells server1 (and server2) which query asked; after their output shares,
//      server0 sends the client a0 = PRG(s02, n) and server1 a1 = PRG(s12, n) for the leased
//      index n and this query's input shape (or, each, that it has none);
//   2. the client's next query, leased, sends m = x - a (a = a0 + a1) to server0 and to server1;
//   3. server0 holds x0 = m + a0, server1 x1 = a1, both with the masked form {alpha: m, a_i}: the
//      first product of x is a Beaver product with nothing to open;
//   4. the output shares carry a check: server0 adds R(m0) and server1 subtracts R(m1), with R a
//      pseudorandom tensor keyed by HMAC(s01, index, m_i). Equal m's cancel; a client that sent
//      server0 and server1 different m's gets a pseudorandom output and nothing else.
//
// Views. server0 receives m = x - a, where a1 = PRG(s12, n) is unknown to it: m is uniform given
// everything server0 holds, and it is exactly the alpha that server1 used to send it in the
// opening, so server0's view is the old one less the seed. server1: likewise with a0. server2
// receives nothing new. The client learns its own next input's mask, used by that query only (an
// index runs once on every server), and of the output's shares only their sum (share.ts output
// re-randomises them). Without step 4 a client that sent m to server0 and m + d to server1 would
// get f(d, b1) added to the first layer (b1 server1's share of the weight's mask): more than the
// model's answers; with it, a pseudorandom output.
import { createHmac } from 'node:crypto';

import { add, sub } from '../ops';
import { plusZeroSharing } from '../protocol/pond/share';
import { OPS_PER_SESSION, type Cluster } from '../protocol/cluster';
import { type CorrelatedRandomness, type MaskRef, nonceFor } from '../protocol/correlated';
import { type OpCtx, type Party, receivedTensor, SERVER0, SERVER1 } from '../protocol/party';
import { disposeReceived, type Tag } from '../net/transport';
import type { MaskedShare } from '../protocol/pond/arith';
import { RingTensor } from '../tensor/ring_tensor';
import { sameShape } from '../tensor/shape';

/** The op every query's session reserves first, whose slot-0 mask is its input's. */
const INPUT_MASK_OP_NAME = 'input-mask';

/** The next query's lease as a compute server knows it: its index and input shape. */
export interface NextLease {
  index: number;
  shape: readonly number[];
}

/** The mask of session `index`'s input of `shape`: slot 0 of the session's first op. */
export function inputMaskRef(index: number, shape: readonly number[]): MaskRef {
  return { nonce: nonceFor(index * OPS_PER_SESSION + 1, 0), shape: [...shape] };
}

/**
 * Reserves the session's first op for its input's mask, on every server and whether or not the
 * query came masked, so op ids (and so every later nonce) agree with what server2 dealt ahead.
 */
export function reserveInputMaskOp(fork: Cluster, index: number): OpCtx {
  const op = fork.nextOp(INPUT_MASK_OP_NAME);
  if (op.id !== index * OPS_PER_SESSION + 1) throw new Error(`the input mask's op must be session ${index}'s first (got op id ${op.id})`);
  return op;
}

/**
 * server0/server1: this server's share of x and x's masked form, from m = x - a as the client sent
 * it (already received, its shape checked). server0: x0 = m + a0; server1: x1 = a1.
 */
export async function maskedInputShares(p: Party, cr: CorrelatedRandomness, index: number, m: RingTensor): Promise<{ share: RingTensor; masked: MaskedShare }> {
  if (!p.isCompute) throw new Error(`${p.name} holds no input share`);
  const ref = inputMaskRef(index, m.shape);
  const a = await cr.mask(p, ref);
  // The share and the masked form's a are freed separately: server1 gets its own copy.
  const share = p.role === 0 ? await add(m, a) : await cr.mask(p, ref);
  return { share, masked: { ref, alpha: m, a } };
}

/**
 * server0/server1: the output share with the check of step 4 applied (server0 adds R(m), server1
 * subtracts it). `m` is the masked input this server received.
 */
export async function checkedOutputShare(p: Party, cr: CorrelatedRandomness, index: number, m: RingTensor, out: RingTensor): Promise<RingTensor> {
  const key = createHmac('sha256', cr.pairSeed(p))
    .update(`tfe input-mask check v1 ${index} [${m.shape.join(',')}]`)
    .update(m.toBytes())
    .digest();
  return plusZeroSharing(p, out, key, 1n);
}

/**
 * server0/server1, after its output share (step 1): its share of the next query's input mask, or
 * that it has none, to `client` under `t` (a part of the output's step: the same round). Only the
 * compute servers call it (programs.ts).
 */
export async function sendNextMaskShare(p: Party, cr: CorrelatedRandomness, next: NextLease | undefined, client: string, t: Tag): Promise<void> {
  if (!next) return p.sendControl(client, t, { none: true });
  const share = await cr.mask(p, inputMaskRef(next.index, next.shape));
  try {
    await p.sendTensor(client, t, share);
  } finally {
    share.dispose();
  }
}

/**
 * The client: the next query's input mask from server0's and server1's shares (under `t`), each
 * checked against `shape` before it is built; undefined when either has none.
 */
export async function receiveNextMask(client: Party, t: Tag, shape: readonly number[]): Promise<RingTensor | undefined> {
  const got = await Promise.allSettled([SERVER0, SERVER1].map(async (s) => {
    const msg = await client.transport.recv(client.name, s, t);
    if (msg.kind === 'control') return undefined;
    if (msg.kind !== 'tensor' || msg.dtype !== 'ring64') {
      disposeReceived(msg);
      throw new Error(`${s} sent an input mask share as a ${msg.kind} message`);
    }
    if (!sameShape(msg.shape, shape)) {
      disposeReceived(msg);
      throw new Error(`${s} sent an input mask share of shape [${msg.shape.slice(0, 8)}], not [${shape}]`);
    }
    return receivedTensor(msg, `${s}'s input mask share`);
  }));
  const [a0, a1] = got.map((g) => (g.status === 'fulfilled' ? g.value : undefined));
  try {
    const failed = got.find((g): g is PromiseRejectedResult => g.status === 'rejected');
    if (failed) throw failed.reason;
    return a0 && a1 ? await add(a0, a1) : undefined;
  } finally {
    a0?.dispose();
    a1?.dispose();
  }
}

/** The client: sends m = x - a to server0 and server1 under `t` (step 2). */
export async function sendMaskedInput(client: Party, t: Tag, x: RingTensor, a: RingTensor): Promise<void> {
  const m = await sub(x, a);
  try {
    await Promise.all([client.sendTensor(SERVER0, t, m), client.sendTensor(SERVER1, t, m)]);
  } finally {
    m.dispose();
  }
}
