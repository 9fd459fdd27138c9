// Provisioning for three operators (docs/operators.md): keys and CSRs made on each host, a CA that
// signs only what it approves, pinned fingerprints with or without a CA (a wrong pin or a foreign
// CA refused with a clear log line, on the dialing and on the accepting side), the model owner
// known by its pin, certificate rotation without restart (new connections get the new
// certificate, links already up keep working, a bad reload keeps the old one), `tfe doctor`, and
// `tfe cluster --init`.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { promisify } from 'node:util';

import test, { type ExecutionContext } from 'ava';

import type { TlsMaterial } from '../lib/net/handshake';
import { normalizeFingerprint } from '../lib/net/peer_trust';
import { WsEndpoint } from '../lib/net/ws_endpoint';
import { loadClusterConfig, parseClusterConfig } from '../lib/serve/config';
import { doctor, laneCheck, probeTls } from '../lib/serve/doctor';
import { tfeCli } from '../lib/serve/local_cluster';
import { describeCertificate, initClusterConfig, makeCa, readCsr, requestCertificate, signCsr } from '../lib/serve/provision';
import { loadOwnIdentity, reloadAllTls, serverTls } from '../lib/serve/provision_tls';

const run = promisify(execFile);
const made: string[] = [];
const tmp = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-provision-'));
  made.push(d);
  return d;
};
test.after.always(() => {
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});
const fp = (file: string) => describeCertificate(fs.readFileSync(file)).fingerprint;
const pem = (file: string) => fs.readFileSync(file);
/** A promise, or a failure naming `what` after `ms` (a lost message must fail the test, not hang it). */
const within = <T>(p: Promise<T>, what: string, ms = 5000): Promise<T> =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms).unref())]);

test('certs request: a 0600 key and a CSR naming the party and its hosts; never over an existing key', (t) => {
  const dir = tmp();
  const r = requestCertificate({ party: 'server1', hosts: ['h1.example.org', '10.1.2.3'], out: dir });
  t.is(fs.statSync(r.key).mode & 0o777, 0o600);
  t.deepEqual(readCsr(r.csr), { cn: 'server1', sans: ['DNS:h1.example.org', 'IP:10.1.2.3'] });
  t.throws(() => requestCertificate({ party: 'server1', hosts: ['h1.example.org'], out: dir }), { message: /server1.key exists already; not overwriting it/ });
  t.throws(() => requestCertificate({ party: 'server1', hosts: [], out: tmp() }), { message: /must name the hosts it is reached at: give --host/ });
  t.throws(() => requestCertificate({ party: 'mallory', hosts: ['x'], out: tmp() }), { message: /unknown party 'mallory'/ });
  t.throws(() => requestCertificate({ party: 'server0', hosts: ['bad host!'], out: tmp() }), { message: /'bad host!' is not a host name or IP address/ });
  // Accepted and ignored before (the operator's review).
  t.throws(() => requestCertificate({ party: 'model-owner', hosts: ['foo'], out: tmp() }), { message: /the model owner is never reached at a host .*: leave out --host/ });
  t.throws(() => requestCertificate({ party: 'server2', hosts: ['10.0.0.3'], out: tmp(), days: 30 }), { message: /--days is the validity of a self-signed certificate: give it with --self-signed/ });
  const s = requestCertificate({ party: 'server2', hosts: ['10.0.0.3'], out: tmp(), selfSigned: true, days: 10 });
  const info = describeCertificate(pem(s.cert!));
  t.is(info.cn, 'server2');
  t.true(info.selfSigned);
  t.deepEqual(info.sans, ['IP:10.0.0.3']);
  t.true(info.daysLeft >= 9 && info.daysLeft <= 10);
  t.is(normalizeFingerprint(s.fingerprint!), info.fingerprint);
});

