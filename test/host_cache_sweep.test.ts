// The native host cache keeps freed buffers for reuse (host_allocator.cc). Before the sweep, a
// burst of large queries left a server holding the cache's cap (1 GiB) for good, and glibc's heaps
// kept the blocks it had freed on top of that: seven rounds of abandoned FSS requests of changing
// batch sizes grew the compute servers to 1.9-2.5 GB of RSS while they held no tensor. Buffers
// unused for TFE_HOST_CACHE_IDLE_MS are now freed, and the malloc heaps trimmed.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

import test from 'ava';

import { hostCacheIdleMs, sweepOnce } from '../lib/backend/host_cache_sweep';
import { getBackend, memory, prgRing } from '../lib/ring';

const MiB = 2 ** 20;

test.serial('trimHostCache frees only the buffers idle at least as long as asked', async (t) => {
  if (process.env.TFE_HOST_CACHE_MB === '0') return t.pass('TFE_HOST_CACHE_MB=0 here: nothing is cached (the child processes below test the rest)');
  const native = getBackend('cpu').native;
  await native.trimHostCache(0);
  const x = await prgRing(new Uint8Array(16).fill(3), [MiB / 8]); // 1 MiB, page-rounded
  x.dispose();
  const cached = memory().cachedBytes;
  t.true(cached >= MiB, `a disposed 1 MiB tensor is cached (${cached} bytes)`);
  t.is(await native.trimHostCache(60_000), 0, 'nothing has been idle for a minute');
  t.is(memory().cachedBytes, cached);
  await new Promise((r) => setTimeout(r, 60));
  t.true((await native.trimHostCache(30)) >= MiB, 'the buffer idle for 60 ms is freed by a 30 ms trim');
  t.true(memory().cachedBytes < MiB);
  t.throws(() => void native.trimHostCache(-1), { message: /idleMs must be in \[0, 86400000\]/ });
});

// A stale CUDA module without the call made every server on its host throw from the timer.
test('a sweep skips a module without trimHostCache or whose trim fails, and never rejects', async (t) => {
  const failing = { trimHostCache: () => Promise.reject(new Error('broken')) };
  const counting = { trimHostCache: async () => 7 };
  t.is(await sweepOnce([{}, failing, counting, { trimHostCache: () => { throw new Error('sync'); } }], 1000), 7);
});

test('TFE_HOST_CACHE_IDLE_MS is checked', (t) => {
  t.is(hostCacheIdleMs({}), 5000);
  t.is(hostCacheIdleMs({ TFE_HOST_CACHE_IDLE_MS: '0' }), 0);
  t.is(hostCacheIdleMs({ TFE_HOST_CACHE_IDLE_MS: '1000' }), 1000);
  // Below a second the sweep would empty the cache between a query's steps.
  for (const bad of ['-1', '1.5', 'soon', '1e3', '86400001', '250'])
    t.throws(() => hostCacheIdleMs({ TFE_HOST_CACHE_IDLE_MS: bad }), { message: /TFE_HOST_CACHE_IDLE_MS must be 0 \(never free cached buffers\) or a whole number of milliseconds in \[1000, 86400000\]/ }, bad);
});

// A process of its own: its RSS is the measure. Tensors of 41 sizes from 1 to 3 MiB (as changing
// batch sizes give), written in full, disposed; then the process idles.
const CHILD = `
const { prgRing, memory } = require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'ring.js'))});
const rss = () => process.memoryUsage().rss;
(async () => {
  for (let i = 0; i < 4; i++) (await prgRing(new Uint8Array(16), [1024])).dispose();
  const base = rss();
  let peak = 0;
  for (let round = 0; round < 3; round++) {
    const held = [];
    for (let k = 0; k <= 40; k++) held.push(await prgRing(new Uint8Array(16).fill(k), [(1 << 17) + k * 6553], { nonce: BigInt(round) }));
    peak = Math.max(peak, rss());
    for (const x of held) x.dispose();
  }
  await new Promise((r) => setTimeout(r, 2500)); // the sweep runs every 500 ms, for buffers idle 1 s
  console.log(JSON.stringify({ base, peak, after: rss(), cached: memory().cachedBytes }));
})();`;

function runChild(env: Record<string, string>): { base: number; peak: number; after: number; cached: number } {
  // The cache's cap and malloc's own settings are the test's: an operator's would change what is kept.
  const { TFE_HOST_CACHE_MB: _cap, MALLOC_MMAP_THRESHOLD_: _mmap, MALLOC_TRIM_THRESHOLD_: _trim, GLIBC_TUNABLES: _tunables, LD_PRELOAD: _preload, ...rest } = process.env;
  const r = spawnSync(process.execPath, ['-e', CHILD], { encoding: 'utf8', env: { ...rest, TFE_DEVICE: 'cpu', ...env } });
  if (r.status !== 0) throw new Error(`child failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

test('a process gives its cached and freed memory back after idling', (t) => {
  const swept = runChild({ TFE_HOST_CACHE_IDLE_MS: '1000' });
  const kept = runChild({ TFE_HOST_CACHE_IDLE_MS: '0' }); // the control: no sweep
  const show = (m: { base: number; peak: number; after: number; cached: number }) =>
    `RSS ${(m.base / MiB).toFixed(0)} -> peak ${(m.peak / MiB).toFixed(0)} -> ${(m.after / MiB).toFixed(0)} MiB, cached ${(m.cached / MiB).toFixed(0)} MiB`;
  t.log(`swept: ${show(swept)}; not swept: ${show(kept)}`);
  t.true(swept.peak - swept.base > 60 * MiB, 'the tensors were resident');
  t.is(swept.cached, 0);
  t.true(swept.after - swept.base < 32 * MiB, `swept: ${show(swept)}`);
  t.true(kept.after - kept.base > 60 * MiB, `the control keeps its buffers: ${show(kept)}`);
});

const glibc = (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime;

(glibc ? test : test.skip)('without the cache, the sweep trims what glibc kept of freed blocks', (t) => {
  // glibc raised its mmap threshold as each block was freed, so the later ones came from its heap
  // and stayed resident after free(): malloc_trim hands them back.
  const swept = runChild({ TFE_HOST_CACHE_MB: '0', TFE_HOST_CACHE_IDLE_MS: '1000' });
  const kept = runChild({ TFE_HOST_CACHE_MB: '0', TFE_HOST_CACHE_IDLE_MS: '0' });
  t.log(`glibc ${glibc}: swept ${((swept.after - swept.base) / MiB).toFixed(0)} MiB above the start, not swept ${((kept.after - kept.base) / MiB).toFixed(0)} MiB`);
  t.is(swept.cached + kept.cached, 0);
  t.true(swept.after - swept.base < 32 * MiB);
  t.true(kept.after - kept.base > 60 * MiB, 'the control: glibc keeps freed blocks without a trim');
});
