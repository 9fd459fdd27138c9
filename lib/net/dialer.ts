// Dialing peers and keeping the links up. Servers dial each other as parties (`x-tfe-party`, plus
// the cluster secret on plain ws); clients dial as clients. A refusal comes back with the reason
// the peer gave (e.g. the limit that was hit), not just its HTTP status. A link that drops is
// dialed again until the endpoint closes (the peer may be restarting), and a send may wait a
// while for it to come back.
// Under TLS the peer's certificate is judged (peer_trust.ts: the CA and/or its pin, and the name
// dialed) as soon as the TLS handshake is done, before the WebSocket upgrade is sent; a peer that
// fails is cut off and the dial fails saying why (and the TLS material's log hears it, since a
// server re-dials its peers without end and would otherwise fail silently).
import * as net from 'node:net';
import * as nodeTls from 'node:tls';

import WebSocket from 'ws';

import { COMPUTE_VERSION, computeMismatch } from '../compute_version';
import { CLIENT_HEADER, COMPUTE_HEADER, PARTY_HEADER, SECRET_HEADER, secretHeader, type TlsMaterial } from './handshake';
import { type Lane, LANE_HEADER } from './lane';
import { dialLane } from './lane_link';
import { judgeSocket } from './peer_trust';
import { sanitizeForLog } from './sanitize';
import type { PartyName } from './transport';
import { MAX_FRAME_BYTES } from './wire';
import type { Log, LogEvent } from '../log';

export interface PeerAddress {
  name: PartyName;
  host: string;
  port: number;
  /** The local address to dial from, on a host with several (default: the system's choice). */
  localAddress?: string;
}

// RFC 6455's client masking keeps script-chosen bytes from poisoning proxy caches; this dialer
// (servers, and the Node client, whose frames carry only shares and our framing) sends no such
// bytes, while an unmasking pass costs the receiving server a JS loop over every byte. ws skips
// all-zero masks on both sides. (Browsers always mask: lib/browser/client.ts has no say.)
const ZERO_MASK = (mask: Buffer) => mask.fill(0);

export interface DialOptions {
  me: PartyName;
  asClient: boolean;
  tls?: TlsMaterial;
  clusterSecret?: Buffer | string;
  handshakeTimeoutMs: number;
  /** Called with the compute version the peer answered with (undefined: none, an older release). */
  onComputeVersion?: (v: string | undefined) => void;
  /** Where a server link refused for the peer's compute version is reported (each message once a minute). */
  log?: Log;
  /** Offer a lane beside a server link under TLS (lane_link.ts); the peer decides whether there is one. */
  lanes?: boolean;
  /** Called with the lane port the peer names (undefined: it has no lanes). */
  onLanePort?: (port: number | undefined) => void;
  /** ws answers pings by itself: for a caller reading the socket on its own (dialOnce); an endpoint answers them itself (Connection.answerPing). */
  autoPong?: boolean;
}

/** Dials once; rejects with an Error carrying the HTTP `status` when the peer refused. */
export async function dialOnce(peer: PeerAddress, o: DialOptions): Promise<WebSocket> {
  const { ws } = await dialLink(peer, { ...o, lanes: false, autoPong: o.autoPong ?? true });
  ws.resume(); // dialLink leaves it paused for an endpoint to attach; a caller of its own reads now
  return ws;
}