test('certs sign: the CA signs exactly the party and hosts it approves, and refuses anything else', (t) => {
  const dir = tmp();
  const ca = makeCa(path.join(dir, 'ca'));
  t.is(fs.statSync(ca.key).mode & 0o777, 0o600);
  const req = requestCertificate({ party: 'server1', hosts: ['h1.example.org', '10.1.2.3'], out: path.join(dir, 'h1') });
  const sign = (party: string, hosts: string[], out: string) => signCsr({ ca: ca.cert, caKey: ca.key, csr: req.csr, party, hosts, out: path.join(dir, out) });
  t.throws(() => sign('server2', ['h1.example.org', '10.1.2.3'], 'a.pem'), { message: /is for 'server1', not 'server2': refusing to sign/ });
  t.throws(() => sign('server1', ['h1.example.org'], 'b.pem'), { message: /not approved: IP:10\.1\.2\.3.*refusing to sign/ });
  t.throws(() => sign('server1', ['h1.example.org', '10.1.2.3', 'h9.example.org'], 'c.pem'), { message: /approved but not asked for: DNS:h9\.example\.org/ });
  t.false(fs.existsSync(path.join(dir, 'a.pem')) || fs.existsSync(path.join(dir, 'b.pem')));
  const ok = sign('server1', ['10.1.2.3', 'h1.example.org'], 'server1.pem');
  const info = describeCertificate(pem(ok.cert));
  t.is(info.cn, 'server1');
  t.deepEqual(info.sans, ['DNS:h1.example.org', 'IP:10.1.2.3']);
  t.true(info.x509.checkIssued(describeCertificate(pem(ca.cert)).x509));
  // A tampered CSR (its signature no longer holds) is refused.
  const bad = path.join(dir, 'bad.csr');
  const text = fs.readFileSync(req.csr, 'utf8').split('\n');
  text[3] = text[3].slice(0, 10) + (text[3][10] === 'A' ? 'B' : 'A') + text[3].slice(11);
  fs.writeFileSync(bad, text.join('\n'));
  t.throws(() => signCsr({ ca: ca.cert, caKey: ca.key, csr: bad, party: 'server1', hosts: ['h1.example.org', '10.1.2.3'], out: path.join(dir, 'd.pem') }), { message: /not a valid certificate request/ });
  // A CSR that parses but whose signature is another's (its last byte, inside the signature,
  // flipped): OpenSSL 3's `req -verify` exits 0 on it, so readCsr passed it (x509 -req refused
  // it later, in openssl's words); now readCsr refuses it, saying why.
  const der = Buffer.from(fs.readFileSync(req.csr, 'utf8').replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  der[der.length - 1] ^= 0x01;
  const forged = path.join(dir, 'forged.csr');
  fs.writeFileSync(forged, `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE REQUEST-----\n`);
  t.throws(() => signCsr({ ca: ca.cert, caKey: ca.key, csr: forged, party: 'server1', hosts: ['h1.example.org', '10.1.2.3'], out: path.join(dir, 'e.pem') }), { message: /its signature does not verify/ });
  t.false(fs.existsSync(path.join(dir, 'e.pem')));
});

test('openssl never writes through a link planted where a CSR or certificate goes', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-link-'));
  const victim = path.join(dir, 'victim');
  fs.symlinkSync(victim, path.join(dir, 'server1.csr')); // dangling: existsSync says no file
  t.throws(() => requestCertificate({ party: 'server1', hosts: ['h1.example.org'], out: dir }), { message: /server1\.csr exists already \(a file or a link\); not overwriting it/ });
  t.false(fs.existsSync(victim), 'nothing was written through the link');
  t.deepEqual(fs.readdirSync(dir).filter((f) => f.startsWith('.tfe-tmp-')), [], 'no temporary file left');
});

test.serial('a failed certificate request removes only what it made: an existing certificate stays', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-req-'));
  const live = path.join(dir, 'server1.pem');
  fs.writeFileSync(live, 'the live certificate');
  const PATH = process.env.PATH;
  process.env.PATH = path.join(dir, 'empty'); // no openssl: the request fails after writing its key
  try {
    t.throws(() => requestCertificate({ party: 'server1', hosts: ['h1.example.org'], out: dir }), { message: /needs the openssl command/ });
  } finally {
    process.env.PATH = PATH;
  }
  t.is(fs.readFileSync(live, 'utf8'), 'the live certificate');
  t.false(fs.existsSync(path.join(dir, 'server1.key')), 'its own key is removed');
});

