import test from 'ava';

import { RingTensor } from '../lib/ring';
import { rint } from './helpers/fixed';

function randomFloats(n: number, scale: number): Float64Array {
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = (Math.random() * 2 - 1) * scale;
  return a;
}


test('encode/decode round-trips within half a unit in the last place, for several fracBits', (t) => {
  for (const f of [0, 8, 16, 24, 40]) {
    const v = randomFloats(1000, 2 ** Math.min(20, 62 - f));
    v[0] = 0;
    v[1] = 2 ** -f;
    v[2] = -(2 ** -f);
    const a = RingTensor.fromFloat64Array(v, [10, 100], { fracBits: f });
    const back = a.toFloat64Array({ fracBits: f });
    // The encoding itself is round(x * 2^f) as a signed integer: check it exactly.
    const enc = a.toBigInt64Array();
    for (let i = 0; i < v.length; i++) {
      t.is(enc[i], BigInt(rint(v[i] * 2 ** f)), `index ${i}`);
      t.true(Math.abs(back[i] - v[i]) <= 2 ** -(f + 1) + Math.abs(v[i]) * 2 ** -52, `f=${f} index ${i}`);
    }
    a.dispose();
  }
});

test('default is 16 fractional bits; negative values are two\'s complement', (t) => {
  const a = RingTensor.fromFloat64Array([1, -1, 0.5, -2.25]);
  t.deepEqual([...a.toBigInt64Array()], [65536n, -65536n, 32768n, -147456n]);
  t.deepEqual([...a.toBigUint64Array()].slice(1, 2), [(1n << 64n) - 65536n]);
  t.deepEqual([...a.toFloat64Array()], [1, -1, 0.5, -2.25]);
  a.dispose();
});

test('the largest and smallest representable values encode; one beyond is refused with its index', (t) => {
  const f = 16;
  const max = 2 ** 47 - 2 ** -6; // the largest double below 2^(63-f): its encoding is 2^63 - 2^10
  const min = -(2 ** (63 - f));
  const a = RingTensor.fromFloat64Array([max, min], [2], { fracBits: f });
  t.deepEqual([...a.toFloat64Array({ fracBits: f })], [max, min]);
  t.is(a.toBigInt64Array()[1], -(1n << 63n));
  a.dispose();
  t.throws(() => RingTensor.fromFloat64Array([1, 2, 2 ** 47], [3]), {
    message: /EncodeFixedPoint: value 140737488355328 at index 2 is outside the representable range \[-2\^47, 2\^47\) for 16 fractional bits/,
  });
});

test('NaN and infinities are errors naming the index', (t) => {
  t.throws(() => RingTensor.fromFloat64Array([0, 1, NaN]), { message: /NaN at index 2 cannot be encoded/ });
  t.throws(() => RingTensor.fromFloat64Array([Infinity]), { message: /\+Infinity at index 0 cannot be encoded/ });
  t.throws(() => RingTensor.fromFloat64Array([5, -Infinity, NaN]), { message: /-Infinity at index 1 cannot be encoded/ });
  t.throws(() => RingTensor.fromFloat64Array([1], [1], { fracBits: 63 }), { message: /fracBits 63 is outside \[0, 62\]/ });
});