/** Dials once, with the link's lane when the peer has one; rejects like dialOnce. */
export function dialLink(peer: PeerAddress, o: DialOptions): Promise<{ ws: WebSocket; lane?: Lane }> {
  const { tls, clusterSecret, asClient } = o;
  const headers: Record<string, string> = asClient ? { [CLIENT_HEADER]: o.me } : { [PARTY_HEADER]: o.me };
  if (!asClient && !tls && clusterSecret !== undefined) headers[SECRET_HEADER] = secretHeader(clusterSecret);
  if (!asClient) headers[COMPUTE_HEADER] = String(COMPUTE_VERSION);
  const offerLane = !!(o.lanes && tls && !asClient);
  if (offerLane) headers[LANE_HEADER] = 'offer';
  let tlsSocket: nodeTls.TLSSocket | undefined;
  let lanePort: number | undefined;
  return new Promise<{ ws: WebSocket; lane?: Lane }>((resolve, reject) => {
    // A bare IPv6 address ("::1", as cluster.json allows) goes in brackets in a URL.
    const host = net.isIPv6(peer.host) ? `[${peer.host}]` : peer.host;
    const s = new WebSocket(`${tls ? 'wss' : 'ws'}://${host}:${peer.port}`, {
      headers,
      perMessageDeflate: false,
      maxPayload: MAX_FRAME_BYTES,
      autoPong: o.autoPong ?? false,
      handshakeTimeout: o.handshakeTimeoutMs,
      generateMask: ZERO_MASK,
      ...(peer.localAddress ? { localAddress: peer.localAddress } : {}),
      ...(tls
        ? {
            ca: tls.ca,
            cert: tls.cert,
            key: tls.key,
            // Identity is the party name in a certificate the cluster trusts (its CA and/or its
            // pin), not the host name: judged below, not by OpenSSL's host check.
            rejectUnauthorized: false,
            createConnection: ((o: unknown) => {
              const opts = o as nodeTls.ConnectionOptions & { host?: string };
              const socket = nodeTls.connect({ ...opts, servername: opts.servername || (net.isIP(opts.host ?? '') ? '' : opts.host), checkServerIdentity: () => undefined });
              tlsSocket = socket;
              socket.once('secureConnect', () => {
                const v = judgeSocket(tls, socket);
                const why = v.why ?? (v.name === peer.name ? undefined : `it presented a certificate for '${v.name}'`);
                if (!why) return;
                const msg = `${peer.name} at ${peer.host}:${peer.port} is not trusted: ${why}`;
                reportRefusal(tls.log, msg);
                socket.destroy(Object.assign(new Error(msg), { untrusted: true }));
              });
              return socket;
            }) as unknown as typeof net.createConnection,
          }
        : {}),
    });
    // A server answers with its compute version; one that differs (or an older release, which
    // states none) is refused here as well, so a mismatch shows whichever side dials.
    s.once('upgrade', (res) => {
      const lp = res.headers[LANE_HEADER];
      const named = typeof lp === 'string' && /^[1-9]\d{0,4}$/.test(lp) && Number(lp) <= 65535 ? Number(lp) : undefined;
      o.onLanePort?.(named);
      if (offerLane) lanePort = named;
      const v = res.headers[COMPUTE_HEADER];
      o.onComputeVersion?.(typeof v === 'string' ? v : undefined);
      if (asClient || v === String(COMPUTE_VERSION)) return;
      // Not fatal: a server keeps re-dialing (its peer may be upgraded next), and says why here.
      const msg = computeMismatch(`${peer.name} at ${peer.host}:${peer.port}`, typeof v === 'string' ? sanitizeForLog(v, 20) : undefined);
      reportRefusal(o.log ?? tls?.log, msg);
      reject(Object.assign(new Error(msg), { status: 426 }));
      s.terminate();
    });
    s.once('open', () => {
      // Read nothing until the endpoint has its listeners on the link (ws_endpoint.ts #attach
      // resumes it): frames that came with the upgrade's answer were read on the next tick, before
      // the promise below let the endpoint attach, and emitted to no listener. The peer's sends
      // that waited for the link (pool material, an epoch's messages) were lost, their senders
      // told they went.
      s.pause();
      if (lanePort === undefined || !tlsSocket) return resolve({ ws: s });
      // The peer expects the lane now (lane_link.ts): the link is up once it is bound.
      dialLane(peer.host, lanePort, tlsSocket, o.handshakeTimeoutMs).then(
        (lane) => {
          if (s.readyState !== WebSocket.OPEN) {
            lane.close('its link closed');
            reject(new Error(`the link to ${peer.name} closed while its lane was set up`));
          } else resolve({ ws: s, lane });
        },
        (e: Error) => {
          s.terminate();
          reject(Object.assign(e, { lane: true }));
        },
      );
    });
    s.once('unexpected-response', (_req, res) => {
      // The refusal's reason is in the body (e.g. which limit was hit): say it.
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body = (body + c).slice(0, 512)));
      const done = () => {
        reject(Object.assign(new Error(`refused by ${peer.name}: ${res.statusCode} ${sanitizeForLog(body.trim() || res.statusMessage || '', 512)}`.trim()), { status: res.statusCode }));
        s.terminate();
      };
      res.once('end', done);
      res.once('close', done);
      res.once('error', done);
    });
    s.once('error', reject);
  });
}

const lastReported = new WeakMap<Log, Map<string, number>>();

/** How long a server peer may stay unreachable before it is logged (servers start in any order). */
export const UNREACHABLE_AFTER_MS = 5_000;

