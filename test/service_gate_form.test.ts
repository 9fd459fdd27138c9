// FSS's 'auto' gate form under load (lib/serve/gate_form.ts): server2 deals compact gates while
// queries come as it is still dealing, and the one-round form again once they stop; the three
// servers agree on every query's form through server2's announcement; a model deployed with an
// explicit form keeps it. Exactness against the plaintext forward pass in every form.
import test from 'ava';

import * as tfe from '../lib';
import { agreeGateForm, DealingPressure, FORM_OP, PRESSURE_HOLD_MS } from '../lib/serve/gate_form';
import { SERVER0, SERVER1, SERVER2, tag } from '../lib/protocol/party';
import type { ServerStatus } from '../lib/serve/messages';
import { mlp } from './helpers/model_files';
import { poolSettled, startCluster, type TestCluster } from './helpers/service';

test('DealingPressure: compact while queries come during dealing, for the hold, per model and batch size', (t) => {
  let now = 1000;
  const p = new DealingPressure(500, () => now);
  t.is(p.pick('m', 1), 'auto', 'no query yet');
  p.noteQuery('m', 1, false);
  t.is(p.pick('m', 1), 'auto', 'a query that found its dealing done');
  p.noteQuery('m', 1, true);
  t.is(p.pick('m', 1), 'compact');
  t.is(p.pick('m', 8), 'auto', 'another batch size');
  t.is(p.pick('other', 1), 'auto', 'another model');
  now += 499;
  t.is(p.pick('m', 1), 'compact', 'within the hold');
  now += 1;
  t.is(p.pick('m', 1), 'auto', 'the hold is over');
  t.is(p.compact, 2, 'compact picks counted');
  p.noteQuery('m', 1, true);
  p.noteQuery('m', 8, true);
  p.forget('m');
  t.is(p.pick('m', 1), 'auto', 'forgotten with its model');
  t.is(p.pick('m', 8), 'auto');
  // Many batch sizes (a client picks them): the expired entries are dropped as new ones come.
  for (let b = 1; b <= 200; b++) {
    now += 600;
    p.noteQuery('m', b, true);
  }
  t.true(p.tracked <= 64, `${p.tracked} entries`);
  t.is(p.pick('m', 200), 'compact', 'the latest still held');
  t.is(p.pick('m', 1), 'auto');
});

test('agreeGateForm: server0 and server1 take the form server2 picks; anything but auto or compact is refused by name', async (t) => {
  const cl = new tfe.Cluster({ protocol: 'fss' });
  const forms = await Promise.all([agreeGateForm(cl, SERVER0), agreeGateForm(cl, SERVER1), agreeGateForm(cl, SERVER2, { pick: () => 'compact' })]);
  t.deepEqual(forms, ['compact', 'compact', 'compact']);
  t.is(cl.fssGate, 'compact', "the query's cluster runs in it");
  // A recording that announced its form and failed: the run online keeps it and sends nothing more.
  t.is(await agreeGateForm(cl, SERVER2, { sent: 'auto' }), 'auto');
  await t.throwsAsync(agreeGateForm(cl, SERVER2), { message: /server2 needs the form/ });
  for (const bogus of ['one-round', 'folded', 42, { form: 'compact' }]) {
    const c2 = new tfe.Cluster({ protocol: 'fss' });
    await c2.party(SERVER2).sendControl(SERVER0, tag(FORM_OP, 'form'), bogus);
    await t.throwsAsync(agreeGateForm(c2, SERVER0), { message: /server2 announced the gate form .*: expected 'auto' or 'compact'/ });
    t.is(c2.fssGate, 'auto', 'unchanged');
  }
});

let c: TestCluster;
let owner: tfe.PredictionClient;
const net = mlp([12, 24, 4]);
const relu = (z: number) => Math.max(z, 0);

