// What the parties see. Shares and everything on the wire must look uniform even when the data
// is constant (a chi-square test over a byte of each ring element, with controls showing that
// biased data fails the same test), and under Pond server2 receives nothing once the seeds are
// dealt: it only ever sends triple corrections to server1.
import { randomFillSync } from 'node:crypto';

import test, { type ExecutionContext } from 'ava';

import * as tfe from '../../../lib';
import { BEAVER_STEPS } from '../../../lib/protocol/pond/arith';
import { dcfBitKeyWords, dcfKeyWords } from '../../../lib/ops/fss';
import { keyRowsBytes } from '../dcf_rows';
import { highBits, nonUniformBits } from '../key_stats';
import { rand } from '../fixed';
import { compareViews, recordTensors, type Seen } from '../view_stats';
import { chiSquareByte, chiSquareCritical, record, type Sent, setupDone, shareBytes } from '../wire';
import { priv, type Protocol, TRAITS, withCluster } from './harness';

const CRIT = chiSquareCritical();

/**
 * The word of a DCF key row of K words whose high bits are zero by layout (native/src/fss/dcf.h,
 * dcf_bit.h), and the first of those bits, for the gate widths a program may take (FSS_BITS_MIN
 * to 64: 15 to 63 bits compared; lib/api/bounds.ts narrows gates after products). A K that two
 * layouts share with different such fields is an error: the test would not know what to leave out.
 */
function structuredKeyField(K: number): { word: number; from: number } {
  const fields = new Map<string, { word: number; from: number }>();
  const add = (word: number, from: number) => fields.set(`${word}.${from}`, { word, from });
  for (let bits = 15; bits <= 63; bits++) {
    if (K === dcfBitKeyWords(bits)) add(K - 3, bits - 7); // the one-bit DCF's value corrections, one per level
    for (const P of [1, 2] as const) if (K === dcfKeyWords(bits, P)) add(K - 1 - P, bits); // the right control bits, one per level
  }
  if (fields.size !== 1) throw new Error(`${fields.size ? 'more than one' : 'no'} DCF key layout has ${K} words per element`);
  return [...fields.values()][0];
}

/** Rows of K words with word `w` of each left out. */
function withoutWord(data: Uint8Array, K: number, w: number): Uint8Array {
  const out = new Uint8Array((data.length / K) * (K - 1));
  for (let r = 0, o = 0; r < data.length / (8 * K); r++)
    for (let i = 0; i < K; i++) if (i !== w) out.set(data.subarray((r * K + i) * 8, (r * K + i + 1) * 8), (o++) * 8);
  return out;
}
const PLAYERS = new Set<string>(tfe.DEFAULT_PLAYERS);

/** Everything the servers receive while a small network runs on input x and weight w. */
async function serverViews(protocol: Protocol, x: Float64Array, w: Float64Array): Promise<Seen[]> {
  let seen: Seen[] = [];
  await withCluster(protocol, async (c) => {
    await setupDone(c);
    seen = recordTensors(c);
    const xs = priv(c, x, [64, 64], 'prediction-client'), ws = priv(c, w, [64, 64], 'model-owner');
    const h = tfe.relu(tfe.matmul(xs, ws));
    const outs = [tfe.defineOutput('prediction-client', h.add(tfe.mul(h, xs)))];
    // A depthwise convolution's product (its own bilinear map): the same inputs as an image and a filter.
    outs.push(tfe.defineOutput('prediction-client', tfe.depthwiseConv2d(tfe.reshape(xs, [1, 16, 16, 16]), tfe.reshape(ws, [4, 4, 16, 16]), { padding: 'SAME' })));
    // And a grouped convolution's (4 groups of 4 channels).
    outs.push(tfe.defineOutput('prediction-client', tfe.conv2d(tfe.reshape(xs, [1, 16, 16, 16]), tfe.reshape(ws, [4, 4, 4, 64]), { padding: 'SAME', groups: 4 })));
    // And a 3-D convolution's (its windows gathered inside the bilinear map: the volume is opened, not its patches).
    outs.push(tfe.defineOutput('prediction-client', tfe.conv3d(tfe.reshape(xs, [1, 4, 4, 16, 16]), tfe.reshape(ws, [2, 2, 2, 16, 32]), { padding: 'SAME' })));
    // Exact protocols also run a comparison tree (row maxima of the matmul: max pooling's path;
    // under FSS each tree level is a relu gate on l - r).
    if (TRAITS[protocol].exactRelu) outs.push(tfe.defineOutput('prediction-client', tfe.reduceMax(tfe.matmul(xs, ws), 1)));
    await Promise.all(outs);
  });
  return seen;
}

