// The offline pool's depth is bounded by bytes, not only by count: a model whose pooled queries
// hold large dealt material (FSS's DCF keys) gets fewer of them ahead, so the pool cannot take a
// server past maxQueryBytes; a small model keeps precomputePool. Unit checks of poolDepth against
// the estimate, then a cluster where server2's pool stays within the bound and queries still run.
import * as fs from 'node:fs';
import * as path from 'node:path';

import test from 'ava';

import { FSS_STEPS } from '../lib/protocol/fss/steps';
import { DEFAULT_LIMITS, estimateQueryBytes, poolDepth, pooledBytes } from '../lib/serve/limits';
import { startLimitedCluster, until } from './helpers/hostile_client';
import { denseTopology as dense, mlp } from './helpers/model_files';

test('poolDepth: precomputePool for small models, fewer when their pooled material would pass maxQueryBytes', (t) => {
  const limits = { ...DEFAULT_LIMITS, precomputePool: 8 };
  const small = { topology: dense([32, 10], 16), protocol: 'fss' as const, inputShape: [16] };
  t.is(poolDepth(limits, small), 8);
  const big = { topology: dense([131072, 10], 64), protocol: 'fss' as const, inputShape: [64] };
  const each = estimateQueryBytes(big, 1) - estimateQueryBytes({ ...big, topology: { class_name: 'Sequential', config: { layers: [] } } }, 1);
  t.true(each > limits.maxQueryBytes / 8, `${each}`);
  t.is(poolDepth(limits, big), Math.floor(limits.maxQueryBytes / (estimateQueryBytes(big, 1) - (24 << 20))));
  t.true(poolDepth(limits, big) < 8);
  t.is(poolDepth({ ...limits, maxQueryBytes: 1 << 20 }, big), 0, 'nothing pooled when one query does not fit');
  t.is(poolDepth({ ...limits, precomputePool: 0 }, small), 0);
});

test('the FSS memory estimate follows the gate form: one-round keys below FSS_STEPS.compactFrom elements per gate, compact keys from there on', (t) => {
  const relu = { topology: dense([1000, 10], 16), protocol: 'fss' as const, inputShape: [16] };
  const linear = { ...relu, topology: { class_name: 'Sequential', config: { layers: dense([1000, 10], 16).config.layers.map((l) => ({ ...l, config: { ...l.config, activation: 'linear' } })) } } };
  const perElement = (batch: number) => (estimateQueryBytes(relu, batch) - estimateQueryBytes(linear, batch)) / (8 * batch * 1000);
  t.is(FSS_STEPS.compactFrom, 16384);
  t.is(perElement(16), 257 + 24, '16000 elements: the one-round gate (two-payload keys)');
  t.is(perElement(17), 117 + 24, '17000 elements: the compact gate (one-bit keys)');
});

test("the FSS memory estimate counts a folded product's keys: one many-payload key per gate element while the batch's cells are at most FSS_STEPS.foldMaxCells", (t) => {
  // dense([100, 10], 16): 16 -> 100 (relu) -> 10. Products of 16 x 100 and 100 x 10 cells per
  // sample; the walk counts every product that could fold (the first one too, on the high side).
  // A key with P payloads on `levels` levels: (2 + P) words per level, 2 root words, a control
  // word and P final words (dcf.h); 2k payloads per gate element, at the full width (fssBits - 1
  // levels); and 24 words of temporaries per cell.
  const key = (levels: number, P: number) => (2 + P) * levels + 3 + P;
  const first = (levels: number) => 16 * key(levels, 200) + 24 * 1600, second = (levels: number) => 100 * key(levels, 20) + 24 * 1000;
  const m = { topology: dense([100, 10], 16), protocol: 'fss' as const, inputShape: [16] };
  const extra = (batch: number, bits?: number) => (estimateQueryBytes({ ...m, fssGate: 'folded', fssBits: bits }, batch) - estimateQueryBytes({ ...m, fssBits: bits }, batch)) / (8 * batch);
  t.is(FSS_STEPS.foldMaxCells, 8192);
  t.is(extra(1), first(63) + second(63), 'batch 1: both');
  t.is(extra(5), first(63) + second(63), 'batch 5: 8000 and 5000 cells');
  t.is(extra(6), second(63), 'batch 6: 9600 cells keep their round, 6000 fold');
  t.is(extra(9), 0, 'batch 9: neither folds');
  t.is(extra(1, 32), first(31) + second(31), 'keys at the width');
  t.true(extra(1) < (257 + 24) * 2600, 'under a two-payload key per cell');
  // After compact gates: three dealt words per cell and temporaries, no keys (the compact keys
  // themselves as under 'compact'), to the same limit.
  const compactExtra = (batch: number) => (estimateQueryBytes({ ...m, fssGate: 'compact-folded' }, batch) - estimateQueryBytes({ ...m, fssGate: 'compact' }, batch)) / (8 * batch);
  t.is(compactExtra(1), 12 * 2600);
  t.is(compactExtra(6), 12 * 1000, '9600 cells keep their round, 6000 fold');
  t.is(compactExtra(9), 0);
});

