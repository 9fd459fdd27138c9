// DReLU by function secret sharing with server2 as the dealer (the sign gate of Boyle, Chandran,
// Gilboa, Gupta, Ishai, Kumar, Rathee, Eurocrypt 2021, as AriaNN and Orca use it): one round
// online between server0 and server1, and server2 receives nothing.
import { add, addScalar, concat, mul, mulScalar, shiftRightLogical, slice, sub } from '../../ops';
import { dcfEval, dcfEval2, dcfKeygen, dcfKeygen2, dcfKeyWords } from '../../ops/fss';
import { prgRing } from '../../prg/prg';
import { RingTensor } from '../../tensor/ring_tensor';
import { nonceFor } from '../correlated';
import { deal } from '../dealer';
import { CHUNK_BYTES } from '../../net/wire';
import { type OpCtx, type Party, SERVER0, SERVER1, SERVER2, tag } from '../party';

/**
 * Test-only switches. With maskInput false server2 draws r = 0, so the opened x^ is the input
 * itself; the view tests use it as the control that must fail. `chunkBytes` bounds one key
 * message (tests lower it to run many chunks; server2 and the compute servers must agree on it).
 * Nothing in lib/ changes them. Why one wire chunk (CHUNK_BYTES, 4 MiB: 2040 relu keys, 2716
 * DReLU keys): a message of one chunk reaches the mailbox without being reassembled (one copy
 * fewer on the compute servers), and buffers stay below glibc's 32 MB mmap threshold, so they are
 * reused rather than fresh pages (faulted in at about 0.2 GB/s on the benchmark VM); in-process
 * network A at batch 128 took about 1 s with 32768-element chunks and 0.2 s with 1024 to 4096.
 */
export const FSS_STEPS = { maskInput: true, chunkBytes: CHUNK_BYTES };

/** The DCF compares the low 63 bits; the top bit is handled in the clear (see below). */
const LOW_BITS = 63;

const ringPrg = (shape: readonly number[]) => (s: Uint8Array, n: bigint) => prgRing(s, shape, { nonce: n });

/** 1 - 2t, elementwise. */
async function oneMinusTwice(t: RingTensor): Promise<RingTensor> {
  const d = await mulScalar(t, -2n);
  return freeing([d], addScalar(d, 1n));
}

async function freeing<T>(ts: (RingTensor | null | undefined)[], v: Promise<T>): Promise<T> {
  try {
    return await v;
  } finally {
    for (const t of ts) t?.dispose();
  }
}

/**
 * Shares over Z_2^64 of DReLU(a) = [a >= 0] for a read as a signed 64-bit integer: exact on the
 * whole ring (SecureNN's needs |a| < 2^62). With `relu`, shares of relu(a) = a DReLU(a) instead,
 * still in the one online round (the ReLU gate of the same paper).
 *
 * Offline, server2 (its own seed, so neither compute server knows r):
 * 1. draws r uniform on Z_2^64; b = MSB(r);
 * 2. deals additive shares of r and of b (seed-compressed: server0 expands, server1 receives
 *    the corrections), and for relu of r b;
 * 3. makes DCF keys for x -> (1 - 2b) [x < r mod 2^63] on 63-bit inputs (for relu, one tree with
 *    a second payload, x -> r (1 - 2b) [x < r mod 2^63]); server0 gets k0, server1 k1.
 * Online, server0 and server1:
 * 4. open x^ = a + r (each sends its share of it to the other: one round);
 * 5. c_j = DCF_kj(x^ mod 2^63), so c0 + c1 = (1 - 2b) [x^_low < r_low]; z_j = c_j + b_j is a
 *    sharing of z = b xor [x^_low < r_low];
 * 6. with A = MSB(x^) public, MSB(a) = A xor z = A + z (1 - 2A), and
 *    d = DReLU(a) = 1 - MSB(a): d_j = [j = 0](1 - A) - z_j (1 - 2A).
 * 7. relu only: r z = r b + r (1 - 2b) c has shares (rb)_j + e_j (e, the second payload), so
 *    r d = r (1 - A) - (1 - 2A) r z is local too, and relu(a) = (x^ - r) d = x^ d - r d: x^ is
 *    public, so every term is a local product with a public value (no truncation: d is 0 or 1).
 * Why MSB(a) = MSB(x^) xor MSB(r) xor [x^_low < r_low]: x^ - r = 2^63 (A - b) + (x^_low - r_low),
 * and the low difference borrows from bit 63 exactly when x^_low < r_low.
 * What each party receives: server0 and server1 DCF keys (pseudorandom on their own: they hide
 * r and b), shares of r, b and r b (uniform: server0's from s02, server1's corrections against s02
 * it lacks), and the peer's share of x^ (uniform: r is uniform and unknown to both); server2
 * nothing.
 */
