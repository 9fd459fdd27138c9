// Getting values in and out of shared form.
import { createHmac } from 'node:crypto';

import { add, sub } from '../../ops';
import { prgRing, randomSeed, SEED_BYTES } from '../../prg/prg';
import type { PartyName } from '../../net/transport';
import { RingTensor } from '../../tensor/ring_tensor';
import { type OpCtx, type Party, SERVER0, SERVER1, tag } from '../party';
import { defineGuardedSwitches } from '../test_switches';

/** A party's local part of a private value: a share on server0/server1, nothing elsewhere. */
export type Share = RingTensor | null;

const INPUT_NONCE = 1n;

/**
 * Secret-shares `value` (held by `owner`) between server0 and server1, seed-compressed.
 * 1. owner draws a seed from the OS CSPRNG; x0 = PRG(seed).
 * 2. owner sends the seed to server0 (16 bytes) and x1 = x - x0 to server1.
 * 3. server0 expands the seed; server1 keeps x1. Nobody else learns anything.
 */
export async function shareInput(p: Party, op: OpCtx, owner: PartyName, value?: RingTensor): Promise<Share> {
  const t = tag(op, 'input');
  if (p.name === owner) {
    if (!value) throw new Error(`${op.name}: ${owner} has no value to share`);
    const seed = randomSeed();
    const x0 = await prgRing(seed, value.shape, { nonce: INPUT_NONCE });
    const x1 = await sub(value, x0);
    x0.dispose();
    try {
      await Promise.all([
        p.transport.send(owner, SERVER0, t, { kind: 'seed', dtype: 'ring64', shape: [...value.shape], seed, nonce: INPUT_NONCE }),
        p.sendTensor(SERVER1, t, x1),
      ]);
    } finally {
      x1.dispose();
    }
    return null;
  }
  if (p.role === 0) {
    const msg = await p.transport.recv(p.name, owner, t);
    if (msg.kind !== 'seed') throw new Error(`${op.name}: expected a seed from ${owner}`);
    return prgRing(msg.seed, msg.shape, { nonce: msg.nonce });
  }
  if (p.role === 1) return p.recvTensor(owner, t, undefined, 'ring64');
  return null;
}

/**
 * Opens a shared value to both compute servers: each sends its share to the other (one round,
 * 2 x 8n bytes). server2 and players get null.
 */
export async function reveal(p: Party, op: OpCtx, x: Share, step = 'reveal'): Promise<RingTensor | null> {
  if (!p.isCompute) return null;
  const mine = required(op, x);
  const theirs = await p.exchange(tag(op, step), mine);
  try {
    return await add(mine, theirs);
  } finally {
    theirs.dispose();
  }
}

/**
 * Sends both shares to `receiver`, who alone reconstructs the value (2 x 8n bytes).
 * 1. server0 and server1 re-randomise their shares with a fresh sharing of zero (`freshShares`,
 *    no message): server0 adds R, server1 subtracts it, R = PRG(K, nonce), K derived from the
 *    pair seed s01, which the receiver and server2 do not hold.
 * 2. each sends its share to `receiver`, who adds them.
 * The receiver's view: the pair (x0 + R, x1 - R) for a pseudorandom R of its own per output, so
 * uniform given x0 + x1 = x. Without step 1 the shares themselves carried more than x: a share
 * after a local truncation lies in an interval of 2^(64-f) around the share of what was added to
 * it (a bias, fixed for a deployed model), so the two interval centres, found over many outputs,
 * gave the bias. `nonce` must be unique per output under one pair seed (ops are: the default is
 * the op's id; the service passes its session's).
 */
export async function output(p: Party, op: OpCtx, x: Share, receiver: PartyName, nonce = outputNonce(op.id)): Promise<RingTensor | null> {
  const t = tag(op, 'output');
  if (p.isCompute) {
    const fresh = await freshShares(p, required(op, x), nonce);
    try {
      await p.sendTensor(receiver, t, fresh);
    } finally {
      fresh.dispose();
    }
    return null;
  }
  if (p.name !== receiver) return null;
  const shares = [p.recvTensor(SERVER0, t), p.recvTensor(SERVER1, t)];
  let x0: RingTensor, x1: RingTensor;
  try {
    [x0, x1] = await Promise.all(shares);
  } catch (e) {
    // Failed at the first failure (a link gone); a share that came, or comes, is freed.
    for (const s of shares) void s.then((x) => x.dispose(), () => undefined);
    throw e;
  }
  try {
    return await add(x0, x1);
  } finally {
    x0.dispose();
    x1.dispose();
  }
}

/** The nonce of the output of op `opId` (or of a session whose op ids start above `opId`: the service's). */
export function outputNonce(opId: number): bigint {
  return BigInt(opId);
}

/** The view tests' control: output shares sent as they are (fresh false); guarded like the others. */
export const OUTPUT_STEPS = defineGuardedSwitches({}, 'OUTPUT_STEPS', { fresh: true });

/**
 * server0/server1: its share of x plus its share of a fresh sharing of zero under `nonce`
 * (server0 + R, server1 - R): a new tensor. The key is HMAC(s01, label), so these PRG streams
 * never meet the pair seed's other uses, whose nonces are op ids too.
 */
export async function freshShares(p: Party, x: RingTensor, nonce: bigint): Promise<RingTensor> {
  if (!p.crypto) throw new Error(`${p.name} has no correlated randomness to re-randomise its output share with`);
  if (!OUTPUT_STEPS.fresh) return RingTensor.fromBytes(x.toBytes(), x.shape, x.dtype);
  return plusZeroSharing(p, x, createHmac('sha256', p.crypto.pairSeed(p)).update('tfe output shares v1').digest(), nonce);
}

/**
 * server0/server1: x plus its share of a sharing of zero both derive from `key` (a MAC under the
 * pair seed): server0 adds R = PRG(key, nonce), server1 subtracts it. A new tensor.
 */
export async function plusZeroSharing(p: Party, x: RingTensor, key: Uint8Array, nonce: bigint): Promise<RingTensor> {
  const r = await prgRing(new Uint8Array(key.subarray(0, SEED_BYTES)), x.shape, { nonce });
  try {
    return p.role === 0 ? await add(x, r) : await sub(x, r);
  } finally {
    r.dispose();
  }
}

/** The share a compute server must hold; a missing one is a protocol bug. */
export function required(op: OpCtx, x: Share): RingTensor {
  if (!x) throw new Error(`${op.name}: a compute server is missing its share`);
  return x;
}
