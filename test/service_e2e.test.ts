// The prediction service end to end: three server processes over real loopback WebSockets with
// mutual TLS, a model owner deploying, clients predicting; private results against plaintext.
import * as fs from 'node:fs';
import * as path from 'node:path';

import test from 'ava';

import * as tfe from '../lib';
import { erf } from '../lib/math/erf';
import { REQUEST_KEY, WsEndpoint } from '../lib/net/ws_endpoint';
import { mlp } from './helpers/model_files';
import { clusterForFile, poolSettled } from './helpers/service';
import { isExact, PROTOCOL_TRAITS, PROTOCOLS } from '../lib/protocol/protocols';

const cluster = clusterForFile(test);

/** Every model.json under `dir` stored for model `name` (one per server's data dir). */
function storedModelJsons(dir: string, name: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name === 'model.json' && p.split(path.sep).includes(name)) out.push(fs.readFileSync(p, 'utf8'));
    }
  };
  walk(dir);
  return out;
}

const polyRelu = (z: number) => tfe.evalPolynomial(tfe.reluPolynomial(4), z);
const exactRelu = (z: number) => Math.max(z, 0);

const replayed = async () => {
  const operator = await cluster().connect({ asOwner: true });
  const server2 = (await operator.status())[2];
  await operator.close();
  return server2.pool!.replayed;
};

for (const protocol of PROTOCOLS) {
  test.serial(`${protocol}: a deployed model predicts like its plaintext forward pass, across three processes`, async (t) => {
    const m = mlp([24, 16, 10]);
    const owner = await cluster().connect({ asOwner: true });
    await owner.deploy(m.file, { name: `mlp-${protocol}`, protocol, ...(isExact(protocol) ? {} : { uncalibrated: true }) });
    await owner.close();
    const client = await cluster().connect();
    const info = (await client.models()).find((x) => x.name === `mlp-${protocol}`);
    t.deepEqual(info?.inputShape, [24]);
    t.is(info?.protocol, protocol);
    const replayedBefore = await replayed();
    for (const batch of [1, 3]) {
      const x = Float64Array.from({ length: 24 * batch }, () => Math.random() * 2 - 1);
      x[0] = 0; // an edge value among fresh random ones
      const p = await client.predict(`mlp-${protocol}`, { data: x, shape: [batch, 24] });
      const want = m.forward(x, isExact(protocol) ? exactRelu : polyRelu);
      t.deepEqual(p.shape, [batch, 10]);
      for (let i = 0; i < want.length; i++) t.true(Math.abs(p.data[i] - want[i]) < 2e-3, `${i}: ${p.data[i]} vs ${want[i]}`);
      // Only the client reconstructs: probabilities are its own softmax of the logits.
      let s = 0;
      for (let j = 0; j < 10; j++) s += p.probabilities[j];
      t.true(Math.abs(s - 1) < 1e-9);
      t.true(p.traffic.total.bytes > 0);
      // Pond and FSS: server2 only deals, so a batch-1 query's share of its work was shipped ahead
      // (offline) and it sends nothing while the query runs.
      if (batch === 1 && !PROTOCOL_TRAITS[protocol].server2Online) {
        t.true(p.offlineBytes > 0, `${protocol}: server2 shipped ${p.offlineBytes} bytes ahead`);
        t.is(p.serverTraffic[2].bytes, 0, `${protocol}: server2 sends nothing online`);
      }
      if (PROTOCOL_TRAITS[protocol].server2Online) t.is(p.offlineBytes, 0);
    }
    // Pond's and FSS's batch-1 queries use server2's precomputed side (the same messages: triple
    // corrections, DCF keys, sent ahead); SecureNN's server2 must interact, so it runs online.
    // (the pool counters are the operator's: the owner's certificate under TLS)
    if (!PROTOCOL_TRAITS[protocol].server2Online) t.true((await replayed()) > replayedBefore, `${protocol}: a batch-1 query replayed server2's precomputed side`);
    await client.close();
  });
}

