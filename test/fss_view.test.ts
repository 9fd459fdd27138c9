// What each server can learn under FSS, from everything it receives: server2 receives nothing;
// server0 and server1 receive a DCF key, shares of r and b, and the peer's share of x + r. The
// generic view comparison (test/helpers/view_stats.ts) runs on a ReLU over two very different
// secrets, with the input mask switched off as the control that must fail. Serial: FSS_STEPS is
// process-wide.
import test from 'ava';

import * as tfe from '../lib';
import { dcfKeyWords } from '../lib/ops/fss';
import { CHUNK_BYTES } from '../lib/net/wire';
import { FSS_STEPS } from '../lib/protocol/fss/drelu';
import { newCluster } from './helpers/suites/harness';
import { checkChunkedRelu, constant, exactRelu, reluTraffic, reluViews, spread } from './helpers/relu_views';
import { compareViews, recordTensors } from './helpers/view_stats';

test.serial('FSS relu: every server view has the same statistics for two secrets; server2 receives nothing', async (t) => {
  const [a, b] = [await reluViews(constant), await reluViews(spread)];
  t.deepEqual([...b.out], exactRelu(spread), 'relu is exact');
  t.deepEqual(a.seen.filter((m) => m.to === 'server2').map((m) => m.key), [], 'server2 receives nothing');
  for (const party of ['server0', 'server1']) {
    const cmp = compareViews(a.seen, b.seen, party);
    t.deepEqual(cmp.unmatched, [], `${party}: the same messages for both secrets`);
    t.deepEqual(cmp.differ, [], `${party}: ${cmp.checked} statistics agree`);
    t.true(cmp.checked >= 8, `${party}: keys, dealt shares and openings were compared`);
  }
});

test.serial('FSS relu control: with the input mask off the same comparison flags the opening', async (t) => {
  FSS_STEPS.maskInput = false;
  try {
    const [a, b] = [await reluViews(constant), await reluViews(spread)];
    const cmp = compareViews(a.seen, b.seen, 'server0');
    t.true(cmp.differ.some((d) => d.includes('fss.open')), `flagged: ${cmp.differ.join('; ') || 'nothing'}`);
  } finally {
    FSS_STEPS.maskInput = true;
  }
});

test.serial('FSS relu traffic: one two-payload DCF key pair, three dealt corrections and one opening per element, in one online round', async (t) => {
  const n = 100;
  const relu = await reluTraffic(n);
  const key = 8 * dcfKeyWords(63, 2);
  // a key to server0 and one to server1; corrections of r, b and r b to server1; the opening
  // of x + r both ways. Nothing else: the ReLU gate needs no product.
  t.is(relu.bytes, n * (2 * key + 3 * 8 + 2 * 8));
  t.is(relu.messages, 2 + 3 + 2);
  // Rounds count distinct steps: keys and corrections (offline, from server2, in parallel)
  // and the opening, the one online round between server0 and server1.
  t.deepEqual(relu.rounds, 3);
  t.is(key, 2056, 'a two-payload 63-bit DCF key is 257 words');
});

test.serial('FSS relu in key chunks (a large query): exact, keys in chunks of at most FSS_STEPS.chunkBytes, the same view statistics for two secrets', (t) => checkChunkedRelu(t, dcfKeyWords(63, 2)));

test.serial('FSS key messages fit in one wire chunk by default (no reassembly on the compute servers)', async (t) => {
  const c = newCluster('fss');
  try {
    const seen = recordTensors(c);
    const n = 5000;
    const x = tfe.definePrivateInput('input-provider', () => ({ data: Array.from({ length: n }, () => Math.random() - 0.5), shape: [n] }), c);
    await tfe.relu(x).shares;
    const keys = seen.filter((m) => m.to === 'server1' && m.key.includes('relu/fss.key'));
    t.deepEqual(keys.map((m) => m.shape), [[2040, 257], [2040, 257], [920, 257]]);
    t.true(keys.every((m) => m.data.byteLength <= CHUNK_BYTES), 'each message is at most one wire chunk');
  } finally {
    await c.close();
  }
});
