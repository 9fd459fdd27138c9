// The protocols' deploy options go through their specs (lib/protocol/protocol_options.ts): a
// request, the model store, a listing and the CLI's flags check and carry them without naming
// them. What the specs must keep: each option refused under another protocol, naming it; values
// checked; defaults left out, so the digest of a stored model is what it was before its options
// existed (the digest's form, written out here by hand, is what every stored model was saved with).
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';

import test from 'ava';
import { Command } from 'commander';

import { addProtocolOptionFlags, listedOptionsHelp } from '../lib/cli/protocol_flags';
import { deployOptions, describeOptions, flagOf, flagOptions, listedOptions, OPTION_SPECS, resolveOptions, statedOptions } from '../lib/protocol/protocol_options';
import { PROTOCOLS } from '../lib/protocol/protocols';
import { requestKey, validateRequest } from '../lib/serve/messages';
import { digestOf } from '../lib/serve/model_store';
import { mlp } from './helpers/model_files';

test('a deploy keeps its own protocol\'s options, leaves out defaults, and refuses another protocol\'s, naming it', (t) => {
  t.deepEqual(deployOptions('fss', { fssGate: 'compact', fssBits: 32, name: 'x' }, 'deploy'), { fssGate: 'compact', fssBits: 32 });
  t.deepEqual(deployOptions('fss', { fssGate: 'auto', fssBits: 64 }, 'deploy'), {}, 'the defaults, stated, are the same deploy as unstated');
  t.deepEqual(deployOptions('securenn', {}, 'deploy'), {});
  t.throws(() => deployOptions('securenn', { fssGate: 'compact' }, 'deploy'), { message: 'deploy: fssGate applies to the fss protocol, not securenn' });
  t.throws(() => deployOptions('pond', { fssBits: 64 }, 'deploy'), { message: 'deploy: fssBits applies to the fss protocol, not pond' }, 'even at its default');
  t.throws(() => deployOptions('fss', { fssGate: 'fast' }, 'deploy'), { message: /^deploy: unknown FSS gate form "fast"/ });
  t.throws(() => deployOptions('fss', { fssBits: '32' }, 'model.json'), { message: /^model\.json: fssBits must be an integer in \[16, 64\]/ });
  t.deepEqual(resolveOptions('securenn', {}, 'x'), { fssGate: 'auto', fssBits: 64 }, 'every option, at its default outside its protocol');
  t.deepEqual(resolveOptions('fss', { fssBits: 40 }, 'x'), { fssGate: 'auto', fssBits: 40 });
});

test('the CLI reads the options from their flags, naming the flag when wrong', (t) => {
  t.deepEqual(flagOptions('fss', { fssGate: 'folded', fssBits: '32', json: true }), { fssGate: 'folded', fssBits: 32 });
  t.deepEqual(flagOptions('fss', { fssBits: '64' }), {}, 'the default');
  t.throws(() => flagOptions('fss', { fssBits: '99' }), { message: '--fss-bits must be a whole number of bits (16-64), got "99"' });
  t.throws(() => flagOptions('fss', { fssBits: '32.5' }), { message: /^--fss-bits must be a whole number/ });
  t.throws(() => flagOptions('fss', { fssGate: 'fast' }), { message: /^--fss-gate: unknown FSS gate form "fast"/ });
  t.throws(() => flagOptions('securenn', { fssGate: 'folded' }), { message: '--fss-gate applies to --protocol fss, not securenn' });
  t.throws(() => flagOptions(undefined, { fssBits: '32' }, 'the default (securenn or pond)'), { message: '--fss-bits applies to --protocol fss, not the default (securenn or pond)' });
});

test("every spec's flag parses to its own name, with help under deploy and verify", (t) => {
  for (const command of ['deploy', 'verify'] as const) {
    const cmd = addProtocolOptionFlags(new Command(command).exitOverride(), command);
    cmd.parse(OPTION_SPECS.flatMap((s) => [flagOf(s), s.name === 'fssBits' ? '32' : 'compact']), { from: 'user' });
    t.deepEqual(Object.keys(cmd.opts()).sort(), OPTION_SPECS.map((s) => s.name).sort(), 'commander names each flag as the spec');
    for (const s of OPTION_SPECS) t.true(s.help[command].length > 20, `${s.name}: help under ${command}`);
  }
  for (const s of OPTION_SPECS) t.true(PROTOCOLS.includes(s.protocol), `${s.name} belongs to a protocol`);
  t.is(listedOptionsHelp(), 'fssGate and fssBits (fss only), ');
});

test("a listing shows every option of the model's protocol, and says the ones worth saying", (t) => {
  t.deepEqual(listedOptions('fss', {}), { fssGate: 'auto', fssBits: 64 });
  t.deepEqual(listedOptions('securenn', { fssGate: 'auto', fssBits: 64 }), {}, "another protocol's options are not listed");
  t.deepEqual(describeOptions('fss', { fssGate: 'compact', fssBits: 32 }), ['compact gates', '32-bit comparisons']);
  t.deepEqual(describeOptions('fss', { fssGate: 'auto', fssBits: 64 }), ['auto gates'], 'the whole ring goes unsaid');
  t.deepEqual(describeOptions('pond', { fssGate: 'auto', fssBits: 64 }), []);
  t.deepEqual(statedOptions('fss', { fssGate: 'auto', fssBits: 32 }), { fssBits: 32 });
  t.deepEqual(statedOptions('securenn', { fssGate: 'compact', fssBits: 32 }), {}, 'only its own protocol');
});

test("a deploy request's options, its key and its digest are those of the stored models", (t) => {
  const json = JSON.parse(fs.readFileSync(mlp([4, 3, 2]).file, 'utf8'));
  const weights = json.weightsManifest.flatMap((g: { weights: { name: string; shape: number[] }[] }) => g.weights.map((w) => ({ name: w.name, shape: w.shape })));
  const base = { type: 'deploy', model: 'm', topology: json.modelTopology, weights };
  const sha = (o: object) => createHash('sha256').update(JSON.stringify(o)).digest('hex');
  // The digest's form written out: protocol, the options that differ from their defaults in this
  // order, topology, weights.
  const req = validateRequest({ ...base, protocol: 'fss', fssGate: 'compact', fssBits: 32 });
  t.is(digestOf(req as never), sha({ protocol: 'fss', fssGate: 'compact', fssBits: 32, topology: json.modelTopology, weights }));
  const stated = validateRequest({ ...base, protocol: 'fss', fssGate: 'auto', fssBits: 64 });
  t.is(digestOf(stated as never), sha({ protocol: 'fss', topology: json.modelTopology, weights }), 'defaults: the digest of a model stored before the options');
  t.is(requestKey(stated), requestKey(validateRequest({ ...base, protocol: 'fss' })), 'the defaults, stated or not, are one request');
  t.not(requestKey(req), requestKey(stated));
  t.throws(() => validateRequest({ ...base, protocol: 'pond', fssGate: 'compact' }), { message: 'deploy: fssGate applies to the fss protocol, not pond' });
});
