// Three servers on three "hosts", run by three operators: each server in a network namespace of
// its own, the model owner and the client in a fourth, joined by a bridge in a fifth (all made
// here, with addresses 10.77.0.x that exist only inside them, and all removed at the end, also
// after a failure). Each operator makes its own key and self-signed certificate for its address
// (`tfe certs request --self-signed`), writes its cluster.json from `tfe cluster --init` with the
// others' fingerprints pinned, and `tfe doctor` checks a host; then the owner deploys one model
// per protocol, the client predicts, a server is killed and restarted in its namespace, and the
// models survive; last, server2's certificate is rotated without a restart (SIGHUP) and the
// cluster keeps serving on the links it had. Skips, saying why, where namespaces cannot be made (not root, no `ip`).
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

import test from 'ava';

import { tfeCli } from '../lib/serve/local_cluster';
import { PROTOCOLS } from '../lib/protocol/protocols';

const run = promisify(execFile);
const TAG = `tfemh${process.pid % 100000}`;
const HOSTS = ['s0', 's1', 's2', 'c'].map((h) => `${TAG}${h}`);
const HUB = `${TAG}hub`;
const ADDR = ['10.77.0.1', '10.77.0.2', '10.77.0.3', '10.77.0.10'];
const SERVERS = ['server0', 'server1', 'server2'];
const PORT = 7400;

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function removeNamespaces(): void {
  for (const ns of [...HOSTS, HUB]) {
    try {
      ip('netns', 'del', ns);
    } catch {
      // not made, or gone already
    }
  }
}

/** Makes the namespaces, the bridge and one veth pair per host; returns why not, if it cannot. */
function makeNamespaces(): string | undefined {
  if (process.platform !== 'linux') return `network namespaces are Linux-only (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'making network namespaces needs root';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return "the 'ip' command (iproute2) is not installed";
  }
  try {
    ip('netns', 'add', HUB);
    ip('-n', HUB, 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', HUB, 'link', 'set', 'br0', 'up');
    HOSTS.forEach((ns, i) => {
      ip('netns', 'add', ns);
      ip('-n', HUB, 'link', 'add', `p${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
      ip('-n', HUB, 'link', 'set', `p${i}`, 'master', 'br0', 'up');
      ip('-n', ns, 'addr', 'add', `${ADDR[i]}/24`, 'dev', 'eth0');
      ip('-n', ns, 'link', 'set', 'eth0', 'up');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    });
    return undefined;
  } catch (e) {
    removeNamespaces();
    return `could not make network namespaces: ${((e as { stderr?: Buffer }).stderr?.toString() || (e as Error).message).trim()}`;
  }
}

const why = makeNamespaces();
// Whatever happens to the test, the namespaces go (a crash included: exit handlers run sync).
process.on('exit', removeNamespaces);

const procs = new Map<string, { child: ChildProcess; exited: Promise<unknown> }>();
const logs: string[] = [];
const dir = why ? '' : fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-multihost-'));

test.after.always(() => {
  for (const p of procs.values()) p.child.kill('SIGKILL');
  removeNamespaces();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** Runs the tfe CLI inside a namespace (or here with ns undefined). */
function tfe(ns: string | undefined, args: string[], timeout = 60_000): Promise<{ stdout: string; stderr: string }> {
  const cmd = [process.execPath, tfeCli(), ...args];
  return ns ? run('ip', ['netns', 'exec', ns, ...cmd], { timeout }) : run(cmd[0], cmd.slice(1), { timeout });
}

function startServer(i: number): void {
  const host = path.join(dir, `host${i}`);
  const child = spawn('ip', ['netns', 'exec', HOSTS[i], process.execPath, tfeCli(), 'server', '--party', SERVERS[i], '--config', path.join(host, 'cluster.json')], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MALLOC_ARENA_MAX: '2', TFE_DEVICE: 'cpu' } });
  for (const s of [child.stdout!, child.stderr!]) s.on('data', (d: Buffer) => logs.push(...d.toString().trim().split('\n').map((l) => `[ns ${i}] ${l}`)));
  procs.set(SERVERS[i], { child, exited: new Promise((r) => child.once('exit', r)) });
}