test.serial("fss: the pool's keys wait in the compute servers' native memory, not in JavaScript buffers, and an undeploy frees them", async (t) => {
  const operator = await cluster().connect({ asOwner: true });
  // The compute servers' counters once the pool is at rest (the operator's fields: the owner's certificate under TLS).
  const settled = async () =>
    (await poolSettled(operator)).slice(0, 2).map((s) => ({ prefetched: s.prefetched!.bytes, liveTensors: s.liveTensors!, tensorBytes: s.tensorBytes! }));
  const before = await settled();
  await operator.deploy(mlp([24, 16, 10]).file, { name: 'held-fss', protocol: 'fss' });
  const full = await settled();
  for (const [i, s] of full.entries()) {
    const shipped = s.prefetched - before[i].prefetched;
    t.true(shipped > 100_000, `server${i}: the pool holds ${shipped} bytes of keys and corrections`);
    // Held as native tensors (the model's own shares are a few KB more).
    t.true(s.tensorBytes - before[i].tensorBytes >= shipped, `server${i}: native tensors grew by ${s.tensorBytes - before[i].tensorBytes} bytes for ${shipped} shipped`);
  }
  t.deepEqual((await operator.undeploy('held-fss')).length, 3);
  const after = await settled();
  for (const [i, s] of after.entries()) {
    t.is(s.prefetched, before[i].prefetched, `server${i}: the model's pool sessions are gone`);
    t.is(s.liveTensors, before[i].liveTensors, `server${i}: every held tensor was freed`);
    t.is(s.tensorBytes, before[i].tensorBytes);
  }
  await operator.close();
});

test.serial('fss: the gate form chosen at deploy time is listed, kept by all three servers and exact; compact takes a second round per relu for half the keys, folded one round fewer for the last product', async (t) => {
  const m = mlp([24, 16, 10]);
  const owner = await cluster().connect({ asOwner: true });
  for (const gate of ['one-round', 'compact', 'folded', 'compact-folded'] as const) await owner.deploy(m.file, { name: `gate-${gate}`, protocol: 'fss', fssGate: gate });
  await t.throwsAsync(owner.deploy(m.file, { name: 'gate-bad', protocol: 'fss', fssGate: 'fast' as 'auto' }), { message: /unknown FSS gate form "fast" \(expected 'auto', 'one-round', 'compact', 'folded', 'compact-folded'\)/ });
  await t.throwsAsync(owner.deploy(m.file, { name: 'gate-pond', protocol: 'securenn', fssGate: 'compact' }), { message: /fssGate applies to the fss protocol, not securenn/ });
  await owner.close();
  const client = await cluster().connect();
  const models = await client.models();
  t.is(models.find((x) => x.name === 'gate-compact')?.fssGate, 'compact');
  t.is(models.find((x) => x.name === 'gate-one-round')?.fssGate, 'one-round');
  t.is(models.find((x) => x.name === 'gate-folded')?.fssGate, 'folded');
  t.is(models.find((x) => x.name === 'gate-compact-folded')?.fssGate, 'compact-folded');
  t.is(models.find((x) => x.name === 'mlp-fss')?.fssGate, 'auto', 'the default');
  t.is(models.find((x) => x.name === 'mlp-securenn')?.fssGate, undefined, 'only fss models have one');
  const x = Float64Array.from({ length: 24 }, () => Math.random() * 2 - 1);
  const want = m.forward(x, exactRelu);
  const runs: Record<string, { rounds: number; offline: number }> = {};
  for (const gate of ['one-round', 'compact', 'folded', 'compact-folded']) {
    const p = await client.predict(`gate-${gate}`, { data: x, shape: [1, 24] });
    for (let i = 0; i < want.length; i++) t.true(Math.abs(p.data[i] - want[i]) < 2e-3, `${gate} ${i}: ${p.data[i]} vs ${want[i]}`);
    runs[gate] = { rounds: Math.max(...p.serverTraffic.map((s) => s.rounds)), offline: p.offlineBytes };
  }
  t.log(runs);
  t.is(runs.compact.rounds, runs['one-round'].rounds + 1, 'one relu layer: one more round');
  // 16 relu elements after a Dense layer (48 bits compared, docs/fss.md "Gate widths"): keys of 87
  // against 197 words to each compute server, the rest alike.
  t.is(runs['one-round'].offline - runs.compact.offline, 2 * 16 * 8 * (197 - 87));
  t.is(runs.folded.rounds, runs['one-round'].rounds - 1, 'the last product folded into the last relu: one round fewer');
  // 16 x 10 cells: per relu element one key of one tree with 20 payloads at the relu's 48 bits
  // ((2 + 20) words per level, 2 root words, a control word, 20 final words) to both compute
  // servers, and three dealt words per cell to server1, instead of the last product's triple
  // correction (10 words to server1).
  t.is(runs.folded.offline - runs['one-round'].offline, 2 * 16 * 8 * ((2 + 20) * 48 + 3 + 20) + 160 * 3 * 8 - 10 * 8);
  t.is(runs['compact-folded'].rounds, runs.compact.rounds - 1, 'after a compact gate too');
  // No keys: three dealt words per cell to server1, instead of the triple correction.
  t.is(runs['compact-folded'].offline - runs.compact.offline, 160 * 3 * 8 - 10 * 8);
  await client.close();
  // The opened gate inputs a folded product reads are freed with the query: the compute servers'
  // native tensors (less the pool's held messages) are the same after more queries. The held
  // messages are counted at their wire size, whose headers name pool indices and op ids of
  // varying digits, so their bytes are matched to within 8 per held message; a leaked tensor
  // shows in the count.
  const operator = await cluster().connect({ asOwner: true });
  // (mailbox and pool: to tell a leak from a message in flight, should this ever fail)
  const resident = async () => (await poolSettled(operator)).slice(0, 2).map((s) => ({ tensors: s.liveTensors! - s.prefetched!.messages, bytes: s.tensorBytes! - s.prefetched!.bytes, held: s.prefetched!.messages, mailbox: s.mailbox, pool: s.pool }));
  const first = await resident();
  for (let q = 0; q < 5; q++) for (const gate of ['folded', 'compact-folded']) await operator.predict(`gate-${gate}`, { data: x, shape: [1, 24] });
  const after = await resident();
  t.deepEqual(after.map((r) => r.tensors), first.map((r) => r.tensors), `live tensors, less the held messages: before ${JSON.stringify(first)}, after ${JSON.stringify(after)}`);
  for (let s = 0; s < 2; s++) t.true(Math.abs(after[s].bytes - first[s].bytes) <= 8 * Math.max(after[s].held, first[s].held), `server${s}: ${first[s].bytes} bytes resident before, ${after[s].bytes} after`);
  await operator.close();
});

