// FSS's folding gate forms (lib/protocol/fss/folded_product.ts): a product relu(a) W right after a
// relu gate takes no round of its own: after a one-round gate ('folded', by DCF keys that carry
// W's mask) and after a compact gate ('compact-folded', by dealt products of the masks). Checked against plaintext fixed point on fresh
// random values and edges (integer weights make the truncation exact, so equality is demanded;
// fractional ones are within the one unit of local truncation), at both widths and in batches; its
// traffic (no message between server0 and server1, k keys per gate element); the products that keep
// their round; and each compute server's view for two secrets, with the unmasked control.
// Serial where FSS_STEPS (process-wide) is touched.
import test from 'ava';

import * as tfe from '../lib';
import { dcfKeyWords } from '../lib/ops/fss';
import { memory } from '../lib/ring';
import { FSS_STEPS } from '../lib/protocol/fss/steps';
import { newCluster } from './helpers/suites/harness';
import { compareViews, recordTensors, type Seen } from './helpers/view_stats';

const U = 2 ** -16;
const units = (v: number) => BigInt(Math.round(v / U));
const randomValues = (count: number, scale: number) => Array.from({ length: count }, () => Math.round(((Math.random() * 2 - 1) * scale) / U) * U);
const randomInts = (count: number, top: number) => Array.from({ length: count }, () => Math.floor(Math.random() * (2 * top + 1)) - top);

/** relu(x) W in plaintext fixed point: exact products, then the sum's division by 2^16 rounded down. */
function reference(x: number[], w: number[], m: number, n: number, k: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < m; i++)
    for (let j = 0; j < k; j++) {
      let s = 0n;
      for (let l = 0; l < n; l++) s += units(Math.max(x[i * n + l], 0)) * units(w[l * k + j]);
      out.push(Number(s >> 16n) * U);
    }
  return out;
}

interface Run {
  out: number[];
  /** Bytes of the product's op (server2's keys and dealt shares when folded). */
  productBytes: number;
  seen: Seen[];
}

/**
 * relu(x) W (and, with `alsoRelu`, relu(x) itself appended) on a fresh cluster; traffic and
 * messages from the product on (`whole`: messages from the inputs' sharing on, the opening of W's
 * mask included).
 */
async function run(opts: tfe.ClusterOptions, x: number[], w: number[], m: number, n: number, k: number, alsoRelu = false, whole = false): Promise<Run> {
  const c = newCluster('fss', opts);
  try {
    const early = whole ? recordTensors(c) : undefined;
    const xs = tfe.definePrivateInput('input-provider', () => ({ data: x, shape: [m, n] }), c);
    const ws = tfe.definePrivateInput('model-owner', () => ({ data: w, shape: [n, k] }), c);
    await Promise.all([xs.shares, ws.masked()]);
    const seen = early ?? recordTensors(c);
    const r = tfe.relu(xs);
    const y = tfe.matmul(r, ws);
    const out = [...(await tfe.defineOutput('output-receiver', y)).data];
    if (alsoRelu) out.push(...(await tfe.defineOutput('output-receiver', r)).data);
    return { out, productBytes: c.transport.traffic().byOp.matmul?.bytes ?? 0, seen };
  } finally {
    await c.close();
  }
}

/** Messages between server0 and server1 from the product on (the relu gate's openings aside). */
const computeMessages = (seen: Seen[]) => seen.filter((s) => [s.from, s.to].sort().join() === 'server0,server1' && !s.key.includes('fss.open') && !s.key.includes('fss.bit'));

const FORMS = ['folded', 'compact-folded'] as const;
/**
 * What a folded product [m, n] x [n, k] sends: after a one-round gate, per gate element (m n) and
 * group of columns (k split into ceil(k / 128) equal groups of c columns, the last padded) one key
 * of one tree with 2c payloads to both compute servers, (2 + 2c) words per level of its
 * fssBits - 1 levels, 2 root words, a right-control word and 2c final words (dcf.h "Many
 * payloads"); and three dealt words per cell to server1.
 */
const productBytes = (form: (typeof FORMS)[number], fssBits: number, m: number, n: number, k: number) => {
  const groups = Math.ceil(k / 128), c = Math.ceil(k / groups);
  return (form === 'folded' ? 2 * 8 * m * n * groups * ((2 + 2 * c) * (fssBits - 1) + 3 + 2 * c) : 0) + 3 * 8 * m * n * k;
};

const edgesOf = (n: number) => [0, U, -U, 1, -1, 100, -100, ...randomValues(n - 7, 8)];

