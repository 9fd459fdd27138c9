// A server whose log reader goes away keeps serving (it exited 0 at its next line, its queries
// dropped and no supervisor restarting it); `tfe cluster --local` fails, naming the server, when
// one of its servers ends by itself (it exited 0 without a word). Both from a review.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import test from 'ava';

import { tfeCli, writeLocalConfig } from '../lib/serve/local_cluster';

const exited = (c: ChildProcess) => new Promise<number | null>((r) => c.once('exit', (code) => r(code)));
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('tfe server goes on serving when its log pipe closes, and stops cleanly on SIGTERM', async (t) => {
  const config = await writeLocalConfig(fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-epipe-')), { tls: false });
  const server = spawn(process.execPath, [tfeCli(), 'server', '--party', 'server2', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  const done = exited(server);
  // The reader takes one line, then goes away (as `| head -n 1`).
  await new Promise<void>((r) => server.stderr!.once('data', () => r()));
  server.stderr!.destroy();
  server.stdout!.destroy();
  await new Promise((r) => setTimeout(r, 2500)); // it logs on (peers unreachable, retries)
  t.true(alive(server.pid!), 'still running');
  server.kill('SIGTERM');
  t.is(await done, 0);
});

test('tfe cluster --local fails naming the server that ended by itself', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-died-'));
  const cluster = spawn(process.execPath, [tfeCli(), 'cluster', '--local', '--plain', '--dir', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  cluster.stderr!.on('data', (d) => (err += d));
  const done = exited(cluster);
  try {
    for (let i = 0; i < 300 && !/cluster ready/.test(err); i++) await new Promise((r) => setTimeout(r, 100));
    t.regex(err, /cluster ready/);
    const children = execFileSync('pgrep', ['-P', String(cluster.pid)]).toString().trim().split('\n').map(Number);
    const server2 = children.find((pid) => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('server2'))!;
    process.kill(server2, 'SIGKILL');
    t.is(await done, 1);
    t.regex(err, /tfe: server2 exited \(SIGKILL\); the other servers were stopped/);
  } finally {
    if (alive(cluster.pid!)) cluster.kill('SIGKILL');
  }
});

test('a second local cluster in the folder of a running one is refused (it rewrote the config and certificates under it)', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-twice-'));
  const first = spawn(process.execPath, [tfeCli(), 'cluster', '--local', '--plain', '--dir', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  first.stderr!.on('data', (d) => (err += d));
  const done = exited(first);
  try {
    for (let i = 0; i < 300 && !/cluster ready/.test(err); i++) await new Promise((r) => setTimeout(r, 100));
    const before = fs.readFileSync(path.join(dir, 'cluster.json'), 'utf8');
    const second = await new Promise<{ code: number | null; err: string }>((resolve) => {
      const c = spawn(process.execPath, [tfeCli(), 'cluster', '--local', '--plain', '--dir', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
      let e = '';
      c.stderr!.on('data', (d) => (e += d));
      // Without the refusal it would start (and run on): stopped after 20 s, as a failure.
      const timer = setTimeout(() => c.kill('SIGTERM'), 20_000);
      c.once('exit', (code) => (clearTimeout(timer), resolve({ code, err: e })));
    });
    t.is(second.code, 1);
    t.regex(second.err, /a local cluster is running in .* \(server pids \d+, \d+, \d+\): stop it first, or use another --dir/);
    t.is(fs.readFileSync(path.join(dir, 'cluster.json'), 'utf8'), before, 'the config untouched');
  } finally {
    first.kill('SIGTERM');
    await done;
  }
});

