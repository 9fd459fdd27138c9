// The input deadline on a busy server: an input already in the socket when a held event loop
// passes the deadline is taken, not aborted. The control, a plain timer (the deadline as it was),
// aborts in the same schedule: the timer's turn comes before the socket is read. That aborted one
// honest query in about 24 of a loaded burst (test/service_input_holds.test.ts, 150 ms deadline).
import { once } from 'node:events';
import net from 'node:net';

import test from 'ava';

import { type InputDeadline, inputDeadline } from '../lib/serve/input_deadline';

const MS = 100;

/** The deadline as it was: a timer that aborts when it fires. */
function plainTimer(ms: number, abort: (reason: string) => void): InputDeadline {
  let timer: NodeJS.Timeout | undefined;
  return { awaited: () => void (timer = setTimeout(() => abort('late'), ms)), came: () => clearTimeout(timer) };
}

/** Whether `make`'s deadline aborts when the input is written at once but the loop is held past the deadline before reading it. */
async function heldLoop(make: typeof inputDeadline): Promise<{ aborted: boolean; came: boolean }> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const client = net.connect(port, '127.0.0.1');
  const [sock] = (await once(server, 'connection')) as [net.Socket];
  await once(client, 'connect');
  try {
    let aborted = false, came = false;
    const d = make(MS, () => (aborted = true));
    sock.once('data', () => {
      came = true;
      d.came();
    });
    d.awaited();
    client.write('input'); // into the kernel's buffer now
    const until = Date.now() + 2.5 * MS;
    while (Date.now() < until); // the loop held (a long synchronous step, a CPU taken by others)
    await new Promise((r) => setTimeout(r, 3 * MS));
    return { aborted, came };
  } finally {
    client.destroy();
    sock.destroy();
    server.close();
  }
}

test.serial('an input in the socket when a held loop passes the deadline is taken; a plain timer (the control) aborts it', async (t) => {
  const now = await heldLoop(inputDeadline);
  t.true(now.came, 'the input was read');
  t.false(now.aborted, 'the deadline aborted a query whose input had come');
  const control = await heldLoop(plainTimer);
  t.true(control.came && control.aborted, 'the control did not reproduce the race: this test checks nothing');
});

test.serial('an input that never comes is aborted once, naming the deadline', async (t) => {
  const reasons: string[] = [];
  const d = inputDeadline(MS, (r) => reasons.push(r));
  d.awaited();
  await new Promise((r) => setTimeout(r, 3 * MS));
  t.deepEqual(reasons, [`the client's input did not come within ${MS} ms (inputTimeoutMs)`]);
});

test.serial('an input that comes in time stops the deadline', async (t) => {
  let aborted = false;
  const d = inputDeadline(MS, () => (aborted = true));
  d.awaited();
  await new Promise((r) => setTimeout(r, MS / 2));
  d.came();
  await new Promise((r) => setTimeout(r, 2 * MS));
  t.false(aborted);
});
