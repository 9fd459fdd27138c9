import test from 'ava';

import { matmul, RingTensor } from '../lib/ring';
import { randomU64 } from './helpers/random';

// Three parties in one process each run heavy kernels at once. Kernels run on worker threads,
// so the JS thread keeps turning (it would not, were a kernel run on it), and every result is
// the same as when run alone.
test('three concurrent matmuls leave the event loop free and give the same results as alone', async (t) => {
  const n = 640;
  const parties = [0, 1, 2].map(() => ({
    a: RingTensor.fromBigUint64Array(randomU64(n * n, false), [n, n]),
    b: RingTensor.fromBigUint64Array(randomU64(n * n, false), [n, n]),
  }));
  const alone: bigint[][] = [];
  for (const p of parties) {
    const c = await matmul(p.a, p.b);
    alone.push(c.toBigInts());
    c.dispose();
  }
  let ticks = 0;
  let running = true;
  const spin = () => {
    ticks++;
    if (running) setImmediate(spin);
  };
  setImmediate(spin);
  const results = await Promise.all(parties.map((p) => matmul(p.a, p.b)));
  running = false;
  // Kernels run on the JS thread would finish before the event loop first turns (0 ticks). Off
  // it, the loop turns while they compute; on a loaded 2-core machine (the whole suite running
  // alongside) it may turn only once or twice in that time, so one turn is the robust bar.
  t.true(ticks >= 1, `the JS thread ran ${ticks} times while kernels computed`);
  results.forEach((c, i) => {
    t.deepEqual(c.toBigInts(), alone[i]);
    c.dispose();
  });
  for (const p of parties) {
    p.a.dispose();
    p.b.dispose();
  }
});
