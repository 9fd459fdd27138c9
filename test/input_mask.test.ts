// Masked inputs for leased queries (lib/serve/input_mask.ts), in one
// process: the shares they give sum to the input; what server0 and server1 receive (m = x - a) has the same
// statistics for two different inputs and does not give the input back from either server's own
// share of the mask, while a mask that were that share alone (the control) gives it back at once;
// the output check cancels for equal masked inputs and not otherwise.
import test from 'ava';

import { add } from '../lib/ops';
import { Cluster } from '../lib/protocol/cluster';
import { SERVER0, SERVER1, SERVER2 } from '../lib/protocol/party';
import { RingTensor } from '../lib/tensor/ring_tensor';
import { checkedOutputShare, inputMaskRef, maskedInputShares } from '../lib/serve/input_mask';

const INDEX = 77;
const SHAPE = [1, 4096];
const OP = { id: 5, name: 'test' };

async function setup(): Promise<Cluster> {
  const c = new Cluster();
  await c.ready();
  return c;
}

const ring = (v: bigint[] | BigInt64Array, shape = SHAPE) => RingTensor.fromBigInt64Array(BigInt64Array.from(v), shape);
const words = (t: RingTensor) => Array.from(t.toBigInt64Array());

/** Fraction of set bits at each of the 64 positions over all elements. */
function bitRates(v: bigint[]): number[] {
  return Array.from({ length: 64 }, (_, b) => v.filter((w) => (BigInt.asUintN(64, w) >> BigInt(b)) & 1n).length / v.length);
}

test('the masked input gives shares of x; neither server can unmask it with its own share, and its statistics do not depend on x', async (t) => {
  const c = await setup();
  const n = SHAPE[1];
  const secrets = [Array.from({ length: n }, () => 0n), Array.from({ length: n }, (_, i) => BigInt(i % 7) << 40n)];
  // What the client gets: server0's and server1's shares of the mask, as each derives it.
  const [a0, a1] = await Promise.all([SERVER0, SERVER1].map((s) => c.runOn(s, OP, (p) => c.provider.mask(p, inputMaskRef(INDEX, SHAPE)))));
  const a = await add(a0, a1);
  // The mask server2 deals products against is the same one (else the first product would be wrong).
  t.deepEqual(words(await c.runOn(SERVER2, OP, (p) => c.provider.mask(p, inputMaskRef(INDEX, SHAPE)))), words(a));
  for (const [who, own] of [['server0', a0], ['server1', a1]] as const) {
    for (const mask of [a, own]) {
      const control = mask === own; // a mask that were this server's own share: no masking left for it
      const ms = secrets.map((x) => words(ringSub(ring(x), mask)));
      // The server's attack: add its own share of the mask to what it received.
      const recovered = ms.map((m) => m.map((w, i) => BigInt.asIntN(64, w + words(own)[i])));
      const hits = recovered.map((r, k) => r.filter((w, i) => w === secrets[k][i]).length);
      // What it can compute from everything it holds: m and m + its share (x minus the other share).
      const rates = [...ms, ...recovered].map(bitRates);
      const worst = Math.max(...rates.flatMap((r) => r.map((q) => Math.abs(q - 0.5))));
      if (control) {
        t.true(hits.every((h) => h === n), `the control: a mask known to ${who} gives x back`);
        t.true(worst > 0.4, `the control's statistics show x to ${who} (max bit bias ${worst})`);
      } else {
        t.true(hits.every((h) => h < 3), `${who} recovered ${hits} of ${n} elements`);
        // 4096 samples per bit position: a fair bit is within 0.05 of 1/2 but with probability ~1e-10.
        t.true(worst < 0.05, `${who}: bit bias ${worst} for two different inputs`);
      }
    }
  }
  // The shares made from m = x - a sum to x, and the masked form is {alpha: m, a_i}.
  const x = ring(secrets[1]);
  const m = ringSub(x, a);
  const [s0, s1] = await Promise.all([SERVER0, SERVER1].map((s) => c.runOn(s, OP, (p) => maskedInputShares(p, c.provider, INDEX, m))));
  t.deepEqual(words(await add(s0.share, s1.share)), secrets[1]);
  t.deepEqual(words(await add(s0.masked.a!, s1.masked.a!)), words(a));
  t.deepEqual(words(s0.masked.alpha!), words(m));
  await c.close();
});

function ringSub(x: RingTensor, y: RingTensor): RingTensor {
  const xs = x.toBigInt64Array(), ys = y.toBigInt64Array();
  return RingTensor.fromBigInt64Array(xs.map((v, i) => BigInt.asIntN(64, v - ys[i])), x.shape);
}

test('the output check cancels for equal masked inputs and leaves a pseudorandom output otherwise', async (t) => {
  const c = await setup();
  const out = ring([5n, -3n, 1n << 20n], [1, 3]);
  const m = ring(Array.from({ length: 8 }, (_, i) => BigInt(i)), [1, 8]);
  const m2 = ring(Array.from({ length: 8 }, (_, i) => BigInt(i + (i === 2 ? 1 : 0))), [1, 8]);
  const zero = ring([0n, 0n, 0n], [1, 3]);
  const check = (s: string, mm: RingTensor, o: RingTensor, index = INDEX) => c.runOn(s, OP, (p) => checkedOutputShare(p, c.provider, index, mm, o));
  const [c0, c1] = [await check(SERVER0, m, out), await check(SERVER1, m, zero)];
  t.deepEqual(words(await add(c0, c1)), words(out), 'equal masked inputs: the output is untouched');
  const bad = words(await add(c0, await check(SERVER1, m2, zero)));
  t.true(bad.every((w, i) => w !== words(out)[i]), `different masked inputs: ${bad}`);
  const otherIndex = words(await add(await check(SERVER0, m, out, INDEX + 1), c1));
  t.true(otherIndex.every((w, i) => w !== words(out)[i]), 'the check is bound to the session index');
  await c.close();
});