/**
 * What each server receives, as a pattern: per receiving server, every message's sender, op, step,
 * part, kind, dtype, shape and byte count (a control message: its JSON's length), sorted. What the
 * view test above compares is values; this is everything else a server could read a secret from.
 */
async function receivedPatterns(protocol: Protocol, x: Float64Array, w: Float64Array, rows = 64): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  await withCluster(protocol, async (c) => {
    await setupDone(c);
    const seen = record(c);
    const xs = priv(c, x, [rows, 64], 'prediction-client'), ws = priv(c, w, [64, 64], 'model-owner');
    const h = tfe.relu(tfe.matmul(xs, ws));
    const outs = [tfe.defineOutput('prediction-client', h.add(tfe.mul(h, xs)))];
    if (TRAITS[protocol].exactRelu) {
      const m = tfe.matmul(xs, ws);
      outs.push(tfe.defineOutput('prediction-client', tfe.reduceMax(m, 1)), tfe.defineOutput('prediction-client', tfe.argmax(m, 1)), tfe.defineOutput('prediction-client', tfe.less(m, 0.5)));
    }
    await Promise.all(outs);
    for (const m of seen) {
      if (!m.to.startsWith('server')) continue;
      const p = m.payload;
      const size = p.kind === 'tensor' ? `${p.dtype} [${p.shape}] ${p.data.byteLength}` : p.kind === 'seed' ? `${p.dtype} [${p.shape}] seed ${p.seed.byteLength}` : `${JSON.stringify(p.data)?.length ?? 0} JSON`;
      const list = out.get(m.to) ?? [];
      list.push(`${m.from} ${m.op}/${m.step} ${p.kind} ${size}`);
      out.set(m.to, list);
    }
  });
  for (const list of out.values()) list.sort();
  return out;
}

/**
 * Every ring tensor in `tensors` looks uniform: each bit position a fair coin (but a key layout's
 * unused high bits) and its bytes by chi-square; each must hold at least 4096 elements.
 */
function looksUniform(t: ExecutionContext, tensors: Sent[]): void {
  for (const m of tensors) {
        const { data: raw, shape } = m.payload as { data: Uint8Array; shape: number[] };
        // DCF keys have one word with structurally zero high bits (a packed bit field, documented
        // with each key layout): leave it out, the rest must look uniform.
        // Keys travel tiled (native/src/fss/dcf.h "Tiles"): read as rows to find that word.
        const K = m.step === 'fss.key' ? shape[1] : 1, field = m.step === 'fss.key' ? structuredKeyField(K) : undefined;
        const rows = field ? keyRowsBytes(raw, K) : raw;
        const data = field ? withoutWord(rows, K, field.word) : raw;
        const what = `${m.op}/${m.step} ${m.from}>${m.to} (${raw.length / 8} elements)`;
        t.true(data.length >= 8 * 4096, what);
        // And bit by bit: every bit position of every element (of every key word) a fair coin, but
        // the key layout's unused high bits (a fixed bit in the middle of a word escapes the
        // byte statistics below).
        t.deepEqual(nonUniformBits(rows, K), field ? highBits(field.word, field.from) : [], `${what}: bits fixed or biased`);
        // Every element is uniform on Z_2^64, the output's shares too: re-randomised by a fresh
        // sharing of zero (share.ts output). Before, they came straight out of local truncation
        // (uniform on [-2^47, 2^47), sign-extended), and a bias share added after it was its centre.
        t.true(chiSquareByte(data, 0) < CRIT && chiSquareByte(data, 7) < CRIT, `${what} is not uniform`);
      }
}