test('cluster.json pins: all three servers or none, the owner pinned without a CA, placeholders and bad fingerprints named', (t) => {
  const f = 'AB:'.repeat(31) + 'AB';
  const parties = (fpr?: unknown) => Object.fromEntries(['server0', 'server1', 'server2'].map((s, i) => [s, { host: '10.0.0.1', port: 7400 + i, ...(fpr === undefined ? {} : { fingerprint: fpr }) }]));
  const c = parseClusterConfig({ parties: parties(f), owner: { fingerprint: [f, `sha256:${f.toLowerCase()}`] } }, 'c.json');
  t.deepEqual(c.parties.server1.fingerprint, ['ab'.repeat(32)]);
  t.deepEqual(c.owner?.fingerprint, ['ab'.repeat(32), 'ab'.repeat(32)]);
  const bad = (o: unknown, msg: RegExp) => t.throws(() => parseClusterConfig(o, 'c.json'), { message: msg });
  const p = parties(f);
  delete (p.server2 as Record<string, unknown>).fingerprint;
  bad({ parties: p, owner: { fingerprint: f } }, /c.json: parties.server2.fingerprint is missing: pin all three servers or none/);
  bad({ parties: parties(f) }, /owner.fingerprint is missing: without a CA/);
  bad({ parties: parties('12:34'), owner: { fingerprint: f } }, /parties.server0.fingerprint: "12:34" is not a SHA-256 fingerprint/);
  bad({ parties: parties([f, 'nope']), owner: { fingerprint: f } }, /parties.server0.fingerprint\[1\]: "nope"/);
  bad({ parties: parties(), owner: { fingerprint: f } }, /owner.fingerprint is set but no server is pinned/);
  const skeleton = initClusterConfig({ mode: 'pin', hosts: { server1: '10.0.0.2:7000' }, port: 7400, party: 'server1' });
  bad(skeleton, /parties.server0.host is "<server0 host name or address>": not a host name or address \(fill in the placeholder\)/);
  const filled = JSON.parse(JSON.stringify(skeleton).replace(/"<server\d host name or address>"/g, '"10.0.0.9"'));
  bad(filled, /parties.server0.fingerprint: "<sha256 of server0's certificate/);
  t.is((skeleton.parties as Record<string, { port: number }>).server1.port, 7000);
  // Each party's lane port, fixed so that a firewall can let it through: its port plus 10.
  t.deepEqual(Object.values(skeleton.parties as Record<string, { lanePort: number }>).map((p) => p.lanePort), [7410, 7010, 7412]);
  bad({ parties: { ...parties(), server0: { host: '10.0.0.1', port: 1, lanePort: 70000 } } }, /parties.server0.lanePort must be an integer in \[1, 65535\], got 70000/);
  // A CA-only config on a client's host has no server keys: valid; a server there says what it lacks.
  const clientOnly = parseClusterConfig({ ca: 'ca.pem', parties: parties() }, 'c.json');
  t.throws(() => loadOwnIdentity(clientOnly, 'server0'), { message: /parties.server0 has no cert and key: under TLS server0 needs its own certificate and key/ });
  // server1's host started as server2: its file holds server1's key, which the refusal names.
  const server1Host = parseClusterConfig({ ca: 'ca.pem', parties: { ...parties(), server1: { ...(parties().server1 as object), cert: 's1.pem', key: 's1.key' } } }, 'c.json');
  t.throws(() => loadOwnIdentity(server1Host, 'server2'), { message: /parties.server2 has no cert and key: .*; this file has the certificate and key of server1: if this host is server1, start it with --party server1/ });
  bad({ parties: { ...parties(), server0: { host: '10.0.0.1', port: 1, fingerprints: f } } }, /unknown field parties.server0.fingerprints/);
});

interface Party {
  cert: string;
  key: string;
}

/** Self-signed identities for the three servers and the owner (pin mode), in `dir`. */
function selfSigned(dir: string, names = ['server0', 'server1', 'server2', 'model-owner']): Record<string, Party> {
  return Object.fromEntries(names.map((n) => {
    const r = requestCertificate({ party: n, hosts: n === 'model-owner' ? [] : ['127.0.0.1', 'localhost'], out: path.join(dir, n), selfSigned: true });
    return [n, { cert: r.cert!, key: r.key }];
  }));
}

/** CA-signed identities. */
function caSigned(dir: string, ca: { cert: string; key: string }, names = ['server0', 'server1', 'server2', 'model-owner']): Record<string, Party> {
  return Object.fromEntries(names.map((n) => {
    const hosts = n === 'model-owner' ? [] : ['127.0.0.1'];
    const r = requestCertificate({ party: n, hosts, out: path.join(dir, n) });
    const s = signCsr({ ca: ca.cert, caKey: ca.key, csr: r.csr, party: n, hosts, out: path.join(dir, n, `${n}.pem`) });
    return [n, { cert: s.cert, key: r.key }];
  }));
}

const pinsOf = (ids: Record<string, Party>) => Object.fromEntries(Object.entries(ids).map(([n, p]) => [n, [fp(p.cert)]]));

/** server1 listening, server0 dialing it; resolves with the dial's outcome and both sides' logs. */
/**
 * server0 dials server1 with these materials: the dial's error, if any, and both logs. A server
 * re-dials a refusal until its deadline (600 ms), then reports the last; on a loaded host a TLS
 * handshake can outlast that, so a timeout is tried again with more time before it counts. The
 * endpoints close when the test ends, passed or not (an assertion that threw first left them open
 * and the worker never exited).
 */
async function link(t: ExecutionContext, m0: TlsMaterial, m1: TlsMaterial): Promise<{ error?: string; log0: string[]; log1: string[]; close: () => Promise<void>; ep0: WsEndpoint; ep1: WsEndpoint }> {
  for (const timeoutMs of [600, 5000]) {
    const log0: string[] = [], log1: string[] = [];
    const ep1 = new WsEndpoint({ me: 'server1', tls: { ...m1, log: (m) => log1.push(m) }, log: (m) => log1.push(m) });
    const ep0 = new WsEndpoint({ me: 'server0', tls: { ...m0, log: (m) => log0.push(m) }, log: (m) => log0.push(m) });
    let closing: Promise<void> | undefined;
    const close = () => (closing ??= Promise.all([ep0.close(), ep1.close()]).then(() => undefined));
    t.teardown(close);
    await ep1.start(['server0']);
    await ep0.start(['server1']);
    let error: string | undefined;
    await ep0.connect({ name: 'server1', host: '127.0.0.1', port: ep1.port }, { timeoutMs }).catch((e: Error) => (error = e.message));
    if (timeoutMs < 5000 && error && /handshake has timed out/.test(error)) {
      await close();
      continue;
    }
    return { error, log0, log1, ep0, ep1, close };
  }
  throw new Error('unreachable');
}

test('pinning without a CA: matching pins connect; a wrong pin is refused on either side, saying which pin', async (t) => {
  const dir = tmp();
  const ids = selfSigned(dir);
  const pins = pinsOf(ids);
  const m = (n: string, p = pins): TlsMaterial => ({ cert: pem(ids[n].cert), key: pem(ids[n].key), pins: p });
  const ok = await link(t, m('server0'), m('server1'));
  t.is(ok.error, undefined);
  t.true(ok.ep0.connected('server1'));
  await ok.close();

  // server0 has a wrong pin for server1: it refuses server1 before any WebSocket traffic.
  const other = selfSigned(path.join(dir, 'other'), ['server1']);
  const wrong1 = await link(t, m('server0', { ...pins, server1: [fp(other.server1.cert)] }), m('server1'));
  t.regex(wrong1.error ?? '', /server0 could not connect to server1 at 127\.0\.0\.1:\d+: server1 at 127\.0\.0\.1:\d+ is not trusted: the certificate for 'server1' \(sha256 [0-9A-F:]{95}\) does not match the pin for it \(parties\.server1\.fingerprint in cluster\.json\)/);
  t.true(wrong1.log0.some((l) => /^refusing to connect: server1 at .* does not match the pin for it \(parties\.server1\.fingerprint/.test(l)), wrong1.log0.join('\n'));
  t.false(wrong1.ep1.connected('server0'));
  await wrong1.close();

  // server1 has a wrong pin for server0: it refuses the upgrade and logs why.
  const other0 = selfSigned(path.join(dir, 'other0'), ['server0']);
  const wrong0 = await link(t, m('server0'), m('server1', { ...pins, server0: [fp(other0.server0.cert)] }));
  t.regex(wrong0.error ?? '', /refused by server1: 401 party 'server0' has no valid certificate: the certificate for 'server0' .* does not match the pin for it \(parties\.server0\.fingerprint in cluster\.json\)/);
  t.true(wrong0.log1.some((l) => /refused a connection from .*: party 'server0' has no valid certificate: .*parties\.server0\.fingerprint/.test(l)), wrong0.log1.join('\n'));
  await wrong0.close();

  // A client with a wrong pin for the server fails at once (it will not improve), saying why.
  const lone = await link(t, m('server0'), m('server1'));
  const c = new WsEndpoint({ me: 'client', tls: { pins: { ...pins, server1: [fp(other.server1.cert)] } }, log: () => undefined });
  const t0 = Date.now();
  await t.throwsAsync(c.connect({ name: 'server1', host: '127.0.0.1', port: lone.ep1.port }, { asClient: true, timeoutMs: 10_000 }), { message: /client could not connect to server1 .*is not trusted: .*does not match the pin for it \(parties\.server1\.fingerprint/ });
  t.true(Date.now() - t0 < 5000, `failed after ${Date.now() - t0} ms`);
  await Promise.all([c.close(), lone.close()]);

  // A name with no pin and no CA: refused.
  const { server0: _drop, ...noPin0 } = pins;
  const unpinned = await link(t, m('server0'), m('server1', noPin0));
  t.regex(unpinned.error ?? '', /no pin for 'server0' in cluster\.json \(parties\.server0\.fingerprint\) and no CA to vouch for it/);
  await unpinned.close();
});

test("TLS 1.3 with AES-128-GCM: the accepting server's order decides, over a client preferring AES-256", async (t) => {
  const dir = tmp();
  const ids = selfSigned(dir);
  const m = (n: string): TlsMaterial => ({ cert: pem(ids[n].cert), key: pem(ids[n].key), pins: pinsOf(ids) });
  const ok = await link(t, m('server0'), m('server1'));
  t.is(ok.error, undefined);
  // probeTls connects with Node's default suites (AES-256-GCM first), as a browser may prefer it.
  t.is((await probeTls('127.0.0.1', ok.ep1.port, m('server0'))).cipher, 'TLSv1.3, TLS_AES_128_GCM_SHA256');
  await ok.close();
  // Control: a TLS server with Node's defaults gives the same client AES-256-GCM.
  const plain = tls.createServer({ cert: pem(ids.server1.cert), key: pem(ids.server1.key) }, (s) => s.end());
  await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
  t.is((await probeTls('127.0.0.1', (plain.address() as net.AddressInfo).port, m('server0'))).cipher, 'TLSv1.3, TLS_AES_256_GCM_SHA384');
  await new Promise((r) => plain.close(r));
});

test('the model owner is known by its pin; another certificate claiming the name is an anonymous client', async (t) => {
  const dir = tmp();
  const ids = selfSigned(dir);
  const pins = pinsOf(ids);
  const ep1 = new WsEndpoint({ me: 'server1', tls: { cert: pem(ids.server1.cert), key: pem(ids.server1.key), pins }, log: () => undefined });
  await ep1.start([]);
  const fake = selfSigned(path.join(dir, 'fake'), ['model-owner'])['model-owner'];
  for (const [who, id, want] of [['owner', ids['model-owner'], 'model-owner'], ['impostor', fake, undefined]] as const) {
    const c = new WsEndpoint({ me: 'client', tls: { cert: pem(id.cert), key: pem(id.key), pins }, log: () => undefined });
    await c.connect({ name: 'server1', host: '127.0.0.1', port: ep1.port }, { asClient: true, timeoutMs: 2000 });
    await new Promise((r) => setTimeout(r, 50));
    const name = [1, 2, 3].map((i) => `client#${i}`).find((n) => ep1.connected(n));
    t.truthy(name, who);
    t.is(ep1.identityOf(name!), want, who);
    await c.close();
    await new Promise((r) => setTimeout(r, 50));
  }
  await ep1.close();
});

test('a cluster CA: a certificate from another CA is refused; CA and pins together need both', async (t) => {
  const dir = tmp();
  const ca = makeCa(path.join(dir, 'ca'));
  const ids = caSigned(path.join(dir, 'ids'), ca);
  const m = (n: string, extra: Partial<TlsMaterial> = {}): TlsMaterial => ({ ca: pem(ca.cert), cert: pem(ids[n].cert), key: pem(ids[n].key), ...extra });
  const ok = await link(t, m('server0'), m('server1'));
  t.is(ok.error, undefined);
  await ok.close();

  const rogueCa = makeCa(path.join(dir, 'rogue'), { name: 'rogue CA' });
  const rogue = caSigned(path.join(dir, 'rogue-ids'), rogueCa, ['server0', 'server1']);
  const foreign1 = await link(t, m('server0'), { ...m('server1'), cert: pem(rogue.server1.cert), key: pem(rogue.server1.key) });
  t.regex(foreign1.error ?? '', /server1 at 127\.0\.0\.1:\d+ is not trusted: the certificate for 'server1' is not from the cluster CA \(/);
  t.true(foreign1.log0.some((l) => /refusing to connect: .*not from the cluster CA/.test(l)));
  await foreign1.close();
  const foreign0 = await link(t, { ...m('server0'), cert: pem(rogue.server0.cert), key: pem(rogue.server0.key) }, m('server1'));
  t.regex(foreign0.error ?? '', /refused by server1: 401 party 'server0' has no valid certificate: the certificate for 'server0' is not from the cluster CA/);
  t.true(foreign0.log1.some((l) => /refused a connection from .*party 'server0' has no valid certificate: .*not from the cluster CA/.test(l)));
  await foreign0.close();

  // CA and pins: a second certificate the same CA issued for server0 is refused by the pin.
  const second = caSigned(path.join(dir, 'second'), ca, ['server0']).server0;
  const pins = pinsOf(ids);
  const both = await link(t, { ...m('server0', { pins }), cert: pem(second.cert), key: pem(second.key) }, m('server1', { pins }));
  t.regex(both.error ?? '', /party 'server0' has no valid certificate: the certificate for 'server0' .* does not match the pin for it/);
  await both.close();
  const bothOk = await link(t, m('server0', { pins }), m('server1', { pins }));
  t.is(bothOk.error, undefined);
  await bothOk.close();
});

/** A pinned three-party config in `dir` for identities `ids` (paths relative to dir), ports given. */
function writeConfig(dir: string, ids: Record<string, Party>, ports: number[], me: string, pins = pinsOf(ids)): string {
  const rel = (f: string) => path.relative(dir, f);
  const config = {
    parties: Object.fromEntries(['server0', 'server1', 'server2'].map((s, i) => [s, { host: '127.0.0.1', port: ports[i], fingerprint: pins[s].map((h) => h.toUpperCase()), ...(s === me ? { cert: rel(ids[s].cert), key: rel(ids[s].key) } : {}) }])),
    owner: { fingerprint: pins['model-owner'] },
  };
  const file = path.join(dir, `cluster-${me}.json`);
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

test('rotation without restart: new connections get the new certificate, the link already up keeps working, a bad reload keeps the old one', async (t) => {
  const dir = tmp();
  const ids = selfSigned(dir);
  const logs: string[] = [];
  // server1 runs from its cluster.json (reloadable); server0 dials it with the old and new pins.
  const file = writeConfig(dir, ids, [1, 2, 3], 'server1');
  const tls1 = serverTls(loadClusterConfig(file), 'server1', (m) => logs.push(m))!;
  const ep1 = new WsEndpoint({ me: 'server1', tls: tls1, log: (m) => logs.push(m) });
  await ep1.start(['server0']);
  const fresh = requestCertificate({ party: 'server1', hosts: ['127.0.0.1'], out: path.join(dir, 'new'), selfSigned: true });
  const pins = pinsOf(ids);
  const both = { ...pins, server1: [...pins.server1, fp(fresh.cert!)] };
  const ep0 = new WsEndpoint({ me: 'server0', tls: { cert: pem(ids.server0.cert), key: pem(ids.server0.key), pins: both }, log: () => undefined });
  await ep0.start(['server1']);
  await ep0.connect({ name: 'server1', host: '127.0.0.1', port: ep1.port }, { timeoutMs: 2000 });
  const client = { pins: both };
  t.is((await probeTls('127.0.0.1', ep1.port, client)).info?.fingerprint, fp(ids.server1.cert));

  // The new certificate is not pinned on server1's host yet: the reload is refused, saying why.
  const withNew = (p: Record<string, string[]> = both) => {
    const c = JSON.parse(fs.readFileSync(file, 'utf8'));
    c.parties.server1 = { ...c.parties.server1, cert: path.relative(dir, fresh.cert!), key: path.relative(dir, fresh.key), fingerprint: p.server1 };
    fs.writeFileSync(file, JSON.stringify(c));
  };
  withNew(pins);
  t.false(tls1.reload('test'));
  t.regex(logs.at(-1)!, /TLS reload \(test\) failed; still using the previous certificate \(sha256 [0-9A-F:]+\): .*is not among parties\.server1\.fingerprint: the other parties would refuse it/);
  // Pinned (old and new): it is taken into use when the files change (watched), no signal needed.
  withNew(both);
  const deadline = Date.now() + 8000;
  while (!logs.some((l) => /^TLS reloaded \(.*cluster-server1\.json changed\)/.test(l)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  t.true(logs.some((l) => /^TLS reloaded \(.*changed\): new connections use certificate sha256 .*links already up keep working/.test(l)), logs.join('\n'));
  t.is((await probeTls('127.0.0.1', ep1.port, client)).info?.fingerprint, fp(fresh.cert!));
  // The link made before the rotation still carries messages both ways.
  t.true(ep0.connected('server1'));
  await ep0.send('server1', 's', 'k', { kind: 'control', data: 'after rotation' });
  t.deepEqual(await within(ep1.recv('server0', 's', 'k'), 'server1 receiving over the old link'), { kind: 'control', data: 'after rotation' });
  await ep1.send('server0', 's', 'k2', { kind: 'control', data: 'back' });
  t.deepEqual(await within(ep0.recv('server1', 's', 'k2'), 'server0 receiving over the old link'), { kind: 'control', data: 'back' });
  // A server0 that pins only the old certificate can no longer make a new link.
  const stale = new WsEndpoint({ me: 'server0', tls: { cert: pem(ids.server0.cert), key: pem(ids.server0.key), pins }, log: () => undefined });
  await stale.start(['server1']);
  await t.throwsAsync(stale.connect({ name: 'server1', host: '127.0.0.1', port: ep1.port }, { timeoutMs: 400 }), { message: /does not match the pin for it \(parties\.server1\.fingerprint/ });
  await stale.close();
  // SIGHUP's path: a reload with nothing changed says so; a key that does not match is refused.
  reloadAllTls('SIGHUP');
  t.regex(logs.at(-1)!, /TLS reload \(SIGHUP\): the certificate, key, pins and CA are unchanged/);
  const c = JSON.parse(fs.readFileSync(file, 'utf8'));
  c.parties.server1.key = path.relative(dir, ids.server1.key);
  fs.writeFileSync(file, JSON.stringify(c));
  reloadAllTls('SIGHUP');
  t.regex(logs.at(-1)!, /TLS reload \(SIGHUP\) failed; still using the previous certificate .*parties\.server1\.key \(.*server1\.key\) is not the key of parties\.server1\.cert/);
  t.is((await probeTls('127.0.0.1', ep1.port, client)).info?.fingerprint, fp(fresh.cert!));
  await Promise.all([ep0.close(), ep1.close()]);
});

test('tfe doctor: one line per check, every peer trusted; a wrong pin fails naming the peer (exit 1); tfe cluster --init writes a skeleton', async (t) => {
  const dir = tmp();
  const ids = selfSigned(dir);
  const pins = pinsOf(ids);
  const eps = ['server0', 'server1', 'server2'].map((s) => new WsEndpoint({ me: s, tls: { cert: pem(ids[s].cert), key: pem(ids[s].key), pins }, log: () => undefined }));
  await Promise.all(eps.map((e) => e.start([])));
  const ports = eps.map((e) => e.port);
  const file = writeConfig(dir, ids, ports, 'server1');
  const checks = await doctor(file, { party: 'server1', timeoutMs: 3000 });
  const failed = checks.filter((c) => c.status === 'FAIL');
  t.deepEqual(failed, []);
  const whats = checks.map((c) => c.what);
  for (const w of ['config', 'certificate', 'key file', 'key matches', 'names', 'expiry', 'pinned', 'this server', 'peer server0', 'peer server0 identity', 'peer server0 expiry', 'peer server0 service', 'peer server2 identity']) t.true(whats.includes(w), w);
  // server1 dials server2 (the smaller name dials), so it checks server2's lane port, not server0's.
  t.regex(checks.find((c) => c.what === 'peer server2 lane')?.detail ?? '', new RegExp(`^127\\.0\\.0\\.1:${eps[2].lanePort} is reachable`));
  t.false(whats.includes('peer server0 lane'));
  // A lane port nothing listens on is a warning naming the field that fixes it; a peer without lanes is fine.
  const closed = await new Promise<number>((r) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => r(port));
    });
  });
  const unreachable = await laneCheck('server2', '127.0.0.1', closed, 2000);
  t.is(unreachable.status, 'warn');
  t.regex(unreachable.detail, /unreachable \(.*ECONNREFUSED.*\): the link to server2 would run without its lane.*parties\.server2\.lanePort/);
  t.like(await laneCheck('server2', '127.0.0.1', undefined, 2000), { status: 'ok', detail: 'server2 has no lanes (off there, or no TLS): its links carry everything over TLS' });

  // server2's pin on this host is wrong; the CLI says which check failed and exits 1.
  const other = selfSigned(path.join(dir, 'other'), ['server2']);
  const bad = writeConfig(dir, ids, ports, 'server1', { ...pins, server2: [fp(other.server2.cert)] });
  const r = await run(process.execPath, [tfeCli(), 'doctor', '--config', bad, '--party', 'server1', '--timeout', '3000']).then(() => ({ code: 0, stdout: '' }), (e: { code: number; stdout: string }) => e);
  t.is(r.code, 1);
  t.regex(r.stdout, /FAIL {2}peer server2 identity +server2 at 127\.0\.0\.1:\d+: the certificate for 'server2' .* does not match the pin for it \(parties\.server2\.fingerprint in cluster\.json\)/);
  t.regex(r.stdout, /ok +peer server0 identity/);
  t.regex(r.stdout, /1 check\(s\) failed/);
  // A stopped peer is unreachable, named with its address.
  await eps[0].close();
  const down = await doctor(file, { party: 'server1', timeoutMs: 2000 });
  t.regex(down.find((c) => c.what === 'peer server0')?.detail ?? '', /server0 at 127\.0\.0\.1:\d+ is unreachable: .*ECONNREFUSED.*is the server running/);
  await Promise.all(eps.slice(1).map((e) => e.close()));

  const init = path.join(dir, 'init', 'cluster.json');
  await run(process.execPath, [tfeCli(), 'cluster', '--init', '--out', init, '--party', 'server2', '--server0', 'h0.example.org', '--server1', '10.0.0.2:7001', '--server2', 'h2.example.org']);
  const sk = JSON.parse(fs.readFileSync(init, 'utf8'));
  t.deepEqual(sk.parties.server1.host, '10.0.0.2');
  t.is(sk.parties.server2.cert, 'server2.pem');
  t.regex(sk.parties.server0.fingerprint, /^<sha256 of server0's certificate/);
  const second = await run(process.execPath, [tfeCli(), 'cluster', '--init', '--out', init]).then(() => '', (e: { stderr: string }) => e.stderr);
  t.regex(second, /exists already; not overwriting it \(--force\)/);
});
