// The tfe CLI as a user meets it: --version, a missing config, a cluster that is down, and on a
// local cluster: deploy/models/status --json, predict --json `outputs` equal to tfjs's
// model.predict (sigmoid and softmax models), --batch as one query, a PNG fitted to the model
// (RGB, resized), no colour codes in a pipe, a closed pipe ending quietly, and tfe verify.
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

import test from 'ava';

import { imageGeometry, resizeArea } from '../lib/api/image_fit';
import { freePorts, tfeCli } from '../lib/serve/local_cluster';
import { mlp } from './helpers/model_files';
import { pngFile } from './helpers/png_file';
import { startCliCluster } from './helpers/service';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const tf: any = createRequire(__filename)('@tensorflow/tfjs');
const L = () => tf.layers;
const ROOT = path.resolve(__dirname, '..', '..');
const cli = (args: string[], o: { cwd?: string } = {}) => promisify(execFile)(process.execPath, [tfeCli(), ...args], { env: { ...process.env, FORCE_COLOR: '1' }, ...o });

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function save(model: any, dir: string): Promise<string> {
  fs.mkdirSync(dir, { recursive: true });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let a: any;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  await model.save(tf.io.withSaveHandler(async (artifacts: any) => ((a = artifacts), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } })));
  fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.from(a.weightData));
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify({ format: 'layers-model', modelTopology: a.modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }] }));
  return path.join(dir, 'model.json');
}

test('tfe --version prints the package version', async (t) => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  t.is((await cli(['--version'])).stdout.trim(), pkg.version);
});