export function securitySuite(protocol: Protocol): void {
  // From a review: the view test compares the statistics of values, not whether a message's size,
  // count or presence changes with the secret (a sparse encoding, a skipped zero, an early exit).
  test(`${protocol}: what each server receives (every message's sender, step, kind, shape and size) is the same for two different secrets`, async (t) => {
    const zeros = await receivedPatterns(protocol, new Float64Array(4096), new Float64Array(4096));
    const wide = await receivedPatterns(protocol, rand(4096, 1000), rand(4096, 3));
    for (const party of [tfe.SERVER0, tfe.SERVER1, tfe.SERVER2]) t.deepEqual(wide.get(party) ?? [], zeros.get(party) ?? [], party);
    t.true((zeros.get(tfe.SERVER1)?.length ?? 0) >= 5, `server1 received messages to compare: ${JSON.stringify(zeros.get(tfe.SERVER1))}`);
    // Control: the comparison sees a difference in shape alone (65 rows instead of 64).
    const taller = await receivedPatterns(protocol, rand(65 * 64, 1000), rand(4096, 3), 65);
    t.notDeepEqual(taller.get(tfe.SERVER1), wide.get(tfe.SERVER1), 'control: a different shape is seen');
  });

  test(`${protocol}: shares and masked values of a constant input are uniform (chi-square), biased controls fail`, (t) =>
    withCluster(protocol, async (c) => {
      const n = 1 << 16; // 256 expected per bin
      const x = priv(c, new Float64Array(n).fill(1.25), [n]);
      const s0 = await shareBytes(x, 'server0'), s1 = await shareBytes(x, 'server1');
      // The shares really are shares of the constant: x0 + x1 = round(1.25 * 2^16) mod 2^64.
      const [a0, a1] = [new BigUint64Array(s0.buffer), new BigUint64Array(s1.buffer)];
      t.true(a0.every((v, i) => BigInt.asUintN(64, v + a1[i]) === 81920n), 'x0 + x1 is the encoding');
      // The value each server learns when x is masked for a product: its x - a.
      const masked = await x.masked();
      const alpha = new Uint8Array(masked.get('server0')!.alpha!.toBigUint64Array().buffer);
      for (const [name, bytes] of [['server0 share', s0], ['server1 share', s1], ['opened x - a', alpha]] as const) {
        t.true(chiSquareByte(bytes, 0) < CRIT, `${name}: low byte chi-square ${chiSquareByte(bytes, 0)} >= ${CRIT}`);
        t.true(chiSquareByte(bytes, 7) < CRIT, `${name}: top byte chi-square ${chiSquareByte(bytes, 7)} >= ${CRIT}`);
      }
      // Controls: the same statistic rejects what a broken sharing would produce.
      const uniform = randomFillSync(new BigUint64Array(n));
      const controls: [string, BigUint64Array, number][] = [
        ['the plain encodings', new BigUint64Array(n).fill(81920n), 0],
        ['63-bit shares (top bit always clear)', uniform.map((v) => v >> 1n), 7],
        ['even shares (low bit always clear)', uniform.map((v) => v & ~1n), 0],
        // One top-byte value three times as likely: about 1280 against the critical 390, where twice as
        // likely (about 513, standard deviation 39) stayed under it once in about 1200 runs.
        ['shares with one top-byte value three times as likely', uniform.map((v, i) => (i % 128 === 0 ? v & 0x00ffffffffffffffn : v)), 7],
      ];
      for (const [name, v, byte] of controls) t.true(chiSquareByte(new Uint8Array(v.buffer), byte) > CRIT, `control fails: ${name}`);
      t.true(chiSquareByte(new Uint8Array(uniform.buffer), 7) < CRIT, 'control passes: CSPRNG output');
    }));

  // Serial: its control switches the Beaver masks off in this process, which the suite's other
  // tests (run after the serial ones) must not see.
  test.serial(`${protocol}: each server's whole view (every message, and every pair from different senders in a step) has the same statistics for two different secrets; without the Beaver masks it does not`, async (t) => {
    // Secret A: constants; secret B: large random values of both signs (relu and the maxima's
    // comparisons take both branches).
    const a = await serverViews(protocol, new Float64Array(4096).fill(1.25), new Float64Array(4096).fill(-0.5));
    const b = await serverViews(protocol, rand(4096, 1000), rand(4096, 3));
    for (const op of ['depthwiseConv2d', 'groupedConv2d', 'patchMatmul']) t.true(a.some((m) => m.key.includes(op)), `the ${op} product's messages are in the view: ${[...new Set(a.map((m) => m.key.split('/')[0]))].join(', ')}`);
    for (const party of [tfe.SERVER0, tfe.SERVER1, tfe.SERVER2]) {
      const cmp = compareViews(a, b, party);
      t.deepEqual(cmp.unmatched, [], `${party}: the same messages arrive for both secrets`);
      t.deepEqual(cmp.differ, [], `${party}: ${cmp.checked} statistics`);
      if (party !== 'server2' || TRAITS[protocol].server2Online) t.true(cmp.checked > 0, `${party} received something to compare`);
    }
    // Control: the same runs with the Beaver products' operands opened unmasked are flagged.
    BEAVER_STEPS.mask = false;
    try {
      const ua = await serverViews(protocol, new Float64Array(4096).fill(1.25), new Float64Array(4096).fill(-0.5));
      const ub = await serverViews(protocol, rand(4096, 1000), rand(4096, 3));
      for (const party of [tfe.SERVER0, tfe.SERVER1]) {
        const ctl = compareViews(ua, ub, party);
        t.true(ctl.differ.some((d) => /\/open\//.test(d)), `${party}: control: the unmasked openings are flagged (${ctl.differ.slice(0, 3).join('; ')})`);
      }
    } finally {
      BEAVER_STEPS.mask = true;
    }
  });

  test(`${protocol}: every ring tensor on the wire looks uniform when inputs and weights are constant`, (t) =>
    withCluster(protocol, async (c) => {
      await setupDone(c);
      const seen = record(c);
      const x = priv(c, new Float64Array(64 * 64).fill(1.25), [64, 64], 'prediction-client');
      const w = priv(c, new Float64Array(64 * 64).fill(-0.5), [64, 64], 'model-owner');
      await tfe.defineOutput('prediction-client', tfe.relu(tfe.matmul(x, w)).add(x).mul(x));
      const tensors = seen.filter((m) => m.payload.kind === 'tensor' && m.payload.dtype === 'ring64');
      // input share, masks, triple corrections, outputs: each a 4096-element tensor.
      t.true(tensors.length >= 8, `${tensors.length} tensors seen`);
      looksUniform(t, tensors);
      t.true(tensors.filter((m) => m.op !== 'output').length >= 13, 'inputs, masks and triples were all checked');
      // Seeds travel only from an input player to server0: 16 bytes of key, no data.
      const seeds = seen.filter((s) => s.payload.kind === 'seed');
      t.true(seeds.length > 0, 'the inputs went as seeds');
      for (const m of seeds) t.true(PLAYERS.has(m.from) && m.to === 'server0', `seed ${m.from}>${m.to}`);
    }));

  // A depthwise convolution is a Beaver product like conv2d's: the openings of x - a and k - b and
  // server1's correction of the dealt product are all that travel, each uniform given the
  // receiver's view (a and b are fresh masks; the correction is c - c0, c0 from a seed server1
  // does not hold). Constant inputs and filters would show through any of them unmasked.
  // So is a grouped convolution's (its own bilinear map too).
  for (const op of ['depthwiseConv2d', 'groupedConv2d'] as const)
    test(`${protocol}: a ${op === 'depthwiseConv2d' ? 'depthwise' : 'grouped'} convolution's openings and corrections look uniform when the input and filter are constant`, (t) =>
      withCluster(protocol, async (c) => {
        await setupDone(c);
        const seen = record(c);
        const x = priv(c, new Float64Array(16 * 16 * 16).fill(1.25), [1, 16, 16, 16], 'prediction-client');
        const k = priv(c, new Float64Array(4 * 4 * 16 * 16).fill(-0.5), op === 'depthwiseConv2d' ? [4, 4, 16, 16] : [4, 4, 4, 64], 'model-owner');
        await tfe.defineOutput('prediction-client', op === 'depthwiseConv2d' ? tfe.depthwiseConv2d(x, k, { padding: 'SAME' }) : tfe.conv2d(x, k, { padding: 'SAME', groups: 4 }));
        // The inputs' shares, both openings each way, the dealt correction, the output's shares.
        const tensors = seen.filter((m) => m.payload.kind === 'tensor' && m.payload.dtype === 'ring64');
        t.true(tensors.some((m) => m.op === op), 'the dealt correction was seen');
        t.true(tensors.length >= 7, `${tensors.length} tensors seen`);
        looksUniform(t, tensors);
      }));

  test(`${protocol}: during a full network run server2 ${TRAITS[protocol].server2Online ? 'hears only from the compute servers' : 'receives nothing'} and players only their output`, (t) =>
    withCluster(protocol, async (c) => {
      await setupDone(c);
      const seen = record(c);
      const dims = [784, 128, 128, 10];
      const ws = dims.slice(1).map((o, i) => priv(c, rand(dims[i] * o, 0.1), [dims[i], o], 'model-owner'));
      const bs = dims.slice(1).map((o) => priv(c, rand(o, 0.1), [1, o], 'model-owner'));
      let h: tfe.AnyTensor = priv(c, rand(784, 1), [1, 784], 'prediction-client');
      ws.forEach((w, i) => {
        h = tfe.matmul(h, w).add(bs[i]);
        if (i < 2) h = tfe.relu(h);
      });
      h = tfe.sigmoid(h);
      await tfe.defineOutput('prediction-client', h);
      t.true(seen.length > 0);
      const toServer2 = seen.filter((m) => m.to === 'server2');
      if (TRAITS[protocol].server2Online) t.true(toServer2.length > 0 && toServer2.every((m) => m.from === 'server0' || m.from === 'server1'), 'only blinded values from the compute servers');
      else t.deepEqual(toServer2.map((m) => `${m.from}>${m.to} ${m.op}/${m.step}`), [], 'server2 receives nothing');
      // server2 deals. Under Pond and SecureNN every dealt value is seed-compressed, so only
      // server1 receives corrections; FSS's DCF keys go to each compute server.
      const fromServer2 = seen.filter((m) => m.from === 'server2');
      t.deepEqual([...new Set(fromServer2.map((m) => m.to))].sort(), protocol === 'fss' ? ['server0', 'server1'] : ['server1']);
      if (protocol === 'fss') t.deepEqual([...new Set(fromServer2.filter((m) => m.to === 'server0').map((m) => m.step))], ['fss.key'], 'server0 gets only its DCF keys');
      if (protocol === 'pond') {
        t.deepEqual([...new Set(fromServer2.map((m) => m.step))], ['triple']);
        // 3 matmuls, 2 relu squares, sigmoid's square and mul.
        t.is(fromServer2.length, 3 + 2 + 2);
      }
      // Players receive only the output, and only the player it is for.
      t.deepEqual(seen.filter((m) => PLAYERS.has(m.to)).map((m) => `${m.from}>${m.to} ${m.op}`).sort(), ['server0>prediction-client output', 'server1>prediction-client output']);
      // Input players send only to the compute servers.
      t.true(seen.filter((m) => PLAYERS.has(m.from)).every((m) => m.to === 'server0' || m.to === 'server1'));
    }));
}