test.serial('fss: a comparison width chosen at deploy time is listed, kept by all three servers and exact; 32 bits shrink the relu keys further', async (t) => {
  const m = mlp([24, 16, 10]);
  const owner = await cluster().connect({ asOwner: true });
  await owner.deploy(m.file, { name: 'bits-32', protocol: 'fss', fssGate: 'one-round', fssBits: 32 });
  await owner.deploy(m.file, { name: 'bits-64', protocol: 'fss', fssGate: 'one-round' });
  await t.throwsAsync(owner.deploy(m.file, { name: 'bits-bad', protocol: 'fss', fssBits: 8 }), { message: /fssBits must be an integer in \[16, 64\]/ });
  await t.throwsAsync(owner.deploy(m.file, { name: 'bits-snn', protocol: 'securenn', fssBits: 32 }), { message: /fssBits applies to the fss protocol, not securenn/ });
  await owner.close();
  const client = await cluster().connect();
  const models = await client.models();
  t.is(models.find((x) => x.name === 'bits-32')?.fssBits, 32);
  t.is(models.find((x) => x.name === 'bits-64')?.fssBits, 64, 'the default');
  const x = Float64Array.from({ length: 24 }, () => Math.random() * 2 - 1);
  const want = m.forward(x, exactRelu);
  const offline: Record<string, number> = {};
  for (const name of ['bits-32', 'bits-64']) {
    const p = await client.predict(name, { data: x, shape: [1, 24] });
    for (let i = 0; i < want.length; i++) t.true(Math.abs(p.data[i] - want[i]) < 2e-3, `${name} ${i}: ${p.data[i]} vs ${want[i]}`);
    offline[name] = p.offlineBytes;
  }
  // 16 relu elements: keys of 129 against 197 words to each compute server (at 64, the relu after a
  // Dense layer compares 48 bits: docs/fss.md "Gate widths"), the rest alike.
  t.is(offline['bits-64'] - offline['bits-32'], 2 * 16 * 8 * (197 - 129));
  await client.close();
});

