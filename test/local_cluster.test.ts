// Starting a local cluster (lib/serve/local_cluster.ts): a server that cannot listen ends the wait
// at once with its reason, and a port taken between choosing it and listening on it (any program
// may bind or dial from it meanwhile) is answered by starting again on fresh ports.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import test from 'ava';

import { freePorts, ServerExitedError, startLocalCluster, startLocalClusterOn, stopCluster } from '../lib/serve/local_cluster';
import { missingServerFlags, SERVER_NODE_FLAGS } from '../lib/serve/node_flags';
import { loadClusterConfig, parseClusterConfig } from '../lib/serve/config';
import { TfeServer } from '../lib/serve/server';
import { certificateLines } from '../lib/cli/provision_commands';

/** A listener holding one free loopback port, as a racing program would (it drops whoever dials). */
async function takenPort(): Promise<{ port: number; release: () => Promise<void> }> {
  const s = net.createServer((socket) => socket.destroy());
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return { port: (s.address() as net.AddressInfo).port, release: () => new Promise((r) => s.close(() => r())) };
}

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-local-cluster-'));

test('a server whose port is taken ends the wait at once, named with its reason; ports the caller chose are not replaced', async (t) => {
  const taken = await takenPort();
  const [a, c] = await freePorts(2);
  const dir = tempDir();
  try {
    // A wait of ten minutes: only the server's exit can end it within the test's timeout.
    const e = await t.throwsAsync(startLocalCluster(dir, { ports: [a, taken.port, c], tls: false, onLine: () => undefined, readyTimeoutMs: 600_000 }), { instanceOf: ServerExitedError });
    t.is((e as ServerExitedError).party, 'server1');
    t.true((e as ServerExitedError).portTaken);
    t.regex(e!.message, /server1 exited \(1\) before the cluster came up: .*EADDRINUSE/);
  } finally {
    await taken.release();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// A second server started by mistake on a running one's port used to load (and so tidy: an
// interrupted save is finished by renaming its folder) the running server's model store before
// its listen failed. It checks its ports first now, and touches nothing.
test("a server whose port is taken fails before it reads its model store, and leaves the store as it was", async (t) => {
  const taken = await takenPort();
  const [p1, p2] = await freePorts(2);
  const dir = tempDir();
  try {
    fs.writeFileSync(path.join(dir, 'secret'), 'x'.repeat(32));
    const config = parseClusterConfig({ insecure: true, clusterSecret: 'secret', parties: { server0: { host: '127.0.0.1', port: taken.port }, server1: { host: '127.0.0.1', port: p1 }, server2: { host: '127.0.0.1', port: p2 } } }, 'test', dir);
    // What a save interrupted at its last step leaves: loading the store finishes it by a rename.
    const store = path.join(dir, 'data', 'server0', 'models');
    const interrupted = path.join(store, '.tmp-0123abcd-m');
    fs.mkdirSync(interrupted, { recursive: true });
    fs.writeFileSync(path.join(interrupted, 'model.json'), '{}');
    const lines: string[] = [];
    const server = new TfeServer(config, 'server0', { log: (m: string) => lines.push(m) });
    await t.throwsAsync(server.start(), { message: new RegExp(`cannot listen on 127\\.0\\.0\\.1:${taken.port} \\(parties\\.server0\\.port\\): .*EADDRINUSE.*: the port is in use \\(is this server running already\\?\\)`) });
    await server.stop();
    t.deepEqual(fs.readdirSync(store), ['.tmp-0123abcd-m'], 'the store is untouched');
    t.deepEqual(lines.filter((l) => /model/.test(l)), [], lines.join('\n'));
  } finally {
    await taken.release();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a port taken before its server listens: the cluster starts again on fresh ports and serves, its servers with their Node flags', async (t) => {
  const taken = await takenPort();
  const dir = tempDir();
  const picked: number[][] = [];
  try {
    const cluster = await startLocalClusterOn(dir, { tls: false, onLine: () => undefined }, async (attempt) => {
      const ports = attempt === 1 ? [...(await freePorts(2)), taken.port] : await freePorts(3);
      picked.push(ports);
      return ports;
    });
    try {
      t.is(picked.length, 2, 'one more attempt');
      t.is(loadClusterConfig(cluster.config).parties.server2.port, picked[1][2], 'the config names the fresh ports');
      t.true(cluster.procs.every((p) => p.child.exitCode === null), 'all three running');
      // Each server's V8 heap as configured (local_cluster.ts SERVER_NODE_FLAGS): read back from
      // the running process, not from what was asked for.
      for (const p of cluster.procs) {
        const argv = fs.readFileSync(`/proc/${p.child.pid}/cmdline`, 'utf8').split('\0');
        t.true(argv.includes('--initial-old-space-size=64'), argv.join(' '));
      }
    } finally {
      await stopCluster(cluster.procs);
    }
  } finally {
    await taken.release();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a fresh local cluster under TLS: no server warns that its certificate expires, nor does tfe status', async (t) => {
  const dir = tempDir();
  const lines: string[] = [];
  try {
    const cluster = await startLocalCluster(dir, { onLine: (l) => lines.push(l) });
    try {
      const status = await certificateLines(cluster.config);
      t.is(status.length, 3, status.join('\n'));
      for (const l of status) t.regex(l, /certificate expires \d{4}-\d\d-\d\d \(in \d+ days\); sha256/);
      t.false(status.some((l) => /WARNING/.test(l)), status.join('\n'));
      t.deepEqual(lines.filter((l) => /expires/.test(l)), [], 'the servers logged no expiry warning');
      // A config whose server1 address answers with server0's certificate (swapped between
      // hosts): trusted, yet not server1's, and tfe status says so (it said nothing).
      const swapped = JSON.parse(fs.readFileSync(cluster.config, 'utf8'));
      swapped.parties.server1.port = swapped.parties.server0.port;
      const swappedFile = path.join(dir, 'swapped.json');
      fs.writeFileSync(swappedFile, JSON.stringify(swapped));
      const mixed = await certificateLines(swappedFile);
      t.regex(mixed[1], /^server1 certificate expires .* WARNING: it is the certificate of 'server0', not server1's$/, mixed.join('\n'));
      t.notRegex(mixed[0], /WARNING/);
    } finally {
      await stopCluster(cluster.procs);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('missingServerFlags: a flag counts as given at any value and in either spelling', (t) => {
  t.deepEqual(missingServerFlags([]), [...SERVER_NODE_FLAGS]);
  t.deepEqual(missingServerFlags(['--enable-source-maps']), ['--initial-old-space-size=64']);
  t.deepEqual(missingServerFlags(['--initial-old-space-size=64']), []);
  t.deepEqual(missingServerFlags(['--initial-old-space-size=256']), [], "the operator's own value");
  t.deepEqual(missingServerFlags(['--initial_old_space_size=64']), [], "V8's underscore spelling");
  t.deepEqual(missingServerFlags(['--initial-old-space-sizes=64']), ['--initial-old-space-size=64'], 'another flag');
});