/** Logs a refused dial (the peer's identity or compute version): each distinct message at most once a minute per log. */
function reportRefusal(log: Log | undefined, msg: string): void {
  reportOnce(log, `refusing to connect: ${msg}`, 'dial-refused', msg);
}

function reportOnce(log: Log | undefined, line: string, event: LogEvent, reason: string): void {
  if (!log) return;
  const seen = lastReported.get(log) ?? new Map<string, number>();
  lastReported.set(log, seen);
  const now = Date.now();
  if ((seen.get(line) ?? 0) > now - 60_000) return;
  seen.set(line, now);
  if (seen.size > 100) seen.clear();
  log(line, event, { reason });
}

export interface RedialerOptions {
  dial: Omit<DialOptions, 'asClient'>;
  /** Takes a fresh connection (and its lane, if it has one) into use. */
  attach: (name: PartyName, ws: WebSocket, lane?: Lane) => void;
  connected: (name: PartyName) => boolean;
  closed: () => boolean;
}

export class Redialer {
  #dialing = new Map<PartyName, Promise<void>>();
  /** Re-dial loops sleeping between attempts, by peer: hurry() ends the sleep. */
  #sleeping = new Map<PartyName, () => void>();
  /** Loops hurried while an attempt was in flight: their next back-off is skipped. */
  #hurried = new Set<PartyName>();
  #waiting = new Map<PartyName, (() => void)[]>();
  /** Peers whose lane failed at the last dial: the next dial offers none (lane_link.ts). */
  #laneless = new Set<PartyName>();
  /** Why the last dial of each peer not connected now failed (lastError). */
  #lastError = new Map<PartyName, string>();
  /** How each peer was dialed, so that hurry() can start a loop that ended (a fatal refusal). */
  #dialed = new Map<PartyName, { peer: PeerAddress; asClient: boolean }>();
  /** When each server peer's dials began to fail (cleared when one succeeds): #reportUnreachable. */
  #failingSince = new Map<PartyName, number>();

  constructor(private readonly o: RedialerOptions) {}

