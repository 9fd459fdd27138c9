// server1's attack on SecureNN's relu from its recorded view: it is dealt shares by server2 and
// opens masked values with server0, so a deal that were the mask itself (not its share) would give
// the input away as an opening minus a deal. The per-message view statistics cannot see that (a
// deal of r is uniform either way, and the leak needs two steps together: a review showed such a
// mutation passes them). Here every opening server1 sees is set against every ring value it was
// dealt, both ways; the control deals values as they are (DEALER_STEPS.maskDeal = false), and the
// attack must then read the inputs. Serial: the switch is process-wide.
import test from 'ava';

import * as tfe from '../lib';
import { DEALER_STEPS } from '../lib/protocol/dealer';
import { newCluster } from './helpers/suites/harness';

const N = 512;
const secret = () => Array.from({ length: N }, () => Math.round((Math.random() * 2 - 1) * 1000 * 65536) / 65536);
const enc = (v: number) => BigInt.asUintN(64, BigInt(Math.round(v * 65536)));
const words = (d: Uint8Array) => [...new BigUint64Array(d.slice().buffer)];

/** The most inputs one (opening, deal) pair of server1's view gives away: opening -/+ deal = x. */
async function server1Reads(securennDrelu: 'one-compare' | 'paper'): Promise<{ best: number; pairs: number; exact: boolean }> {
  const xs = secret();
  const c = newCluster('securenn', { securennDrelu });
  const dealt: bigint[][] = [];
  const sent = new Map<string, bigint[][]>(); // by step: what server0 and server1 sent each other
  const send = c.transport.send.bind(c.transport);
  c.transport.send = (from, to, tag, p) => {
    if (p.kind === 'tensor' && p.dtype === 'ring64' && p.data.byteLength === 8 * N) {
      if (from === 'server2' && to === 'server1') dealt.push(words(p.data));
      if ((from === 'server0' && to === 'server1') || (from === 'server1' && to === 'server0')) {
        const k = `${tag.opId}/${tag.step}/${tag.part ?? ''}`;
        sent.set(k, [...(sent.get(k) ?? []), words(p.data)]);
      }
    }
    return send(from, to, tag, p);
  };
  try {
    const x = tfe.definePrivateInput('input-provider', () => ({ data: xs, shape: [N] }), c);
    const out = (await tfe.defineOutput('output-receiver', tfe.relu(x))).data;
    const exact = xs.every((v, i) => out[i] === Math.max(v, 0));
    // An opening: both compute servers' messages of one step, summed.
    const openings = [...sent.values()].filter((l) => l.length === 2).map(([a, b]) => a.map((v, i) => BigInt.asUintN(64, v + b[i])));
    const want = xs.map(enc);
    let best = 0;
    for (const o of openings)
      for (const d of dealt) {
        let minus = 0, plus = 0;
        for (let i = 0; i < N; i++) {
          if (BigInt.asUintN(64, o[i] - d[i]) === want[i]) minus++;
          if (BigInt.asUintN(64, o[i] + d[i]) === want[i]) plus++;
        }
        best = Math.max(best, minus, plus);
      }
    return { best, pairs: openings.length * dealt.length, exact };
  } finally {
    await c.close();
  }
}

for (const form of ['one-compare', 'paper'] as const)
  test.serial(`SecureNN relu (${form}): no opening server1 sees, less or plus anything it was dealt, gives an input away`, async (t) => {
    const r = await server1Reads(form);
    t.true(r.exact, 'relu is exact');
    t.true(r.pairs > 0, 'openings and deals were recorded');
    t.true(r.best <= 2, `${r.best} of ${N} from the best of ${r.pairs} pairs`);
  });

test.serial('the control: with deals sent as they are, server1 reads every input of the one-compare relu', async (t) => {
  DEALER_STEPS.maskDeal = false;
  try {
    const r = await server1Reads('one-compare');
    t.true(r.exact, 'still exact: server0 takes zero shares');
    t.is(r.best, N);
  } finally {
    DEALER_STEPS.maskDeal = true;
  }
});