test.before(async () => {
  // A shallow pool, so that a burst's compact recordings are used up soon after it.
  c = await startCluster({ extra: { precomputePool: 2 } });
  await c.ready();
  owner = await c.connect({ asOwner: true });
  await owner.deploy(net.file, { name: 'auto', protocol: 'fss' });
  await owner.deploy(net.file, { name: 'fixed', protocol: 'fss', fssGate: 'one-round' });
});

test.after.always(async () => {
  await owner?.close();
  await c?.stop();
});

interface Seen {
  keyBytes: number;
  rounds: number;
}

async function exactQuery(t: { true: (v: boolean, m?: string) => void }, client: tfe.PredictionClient, model: string): Promise<Seen> {
  const x = Float64Array.from({ length: 12 }, () => Math.random() * 2 - 1);
  const p = await client.predict(model, { data: x, shape: [1, 12] });
  const want = net.forward(x, relu);
  t.true(want.every((w, i) => Math.abs(p.data[i] - w) < 1e-3), `${model}: ${Array.from(p.data)} vs ${Array.from(want)}`);
  return { keyBytes: p.offlineBytes ?? 0, rounds: p.serverTraffic?.[0]?.rounds ?? -1 };
}

const compactSoFar = async (): Promise<number> => ((await owner.status()) as ServerStatus[])[2].pool!.compactUnderLoad;

test.serial('back to back an auto model is dealt compact gates, exactly; apart it takes one round again; an explicit form is kept', async (t) => {
  const client = await c.connect();
  // The one-round form's size and rounds, from the model deployed with it, queries apart (the
  // second: a client's first query is not leased, and takes one round more).
  await exactQuery(t, client, 'fixed');
  await poolSettled(owner);
  const fixed = await exactQuery(t, client, 'fixed');
  t.true(fixed.keyBytes > 0, 'pooled');

  const before = await compactSoFar();
  const burst: Seen[] = [];
  for (let i = 0; i < 10; i++) burst.push(await exactQuery(t, client, 'auto'));
  const compact = burst.filter((s) => s.keyBytes < fixed.keyBytes);
  t.true(compact.length >= 5, `compact gates dealt under load: ${burst.map((s) => s.keyBytes).join(' ')} (one-round ${fixed.keyBytes})`);
  // The compact gate takes a second opening per relu: one more round on each compute server.
  for (const s of compact) t.is(s.rounds, fixed.rounds + 1, `${JSON.stringify(s)} against one-round ${JSON.stringify(fixed)}`);
  // Compact keys at the relu's width after a Dense layer (49 bits: 87 words against 197).
  for (const s of compact) t.true(s.keyBytes < 0.6 * fixed.keyBytes, `${s.keyBytes} against ${fixed.keyBytes}`);
  t.true((await compactSoFar()) - before >= compact.length, 'counted in server2 status');

  // The explicit form under the same load: one round per relu, every query.
  const fixedBurst: Seen[] = [];
  for (let i = 0; i < 6; i++) fixedBurst.push(await exactQuery(t, client, 'fixed'));
  for (const s of fixedBurst) t.deepEqual(s, fixed, 'fssGate one-round is kept under load');

  // Apart: once the hold is over and the recordings dealt during the burst are used up, the
  // queries are dealt in one round again.
  await new Promise((r) => setTimeout(r, PRESSURE_HOLD_MS + 500));
  const apart: Seen[] = [];
  for (let i = 0; i < 6; i++) {
    await poolSettled(owner);
    apart.push(await exactQuery(t, client, 'auto'));
  }
  const last = apart.at(-1)!;
  t.is(last.rounds, fixed.rounds, `one round again: ${apart.map((s) => s.keyBytes).join(' ')}`);
  // The one-round keys and dealt words, and server2's two announcements of the form (a few bytes).
  t.true(Math.abs(last.keyBytes - fixed.keyBytes) <= 64, `${last.keyBytes} against ${fixed.keyBytes}`);
  await client.close();
});
