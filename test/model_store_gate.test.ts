// The FSS gate form and comparison width a model was deployed with are part of it on disk: a
// server restarting reads them back, its digest covers them (so the three servers agree on them),
// and a stored model of 'auto' and 64 bits keeps the digest it had before the options existed.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import test from 'ava';

import { resolveOptions } from '../lib/protocol/protocol_options';
import { type DeployedModel, digestOf, ModelStore, specOf } from '../lib/serve/model_store';
import { mlp } from './helpers/model_files';

function model(name: string, fssGate: DeployedModel['fssGate'], fssBits = 64): DeployedModel {
  const json = JSON.parse(fs.readFileSync(mlp([6, 5, 3]).file, 'utf8'));
  const weights = json.weightsManifest.flatMap((g: { weights: { name: string; shape: number[] }[] }) => g.weights.map((w) => ({ name: w.name, shape: w.shape })));
  const req = { protocol: 'fss' as const, fssGate, fssBits, topology: json.modelTopology, weights };
  const spec = specOf(req);
  return { name, ...req, ...resolveOptions('fss', { fssGate, fssBits }, 'test'), spec, digest: digestOf(req), shares: spec.params.map(() => null) };
}

test('the gate form survives a restart, is covered by the digest, and auto keeps the old digest', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-gate-store-'));
  const store = new ModelStore(dir, () => undefined);
  for (const gate of ['auto', 'one-round', 'compact', 'folded', 'compact-folded'] as const) store.save(model(`m-${gate}`, gate));
  const back = new Map(new ModelStore(dir, () => undefined).loadAll(false).map((m) => [m.name, m]));
  t.is(back.get('m-compact')?.fssGate, 'compact');
  t.is(back.get('m-one-round')?.fssGate, 'one-round');
  t.is(back.get('m-folded')?.fssGate, 'folded');
  t.is(back.get('m-compact-folded')?.fssGate, 'compact-folded');
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
  t.deepEqual(names, ['m-auto', 'm-compact-folded', 'm-folded', 'm-one-round']);
  t.true(logged.some((l) => /unknown FSS gate form "fast"/.test(l)), logged.join('\n'));
});

test('the comparison width survives a restart, is covered by the digest, and 64 keeps the old digest', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-bits-store-'));
  const store = new ModelStore(dir, () => undefined);
  store.save(model('m-64', 'auto'));
  store.save(model('m-32', 'compact', 32));
  const back = new Map(new ModelStore(dir, () => undefined).loadAll(false).map((m) => [m.name, m]));
  t.is(back.get('m-32')?.fssBits, 32);
  t.is(back.get('m-32')?.fssGate, 'compact');
  t.is(back.get('m-64')?.fssBits, 64);
  const manifest = (n: string) => JSON.parse(fs.readFileSync(path.join(dir, n, 'model.json'), 'utf8'));
  t.false('fssBits' in manifest('m-64'), '64 is stored as before the option existed');
  const a = model('x', 'auto'), b = model('x', 'auto', 32);
  t.not(a.digest, b.digest, 'the digest covers the width');
  t.is(a.digest, digestOf({ protocol: 'fss', topology: a.topology, weights: a.weights }), '64: the digest of a model stored without the option');
  fs.writeFileSync(path.join(dir, 'm-32', 'model.json'), JSON.stringify({ ...manifest('m-32'), fssBits: 99 }));
  const logged: string[] = [];
  t.deepEqual(new ModelStore(dir, (m: string) => void logged.push(m)).loadAll(false).map((m) => m.name), ['m-64']);
  t.true(logged.some((l) => /fssBits must be an integer in \[16, 64\]/.test(l)), logged.join('\n'));
});