for (const form of FORMS)
  for (const fssBits of [64, 32]) {
    test(`${form}, fssBits ${fssBits}: relu(x) W with integer weights equals plaintext exactly, with no message between the compute servers`, async (t) => {
      // k = 129 and 300: keys in groups of columns (two of 65, one padded; three of 100).
      for (const [m, n, k] of [[1, 128, 10], [3, 40, 7], [2, 9, 1], [1, 8, 129], [2, 7, 300]]) {
        const x = Array.from({ length: m }, () => edgesOf(n)).flat();
        const w = randomInts(n * k, 50);
        const r = await run({ fssGate: form, fssBits }, x, w, m, n, k);
        t.deepEqual(r.out, reference(x, w, m, n, k), `[${m}, ${n}] x [${n}, ${k}]`);
        t.deepEqual(computeMessages(r.seen).map((s) => s.key), [], `[${m}, ${n}] x [${n}, ${k}]: nothing between server0 and server1 for the product`);
        t.is(r.productBytes, productBytes(form, fssBits, m, n, k), 'one key per gate element (after a one-round gate) and three dealt words per cell');
        // One tree for a gate element's k columns: under k two-payload keys from k >= 2 (about half at k = 10).
        if (form === 'folded' && k >= 2) t.true(productBytes(form, fssBits, m, n, k) - 24 * m * n * k < 2 * 8 * m * n * k * dcfKeyWords(fssBits - 1, 2));
      }
    });
  }

test("interactive truncation, and server2 dealing when the program reaches it (precompute off) rather than at once: exact, still folded", async (t) => {
  const [m, n, k] = [1, 40, 6];
  const x = edgesOf(n), w = randomInts(n * k, 10);
  for (const form of FORMS)
    for (const truncation of ['interactive', 'local'] as const)
      for (const precompute of [true, false]) {
        const r = await run({ fssGate: form, fixedPoint: { fracBits: 16, truncation }, precompute }, x, w, m, n, k);
        t.deepEqual(r.out, reference(x, w, m, n, k), `${form}, ${truncation}, precompute ${precompute}`);
        t.deepEqual(computeMessages(r.seen).filter((s) => !s.key.includes('truncOpen')).map((s) => s.key), [], `${form}, ${truncation}, precompute ${precompute}: folded`);
      }
});

test('fractional weights: within the one unit of local truncation of plaintext, as an unfolded product', async (t) => {
  const [m, n, k] = [2, 64, 10];
  const x = randomValues(m * n, 6), w = randomValues(n * k, 1);
  const want = reference(x, w, m, n, k);
  for (const fssGate of ['folded', 'compact-folded', 'one-round'] as const) {
    const r = await run({ fssGate }, x, w, m, n, k);
    const worst = Math.max(...r.out.map((v, i) => Math.abs(v - want[i]) / U));
    t.true(worst <= 1, `${fssGate}: ${worst} units off`);
  }
});

test('the relu read elsewhere too: both exact; the product still folded', async (t) => {
  const [m, n, k] = [1, 30, 4];
  const x = edgesOf(n), w = randomInts(n * k, 9);
  for (const form of FORMS) {
    const r = await run({ fssGate: form }, x, w, m, n, k, true);
    t.deepEqual(r.out, [...reference(x, w, m, n, k), ...x.map((v) => Math.max(v, 0))], form);
    t.deepEqual(computeMessages(r.seen).map((s) => s.key), [], form);
  }
});

for (const form of FORMS)
  test.serial(`${form}: through a reshape (a Flatten before a Dense): still folded and exact; the openings live until their last holder is disposed`, async (t) => {
    const [h, w, ch, k] = [3, 3, 4, 5];
    const x = edgesOf(h * w * ch), wt = randomInts(h * w * ch * k, 30);
    const openings = form === 'folded' ? 1 : 2; // [x^], or [x^, e] after a compact gate
    const c = newCluster('fss', { fssGate: form });
    try {
      const xs = tfe.definePrivateInput('input-provider', () => ({ data: x, shape: [1, h, w, ch] }), c);
      const ws = tfe.definePrivateInput('model-owner', () => ({ data: wt, shape: [h * w * ch, k] }), c);
      await Promise.all([xs.shares, ws.masked()]);
      const seen = recordTensors(c);
      const live = () => memory().tensors;
      const r = tfe.relu(xs) as tfe.PrivateTensor;
      const flat = tfe.flatten(r) as tfe.PrivateTensor;
      await flat.shares;
      const before = live();
      await r.dispose(); // the relu's own output goes first: the reshape still holds the opened input
      t.is(live(), before - 2, "the relu's shares went, not the opened input (this process hosts both compute servers)");
      const y = tfe.matmul(flat, ws);
      t.deepEqual([...(await tfe.defineOutput('output-receiver', y)).data], reference(x, wt, 1, h * w * ch, k));
      t.deepEqual(computeMessages(seen).map((s) => s.key), [], 'folded through the reshape');
      const held = live();
      await flat.dispose();
      t.is(live(), held - 2 - 2 * openings, 'the last holder frees the openings too (shares and openings on both compute servers)');
      await flat.dispose();
      t.is(live(), held - 2 - 2 * openings, 'a second dispose frees nothing more');
    } finally {
      await c.close();
    }
  });