test('a missing config says how to make one; a cluster that is down fails at once, naming the addresses', async (t) => {
  // A path given is checked as given (a local cluster is no advice on a production host); the default's says how to start one.
  await t.throwsAsync(cli(['models', '--config', '/nonexistent/cluster.json']), { message: /no cluster config at \/nonexistent\/cluster.json \(--config \/nonexistent\/cluster.json\): check the path; 'tfe cluster --init' writes one/ });
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-noconfig-'));
  await t.throwsAsync(cli(['models'], { cwd: empty }), { message: /no cluster config at \.tfe-local\/cluster.json: start a local cluster with 'tfe cluster --local'/ });
  await t.throwsAsync(cli(['models', '--config', empty]), { message: /the cluster config .* is a directory: --config takes the cluster.json file/ });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-down-'));
  const ports = await freePorts(3);
  fs.writeFileSync(path.join(dir, 'cluster.json'), JSON.stringify({ parties: Object.fromEntries(ports.map((port, i) => [`server${i}`, { host: '127.0.0.1', port }])) }));
  const t0 = Date.now();
  await t.throwsAsync(cli(['status', '--config', path.join(dir, 'cluster.json')]), { message: new RegExp(`cannot reach the cluster: server0 at 127.0.0.1:${ports[0]} \\(connection refused\\).*tfe server --party <name> on its host`) });
  t.true(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
  // One server up: status says which listen and which not (it failed naming only the others), and exits 1.
  const up = net.createServer((s) => s.destroy()).listen(ports[1], '127.0.0.1');
  await once(up, 'listening');
  try {
    const e = await t.throwsAsync(cli(['status', '--config', path.join(dir, 'cluster.json')]));
    const out = (e as Error & { stdout: string }).stdout;
    t.regex(out, new RegExp(`server0  unreachable at 127.0.0.1:${ports[0]} \\(connection refused\\)`));
    t.regex(out, new RegExp(`server1  listening at 127.0.0.1:${ports[1]}`));
    t.regex(out, /server2  unreachable/);
    const json = (await cli(['status', '--json', '--config', path.join(dir, 'cluster.json')]).catch((x: { stdout: string }) => x)).stdout;
    t.deepEqual(JSON.parse(json).unreachable.map((u: { party: string }) => u.party), ['server0', 'server2']);
  } finally {
    up.close();
  }
});

test('tfe calibrate writes a Pond-ready model with its report; refuses a bad --min-agreement, an existing model.json and stray flags', async (t) => {
  const m = mlp([6, 12, 3]);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-cal-'));
  const inputs = path.join(dir, 'inputs.json');
  fs.writeFileSync(inputs, JSON.stringify(Array.from({ length: 100 }, () => Array.from({ length: 6 }, () => (Math.random() * 2 - 1) * 10))));
  const out = path.join(dir, 'cal');
  const { stdout } = await cli(['calibrate', '--model', m.file, '--input', inputs, '--out', out, '--min-agreement', '0', '--json', '--frac-bits', '12']);
  const report = JSON.parse(stdout);
  t.is(report.relus.length, 1);
  // The coefficients are on the grid of the fracBits asked for.
  t.is(report.fracBits, 12);
  t.true(report.relus[0].coeffs.every((c: number) => Number.isInteger(c * 2 ** 12)), `${report.relus[0].coeffs}`);
  t.is(report.fitInputs, 80);
  const saved = JSON.parse(fs.readFileSync(path.join(out, 'model.json'), 'utf8'));
  const poly = saved.modelTopology.config.layers.find((l: { class_name: string }) => l.class_name === 'TfePolynomial');
  // The coefficients are weights (private once deployed), at the end of weights.bin: not in the topology.
  t.deepEqual(poly.config, { name: poly.config.name, degree: 2, trainable: false });
  const bin = fs.readFileSync(path.join(out, 'weights.bin'));
  t.is(bin.length, fs.statSync(path.join(path.dirname(m.file), 'group1-shard1of1.bin')).size + 3 * 4);
  t.deepEqual([...new Float32Array(bin.buffer.slice(bin.byteOffset + bin.length - 12, bin.byteOffset + bin.length))], report.relus[0].coeffs);
  t.deepEqual(saved.weightsManifest[0].weights.slice(-3).map((w: { name: string }) => w.name), [0, 1, 2].map((i) => `${poly.config.name}/coeff${i}`));
  t.deepEqual(JSON.parse(fs.readFileSync(path.join(out, 'calibration.json'), 'utf8')).relus, report.relus);
  await t.throwsAsync(cli(['calibrate', '--model', m.file, '--input', inputs, '--out', out, '--min-agreement', '0']), { message: /model\.json exists: choose an empty --out directory/ });
  await t.throwsAsync(cli(['calibrate', '--model', m.file, '--input', inputs, '--out', path.join(dir, 'x'), '--min-agreement', '1.5']), { message: /--min-agreement must be a number in \[0, 1\], got "1\.5"/ });
  await t.throwsAsync(cli(['deploy', '--model', m.file, '--degree', '3']), { message: /--degree only applies with --calibrate/ });
});

// From a new user's walk through the README: tfe deploy refuses a relu model under Pond unless it
// is calibrated, but tfe verify --protocol pond ran it silently (max |Δlogit| 5.6 on network A).
test('tfe verify under Pond warns of a model whose relus are not calibrated, and not of a calibrated one', async (t) => {
  const models = path.join(__dirname, '..', '..', 'bench', 'models');
  const verify = async (net: string) =>
    JSON.parse((await cli(['verify', '--model', path.join(models, net, 'model.json'), '--input', path.join(models, 'sample-digits.json'), '--protocol', 'pond', '--frac-bits', '16', '--json'])).stdout) as { warnings: string[] };
  t.regex((await verify('A')).warnings.join('\n'), /the model has relu \(relu_1, relu_2\), which pond replaces by a polynomial wrong outside \[-4, 4\]; tfe deploy refuses it so/);
  t.false((await verify('A_pond')).warnings.some((w) => /the model has relu/.test(w)));
});

test('image inputs: geometry from the input shape, area resizing', (t) => {
  t.deepEqual(imageGeometry([784]), { h: 28, w: 28, c: 1 });
  t.deepEqual(imageGeometry([32, 32, 3]), { h: 32, w: 32, c: 3 });
  t.deepEqual(imageGeometry([5, 7]), { h: 5, w: 7, c: 1 });
  t.throws(() => imageGeometry([10]), { message: /the model's input \[10\] is not an image/ });
  // 4x4 -> 2x2: each output is the mean of a 2x2 block; 3 -> 2 splits the middle pixel.
  t.deepEqual([...resizeArea(Float64Array.from({ length: 16 }, (_, i) => i), 4, 4, 1, 2, 2)], [2.5, 4.5, 10.5, 12.5]);
  t.deepEqual([...resizeArea(Float64Array.from([0, 3, 6]), 1, 3, 1, 1, 2)].map((v) => +v.toFixed(9)), [1, 5]);
});

test('tfe on a local cluster: --json everywhere, outputs as tfjs gives them, --batch, PNG, pipes, verify', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-cli-'));
  // A relative --dir (as the default .tfe-local is).
  const cluster = await startCliCluster(dir, path.dirname(dir));
  const { config } = cluster;
  try {
    const run = async (args: string[]) => {
      const r = await cli([...args, '--config', config]);
      t.false(r.stdout.includes('\x1b'), `colour codes in a pipe: ${JSON.stringify(r.stdout.slice(0, 200))}`);
      return r.stdout;
    };
    const sig = tf.sequential({ layers: [L().dense({ inputShape: [6], units: 8, activation: 'relu' }), L().dense({ units: 3, activation: 'sigmoid' })] });
    const cnn = tf.sequential({ layers: [L().conv2d({ inputShape: [4, 4, 3], filters: 2, kernelSize: 2, activation: 'relu' }), L().maxPooling2d({ poolSize: 3 }), L().flatten(), L().dense({ units: 4, activation: 'softmax' })] });
    const sigFile = await save(sig, path.join(dir, 'sig')), cnnFile = await save(cnn, path.join(dir, 'cnn'));
    t.is(await run(['models']), '(no models deployed)\n', 'said, not an empty output');
    const dep = JSON.parse(await run(['deploy', '--model', sigFile, '--json']));
    t.like(dep, { deployed: 'sig', protocol: 'securenn', inputShape: [6], finalActivation: 'sigmoid' });
    t.regex(await run(['deploy', '--model', cnnFile]), /deployed 'cnn' \(securenn, input \[4,4,3\], 4 layers\)\n  1 activation runs after the max pool it feeds \(fewer comparisons\): docs\/models.md/);
    // Under 'folded', deploy says which products fold: sig's last Dense (8 relu elements x 3
    // columns), cnn's (2 x 4, through its Flatten), none of a linear model's.
    const sigFolded = JSON.parse(await run(['deploy', '--model', sigFile, '--name', 'sig-folded', '--protocol', 'fss', '--fss-gate', 'folded', '--json']));
    // One key per relu element carrying 2 x 3 payloads: the relu after a Dense layer compares 48
    // bits (lib/api/bounds.ts), (2 + 6) words per level, 2 root words, a control word and 6 final words.
    t.like(sigFolded, { deployed: 'sig-folded', fssGate: 'folded', folds: { products: 1, cells: 24, keyBytes: 8 * 8 * ((2 + 6) * 48 + 3 + 6), dealtBytes: 24 * 3 * 8 } });
    const sigCompact = JSON.parse(await run(['deploy', '--model', sigFile, '--name', 'sig-compact-folded', '--protocol', 'fss', '--fss-gate', 'compact-folded', '--json']));
    t.like(sigCompact, { fssGate: 'compact-folded', folds: { products: 1, cells: 24, keyBytes: 0, dealtBytes: 24 * 3 * 8 } });
    t.regex(await run(['deploy', '--model', cnnFile, '--name', 'cnn-folded', '--protocol', 'fss', '--fss-gate', 'folded']), /\n  folded: 1 product folds into the relu before it in a batch-1 query, one round fewer each \(8 cells: 0\.0 MiB more keys per query and compute server, 0\.0 MiB more dealt to server1 per query\)/);
    const linFile = await save(tf.sequential({ layers: [L().dense({ inputShape: [6], units: 3 })] }), path.join(dir, 'lin'));
    t.regex(await run(['deploy', '--model', linFile, '--name', 'lin-folded', '--protocol', 'fss', '--fss-gate', 'folded']), /\n  folded: no product of this model folds .*it runs as 'auto'/);
    for (const m of ['sig-folded', 'sig-compact-folded', 'cnn-folded']) await run(['undeploy', m]);
    // A model with no final activation says null, not a missing field.
    const models = JSON.parse(await run(['models', '--json'])).models as { name: string; finalActivation?: string | null }[];
    t.deepEqual(models.map((m) => [m.name, m.finalActivation]).sort(), [['cnn', 'softmax'], ['lin-folded', null], ['sig', 'sigmoid']]);
    await run(['undeploy', 'lin-folded']);
    const status = JSON.parse(await run(['status', '--json'])).servers as { party: string; ready: boolean; models: string[] }[];
    t.deepEqual(status.map((s) => [s.party, s.ready, [...s.models].sort()]), ['server0', 'server1', 'server2'].map((p) => [p, true, ['cnn', 'sig']]));
    t.regex(await run(['status']), /^server0 {2}ready {2}models: (cnn, sig|sig, cnn)$/m);
    // The operator's counters, the offline pool among them (SecureNN models: nothing dealt ahead),
    // and the links' round trips (measured as they came up: loopback, well under a second), each
    // with its lane (a TLS cluster's links have one).
    const op = await run(['status', '--operator']);
    t.regex(op, /^server2 {2}ready .* running 0, pending 0, rss \d+ MiB, tensors \d+ \(\d+ MiB\), cached \d+ MiB, pool 0 held \(0 being dealt\), links server0 \d{1,3}\.\d ms lane server1 \d{1,3}\.\d ms lane \(near\)$/m);
    t.regex(op, /^server1 {2}ready .*, 0 MiB dealt ahead, links server0 \d{1,3}\.\d ms lane server2 \d{1,3}\.\d ms lane$/m);
    t.regex(op, /^server0 {2}ready .*, \d+ MiB dealt ahead, 16777\d{3} session indices left, links /m, "server0: its setup's session indices left (a fresh cluster: all but a few)");

    // --json outputs: tfjs's model.predict (sigmoid applied); --batch 2 over 5 inputs: 3 queries.
    const xs = Array.from({ length: 5 }, () => Array.from({ length: 6 }, () => Math.random() * 4 - 2));
    fs.writeFileSync(path.join(dir, 'in.json'), JSON.stringify({ images: xs }));
    const lines = (await run(['predict', '--model', 'sig', '--input', path.join(dir, 'in.json'), '--json', '--batch', '2'])).trim().split('\n').map((l) => JSON.parse(l));
    const want: number[][] = sig.predict(tf.tensor(xs)).arraySync();
    t.deepEqual(lines.map((l) => l.batch), [2, 2, 2, 2, 1]);
    t.deepEqual(lines.map((l) => l.input), [0, 1, 2, 3, 4]);
    t.is(lines[0].latencyMs, lines[1].latencyMs); // one query for both
    for (const [i, l] of lines.entries()) {
      t.true((l.outputs as number[]).every((v, j) => Math.abs(v - want[i][j]) < 1e-3), `input ${i}: outputs ${l.outputs} vs tfjs ${want[i]}`);
      // Sigmoid units are labels of their own (multi-label): those at 0.5 or more.
      t.deepEqual(l.prediction, want[i].flatMap((v, j) => (v >= 0.5 ? [j] : [])));
    }

    // A 8x8 RGBA PNG for a [4, 4, 3] model: RGB kept, 2x2 blocks averaged, alpha ignored.
    const px = Array.from({ length: 8 * 8 * 4 }, () => Math.floor(Math.random() * 256));
    fs.writeFileSync(path.join(dir, 'img.png'), pngFile(8, 8, 6, px));
    const rgb = Float64Array.from({ length: 64 * 3 }, (_, i) => px[Math.floor(i / 3) * 4 + (i % 3)] / 255);
    const x = resizeArea(rgb, 8, 8, 3, 4, 4);
    const pngOut = JSON.parse(await run(['predict', '--model', 'cnn', '--input', path.join(dir, 'img.png'), '--json']));
    const wantPng: number[] = cnn.predict(tf.tensor(Float32Array.from(x), [1, 4, 4, 3])).arraySync()[0];
    t.true((pngOut.outputs as number[]).every((v, j) => Math.abs(v - wantPng[j]) < 1e-3), `PNG outputs ${pngOut.outputs} vs tfjs ${wantPng}`);
    // With --json the fit is in the output (it went nowhere: stderr was kept quiet for the JSON).
    t.regex(pngOut.inputNote, /img.png: 8x8 -> 4x4, RGB \(resized by area averaging\)$/);
    const human = await cli(['predict', '--model', 'cnn', '--input', path.join(dir, 'img.png'), '--config', config]);
    t.regex(human.stderr, /img.png: 8x8 -> 4x4, RGB \(resized by area averaging\)/);

    // A reader that goes away (| head): quiet, status 0.
    const child = spawn(process.execPath, [tfeCli(), 'predict', '--model', 'sig', '--input', path.join(dir, 'in.json'), '--config', config, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.destroy();
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    t.is(code, 0, err);
    t.is(err, '');

    // tfe verify on the owner's file: agreement, and the debug ranges one line per layer.
    const v = JSON.parse((await cli(['verify', '--model', sigFile, '--input', path.join(dir, 'in.json'), '--json', '--debug-ranges'])).stdout);
    t.like(v, { samples: 5, protocol: 'securenn', fracBits: 16, agreement: { fraction: 1 }, kl: { over: 'sigmoid' } });
    t.is(v.ranges.length, 2);
    t.true(v.maxAbsLogitDiff < 1e-2);
    // --warn-bits applies without --debug-ranges too (the plaintext values warn by default); a PNG's fit is reported.
    // (The sigmoid model on its inputs: the CNN's values on a random image may all be 0 after its relu, which leaves every bit.)
    const picky = JSON.parse((await cli(['verify', '--model', sigFile, '--input', path.join(dir, 'in.json'), '--json', '--warn-bits', '62'])).stdout);
    t.true(picky.warnings.some((w: string) => /leaves [\d.]+ bits below the ring's limit/.test(w)), picky.warnings.join('\n') || 'no warnings');
    const fitted = JSON.parse((await cli(['verify', '--model', cnnFile, '--input', path.join(dir, 'img.png'), '--json'])).stdout);
    t.regex(fitted.inputNote, /img.png: 8x8 -> 4x4, RGB/);
    t.regex((await cli(['verify', '--model', cnnFile, '--input', path.join(dir, 'img.png')])).stderr, /img.png: 8x8 -> 4x4, RGB/);
    // Under FSS at a narrower comparison width; --debug-ranges is refused there (it measures with the gates).
    const narrow = JSON.parse((await cli(['verify', '--model', sigFile, '--input', path.join(dir, 'in.json'), '--json', '--protocol', 'fss', '--fss-bits', '32'])).stdout);
    t.like(narrow, { samples: 5, protocol: 'fss', agreement: { fraction: 1 } });
    await t.throwsAsync(cli(['verify', '--model', sigFile, '--input', path.join(dir, 'in.json'), '--protocol', 'fss', '--fss-bits', '32', '--debug-ranges']), { message: /--debug-ranges measures the ranges with the comparisons themselves/ });
    // In a chosen gate form, one input per run as a batch-1 query; a form for another protocol, or no form, refused.
    const folded = JSON.parse((await cli(['verify', '--model', sigFile, '--input', path.join(dir, 'in.json'), '--json', '--protocol', 'fss', '--fss-gate', 'folded', '--batch-size', '1'])).stdout);
    t.like(folded, { samples: 5, protocol: 'fss', agreement: { fraction: 1 } });
    await t.throwsAsync(cli(['verify', '--model', sigFile, '--input', path.join(dir, 'in.json'), '--fss-gate', 'folded']), { message: /--fss-gate applies to --protocol fss, not securenn/ });
    await t.throwsAsync(cli(['verify', '--model', sigFile, '--input', path.join(dir, 'in.json'), '--protocol', 'fss', '--fss-gate', 'fast']), { message: /unknown FSS gate form "fast"/ });
  } finally {
    t.is(await cluster.stop(), 0, cluster.log());
    t.false(cluster.log().includes('internal error:'), cluster.log());
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
