// A real three-process cluster run as a long-running service: JSON-line logs, and each server's
// opt-in /healthz and /metrics listener (cluster.json metrics.listen). The pages are valid
// Prometheus text, the counters move with a prediction, health follows the peers, nothing secret
// (the epoch id, a client's text) appears, and bad flags or a taken port stop `tfe server` at once.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import test from 'ava';

import * as tfe from '../lib';
import { LOG_EVENTS, type LogRecord } from '../lib/log';
import { tfeCli } from '../lib/serve/local_cluster';
import { mlp } from './helpers/model_files';
import { freePorts } from '../lib/serve/local_cluster';
import { httpGet, parsePromText, type Sample, sampleKey } from './helpers/prom';
import { startCluster, type TestCluster } from './helpers/service';

const PARTIES = ['server0', 'server1', 'server2'] as const;
let cluster: TestCluster;
let ports: number[];
let epoch: string;

test.before(async () => {
  // Ports picked free can be taken before a server binds them (by this cluster's own ports, picked
  // after, or another test file's: CI saw it): picked again then, as startLocalCluster does its own.
  for (let attempt = 1; ; attempt++) {
    ports = await freePorts(3);
    const listen = Object.fromEntries(PARTIES.map((p, i) => [p, `127.0.0.1:${ports[i]}`]));
    cluster = await startCluster({ extra: { log: { format: 'json' }, metrics: { listen } } });
    try {
      epoch = await cluster.ready();
      return;
    } catch (e) {
      await cluster.stop();
      if (attempt === 3 || !/cannot listen for metrics on .*: the port is in use/.test((e as Error).message)) throw e;
    }
  }
});
test.after.always(async () => cluster?.stop());

const scrape = async (i: number): Promise<{ text: string; samples: Map<string, Sample> }> => {
  const r = await httpGet('127.0.0.1', ports[i], '/metrics');
  if (r.status !== 200) throw new Error(`${PARTIES[i]} /metrics: ${r.status} ${r.body}`);
  if (!r.type.startsWith('text/plain; version=0.0.4')) throw new Error(`content type ${r.type}`);
  return { text: r.body, samples: parsePromText(r.body) };
};
const value = (s: Map<string, Sample>, name: string, labels?: Record<string, string>) => s.get(sampleKey(name, labels))?.value ?? 0;

async function until(cond: () => Promise<boolean>, what: string, ms = 20_000, everyMs = 100): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

test.serial('/healthz says ready on every server; other paths and methods are refused', async (t) => {
  for (let i = 0; i < 3; i++) {
    const h = await httpGet('127.0.0.1', ports[i], '/healthz');
    t.is(h.status, 200);
    t.is(h.body, `ready: ${PARTIES[i]} is ready\n`);
    t.is((await httpGet('127.0.0.1', ports[i], '/healthz', 'HEAD')).status, 200);
  }
  const nf = await httpGet('127.0.0.1', ports[0], '/metrics/../../etc/passwd%0a<script>');
  t.is(nf.status, 404);
  t.false(nf.body.includes('script'), 'the request is not echoed');
  t.is((await httpGet('127.0.0.1', ports[0], '/metrics', 'POST')).status, 405);
});

// From the ops review: 32 connections that send nothing filled the listener for about 30 s
// (Node checks its request timeouts every 30 s by default), so readiness probes failed.
test.serial('idle connections do not hold the ops port: /healthz answers within seconds while 32 sit open', async (t) => {
  const idle = await Promise.all(Array.from({ length: 32 }, () => new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect(ports[0], '127.0.0.1', () => resolve(s));
    s.on('error', () => undefined);
    s.once('error', reject);
  })));
  try {
    const t0 = Date.now();
    let status = 0;
    while (Date.now() - t0 < 8000) {
      status = await httpGet('127.0.0.1', ports[0], '/healthz').then((r) => r.status, () => 0);
      if (status === 200) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    t.is(status, 200, `no answer within ${Date.now() - t0} ms`);
    t.true(Date.now() - t0 < 6000, `${Date.now() - t0} ms`);
  } finally {
    for (const s of idle) s.destroy();
  }
});

