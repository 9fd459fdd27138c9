// Max pooling, reduceMax and argmax under FSS: bit-exact against the plaintext fixed-point maximum;
// a tree level of maxPool2d/reduceMax is one relu gate, max(l, r) = r + relu(l - r)
// (lib/protocol/exact/max_tree.ts), so one online message per compute server per level and no
// Beaver product; argmax keeps DReLU and a selection (it needs the winner's index). The view of
// each compute server has the same statistics for two different secrets (test/helpers/view_stats.ts).
import test from 'ava';

import * as tfe from '../lib';
import { FSS_STEPS } from '../lib/protocol/fss/steps';
import { maxPoolRef } from './helpers/fixed';
import { newCluster } from './helpers/suites/harness';
import { compareViews, recordTensors } from './helpers/view_stats';

const U = 2 ** -16;
// max(l, r) reads the sign of l - r in the ring: exact while |l - r| < 2^63 ring units, i.e. for
// values within +-2^(62 - 16) (docs/fss.md); these edges stay inside, as SecureNN's tests do.
const BIG = 2 ** 45 - U;
const EDGES = [0, U, -U, 2 * U, -2 * U, BIG, -BIG, 1, -1];

const fixed = (values: number[]) => tfe.RingTensor.fromFloat64Array(values).toFloat64Array();
const randomFixed = (n: number, scale: number) => Array.from({ length: n }, () => Math.round(((Math.random() * 2 - 1) * scale) / U) * U);

async function run(c: tfe.Cluster, data: number[], shape: number[], f: (x: tfe.PrivateTensor) => tfe.AnyTensor): Promise<Float64Array> {
  const x = tfe.definePrivateInput('input-provider', () => ({ data, shape }), c);
  return (await tfe.defineOutput('output-receiver', f(x))).data;
}

for (const [k, s] of [[2, 2], [3, 2]]) {
  test(`fss maxPool2d ${k}x${k} stride ${s}: edge values, runs of equal values and random values match plaintext exactly`, async (t) => {
    const c = newCluster('fss');
    try {
      const shape = [2, 6, 6, 3];
      const size = shape.reduce((a, b) => a * b);
      const data = randomFixed(size, 1000);
      EDGES.forEach((e, i) => (data[i * 7] = e));
      for (let i = 40; i < 60; i++) data[i] = -BIG; // a window of equal (extreme) values
      const got = await run(c, data, shape, (x) => tfe.maxPool2d(x, { poolSize: k, strides: s }));
      t.deepEqual([...got], maxPoolRef(fixed(data), shape, k, s));
    } finally {
      await c.close();
    }
  });
}

test('fss reduceMax and argmax along each axis match plaintext exactly (ties go to the first index)', async (t) => {
  const c = newCluster('fss');
  try {
    const [r, k] = [16, 5];
    const data = randomFixed(r * k, 50);
    for (let i = 0; i < k; i++) data[i] = 3; // row 0: all tied
    EDGES.forEach((e, i) => (data[k + i] = e));
    const v = fixed(data);
    const rowsOf = (f: (row: number[]) => number) => Array.from({ length: r }, (_, i) => f([...v.slice(i * k, (i + 1) * k)]));
    const first = (row: number[]) => row.indexOf(Math.max(...row));
    t.deepEqual([...(await run(c, data, [r, k], (x) => tfe.reduceMax(x, 1)))], rowsOf((row) => Math.max(...row)));
    t.deepEqual([...(await run(c, data, [r, k], (x) => tfe.argmax(x, 1)))], rowsOf(first));
  } finally {
    await c.close();
  }
});

test('fss maxPool2d: one online message per compute server and tree level (the relu gate\'s opening), server2 receives nothing', async (t) => {
  const c = newCluster('fss');
  try {
    const shape = [1, 8, 8, 4];
    const x = tfe.definePrivateInput('input-provider', () => ({ data: randomFixed(256, 10), shape }), c);
    await x.shares;
    const seen = recordTensors(c);
    await tfe.maxPool2d(x, { poolSize: 2, strides: 2 }).shares;
    const pool = seen.filter((m) => m.key.includes('maxPool2d/'));
    t.deepEqual(pool.filter((m) => m.to === 'server2'), [], 'server2 receives nothing');
    for (const [from, to] of [['server0', 'server1'], ['server1', 'server0']]) {
      const online = pool.filter((m) => m.from === from && m.to === to);
      // 64 windows of 4 candidates: two tree levels, 128 then 64 pairs.
      t.deepEqual(online.map((m) => m.key.split(' ')[1].split('#')[0]), ['maxPool2d/fss.open/', 'maxPool2d/fss.open/'], `${from} -> ${to}`);
      t.deepEqual(online.map((m) => m.shape), [[128], [64]]);
    }
  } finally {
    await c.close();
  }
});

test.serial('fss maxPool2d: each compute server\'s view has the same statistics for two different secrets; without the gates\' input masks it does not', async (t) => {
  const views = async (data: number[]) => {
    const c = newCluster('fss');
    try {
      const seen = recordTensors(c);
      await run(c, data, [1, 64, 64, 2], (x) => tfe.maxPool2d(x, { poolSize: 2, strides: 2 }));
      return seen;
    } finally {
      await c.close();
    }
  };
  const size = 64 * 64 * 2;
  const a = await views(new Array(size).fill(-1.25));
  const b = await views(randomFixed(size, 1e6));
  for (const party of ['server0', 'server1']) {
    const cmp = compareViews(a, b, party);
    t.deepEqual(cmp.unmatched, [], `${party}: the same messages for both secrets`);
    t.deepEqual(cmp.differ, [], `${party}: ${cmp.checked} statistics agree`);
    t.true(cmp.checked >= 8, `${party}: keys, dealt shares and openings were compared`);
  }
  // The control: the tree's gates opened without their input masks are flagged.
  FSS_STEPS.maskInput = false;
  try {
    const [ua, ub] = [await views(new Array(size).fill(-1.25)), await views(randomFixed(size, 1e6))];
    for (const party of ['server0', 'server1'])
      t.true(compareViews(ua, ub, party).differ.some((d) => d.includes('maxPool2d/fss.open')), `${party}: control: the unmasked openings are flagged`);
  } finally {
    FSS_STEPS.maskInput = true;
  }
});
