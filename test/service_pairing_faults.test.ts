// server1 and server2 run a client's request once server0's notice for it has come too
// (lib/serve/pairing.ts). Two faults around that wait, each with a raw client that sends its
// copies of a request when it likes (as a slow or hostile one would):
// - a query paired late counts its timeout from its first half, not from the pairing, so it ends
//   on every server no later than server0's timeout would end it (before, server1's and server2's
//   timers started at the pairing, up to the pairing wait of 10 s after the client's copy came);
// - a request still waiting for its other half when a server goes is answered at once, naming
//   that server, not at the end of the pairing wait: by the server that saw it go, or by one told
//   by that server's abort (whichever comes first; both orders happen, and a pending request that
//   an abort dropped used to get no answer at all).
import { randomUUID } from 'node:crypto';

import test from 'ava';

import { REQUEST_KEY } from '../lib/net/ws_endpoint';
import { WebSocketTransport } from '../lib/net/ws_transport';
import { Party, SERVERS } from '../lib/protocol/party';
import { shareInput } from '../lib/protocol/pond/share';
import type { Received } from '../lib/net/transport';
import type { Response } from '../lib/serve/messages';
import { CLIENT, inputOp } from '../lib/serve/programs';
import { RingTensor } from '../lib/tensor/ring_tensor';
import { rawClient } from './helpers/hostile_client';
import { mlp, mlpMismatch } from './helpers/model_files';
import { startCluster } from './helpers/service';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const answerOf = (p: Promise<Received>) => p.then((r) => (r.kind === 'control' ? (r.data as Response) : { ok: false as const, error: 'malformed' }), (e: Error) => ({ ok: false as const, error: `no answer: ${e.message}` }));

test.serial("a query whose copy reached server1 and server2 2 s before server0's ends 3 s after that copy (its queryTimeoutMs) on every server, not 3 s after the pairing", async (t) => {
  // Keys dealt online (no pool): with server2 stopped the query waits for it on server0 and server1.
  const c = await startCluster({ queryTimeoutMs: 3000, extra: { precomputePool: 0 } });
  const server2 = c.procs.get('server2')!.child;
  try {
    await c.ready();
    const owner = await c.connect({ asOwner: true });
    await owner.deploy(mlp([4, 8, 2]).file, { name: 'm', protocol: 'fss' });
    const ep = await rawClient(c);
    const session = randomUUID(), request = { type: 'predict', model: 'm', shape: [1, 4] };
    const answers = SERVERS.map((s) => answerOf(ep.recv(s, session, 'res')));
    const t0 = Date.now();
    await Promise.all(['server1', 'server2'].map((s) => ep.send(s, session, REQUEST_KEY, { kind: 'control', data: request })));
    await sleep(2000);
    server2.kill('SIGSTOP');
    await ep.send('server0', session, REQUEST_KEY, { kind: 'control', data: request });
    const party = new Party(CLIENT, new WebSocketTransport([...SERVERS, CLIENT], new Map([[CLIENT, ep]]), session), { fracBits: 16, truncation: 'local' });
    const x = RingTensor.fromBigInt64Array(BigInt64Array.from([1n, 2n, 3n, 4n].map((v) => v << 16n)), [1, 4]);
    await shareInput(party, inputOp(0), CLIENT, x);
    const [a0, a1] = await Promise.all(answers.slice(0, 2));
    const ms = Date.now() - t0;
    t.log(`server0 and server1 answered ${ms} ms after the first copy: ${a0.ok ? 'ok' : a0.error} | ${a1.ok ? 'ok' : a1.error}`);
    t.false(a0.ok);
    t.false(a1.ok);
    t.regex(a1.ok ? '' : a1.error, /timed out after 3000 ms/);
    // server1's timeout ends it at about 3 s; server0's own would at 5 s, the build before at 5 s.
    t.true(ms < 4300, `${ms} ms`);
    server2.kill('SIGCONT');
    const a2 = await answers[2];
    t.false(a2.ok, 'server2, paired once it runs again, ends it at once too');
    await ep.close();
    await owner.close();
  } finally {
    server2.kill('SIGCONT');
    await c.stop();
  }
});

test.serial('a request waiting for server0 when server0 goes is answered at once by server1 and server2, naming server0; the cluster serves again when it is back', async (t) => {
  const c = await startCluster();
  try {
    await c.ready();
    const owner = await c.connect({ asOwner: true });
    const net = mlp([4, 8, 2]);
    await owner.deploy(net.file, { name: 'm', protocol: 'fss' });
    await owner.close();
    const ep = await rawClient(c);
    const session = randomUUID();
    const answers = ['server1', 'server2'].map((s) => answerOf(ep.recv(s, session, 'res')));
    await Promise.all(['server1', 'server2'].map((s) => ep.send(s, session, REQUEST_KEY, { kind: 'control', data: { type: 'predict', model: 'm', shape: [1, 4] } })));
    await sleep(300);
    const server0 = c.procs.get('server0')!.child;
    const gone = new Promise((r) => server0.once('exit', r));
    const t0 = Date.now();
    server0.kill('SIGKILL');
    await gone;
    // The pairing wait would answer after 10 s; no answer in 15 s fails here rather than at ava's timeout.
    const got = await Promise.all(answers.map((a) => Promise.race([a, sleep(15_000).then(() => ({ ok: false as const, error: 'no answer in 15 s' }))])));
    const ms = Date.now() - t0;
    t.log(`answered ${ms} ms after server0 was killed: ${got.map((a) => (a.ok ? 'ok' : a.error)).join(' | ')}`);
    if (got.some((a) => a.ok || !/server0 disconnected/.test(a.error))) t.log(c.logs.filter((l) => !l.startsWith('[tfe server0]')).slice(-30).join('\n'));
    for (const a of got) t.regex(a.ok ? '' : a.error, /server0 disconnected/);
    // The pairing wait (10 s) would have answered "server0 did not start this request".
    t.true(ms < 2000, `${ms} ms`);
    await ep.close();
    c.restart('server0');
    await c.ready();
    const client = await c.connect({ leases: false });
    t.is(await mlpMismatch(client, 'm', net, 4), '', 'the cluster serves again, exactly');
    await client.close();
  } finally {
    await c.stop();
  }
});
