// DReLU with one PrivateCompare: the MSB from the carry out of the low 63 bits of a masked
// opening, as in Falcon (Wagh, Tople, Benhamouda, Kushilevitz, Mittal, Rabin; PoPETs 2021), here
// in SecureNN's setting of two share holders and server2 as dealer and comparison helper. The
// paper's SecureNN DReLU (msb.ts: ShareConvert, then ComputeMSB) runs two PrivateCompares and
// twice the traffic for the same bit.
import { add, bitExtract, cast, concat, mul, mulScalar, shiftLeft, shiftRightLogical, sub, xor } from '../../ops';
import { prgBits, prgRing } from '../../prg/prg';
import { RingTensor } from '../../tensor/ring_tensor';
import { nonceFor } from '../correlated';
import { deal, ringPrg } from '../dealer';
import { type OpCtx, type Party, tag } from '../party';
import { oneMinusTwice } from '../sign_arith';
import { defineGuardedSwitches } from '../test_switches';
import { dealBits, done, fieldPrg } from './msb';
import { privateCompare } from './private_compare';

/** x mod 2^63: the top bit cleared. */
async function low63(x: RingTensor): Promise<RingTensor> {
  const up = await shiftLeft(x, 1);
  return done([up], await shiftRightLogical(up, 1));
}

/**
 * Shares over Z_2^64 of [a >= 0] (1 - MSB(a)) for flat [n] ring64 shares a; exact for every a.
 * With x = a + r, x' = x mod 2^63, r' = r mod 2^63:  MSB(a) = x_63 xor r_63 xor [r' > x'],
 * since a's low 63 bits are x' - r', and borrowing 2^63 flips bit 63 exactly when r' > x'.
 * 1. server2 draws r uniform in Z_2^64 and deals shares of r over Z_2^64 and of the 64 bits of r'
 *    over Z_p (bit 63 is 0). Nothing here depends on the input, so it is sent at once.
 * 2. server0 and server1 open x = a + r between themselves.
 * 3. PrivateCompare(bits of r', x', beta) with beta a random bit from their common seed: server2
 *    learns beta' = beta xor [r' > x'].
 * 4. server2 deals shares over Z_2^64 of the bit z = r_63 xor beta' (and, for relu, of r z).
 * 5. With the public bit c = x_63 xor beta, MSB(a) = z xor c = z (1 - 2c) + c, linear in z's
 *    shares: DReLU_j = [j = 0] (1 - c) - z_j (1 - 2c).
 * 6. relu only: relu(a) = (x - r) DReLU(a), and r DReLU(a) = r (1 - c) - (1 - 2c) r z has shares
 *    r_j (1 - c) - (1 - 2c) (r z)_j: every term is a share times a public value (x, c), so relu
 *    needs no Beaver product (the ReLU gate of the FSS protocol, lib/protocol/fss/drelu.ts).
 * What each party receives: server0 nothing from server2 (its shares are its PRG stream with
 * server2); server1 r - PRG, bits - PRG (mod p), z - PRG and r z - PRG, each uniform because it
 * lacks the stream; each of them the other's a_j + r_j, uniform because r is uniform and unknown
 * to both; server2 only PrivateCompare's two vectors, whose view is uniform given beta'
 * (private_compare.ts), and beta' is uniform because beta is. server2 knows r' but nothing of x.
 */
export function dreluOneCompare(p: Party, op: OpCtx, a: RingTensor | null, n: number): Promise<RingTensor | null> {
  return oneCompare(p, op, a, n, false);
}

/** Shares of relu(a) for flat [n] shares a by the same steps (step 6): no Beaver product. */
export function reluOneCompare(p: Party, op: OpCtx, a: RingTensor | null, n: number): Promise<RingTensor | null> {
  return oneCompare(p, op, a, n, true);
}

/**
 * relu(a) and DReLU(a) together, [relu; d] as one flat [2n] share: the relu's own steps, which
 * compute d on the way (the same messages as reluOneCompare; d is kept, not sent).
 */