test.serial("pond: a relu model is refused uncalibrated; calibrated on the owner's inputs, it predicts like the calibrated plaintext", async (t) => {
  const m = mlp([8, 16, 4]);
  const owner = await cluster().connect({ asOwner: true });
  await t.throwsAsync(owner.deploy(m.file, { name: 'raw', protocol: 'pond' }), { message: /the model has relu \(dense\), and Pond replaces relu by a polynomial/ });
  const wide = () => Float64Array.from({ length: 8 }, () => (Math.random() * 2 - 1) * 10);
  const { calibration } = await owner.deploy(m.file, { name: 'cal', protocol: 'pond', calibrate: { inputs: Array.from({ length: 100 }, wide), minAgreement: 0 } });
  await owner.close();
  t.is(calibration!.relus.length, 1);
  const c = calibration!.relus[0].coeffs;
  // The fitted coefficients are shared like weights: no server's stored topology holds them.
  const stored = storedModelJsons(cluster().dir, 'cal');
  t.is(stored.length, 3);
  for (const text of stored) {
    t.regex(text, /"TfePolynomial"/);
    t.false(c.some((k) => text.includes(String(k)) || text.includes(k.toPrecision(6))), 'a coefficient in a server\'s model.json');
  }
  const client = await cluster().connect();
  for (let i = 0; i < 3; i++) {
    const x = wide();
    const p = await client.predict('cal', { data: x, shape: [1, 8] });
    const want = m.forward(x, [(v) => c.reduceRight((a, k) => a * v + k, 0)]);
    for (let j = 0; j < 4; j++) t.true(Math.abs(p.data[j] - want[j]) < 1e-2 * (1 + Math.abs(want[j])), `${j}: ${p.data[j]} vs ${want[j]}`);
  }
  await client.close();
});

test.serial("a Keras 3 model (Normalization, Keras 3's hard_sigmoid, gelu) deploys and predicts like its formulas: the servers read the model's dialect from the topology the owner sent", async (t) => {
  const IN = 5, H = 8, OUT = 3;
  const r = (n: number, s: number) => Float32Array.from({ length: n }, () => (Math.random() * 2 - 1) * s);
  const mean = r(IN, 2), variance = Float32Array.from(r(IN, 1), (v) => Math.abs(v) + 0.3);
  const k1 = r(IN * H, 1.5), b1 = r(H, 1), k2 = r(H * H, 0.8), b2 = r(H, 0.5), k3 = r(H * OUT, 0.6), b3 = r(OUT, 0.2);
  const weights: [string, number[], Float32Array][] = [['n/mean', [IN], mean], ['n/variance', [IN], variance], ['n/count', [], new Float32Array([100])], ['h/kernel', [IN, H], k1], ['h/bias', [H], b1], ['g/kernel', [H, H], k2], ['g/bias', [H], b2], ['o/kernel', [H, OUT], k3], ['o/bias', [OUT], b3]];
  const modelTopology = {
    class_name: 'Sequential',
    keras_version: '3.13.0',
    config: {
      name: 'k3',
      layers: [
        { class_name: 'InputLayer', config: { name: 'in', batch_shape: [null, IN], optional: false } },
        { class_name: 'Normalization', config: { name: 'n', axis: -1, invert: false, mean: null, variance: null } },
        { class_name: 'Dense', config: { name: 'h', units: H, activation: 'hard_sigmoid', quantization_config: null } },
        { class_name: 'Dense', config: { name: 'g', units: H, activation: 'gelu', quantization_config: null } },
        { class_name: 'Dense', config: { name: 'o', units: OUT, quantization_config: null } },
      ],
    },
  };
  const artifacts = { modelTopology, weightSpecs: weights.map(([name, shape]) => ({ name, shape, dtype: 'float32' })), weightData: new Float32Array(weights.flatMap(([, , v]) => [...v])).buffer } as unknown as tfe.ModelArtifacts;
  const dense = (x: number[], k: Float32Array, b: Float32Array, n: number) => Array.from({ length: n }, (_, j) => x.reduce((a, v, q) => a + v * k[q * n + j], b[j]));
  const phi = (v: number) => 0.5 * (1 + erf(v / Math.SQRT2));
  const forward = (x: number[]) => {
    const z = x.map((v, i) => (v - mean[i]) / Math.sqrt(variance[i]));
    const h = dense(z, k1, b1, H).map((v) => Math.min(Math.max(v / 6 + 0.5, 0), 1));
    const g = dense(h, k2, b2, H).map((v) => v * phi(v));
    return dense(g, k3, b3, OUT);
  };
  const owner = await cluster().connect({ asOwner: true });
  await owner.deploy(artifacts, { name: 'keras3' });
  await owner.close();
  const client = await cluster().connect();
  t.is((await client.models()).find((m) => m.name === 'keras3')?.protocol, 'securenn', 'exact by default');
  const x = Array.from({ length: 4 * IN }, () => Math.random() * 6 - 3);
  const p = await client.predict('keras3', { data: Float64Array.from(x), shape: [4, IN] });
  for (let row = 0; row < 4; row++) forward(x.slice(row * IN, (row + 1) * IN)).forEach((v, j) => t.true(Math.abs(p.data[row * OUT + j] - v) < 5e-3, `[${row}, ${j}]: ${p.data[row * OUT + j]} vs ${v}`));
  await client.close();
});

