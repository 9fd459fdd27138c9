// The FSS gate form a model was deployed with is part of it on disk: a server restarting reads it
// back, its digest covers it (so the three servers agree on it), and a stored model of 'auto'
// keeps the digest it had before the option existed.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import test from 'ava';

import { type DeployedModel, digestOf, ModelStore, specOf } from '../lib/serve/model_store';
import { mlp } from './helpers/model_files';

function model(name: string, fssGate: DeployedModel['fssGate']): DeployedModel {
  const json = JSON.parse(fs.readFileSync(mlp([6, 5, 3]).file, 'utf8'));
  const weights = json.weightsManifest.flatMap((g: { weights: { name: string; shape: number[] }[] }) => g.weights.map((w) => ({ name: w.name, shape: w.shape })));
  const req = { protocol: 'fss' as const, fssGate, topology: json.modelTopology, weights };
  const spec = specOf(req);
  return { name, ...req, spec, digest: digestOf(req), shares: spec.params.map(() => null) };
}

test('the gate form survives a restart, is covered by the digest, and auto keeps the old digest', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-gate-store-'));
  const store = new ModelStore(dir, () => undefined);
  for (const gate of ['auto', 'one-round', 'compact'] as const) store.save(model(`m-${gate}`, gate));
  const back = new Map(new ModelStore(dir, () => undefined).loadAll(false).map((m) => [m.name, m]));
  t.is(back.get('m-compact')?.fssGate, 'compact');
  t.is(back.get('m-one-round')?.fssGate, 'one-round');
  t.is(back.get('m-auto')?.fssGate, 'auto');
  const manifest = (n: string) => JSON.parse(fs.readFileSync(path.join(dir, n, 'model.json'), 'utf8'));
  t.false('fssGate' in manifest('m-auto'), "'auto' is stored as before the option existed");
  const a = model('x', 'auto'), c = model('x', 'compact');
  t.not(a.digest, c.digest, 'the digest covers the gate form');
  t.is(a.digest, digestOf({ protocol: 'fss', topology: a.topology, weights: a.weights }), 'auto: the digest of a model stored without the option');
  // A stored form that is not one is refused when read back (the model is left out, with a reason).
  const bad = manifest('m-compact');
  fs.writeFileSync(path.join(dir, 'm-compact', 'model.json'), JSON.stringify({ ...bad, fssGate: 'fast' }));
  const logged: string[] = [];
  const names = new ModelStore(dir, (m: string) => void logged.push(m)).loadAll(false).map((m) => m.name).sort();
  t.deepEqual(names, ['m-auto', 'm-one-round']);
  t.true(logged.some((l) => /unknown FSS gate form "fast"/.test(l)), logged.join('\n'));
});
