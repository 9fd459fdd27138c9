// A lane whose sent data is never acknowledged (an on-path box dropping a busy lane's packets, a
// peer host gone without a reset) ends after its TCP user timeout (LANE_USER_TIMEOUT_MS), not
// after TCP's retransmission timeout of about 15 minutes. Two lane pairs run in a child process
// inside a network namespace made here; the test takes that namespace's loopback down, so
// nothing sent is acknowledged. The lane with a 1 s user timeout closes within seconds; the
// control, a lane with the option cleared (as lanes were before it), is still open 6 s after its
// write. Skips, saying why, where namespaces cannot be made (not Linux, not root, no `ip`).
// Also: every lane holds the timeout, and a socket that refuses the option still makes a lane.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';

import test from 'ava';

import { getBackend } from '../lib/backend/backends';
import { Lane, LANE_USER_TIMEOUT_MS, setUserTimeout, socketFd } from '../lib/net/lane';
import { MAX_FRAME_BYTES } from '../lib/net/wire';
import { lanePair } from './helpers/lane_pair';

const NS = `tfels${process.pid % 100000}`;
const TIMED_MS = 1000;
const WATCH_MS = TIMED_MS + 5000;

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Makes the namespace (its loopback up); returns why not, if it cannot. */
function makeNamespace(): string | undefined {
  if (process.platform !== 'linux') return `TCP_USER_TIMEOUT and network namespaces are Linux-only (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'making a network namespace needs root';
  try {
    ip('netns', 'add', NS);
    ip('-n', NS, 'link', 'set', 'lo', 'up');
  } catch (e) {
    removeNamespace();
    return `cannot make a network namespace: ${(e as Error).message.split('\n')[0]}`;
  }
  return undefined;
}

function removeNamespace(): void {
  try {
    ip('netns', 'del', NS);
  } catch {
    // not made, or gone already
  }
}

test('every lane holds the user timeout; setUserTimeout refuses what is not a descriptor', async (t) => {
  const p = await lanePair();
  t.teardown(() => (p.send.close('done'), p.recv.close('done')));
  const fd = socketFd(p.raw)!;
  const held = getBackend().native.tcpUserTimeout(fd);
  if (held < 0) return t.log(`no TCP_USER_TIMEOUT on ${process.platform}: not checked`);
  t.is(held, LANE_USER_TIMEOUT_MS);
  t.is(p.send.userTimeoutMs, LANE_USER_TIMEOUT_MS);
  t.is(setUserTimeout(p.raw, 2500), 2500);
  t.throws(() => getBackend().native.tcpUserTimeout(-1, 1000), { message: /fd: integer >= 0/ });
  t.throws(() => getBackend().native.tcpUserTimeout(fd, -5), { message: /ms\?: integer/ });
  t.throws(() => getBackend().native.tcpUserTimeout(0x7fff0000, 1000), { message: /cannot set TCP_USER_TIMEOUT on fd \d+: Bad file descriptor/ });
});

test('a lane over a socket that refuses the option (a Unix socket) still carries records, without a user timeout', async (t) => {
  if (process.platform !== 'linux') return t.log(`TCP_USER_TIMEOUT is Linux-only (this is ${process.platform}): not checked`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-lane-'));
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(path.join(dir, 's'), r));
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const raw = net.connect(path.join(dir, 's'));
  t.teardown(() => (raw.destroy(), server.close(), fs.rmSync(dir, { recursive: true, force: true })));
  await new Promise((r) => raw.once('connect', r));
  const other = await accepted;
  t.teardown(() => other.destroy());
  t.throws(() => getBackend().native.tcpUserTimeout(socketFd(raw)!, 1000), { message: /cannot set TCP_USER_TIMEOUT on fd \d+: Operation not supported/ });
  const keys = { id: randomBytes(16), send: randomBytes(16), recv: randomBytes(16) };
  const send = new Lane(raw, keys, MAX_FRAME_BYTES);
  const recv = new Lane(other, { id: keys.id, send: keys.recv, recv: keys.send }, MAX_FRAME_BYTES);
  t.is(send.userTimeoutMs, undefined);
  const got = new Promise<string>((r) => recv.attach({ onRecord: (b) => r(Buffer.from(b).toString()), onClose: () => undefined }));
  send.write([Buffer.from('over a Unix socket')]);
  t.is(await got, 'over a Unix socket');
});

test('a lane whose data is never acknowledged closes after its user timeout; one without the option stays open', async (t) => {
  const why = makeNamespace();
  if (why) return t.log(`skipped: ${why}`);
  t.teardown(removeNamespace);
  const child = spawn('ip', ['netns', 'exec', NS, process.execPath, path.join(__dirname, 'helpers', 'lane_stall_child.js'), String(TIMED_MS), String(WATCH_MS)], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.teardown(() => child.kill());
  const lines = readline.createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async () => JSON.parse((await lines.next()).value as string) as Record<string, { ms?: number; why?: string } | number | boolean>;
  const ready = await next();
  t.deepEqual(ready, { ready: true, timed: TIMED_MS, control: 0 });
  ip('-n', NS, 'link', 'set', 'lo', 'down'); // from here nothing sent inside the namespace is acknowledged
  child.stdin!.write('go\n');
  const { timed, control } = (await next()) as Record<string, { ms?: number; why?: string }>;
  t.log(`timed lane closed after ${timed.ms?.toFixed(0)} ms (${timed.why}); control: ${control.why ?? 'open'}`);
  t.regex(timed.why ?? 'still open', /ETIMEDOUT/);
  t.true(timed.ms! >= TIMED_MS && timed.ms! < TIMED_MS + 3000, `closed ${timed.ms} ms after the write`);
  t.is(control.why, undefined, 'the lane without the option is still open');
});