test.serial('/metrics is valid Prometheus text whose counters move with a prediction, and shows no epoch or client text', async (t) => {
  const m = mlp([12, 8, 4]);
  const owner = await cluster.connect({ asOwner: true });
  await owner.deploy(m.file, { name: 'ops-mlp', protocol: 'pond', uncalibrated: true });
  await owner.close();
  const before = await Promise.all([0, 1, 2].map(scrape));
  const client = await cluster.connect();
  const x = Float64Array.from({ length: 12 }, () => Math.random() * 2 - 1);
  const p = await client.predict('ops-mlp', { data: x, shape: [1, 12] });
  const want = m.forward(x, (z) => tfe.evalPolynomial(tfe.reluPolynomial(4), z));
  for (let i = 0; i < 4; i++) t.true(Math.abs(p.data[i] - want[i]) < 2e-3);
  // A refused request: counted, and the name it gave never becomes a label.
  const junk = `nope${Math.random().toString(36).slice(2, 8)}`;
  await t.throwsAsync(client.predict(junk, { data: new Float64Array(12), shape: [1, 12] }), { message: /unknown model/ });
  await client.close();
  const after = await Promise.all([0, 1, 2].map(scrape));
  const model = { model: 'ops-mlp', protocol: 'pond' };
  for (let i = 0; i < 3; i++) {
    const [b, a] = [before[i].samples, after[i].samples];
    const who = PARTIES[i];
    t.is(value(a, 'tfe_queries_total', { ...model, outcome: 'ok' }) - value(b, 'tfe_queries_total', { ...model, outcome: 'ok' }), 1, `${who}: one prediction`);
    t.is(value(a, 'tfe_queries_total', { ...model, outcome: 'error' }), 0);
    t.is(value(a, 'tfe_query_duration_seconds_count', model) - value(b, 'tfe_query_duration_seconds_count', model), 1);
    t.true(value(a, 'tfe_query_duration_seconds_sum', model) > value(b, 'tfe_query_duration_seconds_sum', model));
    // (at least 1: a client may send more than one request for a prediction, e.g. a lease)
    t.true(value(a, 'tfe_requests_refused_total') - value(b, 'tfe_requests_refused_total') >= 1, `${who}: the unknown model was refused`);
    t.true(value(a, 'tfe_net_received_bytes_total', { peer: 'client' }) > value(b, 'tfe_net_received_bytes_total', { peer: 'client' }), `${who}: the client's shares arrived`);
    t.true(value(a, 'tfe_net_sent_bytes_total', { peer: 'client' }) > value(b, 'tfe_net_sent_bytes_total', { peer: 'client' }), `${who}: answered the client`);
    t.is(value(a, 'tfe_deploys_total', { protocol: 'pond', outcome: 'ok' }), 1);
    t.is(value(a, 'tfe_models'), 1);
    t.is(value(a, 'tfe_ready'), 1);
    for (const peer of PARTIES.filter((s) => s !== who)) t.is(value(a, 'tfe_peer_connected', { peer }), 1);
    // A TLS cluster's links each have their lane.
    for (const peer of PARTIES.filter((s) => s !== who)) t.is(value(a, 'tfe_peer_lane', { peer }), 1);
    t.is(value(a, 'tfe_server_info', { party: who, version: tfe.info().version }), 1);
    t.true(value(a, 'process_resident_memory_bytes') > 1 << 20);
    t.true(value(a, 'nodejs_heap_used_bytes') > 0);
    t.is(value(a, 'tfe_connections', { peer: 'server' }), 2);
    // Never exported: the epoch id, and what a client sent.
    t.false(after[i].text.includes(epoch), `${who}: the epoch id is not in /metrics`);
    t.false(after[i].text.includes(junk), `${who}: a client's model name is not in /metrics`);
  }
  // server0 and server1 compute online (rounds, bytes between them); a pooled batch-1 Pond query
  // has server2's side shipped ahead, so its pool moves instead.
  for (const i of [0, 1]) {
    t.true(value(after[i].samples, 'tfe_query_rounds_total', model) > value(before[i].samples, 'tfe_query_rounds_total', model), `${PARTIES[i]}: rounds`);
    t.true(value(after[i].samples, 'tfe_query_sent_bytes_total', model) > value(before[i].samples, 'tfe_query_sent_bytes_total', model));
  }
  // Prometheus's own checker, where it is installed (Debian's prometheus package has it): no error, no lint warning.
  const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  if (promtool.error) t.log(`promtool not found (${promtool.error.message}): only this file's reader checked the format`);
  else
    for (let i = 0; i < 3; i++) {
      const r = spawnSync('promtool', ['check', 'metrics'], { input: after[i].text, encoding: 'utf8' });
      t.is(r.status, 0, `promtool on ${PARTIES[i]}: ${r.stdout}${r.stderr}`);
      t.is(`${r.stdout}${r.stderr}`.trim(), '', `promtool's lint on ${PARTIES[i]}`);
    }
  await until(async () => value((await scrape(2)).samples, 'tfe_pool_recorded_total') > 0, "server2's pool");
  t.true(value((await scrape(2)).samples, 'tfe_pool_replayed_total') >= 1, 'the batch-1 query used the pool');
});