  /** Dials `peer` unless connected or already dialing; resolves once connected. */
  connect(peer: PeerAddress, timeoutMs: number, asClient: boolean): Promise<void> {
    this.#dialed.set(peer.name, { peer, asClient });
    if (this.o.connected(peer.name)) return Promise.resolve();
    const running = this.#dialing.get(peer.name);
    if (running) return running;
    const first = this.#dialLoop(peer, timeoutMs, asClient);
    this.#dialing.set(peer.name, first);
    const done = () => (this.#dialing.delete(peer.name), this.#hurried.delete(peer.name));
    first.then(done, done);
    return first;
  }

  async #dialLoop(peer: PeerAddress, timeoutMs: number, asClient: boolean): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let delay = 50;
    for (;;) {
      if (this.o.closed()) throw new Error(`${this.o.dial.me}: endpoint is closed`);
      try {
        // No attempt outlasts the loop's deadline: a peer that takes the socket and never answers
        // held a 1 s connect for the whole handshake timeout (10 s).
        const left = Math.ceil(deadline - Date.now());
        const handshakeTimeoutMs = Number.isFinite(left) ? Math.max(50, Math.min(this.o.dial.handshakeTimeoutMs, left)) : this.o.dial.handshakeTimeoutMs;
        const { ws, lane } = await dialLink(peer, { ...this.o.dial, handshakeTimeoutMs, asClient, lanes: this.o.dial.lanes && !this.#laneless.delete(peer.name) });
        this.#lastError.delete(peer.name);
        this.#failingSince.delete(peer.name);
        this.o.attach(peer.name, ws, lane);
        // Keep the link: when it drops, dial again (the peer may be restarting).
        ws.once('close', () => {
          if (!this.o.closed() && !this.#dialing.has(peer.name)) this.connect(peer, Number.POSITIVE_INFINITY, asClient).catch(() => undefined);
        });
        return;
      } catch (e) {
        if ((e as { lane?: boolean }).lane) {
          // The link itself was fine: dial again at once, without a lane (the dial after that,
          // when this link drops, tries one again). TLS still protects everything it carries.
          this.#laneless.add(peer.name);
          const why = (e as Error).message;
          reportOnce(this.o.dial.log ?? this.o.dial.tls?.log, `WARNING: ${why}; the link with ${peer.name} runs without its lane (still over TLS, at more CPU per byte) until it is dialed again. Let ${peer.name}'s lane port through to this host (parties.${peer.name}.lanePort fixes it), or set "lanes": false`, 'lane-failed', why);
          continue;
        }
        this.#lastError.set(peer.name, (e as Error).message);
        if (!asClient) this.#reportUnreachable(peer, e as Error & { status?: number; untrusted?: boolean });
        // A client's credentials will not improve, nor will a server it does not trust (a server
        // keeps re-dialing: its peer may be mid-rotation, and the refusal is logged). hurry()
        // starts such a loop again when a query wants the link.
        const fatal = asClient && ([401, 403].includes((e as { status?: number }).status ?? 0) || (e as { untrusted?: boolean }).untrusted === true);
        if (fatal || Date.now() > deadline) throw new Error(`${this.o.dial.me} could not connect to ${peer.name} at ${peer.host}:${peer.port}: ${(e as Error).message}`);
        // A hurry() that came while this attempt was in flight still counts: dial again at once.
        if (this.#hurried.delete(peer.name)) continue;
        await new Promise<void>((r) => {
          const timer = setTimeout(r, delay);
          this.#sleeping.set(peer.name, () => (clearTimeout(timer), r()));
        });
        this.#sleeping.delete(peer.name);
        delay = Math.min(1000, delay * 2);
      }
    }
  }

  /**
   * A server peer that could not be reached for UNREACHABLE_AFTER_MS (a wrong address or port in
   * this host's cluster.json, a peer not running, a firewall), or that refuses this server's link
   * with a reason, is logged, each distinct reason at most once a minute: without it only the
   * setup's failure showed, naming neither the address nor the error. This side's own refusals of
   * the peer are logged as they happen (dial-refused).
   */
  #reportUnreachable(peer: PeerAddress, e: Error & { status?: number; untrusted?: boolean }): void {
    // This side's own refusals (the peer's certificate, its compute version) are logged as it refuses.
    if (e.untrusted || e.status === 426) return;
    const since = this.#failingSince.get(peer.name) ?? Date.now();
    this.#failingSince.set(peer.name, since);
    if (Date.now() - since < UNREACHABLE_AFTER_MS) return;
    const why = e.message;
    // The peer's refusal (a certificate it does not trust, a cluster secret that differs) showed
    // only in the peer's log: this server's operator saw nothing wrong on this host.
    const line =
      e.status !== undefined
        ? `${peer.name} at ${peer.host}:${peer.port} refuses this server's link: ${why} (still trying; ${peer.name}'s log says more)`
        : `cannot reach ${peer.name} at ${peer.host}:${peer.port}: ${why} (still trying; check parties.${peer.name} in this host's cluster.json, that ${peer.name} runs, and that its port is let through)`;
    reportOnce(this.o.dial.log ?? this.o.dial.tls?.log, line, 'peer-unreachable', why);
  }

  /**
   * Dials `peer` now if its re-dial loop is waiting out a back-off (up to a second): someone wants
   * the link, and the peer may be back already (a restarted server).
   */
  hurry(peer: PartyName): void {
    const wake = this.#sleeping.get(peer);
    if (wake) wake();
    else if (this.#dialing.has(peer)) this.#hurried.add(peer);
    else {
      // No loop: it ended on a refusal that seemed final (a certificate, say), and someone wants
      // the link now; the server may have been fixed since. One loop again, until it connects.
      const d = this.#dialed.get(peer);
      if (d && !this.o.connected(peer) && !this.o.closed()) this.connect(d.peer, Number.POSITIVE_INFINITY, d.asClient).catch(() => undefined);
    }
  }

  /** Why the last dial of `peer` failed, while it is not connected (undefined: none failed since). */
  lastError(peer: PartyName): string | undefined {
    return this.o.connected(peer) ? undefined : this.#lastError.get(peer);
  }

  /** Wakes the sends waiting for `peer`'s link (it is attached again). */
  attached(peer: PartyName): void {
    for (const w of this.#waiting.get(peer) ?? []) w();
    this.#waiting.delete(peer);
  }

  /** Waits up to `ms` for `peer`'s link to come back. */
  waitFor(peer: PartyName, ms: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiting.set(peer, (this.#waiting.get(peer) ?? []).filter((w) => w !== waiter));
        reject(new Error(`${this.o.dial.me} is not connected to ${peer}`));
      }, ms);
      this.#waiting.set(peer, [...(this.#waiting.get(peer) ?? []), waiter]);
    });
  }
}