test.serial('bad requests are refused with a clear reason and the servers keep serving', async (t) => {
  const m = mlp([8, 4]);
  const owner = await cluster().connect({ asOwner: true });
  await owner.deploy(m.file, { name: 'small', protocol: 'pond', uncalibrated: true });
  await t.throwsAsync(owner.deploy(m.file, { name: 'small' }), { message: /model 'small' is already deployed/ });
  // A name that differs only in case: one folder on a case-insensitive disk. Refused, and nothing rolled back.
  await t.throwsAsync(owner.deploy(m.file, { name: 'Small', protocol: 'pond', uncalibrated: true }), { message: /model name 'Small' differs from the deployed 'small' only in case/ });
  t.deepEqual((await owner.models()).map((x) => x.name).filter((n) => n.toLowerCase() === 'small'), ['small']);
  const client = await cluster().connect();
  await t.throwsAsync(client.predict('nope', { data: new Float64Array(8).fill(0.5), shape: [1, 8] }), { message: /unknown model 'nope'/ });
  await t.throwsAsync(client.predict('small', { data: new Float64Array(9).fill(0.5), shape: [1, 9] }), { message: /takes inputs of shape \[batch, 8\], got \[1,9\]/ });
  await t.throwsAsync(client.predict('small', { data: new Float64Array(8 * 2 ** 21).fill(0.5), shape: [2 ** 21, 8] }), { message: /over the limit/ });
  // Deploying needs the owner's certificate under TLS.
  await t.throwsAsync(client.deploy(m.file, { name: 'stolen' }), { message: /owner's certificate/ });
  // An unsupported layer is refused at deploy time, naming the layer and its class.
  const { writeModel } = await import('./helpers/model_files');
  const mel = writeModel([{ class_name: 'MelSpectrogram', config: { name: 'mel_1', fft_length: 64, batch_input_shape: [null, 3] } }], []);
  await t.throwsAsync(owner.deploy(mel, { name: 'mel' }), { message: /layer 'mel_1' of class MelSpectrogram is not supported/ });
  // A session id that is not a random UUID could name a server's own session: refused.
  const cfg = tfe.loadClusterConfig(cluster().config);
  const ep = new WsEndpoint({ me: 'client', tls: { ca: fs.readFileSync(path.join(cluster().dir, 'certs', 'ca.pem')) }, log: () => undefined });
  await ep.connect({ name: 'server1', host: '127.0.0.1', port: cfg.parties.server1.port }, { asClient: true });
  await ep.send('server1', 'epoch:0123', REQUEST_KEY, { kind: 'control', data: { type: 'models' } });
  const res = await ep.recv('server1', 'epoch:0123', 'res');
  t.regex(JSON.stringify(res), /session id \\"epoch:0123\\" is not a UUID/);
  await ep.close();
  // Still serving, and nothing deployed is lost.
  const x = Float64Array.from({ length: 8 }, () => Math.random());
  const p = await client.predict('small', { data: x, shape: [1, 8] });
  const want = m.forward(x, polyRelu);
  for (let i = 0; i < 4; i++) t.true(Math.abs(p.data[i] - want[i]) < 2e-3);
  t.true((await client.models()).some((x) => x.name === 'small'));
  await Promise.all([client.close(), owner.close()]);
});
