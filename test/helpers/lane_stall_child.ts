// Run by test/lane_stall.test.ts inside a network namespace of its own: two lane pairs over that
// namespace's loopback, one with a short TCP user timeout and one with none (the control, as a
// lane was before the option). It prints {"ready": ...} with the timeouts the kernel holds, waits
// for "go" on stdin (the test has taken the loopback down by then, so nothing sent is ever
// acknowledged), writes one record on each pair, and prints when and why each lane closed, if it
// did within `watchMs`.
import { randomBytes } from 'node:crypto';
import * as readline from 'node:readline';

import { getBackend } from '../../lib/backend/backends';
import { type Lane, socketFd } from '../../lib/net/lane';
import { lanePair } from './lane_pair';

const [userTimeoutMs, watchMs] = process.argv.slice(2).map(Number);

/** A lane pair whose sending lane notes when and why it closed. */
async function pair(timeoutMs: number): Promise<{ send: Lane; closed: { ms?: number; why?: string } }> {
  const { send } = await lanePair({ userTimeoutMs: timeoutMs });
  const closed: { ms?: number; why?: string } = {};
  send.attach({ onRecord: () => undefined, onClose: (why) => Object.assign(closed, { ms: performance.now() - start, why }) });
  return { send, closed };
}

let start = 0;
void (async () => {
  getBackend(); // load the addon before the clock starts
  const timed = await pair(userTimeoutMs);
  const control = await pair(0);
  const held = (l: Lane) => getBackend().native.tcpUserTimeout(socketFd(l.socket)!);
  console.log(JSON.stringify({ ready: true, timed: held(timed.send), control: held(control.send) }));
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) if (line.trim() === 'go') break;
  start = performance.now();
  for (const p of [timed, control]) p.send.write([randomBytes(64 << 10)]);
  await new Promise((r) => setTimeout(r, watchMs));
  console.log(JSON.stringify({ timed: timed.closed, control: control.closed }));
  process.exit(0);
})();
