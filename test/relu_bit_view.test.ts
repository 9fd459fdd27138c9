// relu with its sign bit (reluAndBitOp, the smooth activations' first step) sends exactly what
// relu sends: the bit is a share each compute server already holds inside the relu gate. So each
// server's whole view is checked here as relu's is (test/fss_view.test.ts, securenn_view.test.ts):
// the same messages as relu alone, and the same statistics for two very different secrets, under
// every gate form; with the input's masking off, each form's control, the opening is flagged
// (FSS's input mask, SecureNN's Beaver openings). Serial: the switches are process-wide.
import test from 'ava';

import * as tfe from '../lib';
import { reluAndBitOp } from '../lib/api/comparison_ops';
import { constant, controlFlag, exactRelu, GATE_FORMS, spread, withoutInputMask } from './helpers/relu_views';
import { newCluster, type Protocol } from './helpers/suites/harness';
import { compareViews, recordTensors, sameViewStatistics, type Seen } from './helpers/view_stats';

/** Every tensor message of one op on x (reluAndBit, or relu alone), and the opened outputs. */
async function views(protocol: Protocol, opts: tfe.ClusterOptions, x: Float64Array, withBit: boolean): Promise<{ seen: Seen[]; relu: Float64Array; bit?: Float64Array }> {
  const c = newCluster(protocol, opts);
  try {
    const seen = recordTensors(c);
    const xs = tfe.definePrivateInput('input-provider', () => ({ data: x, shape: [x.length] }), c);
    if (!withBit) return { seen, relu: (await tfe.defineOutput('output-receiver', tfe.relu(xs))).data };
    const both = reluAndBitOp(xs);
    await both.relu.shares;
    const recorded = [...seen]; // the op's messages, before the outputs are opened
    const [relu, bit] = await Promise.all([both.relu, both.bit].map(async (z) => (await tfe.defineOutput('output-receiver', z)).data));
    return { seen: recorded, relu, bit };
  } finally {
    await c.close();
  }
}

/** A message's place in the protocol, without the op's name and number. */
const step = (m: Seen) => `${m.from}>${m.to} ${m.key.split(' ')[1].split('/').slice(1).join('/')} [${m.shape}]`;

for (const [name, protocol, opts, parties] of GATE_FORMS)
  test.serial(`${name}: relu with its bit sends relu's messages, and every server's view has the same statistics for two secrets`, async (t) => {
    const [a, b] = [await views(protocol, opts, constant, true), await views(protocol, opts, spread, true)];
    t.deepEqual([...b.relu], exactRelu(spread), 'relu is exact');
    t.deepEqual([...b.bit!], [...spread].map((v) => (v >= 0 ? 1 : 0)), 'the bit is [x >= 0]');
    const alone = await views(protocol, opts, spread, false);
    const opMessages = (v: Seen[]) => v.filter((m) => !m.key.includes(' input') && !m.key.includes(' output'));
    t.deepEqual(opMessages(b.seen).map(step).sort(), opMessages(alone.seen).map(step).sort(), "relu's messages, no more");
    sameViewStatistics(t, a.seen, b.seen, parties);
  });

for (const [name, protocol, opts] of GATE_FORMS)
  test.serial(`${name}, control: relu with its bit, its input's masking removed, flags the opening`, async (t) => {
    const [a, b] = await withoutInputMask(protocol, opts, async () => [await views(protocol, opts, constant, true), await views(protocol, opts, spread, true)]);
    const cmp = compareViews(a.seen, b.seen, 'server0');
    t.true(cmp.differ.some((d) => controlFlag(protocol, opts).test(d)), `flagged: ${cmp.differ.join('; ') || 'nothing'}`);
  });