test.serial('json logs: every server line parses and carries time, level, party, event and fields', (t) => {
  const records = cluster.logs.map((l) => {
    try {
      return JSON.parse(l) as LogRecord;
    } catch {
      throw new Error(`not a JSON line: ${l}`);
    }
  });
  t.true(records.length > 6);
  const events = new Set<string>();
  for (const r of records) {
    t.deepEqual(Object.keys(r).sort(), ['event', 'fields', 'level', 'msg', 'party', 'time']);
    t.true(PARTIES.includes(r.party as 'server0'));
    t.false(Number.isNaN(Date.parse(r.time)));
    t.true(r.event in LOG_EVENTS, r.event);
    t.not(r.event, 'message', `every server line says what it is: ${r.msg}`);
    t.is(r.level, LOG_EVENTS[r.event]);
    t.is(typeof r.fields, 'object');
    events.add(`${r.party}:${r.event}`);
  }
  for (const p of PARTIES) for (const e of ['listening', 'metrics-listening', 'cluster-ready', 'model-deployed', 'request-refused']) t.true(events.has(`${p}:${e}`), `${p}:${e}`);
  const listening = records.find((r) => r.party === 'server1' && r.event === 'metrics-listening')!;
  t.is(listening.fields.address, `127.0.0.1:${ports[1]}`);
  const refused = records.find((r) => r.event === 'request-refused')!;
  t.regex(String(refused.fields.reason), /unknown model/);
});

test.serial('/healthz turns 503 with the reason when a peer goes, and 200 when it is back', async (t) => {
  cluster.procs.get('server1')!.child.kill('SIGKILL');
  await cluster.procs.get('server1')!.exited;
  await until(async () => (await httpGet('127.0.0.1', ports[0], '/healthz')).status === 503, "server0's health to fall");
  t.is((await httpGet('127.0.0.1', ports[0], '/healthz')).body, 'not ready: server0 is not connected to server1\n');
  const s = (await scrape(0)).samples;
  t.is(value(s, 'tfe_ready'), 0);
  t.is(value(s, 'tfe_peer_connected', { peer: 'server1' }), 0);
  t.is(value(s, 'tfe_peer_connected', { peer: 'server2' }), 1);
  t.is(value(s, 'tfe_peer_lane', { peer: 'server1' }), 0);
  cluster.restart('server1');
  await cluster.ready();
  for (let i = 0; i < 3; i++) t.is((await httpGet('127.0.0.1', ports[i], '/healthz')).status, 200, PARTIES[i]);
});

test.serial('a query that runs past queryTimeoutMs counts as outcome="timeout" on every server', async (t) => {
  // Deployed under the usual timeout, then the cluster restarts with a 1 s one (models persist).
  // The query must have started on every server before it times out (with 100 ms, a loaded
  // machine let server0's abort reach server2 before the query did, and server2 counted nothing),
  // and must not finish within the second on any machine: a large query (about 0.9 s on 2 idle
  // cores on one machine, 3 s on another), and server1 stopped (SIGSTOP) once all three run it, so
  // that it cannot finish however fast the machine, until server0 and server2 have timed out.
  const m = mlp([64, 512, 512, 10]);
  const owner = await cluster.connect({ asOwner: true });
  await owner.deploy(m.file, { name: 'ops-slow', protocol: 'securenn' });
  await owner.close();
  const config = JSON.parse(fs.readFileSync(cluster.config, 'utf8')) as Record<string, unknown>;
  fs.writeFileSync(cluster.config, JSON.stringify({ ...config, queryTimeoutMs: 1000 }));
  for (const p of PARTIES) {
    cluster.procs.get(p)!.child.kill('SIGTERM');
    await cluster.procs.get(p)!.exited;
  }
  for (const p of PARTIES) cluster.restart(p);
  await cluster.ready();
  const client = await cluster.connect();
  const slow = { model: 'ops-slow', protocol: 'securenn' };
  const server1 = cluster.procs.get('server1')!.child;
  const answer = client.predict('ops-slow', { data: Float64Array.from({ length: 1024 * 64 }, () => Math.random() - 0.5), shape: [1024, 64] });
  answer.catch(() => undefined);
  try {
    await until(async () => (await Promise.all([0, 1, 2].map(scrape))).every((m) => value(m.samples, 'tfe_queries_running') >= 1), 'the query to run on every server', 20_000, 10);
    server1.kill('SIGSTOP');
    for (const i of [0, 2]) await until(async () => value((await scrape(i)).samples, 'tfe_queries_total', { ...slow, outcome: 'timeout' }) === 1, `${PARTIES[i]}'s timeout to be counted`);
  } finally {
    server1.kill('SIGCONT');
  }
  await t.throwsAsync(answer, { message: /timed out after 1000 ms/ });
  await client.close();
  await until(async () => value((await scrape(1)).samples, 'tfe_queries_total', { ...slow, outcome: 'timeout' }) === 1, "server1's timeout to be counted");
  for (let i = 0; i < 3; i++) {
    const s = (await scrape(i)).samples;
    t.is(value(s, 'tfe_queries_total', { ...slow, outcome: 'ok' }), 0);
    t.is(value(s, 'tfe_queries_total', { ...slow, outcome: 'error' }), 0, PARTIES[i]);
    t.is(value(s, 'tfe_query_duration_seconds_count', slow), 1);
  }
});

