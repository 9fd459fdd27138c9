// Tensors nobody disposed (a failed query's temporaries, a user's forgotten dispose) are freed by
// the garbage collector, which V8 runs when its own heap fills: a tensor's wrapper is a few dozen
// bytes there, its storage megabytes of native memory V8 did not know of. The binding now tells V8
// of the native bytes (convert.cc, reportTensorMemory), so dropped tensors are collected under
// native memory pressure. Before: 256 dropped tensors of 4 MiB stayed, 1 GiB, until the process
// allocated enough JavaScript to collect. Alone in its file: its own process, its own counts.
import test from 'ava';

import { memory } from '../lib/ring';
import { prgRing } from '../lib/prg/prg';

const MiB = 2 ** 20;

test('tensors dropped without dispose are collected under native memory pressure', async (t) => {
  const seed = new Uint8Array(16).fill(7);
  const base = memory().bytes;
  let peak = 0;
  for (let i = 0; i < 256; i++) {
    // 4 MiB each, dropped at once: only the garbage collector frees them.
    await prgRing(seed, [MiB / 2], { nonce: BigInt(i) });
    peak = Math.max(peak, memory().bytes - base);
    // Finalisers run as tasks: give them turns, as a server's event loop does.
    if (i % 8 === 7) await new Promise((r) => setImmediate(r));
  }
  t.log(`native bytes above the start: peak ${(peak / MiB).toFixed(0)} MiB over 1024 MiB dropped`);
  t.true(peak < 512 * MiB, `peak ${(peak / MiB).toFixed(0)} MiB of dropped tensors held`);
});
