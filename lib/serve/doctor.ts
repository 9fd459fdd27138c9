// `tfe doctor`: checks, from one party's host, what a three-host cluster needs from that host and
// its peers, one line per check: the config, this party's certificate and key (they match each
// other and the config, the CN, the hosts it covers, its dates, the CA or the pin), then each
// peer (reachable, its certificate trusted by the CA and/or its pin, its dates, and that it
// answers as a tfe server of this release's compute version). Nothing here changes anything; a
// peer is only dialed as a client would (a server link would replace the real one).
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';

import { COMPUTE_VERSION, computeMismatch } from '../compute_version';
import { dialOnce } from '../net/dialer';
import type { TlsMaterial } from '../net/handshake';
import { judgeSocket, pinField, showFingerprint, type Verdict } from '../net/peer_trust';
import { sanitizeForLog } from '../net/sanitize';
import { SERVERS } from '../protocol/party';
import { type ClusterConfig, configPath, loadClusterConfig, pinsOf, readPem, usesTls } from './config';
import { type CertificateInfo, covers, describeCertificate } from './provision';
import { EXPIRY_WARN_DAYS, issuedBy, loadOwnIdentity } from './provision_tls';

export type CheckStatus = 'ok' | 'warn' | 'FAIL';

export interface Check {
  status: CheckStatus;
  what: string;
  detail: string;
}

export interface ProbeResult {
  /** Why the TLS connection could not be made (undefined: it was). */
  error?: string;
  verdict?: Verdict;
  info?: CertificateInfo;
  /** The protocol and cipher suite negotiated, as "TLSv1.3, TLS_AES_128_GCM_SHA256". */
  cipher?: string;
}

/** Opens a TLS connection to host:port presenting `material`'s certificate (if any) and judges the peer's certificate as a dialing server would. */
export function probeTls(host: string, port: number, material: TlsMaterial, timeoutMs = 5000): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const s = tls.connect({ host, port, ca: material.ca, cert: material.cert, key: material.key, rejectUnauthorized: false, checkServerIdentity: () => undefined, servername: /^[\d.]+$|:/.test(host) ? '' : host });
    const timer = setTimeout(() => done({ error: `no TLS answer within ${timeoutMs} ms (a firewall dropping packets, or not a TLS port)` }), timeoutMs);
    const done = (r: ProbeResult) => {
      clearTimeout(timer);
      // end(), not destroy(): the peer finishes its side of the handshake and sees a clean close
      // (a socket cut mid-handshake is logged there as a refused TLS connection).
      s.end();
      setTimeout(() => s.destroy(), 1000).unref();
      resolve(r);
    };
    s.once('secureConnect', () => {
      const verdict = judgeSocket(material, s);
      let info: CertificateInfo | undefined;
      try {
        info = describeCertificate(s.getPeerCertificate().raw);
      } catch {
        info = undefined;
      }
      const c = s.getCipher();
      done({ verdict, info, cipher: `${c.version}, ${c.standardName}` });
    });
    s.once('error', (e: NodeJS.ErrnoException) => {
      const hint = e.code === 'ECONNREFUSED' ? ' (nothing listens there: is the server running, is the port right?)'
        : e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN' ? ' (the host name does not resolve)'
          : e.code === 'EHOSTUNREACH' || e.code === 'ENETUNREACH' ? ' (no route to the host)'
            : e.code === 'ECONNRESET' ? ' (reset during the TLS handshake: plain ws there, or it refused this certificate)' : '';
      done({ error: `${e.message}${hint}` });
    });
  });
}

function expiryCheck(what: string, info: CertificateInfo, warnDays: number): Check {
  const when = `${info.notAfter.toISOString().slice(0, 10)} (in ${info.daysLeft} days)`;
  if (info.notBefore.getTime() > Date.now()) return { status: 'FAIL', what, detail: `not valid before ${info.notBefore.toISOString()}` };
  if (info.daysLeft < 0) return { status: 'FAIL', what, detail: `expired on ${info.notAfter.toISOString()}` };
  if (info.daysLeft < warnDays) return { status: 'warn', what, detail: `expires ${when}: rotate it soon (docs/operators.md)` };
  return { status: 'ok', what, detail: `valid until ${when}` };
}

export interface DoctorOptions {
  /** The party whose host this is (a server, or 'model-owner'); absent: a client's host. */
  party?: string;
  timeoutMs?: number;
  warnDays?: number;
}