const runServer = (args: string[]) => spawnSync(process.execPath, [tfeCli(), 'server', '--party', 'server0', ...args], { encoding: 'utf8', timeout: 60_000 });

test.serial('tfe server refuses a bad --metrics, a bad --log-format and a metrics port in use, saying why', async (t) => {
  let r = runServer(['--metrics', '127.0.0.1:99999']);
  t.is(r.status, 1);
  t.regex(r.stderr, /tfe: --metrics: the port in "127\.0\.0\.1:99999" must be an integer in \[1, 65535\]/);
  r = runServer(['--metrics', 'http://x:1']);
  t.regex(r.stderr, /tfe: --metrics: "http:\/\/x:1" is not an address to listen on: use PORT/);
  r = runServer(['--log-format', 'xml']);
  t.is(r.status, 1);
  t.regex(r.stderr, /tfe: --log-format must be "text" or "json", got "xml"/);
  // A port another process holds: the server stops before it joins the cluster.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-ops-'));
  const holder = net.createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
  try {
    const config = await tfe.writeLocalConfig(dir, { tls: false });
    const port = (holder.address() as net.AddressInfo).port;
    r = runServer(['--config', config, '--metrics', `127.0.0.1:${port}`]);
    t.is(r.status, 1);
    // The config loaded, so the failure is a line of the server's log (text here).
    t.regex(r.stderr, new RegExp(`\\[tfe server0\\] cannot start: cannot listen for metrics on 127\\.0\\.0\\.1:${port}: the port is in use`));
    // --insecure on a TLS cluster had no effect, silently: refused, saying why.
    r = runServer(['--config', cluster.config, '--insecure']);
    t.is(r.status, 1);
    t.regex(r.stderr, /--insecure is for plain ws clusters; .* uses TLS \('ca' or pinned fingerprints\), where it has no effect/);
  } finally {
    holder.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.serial('a server that cannot start says so as a JSON line when its log is JSON: from the flag, or from the config', async (t) => {
  const jsonLines = (stderr: string): LogRecord[] => stderr.trim().split('\n').map((l) => JSON.parse(l) as LogRecord);
  // The flag alone: a bad --metrics is read after it, so the whole of stderr is one JSON line.
  let r = runServer(['--log-format', 'json', '--metrics', '127.0.0.1:99999']);
  t.is(r.status, 1);
  let lines = jsonLines(r.stderr);
  t.is(lines.length, 1, r.stderr);
  t.like(lines[0], { level: 'error', party: 'server0', event: 'fatal', fields: { during: 'start' } });
  t.regex(lines[0].msg, /^cannot start: --metrics: the port in "127\.0\.0\.1:99999" must be an integer/);
  t.is(lines[0].fields.reason, lines[0].msg.slice('cannot start: '.length));
  // The config's log.format, no flag: server0's own port is held by another process.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-ops-'));
  const holder = net.createServer();
  try {
    const file = await tfe.writeLocalConfig(dir, { tls: false });
    const config = JSON.parse(fs.readFileSync(file, 'utf8'));
    config.log = { format: 'json' };
    fs.writeFileSync(file, JSON.stringify(config));
    await new Promise<void>((res, rej) => holder.once('error', rej).listen(config.parties.server0.port, '127.0.0.1', () => res()));
    r = runServer(['--config', file]);
    t.is(r.status, 1);
    lines = jsonLines(r.stderr); // every line is JSON, or this throws
    t.like(lines.at(-1), { level: 'error', event: 'fatal', fields: { during: 'start' } });
    t.regex(lines.at(-1)!.msg, /EADDRINUSE/);
    t.deepEqual(lines.filter((l) => l.level === 'error').map((l) => l.event), ['fatal'], 'the failure once, not also as a listener-error');
    t.false(r.stderr.includes('tfe: '), 'no plain line');
  } finally {
    holder.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  // No format known (no flag, no config to read it from): the plain line.
  r = runServer(['--config', path.join(dir, 'missing.json')]);
  t.is(r.status, 1);
  t.regex(r.stderr, /^tfe: /);
});