async function client(command: string): Promise<{ ok: boolean; error?: string; epoch?: string; models?: string[]; results: { protocol: string; maxError: number; latencyMs: number }[] }> {
  const helper = path.join(__dirname, 'helpers', 'multihost_client.js');
  const r = await run('ip', ['netns', 'exec', HOSTS[3], process.execPath, helper, command, path.join(dir, 'hostc', 'cluster.json'), path.join(dir, 'state.json')], { timeout: 120_000, env: { ...process.env, TFE_DEVICE: 'cpu' } }).catch((e: { stdout?: string; stderr?: string; message: string }) => ({ stdout: e.stdout || JSON.stringify({ ok: false, error: `${e.message} ${e.stderr ?? ''}` }), stderr: '' }));
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

if (why) {
  test.skip(`multihost: three servers in three network namespaces (skipped: ${why})`, () => undefined);
  console.log(`multihost.test: skipped: ${why}`);
} else {
  test('multihost: three operators, three namespaces, pinned certificates; deploy and predict under every protocol; a server killed and restarted keeps its models; a certificate rotated by SIGHUP without a restart', async (t) => {
    t.timeout(150_000);
    const t0 = Date.now();
    const hostDirs = [0, 1, 2].map((i) => path.join(dir, `host${i}`));
    // 1. Each operator, on its own host: a key (0600) and a self-signed certificate for its address.
    const made = await Promise.all([
      ...SERVERS.map((s, i) => tfe(undefined, ['certs', 'request', '--party', s, '--host', ADDR[i], '--out', hostDirs[i], '--self-signed'])),
      tfe(undefined, ['certs', 'request', '--party', 'model-owner', '--out', path.join(dir, 'hostc'), '--self-signed']),
    ]);
    const pins = made.map((m) => /fingerprint to pin \(.*\): ([0-9A-F:]{95})/.exec(m.stdout)![1]);
    for (const [i, d] of hostDirs.entries()) t.is(fs.statSync(path.join(d, `${SERVERS[i]}.key`)).mode & 0o777, 0o600);
    // 2. Each writes its cluster.json from the skeleton and fills in the fingerprints it was sent.
    const hosts = SERVERS.flatMap((s, i) => [`--${s}`, `${ADDR[i]}:${PORT + i}`]);
    const parties = [...SERVERS, 'model-owner'];
    await Promise.all([...hostDirs, path.join(dir, 'hostc')].map(async (d, i) => {
      const file = path.join(d, 'cluster.json');
      await tfe(undefined, ['cluster', '--init', '--out', file, '--party', parties[i], ...hosts]);
      let text = fs.readFileSync(file, 'utf8');
      parties.forEach((p, j) => (text = text.replace(new RegExp(`"<sha256 of (${p}'s|the model owner's) certificate[^"]*"`), JSON.stringify(pins[j]))));
      const c = JSON.parse(text);
      c.queryTimeoutMs = 60_000;
      fs.writeFileSync(file, JSON.stringify(c, null, 2));
    }));
    // 3. Start each server in its namespace; doctor on server1's host sees its peers trusted.
    [0, 1, 2].forEach(startServer);
    const doc = await (async () => {
      for (let k = 0; ; k++) {
        const r = await tfe(HOSTS[1], ['doctor', '--config', path.join(hostDirs[1], 'cluster.json'), '--party', 'server1', '--timeout', '3000']).then((x) => ({ code: 0, out: x.stdout }), (e: { code: number; stdout: string }) => ({ code: e.code, out: e.stdout }));
        if (r.code === 0 || k >= 20) return r;
        await new Promise((res) => setTimeout(res, 500));
      }
    })();
    t.is(doc.code, 0, doc.out);
    t.regex(doc.out, /ok +peer server0 identity +sha256 .*trusted by its pin/);
    t.regex(doc.out, /ok +peer server2 service +server2 at 10\.77\.0\.3:7402 answers as a tfe server/);
    // server1 dials server2, so it checks server2's lane port (any free port there) from its host.
    t.regex(doc.out, /ok +peer server2 lane +10\.77\.0\.3:\d+ is reachable/);
    t.notRegex(doc.out, /peer server0 lane/);
    // 4. Deploy under every protocol and predict, from the owner's and client's namespace.
    const first = await client('deploy');
    t.true(first.ok, `${first.error}\n${logs.join('\n')}`);
    for (const r of first.results ?? []) t.true(r.maxError < 2e-3, `${r.protocol}: off by ${r.maxError}`);
    t.deepEqual((first.results ?? []).map((r) => r.protocol), [...PROTOCOLS]);
    // The servers talk over the namespaces' addresses, not loopback.
    t.true(logs.some((l) => /\[ns 1\].*listening on 10\.77\.0\.2:7401 \(mutual TLS, pinned fingerprints/.test(l)), logs.join('\n'));
    // 5. Kill server1 in its namespace and start it again: the models survive and predict the same.
    const s1 = procs.get('server1')!;
    s1.child.kill('SIGKILL');
    await s1.exited;
    startServer(1);
    const again = await client('predict');
    t.true(again.ok, `${again.error}\n${logs.join('\n')}`);
    t.deepEqual(again.models?.sort(), ['mlp-fss', 'mlp-pond', 'mlp-securenn']);
    t.not(again.epoch, first.epoch);
    for (const r of again.results ?? []) t.true(r.maxError < 2e-3, `${r.protocol} after the restart: off by ${r.maxError}`);
    t.true(logs.some((l) => /\[ns 1\].*loaded 3 deployed model\(s\)/.test(l)), logs.join('\n'));
    // `tfe status` from the client's namespace reports each server's certificate expiry.
    const st = await tfe(HOSTS[3], ['status', '--config', path.join(dir, 'hostc', 'cluster.json')]);
    for (const s of SERVERS) t.regex(st.stdout, new RegExp(`${s} certificate expires \\d{4}-\\d\\d-\\d\\d \\(in 36[45] days\\); sha256`));
    // 6. Rotate server2's certificate without a restart: everyone pins old and new (SIGHUP), then
    // server2 switches to the new files (SIGHUP). New connections get the new certificate; the
    // links already up carry on (the cluster is not set up again: same epoch).
    const fresh = await tfe(undefined, ['certs', 'request', '--party', 'server2', '--host', ADDR[2], '--out', path.join(hostDirs[2], 'next'), '--self-signed']);
    const next = /fingerprint to pin \(.*\): ([0-9A-F:]{95})/.exec(fresh.stdout)![1];
    const edit = (d: string, f: (c: { parties: Record<string, Record<string, unknown>> }) => void) => {
      const file = path.join(d, 'cluster.json');
      const c = JSON.parse(fs.readFileSync(file, 'utf8'));
      f(c);
      fs.writeFileSync(file, JSON.stringify(c, null, 2));
    };
    const reloaded = async (i: number, re: RegExp, from: number) => {
      for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) if (logs.slice(from).some((l) => l.startsWith(`[ns ${i}]`) && re.test(l))) return true;
      return false;
    };
    let mark = logs.length;
    for (const d of [...hostDirs, path.join(dir, 'hostc')]) edit(d, (c) => (c.parties.server2.fingerprint = [pins[2], next]));
    for (const s of SERVERS) procs.get(s)!.child.kill('SIGHUP');
    for (const i of [0, 1, 2]) t.true(await reloaded(i, /TLS reloaded \(.*\): new connections use certificate .*and the new pins/, mark), `server${i} took the new pins\n${logs.join('\n')}`);
    mark = logs.length;
    edit(hostDirs[2], (c) => Object.assign(c.parties.server2, { cert: 'next/server2.pem', key: 'next/server2.key' }));
    procs.get('server2')!.child.kill('SIGHUP');
    t.true(await reloaded(2, new RegExp(`TLS reloaded \\(.*\\): new connections use certificate sha256 ${next}`), mark), logs.join('\n'));
    const rotated = await client('predict');
    t.true(rotated.ok, `${rotated.error}\n${logs.join('\n')}`);
    t.is(rotated.epoch, again.epoch, 'the servers kept their links through the rotation');
    for (const r of rotated.results ?? []) t.true(r.maxError < 2e-3, `${r.protocol} after the rotation: off by ${r.maxError}`);
    const st2 = await tfe(HOSTS[3], ['status', '--config', path.join(dir, 'hostc', 'cluster.json')]);
    t.regex(st2.stdout, new RegExp(`server2 certificate expires .*; sha256 ${next}`));
    t.false(logs.some((l) => /refus/.test(l) && /not trusted|no valid certificate/.test(l)), logs.join('\n'));
    t.log(`multihost: ${((Date.now() - t0) / 1000).toFixed(1)} s; latency ${first.results.map((r) => `${r.protocol} ${r.latencyMs.toFixed(0)} ms`).join(', ')}`);
    await Promise.all([...procs.values()].map(async (p) => {
      p.child.kill('SIGTERM');
      await p.exited;
    }));
  });
}
