// DReLU by function secret sharing with server2 as the dealer (the sign gate of Boyle, Chandran,
// Gilboa, Gupta, Ishai, Kumar, Rathee, Eurocrypt 2021, as AriaNN and Orca use it): one round
// online between server0 and server1, and server2 receives nothing.
import { add, addScalar, mul, mulScalar, shiftRightLogical, sub } from '../../ops';
import { dcfEval, dcfKeygen, dcfKeyWords } from '../../ops/fss';
import { prgRing } from '../../prg/prg';
import { RingTensor } from '../../tensor/ring_tensor';
import { nonceFor } from '../correlated';
import { deal } from '../dealer';
import { type OpCtx, type Party, SERVER0, SERVER1, SERVER2, tag } from '../party';

/**
 * Test-only switch: with maskInput false server2 draws r = 0, so the opened x^ is the input
 * itself; the view tests use it as the control that must fail. Nothing in lib/ changes it.
 */
export const FSS_STEPS = { maskInput: true };

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
 * whole ring (SecureNN's needs |a| < 2^62).
 *
 * Offline, server2 (its own seed, so neither compute server knows r):
 * 1. draws r uniform on Z_2^64; b = MSB(r);
 * 2. deals additive shares of r and of b (seed-compressed: server0 expands, server1 receives
 *    the corrections);
 * 3. makes DCF keys (k0, k1) for x -> (1 - 2b) [x < r mod 2^63] on 63-bit inputs, and sends k0 to
 *    server0 and k1 to server1.
 * Online, server0 and server1:
 * 4. open x^ = a + r (each sends its share of it to the other: one round);
 * 5. c_j = DCF_kj(x^ mod 2^63), so c0 + c1 = (1 - 2b) [x^_low < r_low]; y_j = c_j + b_j is a
 *    sharing of y = b xor [x^_low < r_low];
 * 6. with A = MSB(x^) public, MSB(a) = A xor y = A + y - 2 A y (server0 adds A), and
 *    DReLU = 1 - MSB(a).
 * Why MSB(a) = MSB(x^) xor MSB(r) xor [x^_low < r_low]: x^ - r = 2^63 (A - b) + (x^_low - r_low),
 * and the low difference borrows from bit 63 exactly when x^_low < r_low.
 * What each party receives: server0 and server1 a DCF key (pseudorandom on its own: it hides r
 * and b), shares of r and b (uniform: server0's from s02, server1's corrections against s02 it
 * lacks), and the peer's share of x^ (uniform: r is uniform and unknown to both); server2 nothing.
 */
export async function fssDrelu(p: Party, op: OpCtx, a: RingTensor | null, n: number): Promise<RingTensor | null> {
  const shape = [n];
  const keyShape = [n, dcfKeyWords(LOW_BITS)];
  const kt = tag(op, 'fss.key');
  if (p.role === 2) {
    const own = p.crypto!.ownSeed(p);
    const r = FSS_STEPS.maskInput ? await prgRing(own, shape, { nonce: nonceFor(op.id, 80) }) : RingTensor.fromBigUint64Array(new BigUint64Array(n), shape);
    const b = await shiftRightLogical(r, 63);
    const beta = await oneMinusTwice(b);
    const [k0, k1] = await dcfKeygen(r, beta, { bits: LOW_BITS, seed: own, nonce: nonceFor(op.id, 81) });
    await Promise.all([
      p.sendTensor(SERVER0, kt, k0),
      p.sendTensor(SERVER1, kt, k1),
      deal(p, op, 'fss.deal', 82, r, ringPrg(shape), sub, shape),
      deal(p, op, 'fss.deal', 83, b, ringPrg(shape), sub, shape),
    ]);
    for (const t of [r, b, beta, k0, k1]) t.dispose();
    return null;
  }
  if (!p.isCompute || !a) return null;
  const j = p.role as 0 | 1;
  const [key, rj, bj] = await Promise.all([
    p.recvTensor(SERVER2, kt, keyShape),
    deal(p, op, 'fss.deal', 82, null, ringPrg(shape), sub, shape),
    deal(p, op, 'fss.deal', 83, null, ringPrg(shape), sub, shape),
  ]);
  // Step 4: open x^ = a + r.
  const mine = await add(a, rj!);
  const theirs = await p.exchange(tag(op, 'fss.open'), mine);
  const xHat = await freeing([mine, theirs], add(mine, theirs));
  // Step 5.
  const c = await dcfEval(key, xHat, { bits: LOW_BITS, party: j });
  const y = await freeing([c], add(c, bj!));
  // Step 6: msb_j = y_j (1 - 2A) + [j = 0] A; drelu_j = [j = 0] - msb_j.
  const top = await shiftRightLogical(xHat, 63);
  const flip = await oneMinusTwice(top);
  const yFlip = await freeing([y, flip], mul(y, flip));
  const msb = j === 0 ? await freeing([yFlip], add(yFlip, top)) : yFlip;
  const one = RingTensor.fromBigInts([1n], [1]);
  const out = j === 0 ? await freeing([msb, one], sub(one, msb)) : await freeing([msb, one], mulScalar(msb, -1n));
  for (const t of [key, rj, bj, xHat, top]) t?.dispose();
  return out;
}
