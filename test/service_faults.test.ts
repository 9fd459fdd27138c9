// Faults with real processes: a client that vanishes mid-query, a server killed mid-query and
// restarted (the cluster re-forms, the deployed model survives from disk), a damaged share file,
// malformed frames, and SIGTERM letting in-flight queries finish.
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import test from 'ava';
import WebSocket from 'ws';

import * as tfe from '../lib';
import { REQUEST_KEY, WsEndpoint } from '../lib/net/ws_endpoint';
import { Party, SERVERS } from '../lib/protocol/party';
import { output, shareInput } from '../lib/protocol/pond/share';
import { WebSocketTransport } from '../lib/net/ws_transport';
import { CLIENT, inputOp, OUTPUT_OP } from '../lib/serve/programs';
import { mlp } from './helpers/model_files';
import { startCluster, type TestCluster } from './helpers/service';

const polyRelu = (z: number) => tfe.evalPolynomial(tfe.reluPolynomial(4), z);
const VANISHING = randomUUID();
const HELD = randomUUID();

async function deployed(c: TestCluster, name: string, sizes = [32, 64, 10]) {
  const m = mlp(sizes);
  const owner = await c.connect({ asOwner: true });
  await owner.deploy(m.file, { name, protocol: 'pond', uncalibrated: true });
  await owner.close();
  return m;
}

async function checkPrediction(t: { true: (v: boolean, m?: string) => void }, client: tfe.PredictionClient, name: string, m: ReturnType<typeof mlp>, width: number) {
  const x = Float64Array.from({ length: width }, () => Math.random() * 2 - 1);
  const p = await client.predict(name, { data: x, shape: [1, width] });
  const want = m.forward(x, polyRelu);
  for (let i = 0; i < want.length; i++) t.true(Math.abs(p.data[i] - want[i]) < 2e-3, `${i}: ${p.data[i]} vs ${want[i]}`);
}

