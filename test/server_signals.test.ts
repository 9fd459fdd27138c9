// Signals to a server (from a review): a SIGHUP while `tfe server` is starting killed it (Node's
// default, before its reload handler was set); a second SIGTERM during the graceful stop, while a
// query is in flight, stops it at once instead of waiting out the query.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import test from 'ava';

import { SERVER0 } from '../lib/protocol/party';
import { tfeCli, writeLocalConfig } from '../lib/serve/local_cluster';
import { ask, rawClient, until, withOwnerCluster } from './helpers/hostile_client';
import { mlp } from './helpers/model_files';

test('a SIGHUP while tfe server starts is taken, not fatal; the server comes up', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-hup-'));
  const config = await writeLocalConfig(dir, { tls: false });
  // Before tfe's first module runs no handler can be set, and under load that lasts long: a
  // preloaded line says when a SIGHUP handler is added (stderr to a pipe is written at once), and
  // the hang-ups begin then. (Starting 10 ms after the first JavaScript lost that race on a loaded
  // CI host.) Without the early handler none is said before it listens, and too few are sent.
  const marker = path.join(dir, 'marker.js');
  fs.writeFileSync(marker, "const on = process.on; process.on = function (ev, fn) { const r = on.call(this, ev, fn); if (ev === 'SIGHUP') process.stderr.write('hup-handler\\n'); return r; };\n");
  const server = spawn(process.execPath, ['--require', marker, tfeCli(), 'server', '--party', 'server2', '--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  server.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<[number | null, NodeJS.Signals | null]>((r) => server.once('exit', (code, sig) => r([code, sig])));
  let ended: [number | null, NodeJS.Signals | null] | undefined;
  void exit.then((e) => (ended = e));
  for (let i = 0; i < 1000 && !ended && !err.includes('hup-handler') && !/listening on/.test(err); i++) await new Promise((r) => setTimeout(r, 5));
  // Hang-ups from then until it listens (the library loads in between, about 0.2 s).
  let sent = 0;
  for (let i = 0; i < 300 && !ended && !/listening on/.test(err); i++, sent++) {
    server.kill('SIGHUP');
    await new Promise((r) => setTimeout(r, 20));
  }
  t.is(ended, undefined, `ended by ${JSON.stringify(ended)} after ${sent} hang-ups`);
  t.true(sent >= 3, `${sent} hang-ups before it listened`);
  t.regex(err, /listening on/);
  server.kill('SIGTERM');
  t.deepEqual(await exit, [0, null]);
});

test('a second SIGTERM while a query is in flight stops the server at once (exit 1, said in its log)', (t) =>
  withOwnerCluster({}, async (c, owner) => {
    const m = mlp([8, 4]);
    await owner.deploy(m.file, { name: 'm', protocol: 'pond', uncalibrated: true });
    const ep = await rawClient(c);
    try {
      // Asked of server0 only: it runs the query and waits for server1 and the client's input,
      // which never come, until the query's timeout.
      void ask(ep, [SERVER0], randomUUID(), { type: 'predict', model: 'm', shape: [1, 8] }, 60_000);
      await until(async () => (await owner.status())[0].running === 1, 'the query to be running on server0');
      const s0 = c.procs.get(SERVER0)!;
      s0.child.kill('SIGTERM');
      await until(async () => c.logs.some((l) => /server0.*shutting down: refusing new requests, 1 in flight/.test(l)), 'server0 to start its graceful stop');
      await new Promise((r) => setTimeout(r, 1000));
      t.is(s0.child.exitCode, null, 'the first SIGTERM waits for the query');
      const t0 = Date.now();
      s0.child.kill('SIGTERM');
      t.is(await s0.exited, 1);
      t.true(Date.now() - t0 < 3000, `stopped ${Date.now() - t0} ms after the second SIGTERM`);
      t.true(c.logs.some((l) => /SIGTERM again: stopping at once/.test(l)), 'the log says why');
    } finally {
      await ep.close();
    }
  }));
