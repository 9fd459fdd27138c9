// What each server can learn from the compact FSS gate (lib/protocol/fss/compact_gate.ts), from
// everything it receives: a one-bit DCF key, shares of r, m and r m, the peer's share of x + r and
// the peer's share of the masked bit e = DReLU xor m. The view comparison runs on a ReLU over two
// very different secrets; the controls switch off the input mask and, alone, the bit mask m, and
// an attack from server0's recorded messages reads the sign of the input only when m is off.
// Serial: FSS_STEPS is process-wide.
import test from 'ava';

import { dcfBitKeyWords } from '../lib/ops/fss';
import { FSS_STEPS } from '../lib/protocol/fss/steps';
import { newCluster } from './helpers/suites/harness';
import { checkChunkedRelu, constant, exactRelu, reluTraffic, reluViews, spread } from './helpers/relu_views';
import { compareViews } from './helpers/view_stats';

FSS_STEPS.compactFrom = 0;

test.serial('FSS compact relu: exact, and every server view has the same statistics for two secrets; server2 receives nothing', async (t) => {
  const [a, b] = [await reluViews(constant), await reluViews(spread)];
  t.deepEqual([...b.out], exactRelu(spread), 'relu is exact');
  t.deepEqual([...a.out], exactRelu(constant), 'relu is exact');
  t.deepEqual(a.seen.filter((m) => m.to === 'server2').map((m) => m.key), [], 'server2 receives nothing');
  for (const party of ['server0', 'server1']) {
    const cmp = compareViews(a.seen, b.seen, party);
    t.deepEqual(cmp.unmatched, [], `${party}: the same messages for both secrets`);
    t.deepEqual(cmp.differ, [], `${party}: ${cmp.checked} statistics agree`);
    t.true(a.seen.some((m) => m.to === party && m.key.includes('relu/fss.bit')), `${party} received the masked bit`);
  }
});

test.serial('FSS compact relu controls: the input mask off flags the opening; the bit mask alone off flags the bit', async (t) => {
  for (const [switchOff, step] of [['maskInput', 'fss.open'], ['maskBit', 'fss.bit']] as const) {
    FSS_STEPS[switchOff] = false;
    try {
      const [a, b] = [await reluViews(constant), await reluViews(spread)];
      const cmp = compareViews(a.seen, b.seen, 'server0');
      t.true(cmp.differ.some((d) => d.includes(step)), `${switchOff} off: ${step} flagged (${cmp.differ.join('; ') || 'nothing'})`);
      if (switchOff === 'maskBit') t.false(cmp.differ.some((d) => d.includes('fss.open')), 'with r on, the opening still looks the same');
    } finally {
      FSS_STEPS[switchOff] = true;
    }
  }
});

test.serial('FSS compact relu attack: server0 guesses each input\'s sign from the bits it sent and received; right half the time, always right without m', async (t) => {
  const rate = async () => {
    const { seen } = await reluViews(spread);
    const bitsOf = (from: string, to: string) => seen.find((m) => m.from === from && m.to === to && m.key.includes('relu/fss.bit'))!.data;
    const [mine, theirs] = [bitsOf('server0', 'server1'), bitsOf('server1', 'server0')];
    let right = 0;
    for (let i = 0; i < spread.length; i++) right += ((mine[i] ^ theirs[i]) === (spread[i] >= 0 ? 1 : 0) ? 1 : 0);
    return right / spread.length;
  };
  const masked = await rate();
  FSS_STEPS.maskBit = false;
  let unmasked: number;
  try {
    unmasked = await rate();
  } finally {
    FSS_STEPS.maskBit = true;
  }
  t.log(`server0 guesses the sign right: ${(100 * masked).toFixed(1)}% with m, ${(100 * unmasked).toFixed(1)}% without`);
  t.true(Math.abs(masked - 0.5) < 0.05, `with m the guess is a coin toss (${masked})`);
  t.is(unmasked, 1, 'the attack works when the bit is not masked');
});

test.serial('FSS compact relu traffic: one one-bit key pair, three corrections, one opening and one bit each way per element, two online rounds', async (t) => {
  const n = 100;
  const relu = await reluTraffic(n);
  const key = 8 * dcfBitKeyWords(63);
  t.is(key, 936, 'a one-bit 63-bit DCF key is 117 words');
  // keys to server0 and server1; corrections of r, m and r m to server1; the opening of x + r
  // both ways (8 bytes each); the masked bit both ways (one byte each).
  t.is(relu.bytes, n * (2 * key + 3 * 8 + 2 * 8 + 2 * 1));
  t.is(relu.messages, 2 + 3 + 2 + 2);
  // Rounds count distinct steps: keys and corrections (offline, in parallel), the opening and the bit.
  t.is(relu.rounds, 4);
});

test.serial('FSS compact relu in key chunks: exact, keys in chunks of at most FSS_STEPS.chunkBytes, the same view statistics', (t) => checkChunkedRelu(t, dcfBitKeyWords(63)));

test.serial("FSS gate form: 'auto' follows FSS_STEPS.compactFrom (below it one round, at it two), or the Cluster's fssCompactFrom; the Cluster's fssGate overrides either", async (t) => {
  const from = FSS_STEPS.compactFrom;
  try {
    for (const [threshold, rounds] of [[101, 3], [100, 4]] as const) {
      FSS_STEPS.compactFrom = threshold;
      t.is((await reluTraffic(100)).rounds, rounds, `compactFrom ${threshold}`);
    }
    FSS_STEPS.compactFrom = 16384;
    t.is((await reluTraffic(100, { fssGate: 'compact' })).rounds, 4, "'compact' below the threshold");
    t.is((await reluTraffic(20000, { fssGate: 'one-round' })).rounds, 3, "'one-round' above it");
    t.throws(() => newCluster('fss', { fssGate: 'fast' as 'auto' }), { message: /Cluster: unknown FSS gate form "fast"/ });
    // A cluster's own threshold (the service's 'compact-large' form under load), and fssGate over it.
    t.is((await reluTraffic(100, { fssCompactFrom: 100 })).rounds, 4, 'fssCompactFrom 100: compact at 100 elements');
    t.is((await reluTraffic(100, { fssCompactFrom: 101 })).rounds, 3, 'fssCompactFrom 101: one round');
    t.is((await reluTraffic(100, { fssCompactFrom: 100, fssGate: 'one-round' })).rounds, 3, "'one-round' over it");
    for (const bad of [0, 1.5, -3]) t.throws(() => newCluster('fss', { fssCompactFrom: bad }), { message: /fssCompactFrom must be a whole number of elements >= 1/ });
  } finally {
    FSS_STEPS.compactFrom = from;
  }
});