test('a cluster pools only what fits: server2 holds at most the bounded depth, and queries run', async (t) => {
  // An FSS MLP whose batch-1 keys are about 7 MB: maxQueryBytes 32 MiB lets a few ahead, not 8.
  const maxQueryBytes = 32 << 20;
  const m = mlp([64, 3000, 10]);
  const topology = JSON.parse(fs.readFileSync(m.file, 'utf8')).modelTopology;
  const depth = poolDepth({ ...DEFAULT_LIMITS, maxQueryBytes, precomputePool: 8 }, { topology, protocol: 'fss', inputShape: [64] });
  t.true(depth > 1 && depth < 8, `depth ${depth}`);
  const c = await startLimitedCluster({ maxQueryBytes });
  try {
    await c.ready();
    const owner = await c.connect({ asOwner: true });
    await owner.deploy(m.file, { name: 'wide', protocol: 'fss' });
    await until(async () => (await owner.status())[2].pool!.recorded >= depth, 'the pool to fill');
    await new Promise((r) => setTimeout(r, 500));
    const st = await owner.status();
    t.is(st[2].pool!.held, depth, JSON.stringify(st[2].pool));
    const client = await c.connect();
    for (let i = 0; i < 3; i++) {
      const x = Float64Array.from({ length: 64 }, () => Math.random() * 2 - 1);
      const p = await client.predict('wide', { data: x, shape: [1, 64] });
      const want = m.forward(x, (z) => Math.max(z, 0));
      t.true(want.every((w, j) => Math.abs(p.data[j] - w) < 1e-3));
      // The reservation is topped up to the depth; the client's lease on its next query holds one
      // pooled index besides (leases are bounded per client by maxSessionsPerClient).
      const held = (await owner.status())[2].pool!.held;
      t.true(held <= depth + 1, `held ${held}, depth ${depth}`);
    }
    // A second model of the same size: the pool as a whole stays within maxQueryBytes, so the
    // first model's reservation leaves it at most what a lease took out; it still answers exactly.
    await owner.deploy(m.file, { name: 'wide2', protocol: 'fss' });
    await new Promise((r) => setTimeout(r, 1000));
    const after = (await owner.status())[2].pool!;
    t.true(after.held <= depth + 1, `two models hold ${after.held} recordings, depth ${depth}`);
    const x = Float64Array.from({ length: 64 }, () => Math.random() * 2 - 1);
    const p = await client.predict('wide2', { data: x, shape: [1, 64] });
    t.true(m.forward(x, (z) => Math.max(z, 0)).every((w, j) => Math.abs(p.data[j] - w) < 1e-3));
    await client.close();
    await owner.close();
  } finally {
    await c.stop();
  }
});

test('back to back batch-1 queries stay pooled: the reservation is topped up as each query ends', async (t) => {
  // A small FSS MLP pools the default depth (8); top-ups wait for the query that ran the
  // reservation low to end (server.ts #indexFor). Without them the pool would drain after about
  // eight queries and the rest would run online (offlineBytes 0).
  const m = mlp([16, 32, 10]);
  const c = await startLimitedCluster({});
  try {
    await c.ready();
    const owner = await c.connect({ asOwner: true });
    await owner.deploy(m.file, { name: 'small', protocol: 'fss' });
    await until(async () => (await owner.status())[2].pool!.recorded >= 8, 'the pool to fill');
    const client = await c.connect();
    const pooled: boolean[] = [];
    for (let i = 0; i < 24; i++) {
      const x = Float64Array.from({ length: 16 }, () => Math.random() * 2 - 1);
      const p = await client.predict('small', { data: x, shape: [1, 16] });
      const want = m.forward(x, (z) => Math.max(z, 0));
      t.true(want.every((w, j) => Math.abs(p.data[j] - w) < 1e-3), `query ${i}`);
      pooled.push(p.offlineBytes > 0);
      // Topped up once the query has ended: server2 holds at least half the depth again (without
      // the top-ups the level would run down to 0 before refilling).
      await until(async () => (await owner.status())[2].pool!.held >= 4, `the top-up after query ${i}`, 3000);
    }
    t.deepEqual(pooled, pooled.map(() => true));
    const pool = (await owner.status())[2].pool!;
    t.is(pool.replayed, 24);
    // The client holds a lease on its next query; the rest is the reservation, back at or near the depth.
    t.true(pool.held >= 4 && pool.held <= 9, JSON.stringify(pool));
    await client.close();
    await owner.close();
  } finally {
    await c.stop();
  }
});

test("under the default limits the five MNIST networks' batch-1 pools fit together at full depth (bench:table deploys them all)", (t) => {
  // The budget counts what each compute server holds (server2 keeps nothing of a run ahead).
  // Counted twice, as when server2 held whole recordings, they came to 1.4 GiB, over the 1 GiB
  // budget, and the last model deployed found 10% of its queries pooled.
  const limits = { ...DEFAULT_LIMITS, precomputePool: 8 };
  let total = 0;
  for (const name of ['A', 'B', 'C', 'B_max', 'C_max']) {
    const json = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'bench', 'models', name, 'model.json'), 'utf8'));
    const m = { topology: json.modelTopology, protocol: 'fss' as const, inputShape: name.startsWith('A') ? [784] : [28, 28, 1] };
    t.is(poolDepth(limits, m), 8, name);
    total += 8 * pooledBytes(m, 1);
  }
  t.true(total <= limits.maxQueryBytes, `${(total / 2 ** 20).toFixed(0)} MiB`);
});