/** Runs every check; never throws (a failure is a FAIL line). */
export async function doctor(configFile: string, o: DoctorOptions = {}): Promise<Check[]> {
  const out: Check[] = [];
  const add = (status: CheckStatus, what: string, detail: string) => out.push({ status, what, detail });
  const warnDays = o.warnDays ?? EXPIRY_WARN_DAYS;
  let c: ClusterConfig;
  try {
    c = loadClusterConfig(configFile);
  } catch (e) {
    add('FAIL', 'config', (e as Error).message);
    return out;
  }
  const me = o.party;
  if (me !== undefined && ![...SERVERS, 'model-owner'].includes(me)) {
    add('FAIL', 'party', `unknown party '${me}' (expected ${[...SERVERS, 'model-owner'].join(', ')})`);
    return out;
  }
  const pins = pinsOf(c);
  const mode = c.ca && pins ? 'a cluster CA and pinned fingerprints' : c.ca ? 'a cluster CA' : pins ? 'pinned fingerprints (no CA)' : 'none: plain ws';
  add(usesTls(c) ? 'ok' : 'warn', 'config', `${configFile} is valid; peers are trusted by ${mode}`);
  if (!usesTls(c)) {
    add('warn', 'tls', 'no CA and no pins: plain ws, loopback only unless insecure; three hosts need TLS (docs/operators.md)');
    // Nothing to verify about trust, but whether the peers listen at all (it said "all checks
    // passed" with the servers down).
    for (const s of SERVERS.filter((x) => x !== me)) {
      const { host, port } = c.parties[s as 'server0'];
      const error = await tcpReach(host, port, o.timeoutMs ?? 5000);
      add(error === undefined ? 'ok' : 'FAIL', `peer ${s}`, error === undefined ? `${host}:${port} accepts connections (plain ws: not verified further)` : `${host}:${port} is unreachable (${sanitizeForLog(error)})`);
    }
    return out;
  }
  let material: TlsMaterial = { ca: undefined, pins };
  try {
    if (c.ca) material.ca = readPem(c, c.ca, 'ca');
    if (c.ca) add('ok', 'ca', `${configPath(c, c.ca)}: ${describeCertificate(material.ca!).cn ?? '(no CN)'}`);
  } catch (e) {
    add('FAIL', 'ca', (e as Error).message);
    return out;
  }

  if (me) {
    const entry = me === 'model-owner' ? c.owner : c.parties[me as 'server0'];
    const field = me === 'model-owner' ? 'owner' : `parties.${me}`;
    if (!entry?.cert || !entry.key) {
      add('FAIL', 'certificate', `${field} has no cert and key in ${configFile}: this host's party needs its own (tfe certs request)`);
    } else {
      const certPath = configPath(c, entry.cert), keyPath = configPath(c, entry.key);
      let info: CertificateInfo | undefined;
      try {
        info = describeCertificate(fs.readFileSync(certPath));
        add(info.cn === me ? 'ok' : 'FAIL', 'certificate', `${field}.cert ${certPath}: CN=${info.cn ?? '(none)'}${info.cn === me ? '' : `, expected ${me}`}, sha256 ${showFingerprint(info.fingerprint)}`);
      } catch (e) {
        add('FAIL', 'certificate', `${field}.cert ${certPath}: ${(e as Error).message}`);
      }
      try {
        const mode = fs.statSync(keyPath).mode & 0o777;
        add(mode & 0o077 ? 'FAIL' : 'ok', 'key file', `${field}.key ${keyPath}: mode ${mode.toString(8).padStart(3, '0')}${mode & 0o077 ? ': readable by others; chmod 600 it' : ''}`);
      } catch (e) {
        add('FAIL', 'key file', `${field}.key ${keyPath}: ${(e as Error).message}`);
      }
      if (info) {
        try {
          const own = loadOwnIdentity(c, me);
          add('ok', 'key matches', `${field}.key is the key of ${field}.cert`);
          material = { ...material, cert: own.cert, key: own.key };
        } catch (e) {
          const msg = (e as Error).message;
          // loadOwnIdentity stops at the first problem; the lines below say which of the others hold.
          add(/is not the key|not a PEM private key/.test(msg) ? 'FAIL' : 'ok', 'key matches', /is not the key|not a PEM private key/.test(msg) ? msg : `${field}.key is the key of ${field}.cert`);
          if (!/is not the key|not a PEM private key/.test(msg)) material = { ...material, cert: fs.readFileSync(certPath), key: fs.readFileSync(keyPath) };
        }
        if (me !== 'model-owner') {
          const host = c.parties[me as 'server0'].host;
          // Peers and Node clients judge the pin (or CA) and the party name, not the address; a
          // browser's wss checks the address too, and the docs ask for it: so a FAIL, with the fix.
          const fix = covers(info, host) ? '' : ` (servers and the Node client accept it under its pin or CA; browsers do not: make it again with tfe certs request --party ${me} --host ${host}, then pin the new certificate)`;
          add(covers(info, host) ? 'ok' : 'FAIL', 'names', `${info.sans.join(', ') || 'no subjectAltNames'}${covers(info, host) ? ' cover' : ' do not cover'} ${field}.host ${host}${fix}`);
        }
        out.push(expiryCheck('expiry', info, warnDays));
        if (c.ca) {
          const ok = issuedBy(info.x509, material.ca as Buffer);
          add(ok ? 'ok' : 'FAIL', 'issued by CA', ok ? `issued by ${configPath(c, c.ca)}` : `not issued by the cluster CA ${configPath(c, c.ca)}: the other parties would refuse it`);
        }
        const mine = pins?.[me];
        if (mine) {
          const ok = mine.includes(info.fingerprint);
          add(ok ? 'ok' : 'FAIL', 'pinned', ok ? `its fingerprint is in ${pinField(me)}` : `sha256 ${showFingerprint(info.fingerprint)} is not in ${pinField(me)} (${mine.map(showFingerprint).join(', ')}): the other parties would refuse it`);
        } else if (pins) {
          add('FAIL', 'pinned', `${pinField(me)} is missing`);
        }
        if (me !== 'model-owner') {
          // This host's own server, if it runs: does it serve the certificate on disk (reloaded)?
          const p = c.parties[me as 'server0'];
          const r = await probeTls(p.host, p.port, material, o.timeoutMs);
          if (r.error) add('warn', 'this server', `${me} at ${p.host}:${p.port} does not answer (${r.error}); fine if it is not started yet`);
          else if (r.info?.fingerprint !== info.fingerprint) add('FAIL', 'this server', `${me} at ${p.host}:${p.port} serves sha256 ${r.info ? showFingerprint(r.info.fingerprint) : '(none)'}, not the certificate on disk: reload it (kill -HUP) or check the address`);
          else add('ok', 'this server', `${me} at ${p.host}:${p.port} serves this certificate`);
        }
      }
    }
  }

  for (const s of SERVERS) {
    if (s === me) continue;
    const p = c.parties[s as 'server0'];
    const at = `${s} at ${p.host}:${p.port}`;
    const r = await probeTls(p.host, p.port, material, o.timeoutMs);
    if (r.error) {
      add('FAIL', `peer ${s}`, `${at} is unreachable: ${r.error}`);
      continue;
    }
    add('ok', `peer ${s}`, `${at} is reachable over TLS (${r.cipher})`);
    const v = r.verdict!;
    const fp = r.info ? `sha256 ${showFingerprint(r.info.fingerprint)}` : 'no certificate';
    if (v.why || v.name !== s) add('FAIL', `peer ${s} identity`, `${at}: ${v.why ?? `presented a certificate for '${v.name}'`}`);
    else add('ok', `peer ${s} identity`, `${fp}, CN=${v.name}, trusted by ${[c.ca ? 'the CA' : '', pins?.[s] ? `its pin (${pinField(s)})` : ''].filter(Boolean).join(' and ')}`);
    if (r.info) out.push(expiryCheck(`peer ${s} expiry`, r.info, warnDays));
    if (!v.why && v.name === s) {
      try {
        let theirs: string | undefined, lanePort: number | undefined;
        const ws = await dialOnce({ name: s, host: p.host, port: p.port }, { me: 'doctor', asClient: true, tls: material, handshakeTimeoutMs: o.timeoutMs ?? 5000, onComputeVersion: (v) => (theirs = v), onLanePort: (port) => (lanePort = port) });
        ws.terminate();
        // The lane port of a peer this server dials (the smaller name dials: lib/net/ws_endpoint.ts).
        if (me !== undefined && SERVERS.includes(me as 'server0') && me < s && c.lanes) out.push(await laneCheck(s, p.host, lanePort, o.timeoutMs ?? 5000));
        // This host's release against the peer's (lib/compute_version.ts): a mismatch would be refused when the servers link.
        if (theirs === String(COMPUTE_VERSION)) add('ok', `peer ${s} service`, `${at} answers as a tfe server (compute version ${theirs}, as this release)`);
        else add('FAIL', `peer ${s} service`, computeMismatch(at, theirs === undefined ? undefined : sanitizeForLog(theirs, 20)).replace('this server', 'this release'));
      } catch (e) {
        add('FAIL', `peer ${s} service`, `${at}: ${(e as Error).message}`);
      }
    }
  }
  return out;
}