export async function fssSign(p: Party, op: OpCtx, a: RingTensor | null, n: number, opts: { relu?: boolean } = {}): Promise<RingTensor | null> {
  const shape = [n];
  const payloads = opts.relu ? 2 : 1;
  const dealRing = (slot: number, v: RingTensor | null) => deal(p, op, 'fss.deal', slot, v, ringPrg(shape), sub, shape);
  const parts = keyChunks(n, dcfKeyWords(LOW_BITS, payloads));
  if (p.role === 2) {
    const own = p.crypto!.ownSeed(p);
    const r = FSS_STEPS.maskInput ? await prgRing(own, shape, { nonce: nonceFor(op.id, 80) }) : RingTensor.fromBigUint64Array(new BigUint64Array(n), shape);
    const b = await shiftRightLogical(r, 63);
    const beta = await oneMinusTwice(b);
    const rBeta = opts.relu ? await mul(r, beta) : null;
    const rb = opts.relu ? await mul(r, b) : null;
    try {
      // The dealt shares first: the compute servers open x^ with them while the keys are made.
      const dealt = Promise.all([dealRing(82, r), dealRing(83, b), rb ? dealRing(85, rb) : null]);
      await dealKeys(p, op, parts, r, beta, rBeta, own);
      await dealt;
    } finally {
      for (const t of [r, b, beta, rBeta, rb]) t?.dispose();
    }
    return null;
  }
  if (!p.isCompute || !a) return null;
  const j = p.role as 0 | 1;
  const [rj, bj, rbj] = await Promise.all([dealRing(82, null), dealRing(83, null), opts.relu ? dealRing(85, null) : null]);
  const held: (RingTensor | null)[] = [rj, bj, rbj];
  const keep = async (t: Promise<RingTensor>) => {
    const v = await t;
    held.push(v);
    return v;
  };
  try {
    // Step 4: open x^ = a + r.
    const mine = await keep(add(a, rj!));
    const xHat = await keep(add(mine, await keep(p.exchange(tag(op, 'fss.open'), mine))));
    // Steps 5 and 6 (for relu, both payloads come from one walk of the tree), chunk by chunk as
    // the keys arrive.
    const evals = await evalKeys(p, op, parts, xHat, payloads, j);
    for (const e of evals) held.push(e);
    const z = await keep(add(evals[0], bj!));
    const top = await keep(shiftRightLogical(xHat, 63));
    const flip = await keep(oneMinusTwice(top));
    const one = await keep(Promise.resolve(RingTensor.fromBigInts([1n], [1])));
    const notTop = await keep(sub(one, top));
    const zFlip = await keep(mul(z, flip));
    const d = j === 0 ? await keep(sub(notTop, zFlip)) : await keep(mulScalar(zFlip, -1n));
    if (!opts.relu) {
      held.splice(held.indexOf(d), 1);
      return d;
    }
    // Step 7: relu_j = x^ d_j - (r_j (1 - A) - (1 - 2A) ((rb)_j + e_j)).
    const rz = await keep(add(rbj!, evals[1]));
    const rd = await keep(sub(await keep(mul(rj!, notTop)), await keep(mul(rz, flip))));
    return sub(await keep(mul(xHat, d)), rd);
  } finally {
    for (const t of held) t?.dispose();
  }
}