async function until(cond: () => Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test.serial('a client that disconnects mid-query is dropped, its memory freed, and others are served', async (t) => {
  const c = await startCluster();
  try {
    await c.ready();
    const m = await deployed(c, 'm');
    // A client that asks for a prediction and vanishes before sending its input.
    const cfg = tfe.loadClusterConfig(c.config);
    const ep = new WsEndpoint({ me: 'client', tls: { ca: fs.readFileSync(path.join(c.dir, 'certs', 'ca.pem')) }, log: () => undefined });
    await Promise.all((['server0', 'server1', 'server2'] as const).map((s) => ep.connect({ name: s, host: '127.0.0.1', port: cfg.parties[s].port }, { asClient: true })));
    for (const s of ['server0', 'server1', 'server2']) await ep.send(s, VANISHING, REQUEST_KEY, { kind: 'control', data: { type: 'predict', model: 'm', shape: [1, 32] } });
    await new Promise((r) => setTimeout(r, 200));
    await ep.close();
    // The counters are the operator's (the owner's certificate under TLS).
    const client = await c.connect({ asOwner: true });
    await until(async () => (await client.status()).every((s) => s.running === 0 && s.pending === 0 && s.mailbox === 0), 'the dropped query to be freed');
    // (the servers abort it, or the endpoint does when the client's connection drops)
    t.true(c.logs.some((l) => /aborted by server\d: the client disconnected|aborted: client#\d+ disconnected/.test(l)), c.logs.join('\n'));
    await checkPrediction(t, client, 'm', m, 32);
    await client.close();
  } finally {
    await c.stop();
  }
});

test.serial('a server killed mid-query: in-flight queries fail clearly; after a restart the cluster re-forms and the model survives', async (t) => {
  const c = await startCluster();
  try {
    const epoch1 = await c.ready();
    const m = await deployed(c, 'big', [256, 512, 10]);
    const client = await c.connect({ reconnectWaitMs: 500 });
    // Keep queries in flight, then kill server1 with no chance to clean up.
    const errors: string[] = [];
    let stop = false;
    const loop = (async () => {
      while (!stop) await client.predict('big', { data: new Float64Array(256 * 8).fill(0.1), shape: [8, 256] }).catch((e: Error) => errors.push(e.message));
    })();
    await new Promise((r) => setTimeout(r, 300));
    c.procs.get('server1')!.child.kill('SIGKILL');
    await c.procs.get('server1')!.exited;
    await new Promise((r) => setTimeout(r, 300));
    stop = true;
    await loop;
    t.true(errors.length > 0);
    t.true(errors.every((e) => /server1/.test(e)), errors.join('\n'));
    c.restart('server1');
    const epoch2 = await c.ready();
    t.not(epoch2, epoch1); // fresh seeds after the re-join
    await checkPrediction(t, client, 'big', m, 256);
    await client.close();
  } finally {
    await c.stop();
  }
});

test.serial('a damaged share file is refused at load, naming it; malformed frames close only that connection', async (t) => {
  const c = await startCluster();
  try {
    await c.ready();
    const m = await deployed(c, 'm');
    const other = await deployed(c, 'other', [32, 4]);
    // Malformed frames: the connection is closed with a reason, the server keeps serving.
    const cfg = tfe.loadClusterConfig(c.config);
    const reason = await new Promise<string>((resolve) => {
      const ws = new WebSocket(`wss://127.0.0.1:${cfg.parties.server0.port}`, { headers: { 'x-tfe-client': 'x' }, ca: fs.readFileSync(path.join(c.dir, 'certs', 'ca.pem')) });
      ws.on('open', () => ws.send(Buffer.from([9, 9, 9, 9, 9, 9]), { binary: true }));
      ws.on('close', (_code, r) => resolve(r.toString()));
      ws.on('error', () => undefined);
    });
    t.regex(reason, /header length|too short/);
    // A server without a certificate claiming to be server1 is refused and the refusal logged.
    const refused = await new Promise<boolean>((resolve) => {
      const ws = new WebSocket(`wss://127.0.0.1:${cfg.parties.server2.port}`, { headers: { 'x-tfe-party': 'server1' }, ca: fs.readFileSync(path.join(c.dir, 'certs', 'ca.pem')) });
      ws.on('unexpected-response', () => resolve(true));
      ws.on('open', () => resolve(false));
      ws.on('error', () => resolve(true));
    });
    t.true(refused);
    await until(async () => c.logs.some((l) => /party 'server1' has no valid certificate/.test(l)), 'the refusal to be logged');
    // Damage server1's stored share of model 'm', and restart server1.
    c.procs.get('server1')!.child.kill('SIGKILL');
    await c.procs.get('server1')!.exited;
    const share = path.join(c.dir, 'data', 'server1', 'models', 'm', 'share-0.bin');
    const bytes = fs.readFileSync(share);
    bytes[3] ^= 1;
    fs.writeFileSync(share, bytes);
    c.restart('server1');
    await c.ready();
    t.true(c.logs.some((l) => /refusing stored model 'm': share-0.bin fails its checksum/.test(l)), c.logs.join('\n'));
    const client = await c.connect();
    await t.throwsAsync(checkPrediction(t, client, 'm', m, 32), { message: /model 'm' is missing on server1/ });
    // The other model is intact: it predicts as its plaintext forward pass.
    await checkPrediction(t, client, 'other', other, 32);
    await client.close();
  } finally {
    await c.stop();
  }
});

test.serial('SIGTERM lets an in-flight query finish, then the server exits cleanly', async (t) => {
  const c = await startCluster();
  try {
    await c.ready();
    const m = await deployed(c, 'm');
    const client = await c.connect({ reconnectWaitMs: 200, asOwner: true });
    // A query held in flight: the request is in, the input is not sent yet.
    const cfg = tfe.loadClusterConfig(c.config);
    const ep = new WsEndpoint({ me: CLIENT, tls: { ca: fs.readFileSync(path.join(c.dir, 'certs', 'ca.pem')) }, log: () => undefined });
    await Promise.all(SERVERS.map((s) => ep.connect({ name: s, host: '127.0.0.1', port: cfg.parties[s as 'server0'].port }, { asClient: true })));
    for (const s of SERVERS) await ep.send(s, HELD, REQUEST_KEY, { kind: 'control', data: { type: 'predict', model: 'm', shape: [1, 32] } });
    // (server2 may be done already: in precompute mode it deals without waiting for the input.)
    await until(async () => (await client.status()).slice(0, 2).every((s) => s.running === 1), 'the query to start');
    c.procs.get('server0')!.child.kill('SIGTERM');
    await until(async () => c.logs.some((l) => /server0\] shutting down: refusing new requests, 1 in flight/.test(l)), 'server0 to start draining');
    // server0 is draining: the held query still completes, correctly.
    const x = Float64Array.from({ length: 32 }, () => Math.random() - 0.5);
    const party = new Party(CLIENT, new WebSocketTransport([...SERVERS, CLIENT], new Map([[CLIENT, ep]]), HELD), { fracBits: 16, truncation: 'local' });
    const ring = tfe.RingTensor.fromFloat64Array(x, [1, 32], { fracBits: 16 });
    // A server's error answer (or a stall) fails the test with its reason instead of hanging it.
    const refused = Promise.race(SERVERS.map((s) => ep.recv(s, HELD, 'res').then((r) => (r.kind === 'control' && (r.data as { ok: boolean }).ok ? new Promise<never>(() => undefined) : Promise.reject(new Error(`${s}: ${JSON.stringify(r)}`))))));
    const stall = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`the held query stalled; logs:\n${c.logs.join('\n')}`)), 20_000).unref());
    const [, out] = await Promise.race([Promise.all([shareInput(party, inputOp(0), CLIENT, ring), output(party, OUTPUT_OP, null, CLIENT)]), refused, stall]);
    const got = out!.toFloat64Array({ fracBits: 16 });
    const want = m.forward(x, polyRelu);
    for (let i = 0; i < want.length; i++) t.true(Math.abs(got[i] - want[i]) < 2e-3);
    t.is(await Promise.race([c.procs.get('server0')!.exited, new Promise((r) => setTimeout(() => r(`still running; logs:\n${c.logs.join('\n')}`), 20_000).unref())]), 0);
    await t.throwsAsync(client.predict('m', { data: x, shape: [1, 32] }), { message: /server0 is unreachable|shutting down/ });
    await Promise.all([client.close(), ep.close()]);
  } finally {
    await c.stop();
  }
});