test.serial("'folded' after a gate large enough to be compact: the product folds as under 'compact-folded', with no keys", async (t) => {
  const [m, n, k] = [1, 40, 6];
  const x = edgesOf(n), w = randomInts(n * k, 20);
  const from = FSS_STEPS.compactFrom;
  FSS_STEPS.compactFrom = n; // this gate (40 elements) is 'large'
  try {
    const r = await run({ fssGate: 'folded' }, x, w, m, n, k);
    t.deepEqual(r.out, reference(x, w, m, n, k));
    t.deepEqual(computeMessages(r.seen).map((s) => s.key), []);
    t.is(r.productBytes, productBytes('compact-folded', 64, m, n, k));
  } finally {
    FSS_STEPS.compactFrom = from;
  }
  // The same through the cluster's own threshold: the fold and the gate take it alike.
  const r = await run({ fssGate: 'folded', fssCompactFrom: n }, x, w, m, n, k);
  t.deepEqual(r.out, reference(x, w, m, n, k), 'fssCompactFrom: exact');
  t.is(r.productBytes, productBytes('compact-folded', 64, m, n, k), 'fssCompactFrom: folded as after a compact gate');
});

test.serial("products past foldMaxCells, and every product under the other gate forms, keep their round and are exact", async (t) => {
  const [m, n, k] = [1, 50, 6];
  const x = edgesOf(n), w = randomInts(n * k, 20);
  for (const form of FORMS) {
    const folded = await run({ fssGate: form }, x, w, m, n, k);
    t.deepEqual(computeMessages(folded.seen).map((s) => s.key), [], `${form}: control: at 300 cells it folds`);
    const limit = FSS_STEPS.foldMaxCells;
    FSS_STEPS.foldMaxCells = m * n * k - 1;
    try {
      const r = await run({ fssGate: form }, x, w, m, n, k);
      t.deepEqual(r.out, reference(x, w, m, n, k), form);
      t.true(computeMessages(r.seen).length > 0, `${form}: past the limit, the relu is masked and opened for a Beaver product`);
    } finally {
      FSS_STEPS.foldMaxCells = limit;
    }
  }
  for (const fssGate of ['auto', 'one-round', 'compact'] as const) {
    const r = await run({ fssGate }, x, w, m, n, k);
    t.deepEqual(r.out, reference(x, w, m, n, k), fssGate);
    t.true(computeMessages(r.seen).length > 0, `${fssGate}: the product has its round`);
  }
});

test.serial('each compute server sees the same statistics for two secrets (inputs and weights); the control without the input mask fails', async (t) => {
  const [m, n, k] = [1, 256, 10];
  for (const form of FORMS) {
    const views = async () => {
      // The whole run: the opening of W's mask (W - B) is in the views too.
      const a = await run({ fssGate: form }, new Array<number>(m * n).fill(-1.25), new Array<number>(n * k).fill(0.5), m, n, k, false, true);
      const x = randomValues(m * n, 1e3), w = randomValues(n * k, 0.1); // sums far below the 2^63 ring units where local truncation fails
      const b = await run({ fssGate: form }, x, w, m, n, k, false, true);
      return { a, b, x, w };
    };
    const { a, b, x, w } = await views();
    const opened = (s: Seen[]) => s.filter((e) => e.to === 'server1' && e.from === 'server0' && /^server0>server1 \S*mask\S*\/open/.test(e.key));
    t.true(opened(a.seen).length > 0, `${form}: the weight's masked opening is in the views (${[...new Set(a.seen.map((e) => e.key.split(' ')[1].split('#')[0]))].join(', ')})`);
    const want = reference(x, w, m, n, k);
    t.true(b.out.every((v, i) => Math.abs(v - want[i]) <= U), `${form}: the second secret computes`);
    for (const party of ['server0', 'server1']) {
      const cmp = compareViews(a.seen, b.seen, party);
      t.deepEqual(cmp.unmatched, [], `${form} ${party}: the same messages`);
      t.deepEqual(cmp.differ, [], `${form} ${party}: ${cmp.checked} statistics agree`);
      t.true(cmp.checked >= 6, `${form} ${party}: ${cmp.checked} compared`);
    }
    t.deepEqual(a.seen.filter((s) => s.to === 'server2').map((s) => s.key), [], `${form}: server2 receives nothing`);
    FSS_STEPS.maskInput = false;
    try {
      const c = await views();
      t.true(compareViews(c.a.seen, c.b.seen, 'server0').differ.some((d) => d.includes('fss.open')), `${form}: control: the unmasked opening is flagged`);
    } finally {
      FSS_STEPS.maskInput = true;
    }
  }
});