/** [first, length] of each key message: at most FSS_STEPS.chunkBytes of keys each (at least one chunk). */
function keyChunks(n: number, words: number): [number, number][] {
  const c = Math.max(1, Math.floor(FSS_STEPS.chunkBytes / (8 * words)));
  const out: [number, number][] = [];
  for (let lo = 0; lo < n || out.length === 0; lo += c) out.push([lo, Math.min(c, n - lo)]);
  return out;
}

async function part(t: RingTensor, chunks: number, [lo, len]: [number, number]): Promise<RingTensor> {
  return chunks === 1 ? t : slice(t, [lo], [len]);
}

/**
 * server2: the DCF keys chunk by chunk, the PRG stream position of each chunk given by its first
 * element (so the chunks' keys are those of one call on the whole vector); a chunk's keys are
 * made while the previous chunk's are on their way, and at most one chunk is in flight.
 */
async function dealKeys(p: Party, op: OpCtx, parts: [number, number][], r: RingTensor, beta: RingTensor, rBeta: RingTensor | null, own: Uint8Array): Promise<void> {
  let inflight: Promise<unknown> = Promise.resolve();
  try {
    for (let c = 0; c < parts.length; c++) {
      const cut = (t: RingTensor) => part(t, parts.length, parts[c]);
      const [rc, betac, rBetac] = await Promise.all([cut(r), cut(beta), rBeta ? cut(rBeta) : null]);
      const keygen = { bits: LOW_BITS, seed: own, nonce: nonceFor(op.id, 81), first: parts[c][0] };
      let keys: [RingTensor, RingTensor];
      try {
        keys = rBetac ? await dcfKeygen2(rc, betac, rBetac, keygen) : await dcfKeygen(rc, betac, keygen);
      } finally {
        if (parts.length > 1) for (const t of [rc, betac, rBetac]) t?.dispose();
      }
      try {
        await inflight;
      } catch (e) {
        for (const k of keys) k.dispose();
        throw e;
      }
      const keyTag = tag(op, 'fss.key', String(c));
      inflight = Promise.all([p.sendTensor(SERVER0, keyTag, keys[0]), p.sendTensor(SERVER1, keyTag, keys[1])]).finally(() => {
        keys[0].dispose();
        keys[1].dispose();
      });
    }
  } finally {
    await inflight;
  }
}

/** server0 and server1: each chunk's DCF outputs as its keys arrive, joined into [n] per payload. */
async function evalKeys(p: Party, op: OpCtx, parts: [number, number][], xHat: RingTensor, payloads: 1 | 2, j: 0 | 1): Promise<RingTensor[]> {
  const words = dcfKeyWords(LOW_BITS, payloads);
  const outs: RingTensor[][] = Array.from({ length: payloads }, () => []);
  try {
    for (let c = 0; c < parts.length; c++) {
      // The key's shape is checked before it is read (recvTensor): a peer declares nothing else.
      const key = await p.recvTensor(SERVER2, tag(op, 'fss.key', String(c)), [parts[c][1], words]);
      const xc = await part(xHat, parts.length, parts[c]);
      try {
        const ys = payloads === 2 ? await dcfEval2(key, xc, { bits: LOW_BITS, party: j }) : [await dcfEval(key, xc, { bits: LOW_BITS, party: j })];
        ys.forEach((y, i) => outs[i].push(y));
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

/** Shares of [a >= 0]: see fssSign. */
export const fssDrelu = (p: Party, op: OpCtx, a: RingTensor | null, n: number): Promise<RingTensor | null> => fssSign(p, op, a, n);

/** Shares of relu(a) = a [a >= 0] in one online round: see fssSign. */
export const fssRelu = (p: Party, op: OpCtx, a: RingTensor | null, n: number): Promise<RingTensor | null> => fssSign(p, op, a, n, { relu: true });