export function reluBitOneCompare(p: Party, op: OpCtx, a: RingTensor | null, n: number): Promise<RingTensor | null> {
  return oneCompare(p, op, a, n, true, true);
}

/**
 * The view tests' control (test_switches.ts): `maskInput` false deals r = 0, so the opening
 * x + r is x itself and must be flagged. Never off outside the tests.
 */
export const DRELU_STEPS = defineGuardedSwitches({}, 'DRELU_STEPS', { maskInput: true });

async function oneCompare(p: Party, op: OpCtx, a: RingTensor | null, n: number, relu: boolean, withBit = false): Promise<RingTensor | null> {
  const shape = [n];
  if (p.role === 2) {
    let r = await prgRing(p.crypto!.ownSeed(p)!, shape, { nonce: nonceFor(op.id, 20) });
    if (!DRELU_STEPS.maskInput) {
      const drawn = r;
      r = await mulScalar(drawn, 0n);
      drawn.dispose();
    }
    const rLow = await low63(r);
    await Promise.all([deal(p, op, 'dr.deal', 21, r, ringPrg(shape), sub, shape), dealBits(p, op, 'dr.deal', 22, rLow, n)]);
    const betaP = (await privateCompare(p, op, 'dr.compare', nonceFor(op.id, 26), null, null, null, n))!;
    const r63 = await bitExtract(r, 63);
    const z = await xor(r63, betaP);
    const zRing = await cast(z, 'ring64');
    const rz = relu ? await mul(r, zRing) : null;
    await Promise.all([
      deal(p, op, 'dr.z', 24, zRing, ringPrg(shape), sub, shape),
      rz ? deal(p, op, 'dr.z', 27, rz, ringPrg(shape), sub, shape) : null,
    ]);
    return done([r, rLow, betaP, r63, z, zRing, rz], null);
  }
  if (!p.isCompute || !a) return null;
  const j = p.role as 0 | 1;
  const [rj, rBits] = await Promise.all([
    deal(p, op, 'dr.deal', 21, null, ringPrg(shape), sub, shape),
    deal(p, op, 'dr.deal', 22, null, fieldPrg([n, 64]), sub, [n, 64]),
  ]);
  const mine = await add(a, rj!);
  const theirs = await p.exchange(tag(op, 'dr.open'), mine);
  const x = await add(mine, theirs);
  const xLow = await low63(x);
  const beta = await prgBits(p.crypto!.pairSeed(p), shape, { nonce: nonceFor(op.id, 25) });
  await privateCompare(p, op, 'dr.compare', nonceFor(op.id, 26), rBits, xLow, beta, n);
  const [zj, rzj] = await Promise.all([
    deal(p, op, 'dr.z', 24, null, ringPrg(shape), sub, shape),
    relu ? deal(p, op, 'dr.z', 27, null, ringPrg(shape), sub, shape) : null,
  ]);
  const x63 = await bitExtract(x, 63);
  const c = await xor(x63, beta);
  const cRing = await cast(c, 'ring64');
  const one = RingTensor.fromBigInts([1n], [1]);
  const oneMinusC = await sub(one, cRing);
  const sign = await oneMinusTwice(cRing);
  const zs = await mul(zj!, sign);
  const d = j === 0 ? await sub(oneMinusC, zs) : await mulScalar(zs, -1n);
  const temps = [rj, rBits, mine, theirs, xLow, beta, zj, x63, c, cRing, one, zs];
  if (!relu) return done([...temps, x, oneMinusC, sign, rzj], d);
  // relu_j = x d_j - r_j (1 - c) + (1 - 2c) (r z)_j
  const xd = await mul(x, d);
  const rc = await mul(rj!, oneMinusC);
  const rzs = await mul(rzj!, sign);
  const lhs = await sub(xd, rc);
  const r = await add(lhs, rzs);
  if (!withBit) return done([...temps, x, oneMinusC, sign, rzj, d, xd, rc, rzs, lhs], r);
  return done([...temps, x, oneMinusC, sign, rzj, d, xd, rc, rzs, lhs, r], await concat([r, d]));
}
