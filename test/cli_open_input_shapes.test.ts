// `--input-shape` in the CLI (lib/cli/input_shape_flag.ts): a model saved with its length open
// (Keras's Input(shape=(None,)): keras3_open_length_models.json's masked mean) is refused by tfe
// deploy and verify as saved, naming the flag, and deployed, predicted and verified at the shape
// given, as Keras predicted. The flag's own form is checked before anything is read.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

import test from 'ava';

import * as tfe from '../lib';
import { inputShapesOf } from '../lib/cli/input_shape_flag';
import { tfeCli } from '../lib/serve/local_cluster';
import { startCliCluster } from './helpers/service';

const cli = (args: string[]) => promisify(execFile)(process.execPath, [tfeCli(), ...args]);

interface Fixture {
  topology: object;
  weights: { name: string; shape: number[]; data: number[] }[];
  x: number[];
  shape: number[];
  y: number[];
}
const FIXTURES: Record<string, Fixture> = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'test', 'fixtures', 'keras3_open_length_models.json'), 'utf8'));

/** The fixture as files: model.json and weights.bin, as tensorflowjs_converter writes a LayersModel. */
function writeModel(dir: string, f: Fixture): string {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.from(new Float32Array(f.weights.flatMap((w) => w.data)).buffer));
  const weights = f.weights.map((w) => ({ name: w.name, shape: w.shape, dtype: 'float32' }));
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify({ format: 'layers-model', modelTopology: f.topology, weightsManifest: [{ paths: ['weights.bin'], weights }] }));
  return path.join(dir, 'model.json');
}

test('tfe deploy, predict and verify with --input-shape: a model of open length, at the length given, as Keras predicted', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-cli-open-'));
  const f = FIXTURES.o2_masked_mean; // ids [batch, 9], Dense(3) logits
  const file = writeModel(path.join(dir, 'masked'), f);
  const steps = f.shape[1];
  const input = path.join(dir, 'x.json');
  fs.writeFileSync(input, JSON.stringify({ data: f.x.slice(0, steps), shape: [1, steps] }));
  // verify, in process: refused as saved, naming the flag; at the length given, it agrees.
  await t.throwsAsync(cli(['verify', '--model', file, '--input', input]), { message: /open \(null\).*--input-shape/ });
  const v = JSON.parse((await cli(['verify', '--model', file, '--input', input, '--input-shape', String(steps), '--json'])).stdout) as { agreement: { fraction: number } };
  t.is(v.agreement.fraction, 1);
  const cluster = await startCliCluster(path.join(dir, 'cluster'));
  try {
    await t.throwsAsync(cli(['deploy', '--model', file, '--name', 'masked', '--config', cluster.config]), { message: /open \(null\).*--input-shape/ });
    await t.throwsAsync(cli(['deploy', '--model', file, '--name', 'masked', '--input-shape', `${steps}x2`, '--config', cluster.config]), { message: /has 1 axes after the batch \(\[null\]\), and the shape given for it has 2/ });
    const deployed = (await cli(['deploy', '--model', file, '--name', 'masked', '--input-shape', String(steps), '--config', cluster.config])).stdout;
    t.regex(deployed, new RegExp(`deployed 'masked' \\(securenn, input \\[${steps}\\]`));
    const p = JSON.parse((await cli(['predict', '--model', 'masked', '--input', input, '--json', '--config', cluster.config])).stdout) as { outputs: number[] };
    const got = p.outputs, want = f.y.slice(0, 3); // Dense(3), no final activation
    t.true(got.every((g, i) => Math.abs(g - want[i]) < 5e-3), `${got} vs Keras ${want}`);
    // The API refuses an option it does not know, naming it (a misspelt inputShape was ignored).
    const owner = await tfe.PredictionClient.connect(cluster.config, { asOwner: true });
    try {
      await t.throwsAsync(owner.deploy(file, { name: 'typo', inputShape: [steps] } as unknown as Parameters<typeof owner.deploy>[1]), { message: /deploy: unknown option 'inputShape'; the options are name, protocol, inputShapes/ });
    } finally {
      await owner.close();
    }
  } finally {
    await cluster.stop();
  }
});

test('--input-shape: one shape, or name=shape for each; anything else refused naming the flag', (t) => {
  t.is(inputShapesOf({}), undefined);
  t.deepEqual(inputShapesOf({ inputShape: ['128'] }), [128]);
  t.deepEqual(inputShapesOf({ inputShape: ['224x224x3'] }), [224, 224, 3]);
  t.deepEqual(inputShapesOf({ inputShape: ['title=32', 'signal=100x3'] }), { title: [32], signal: [100, 3] });
  t.throws(() => inputShapesOf({ inputShape: ['12', '7'] }), { message: /2 shapes without names: a model of several inputs takes name=shape/ });
  t.throws(() => inputShapesOf({ inputShape: ['a=12', '7'] }), { message: /name every shape/ });
  t.throws(() => inputShapesOf({ inputShape: ['a=1', 'a=2'] }), { message: /names 'a' twice/ });
  t.throws(() => inputShapesOf({ inputShape: ['=5'] }), { message: /name is missing/ });
  t.throws(() => inputShapesOf({ inputShape: ['12,7'] }), { message: /sizes joined by x/ });
  t.throws(() => inputShapesOf({ inputShape: ['0'] }), { message: /size 0: sizes are integers from 1/ });
});