/** Undefined when a plain TCP connection to host:port opens (closed at once), else why not. */
function tcpReach(host: string, port: number, timeoutMs: number): Promise<string | undefined> {
  return new Promise<string | undefined>((resolve) => {
    const sock = net.connect(port, host);
    const timer = setTimeout(() => (sock.destroy(), resolve(`no answer within ${timeoutMs} ms`)), timeoutMs);
    sock.once('connect', () => (clearTimeout(timer), sock.destroy(), resolve(undefined)));
    sock.once('error', (e) => (clearTimeout(timer), resolve(e.message)));
  });
}

/**
 * Whether this host reaches the lane port a peer named (docs/operators.md, "Lanes"): a plain TCP
 * connection, closed at once (the peer drops it without a word). Unreachable is a warning: the
 * link then comes up without its lane.
 */
export async function laneCheck(s: string, host: string, port: number | undefined, timeoutMs: number): Promise<Check> {
  const what = `peer ${s} lane`;
  if (port === undefined) return { status: 'ok', what, detail: `${s} has no lanes (off there, or no TLS): its links carry everything over TLS` };
  const error = await tcpReach(host, port, timeoutMs);
  return error === undefined
    ? { status: 'ok', what, detail: `${host}:${port} is reachable: this server's link to ${s} carries its bulk data there` }
    : { status: 'warn', what, detail: `${host}:${port} is unreachable (${sanitizeForLog(error)}): the link to ${s} would run without its lane, at more CPU per byte; open that port to this host (parties.${s}.lanePort fixes it)` };
}
