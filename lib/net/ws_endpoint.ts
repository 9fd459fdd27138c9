// One party's WebSocket endpoint. Servers form a mesh (the lexicographically smaller name dials
// and keeps re-dialing while it runs, so a restarted peer is rejoined without help); clients dial
// every server and are named `client#N` by each. Frames are chunked binary with backpressure and
// land in a mailbox per (sender, session, key).
// Who may connect: handshake.ts. What a connection may make this process hold: limits.ts, checked
// here on every frame before anything is kept; a peer over a limit, or breaking the wire format
// or the client-session namespace (connection.ts), has its connection closed with a code and a
// reason naming the rule, everything it held is freed, and every other connection is untouched.
// Every connection is pinged; one that stays silent is dropped. Nothing a peer sends reaches a
// log unsanitised, and nothing here crashes the process on a bad peer.
import { EventEmitter } from 'node:events';
import type * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';

import WebSocket from 'ws';

import { CLIENT_SESSION, ClientSessions, Connection } from './connection';
import { type PeerAddress, Redialer } from './dialer';
import { addressGroup, commonName, handshakeRefusal, PARTY_HEADER, type TlsMaterial } from './handshake';
import { CLOSE, MAX_UNWRITTEN_PONGS, Refusal, REFUSAL_REASONS, type RefusalReason, resolveLimits, type WsEndpointStats, type WsLimits } from './limits';
import type { Lane } from './lane';
import { Inbound } from './inbound';
import { Listener } from './listener';
import { Mailbox } from './mailbox';
import { closeReason, sanitizeForLog, throttledLog } from './sanitize';
import { SendWaits } from './send_waits';
import type { PartyName, Payload, Received } from './transport';
import { aloneIn, encodeFrames } from './wire';
import { createLogger, type Log } from '../log';
import { traceEvent, traceLabel, tracing } from '../trace';
import { ABORT_KEY, REQUEST_KEY, type WsEndpointOptions } from './ws_options';

/** Errors of a write to a peer that has closed its end (errno codes, and Node's stream codes). */
const GONE_CODES = new Set(['EPIPE', 'ECONNRESET', 'ECONNABORTED', 'ERR_STREAM_DESTROYED', 'ERR_STREAM_WRITE_AFTER_END']);

/** How a failed write is logged: a client's end closed is routine ('client-gone', info); anything else, or on a server link, 'send-failed' (warn). */
export function sendFailureEvent(client: boolean, e: Error): 'client-gone' | 'send-failed' {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  return client && (GONE_CODES.has(code) || /WebSocket is not open/.test(e.message)) ? 'client-gone' : 'send-failed';
}

export type { PeerAddress } from './dialer';
export { isLoopback, type TlsMaterial } from './handshake';
export { sanitizeForLog } from './sanitize';
export type { RefusalReason, WsEndpointStats, WsLimitOptions } from './limits';

export { ABORT_KEY, type ArrivalTarget, REQUEST_KEY, type WsEndpointOptions } from './ws_options';

/** How long a send waits for a dropped link to come back before it fails. */
const RECONNECT_WAIT_MS = 10_000;
/** A refused peer that does not finish the close handshake is cut off after this. */
const REFUSED_GRACE_MS = 1000;
const CLIENT_PREFIX = 'client#';

export interface WsEndpointEvents {
  'peer-up': [peer: PartyName];
  'peer-down': [peer: PartyName, reason: string];
  request: [peer: PartyName, session: string, payload: Payload];
  /** `reason` is sanitised (it came from a peer). */
  abort: [session: string, reason: string];
}

export class WsEndpoint extends EventEmitter<WsEndpointEvents> {
  readonly me: PartyName;
  #opts: { host: string; port: number; insecure: boolean; lanes: boolean; lanePort: number; tls?: TlsMaterial; clusterSecret?: Buffer | string; allowedOrigins?: readonly string[]; log: Log; adopt?: WsEndpointOptions['adopt']; holdInto?: WsEndpointOptions['holdInto']; release?: WsEndpointOptions['release'] };
  #refusalLog: Log;
  #limits: WsLimits;
  #listener?: Listener;
  #conns = new Map<PartyName, Connection>();
  // Client sessions and the servers' own sessions are remembered apart (see Mailbox).
  #mailbox = new Mailbox((s) => (CLIENT_SESSION.test(s) ? 'client' : 'server'));
  #sessions: ClientSessions;
  #peers = new Set<PartyName>();
  #redialer: Redialer;
  #identity = new Map<PartyName, string | undefined>();
  /** Clients that connected from a browser page (they sent an Origin). */
  #fromPage = new Set<PartyName>();
  /** Each client connection's address group, an IPv6 address's /64 (maxClientConnectionsPerAddress; handshake.ts addressGroup). */
  #clientAddress = new Map<PartyName, string>();
  #heartbeat?: NodeJS.Timeout;
  #refused = Object.fromEntries(REFUSAL_REASONS.map((r) => [r, 0])) as Record<RefusalReason, number>;
  /** Wire bytes (frames as sent and received, headers included) by kind of peer, since creation. */
  #sent = { servers: 0, clients: 0 };
  /** Frames from arrival to the mailbox (inbound.ts). */
  #inbound: Inbound;
  #nextClient = 1;
  #closed = false;
  /** Client sessions holding servers' messages that no client opened here, since when (#sweepOrphans). */
  #orphans = new Map<string, number>();
  #orphanMs?: number;
  /** Sends waiting for their socket: #finish ends their wait. */
  #sendWaits = new SendWaits();

  constructor(opts: WsEndpointOptions) {
    super();
    this.me = opts.me;
    if (tracing) traceLabel(opts.me);
    this.#limits = resolveLimits(opts);
    this.#orphanMs = opts.orphanSessionMs;
    if (opts.clusterSecret !== undefined && Buffer.from(opts.clusterSecret).byteLength === 0) throw new Error('clusterSecret must not be empty');
    this.#opts = {
      host: opts.host ?? '127.0.0.1',
      port: opts.port ?? 0,
      insecure: opts.insecure ?? false,
      lanes: opts.lanes ?? true,
      lanePort: opts.lanePort ?? 0,
      tls: opts.tls,
      clusterSecret: opts.clusterSecret,
      allowedOrigins: opts.allowedOrigins,
      log: opts.log ?? createLogger({ party: opts.me }),
      adopt: opts.adopt,
      holdInto: opts.holdInto,
      release: opts.release,
    };
    this.#refusalLog = throttledLog(this.#opts.log);
    this.#sessions = new ClientSessions(this.#mailbox, REQUEST_KEY, this.#limits.maxSessionsPerClient);
    this.#inbound = new Inbound({
      mailbox: this.#mailbox,
      sessions: this.#sessions,
      limits: this.#limits,
      log: this.#opts.log,
      adopt: opts.adopt,
      holdInto: opts.holdInto,
      release: opts.release,
      conns: () => this.#conns.values(),
      finish: (session, abortReason, abort) => this.#finish(session, abortReason, abort),
      aborted: (session, reason) => this.#emit('abort', session, reason),
      request: (peer, session, payload) => this.#emit('request', peer, session, payload),
      refuse: (conn, r) => this.#refuse(conn, r),
    });
    this.#redialer = new Redialer({
      dial: { me: this.me, tls: opts.tls, clusterSecret: opts.clusterSecret, handshakeTimeoutMs: this.#limits.handshakeTimeoutMs, log: opts.log, lanes: opts.lanes ?? true },
      attach: (name, ws, lane) => this.#attach(name, ws, false, lane),
      connected: (name) => this.connected(name),
      closed: () => this.#closed,
    });
  }

  /** Whether sent transient tensors are freed once written (a `release` was given). */
  get releasesSent(): boolean {
    return this.#opts.release !== undefined;
  }

  get port(): number {
    return (this.#listener?.http.address() as AddressInfo | null | undefined)?.port ?? this.#opts.port;
  }

  /** The port lanes are accepted on (undefined without lanes: no TLS, or lanes off). */
  get lanePort(): number | undefined {
    return this.#listener?.lanes?.port;
  }

  /** Whether the link with `peer` has a lane now. */
  hasLane(peer: PartyName): boolean {
    const c = this.#conns.get(peer);
    return !!c?.lane && !c.lane.closed;
  }

  /** The limits in force (options with their defaults filled in). */
  get limits(): Readonly<WsLimits> {
    return this.#limits;
  }

  /** The least round trip measured on the link with `peer` (ms; undefined before the first pong, or with no link). */
  rttMs(peer: PartyName): number | undefined {
    return this.#conns.get(peer)?.rttMs;
  }

  /** How many round trips were timed on the link with `peer` (0 with no link). */
  rttSamples(peer: PartyName): number {
    return this.#conns.get(peer)?.rttSamples ?? 0;
  }

  /** Whether a connection with `peer` is open now. */
  connected(peer: PartyName): boolean {
    return this.#conns.get(peer)?.ws.readyState === WebSocket.OPEN;
  }

  /** The address group a client connection came from (an IPv6 address's /64: handshake.ts addressGroup); undefined for a server or a connection gone. */
  clientGroup(peer: PartyName): string | undefined {
    return this.#clientAddress.get(peer);
  }

  /** Whether a client connected from a browser page (its handshake carried an Origin). */
  fromPage(peer: PartyName): boolean {
    return this.#fromPage.has(peer);
  }

  /** The certificate name a client proved (TLS client certificate), if any. */
  identityOf(peer: PartyName): string | undefined {
    return this.#identity.get(peer);
  }

  /**
   * Fails, as start() would, when this endpoint's port (or its lane port) is taken, without
   * keeping either: a server checks before it loads its models, so a second one started by
   * mistake on a taken port says so at once instead of after reading every stored model.
   */
  async checkPortsFree(): Promise<void> {
    const { tls, host, port, lanes, lanePort } = this.#opts;
    const take = (p: number) =>
      new Promise<void>((resolve, reject) => {
        const probe = net.createServer();
        probe.once('error', reject);
        probe.listen(p, host, () => probe.close(() => resolve()));
      });
    // Named by its field and with what to check (a raw EADDRINUSE named neither).
    const why = (e: NodeJS.ErrnoException) =>
      e.code === 'EADDRINUSE' ? `${e.message}: the port is in use (is this server running already?)` : e.code === 'EADDRNOTAVAIL' ? `${e.message}: the address is not one of this host's (is this host ${this.me}? behind NAT, parties.${this.me}.listen sets the address to bind)` : e.message;
    if (port !== 0) await take(port).catch((e: NodeJS.ErrnoException) => {
      throw new Error(`cannot listen on ${host}:${port} (parties.${this.me}.port): ${why(e)}`);
    });
    if (tls && lanes && lanePort !== 0) await take(lanePort).catch((e: NodeJS.ErrnoException) => {
      throw new Error(`cannot take the lane port ${lanePort} on ${host} (lanePort): ${why(e)}`);
    });
  }

  /** Starts listening; resolves once the server is bound. */
  start(expectedPeers: readonly PartyName[]): Promise<void> {
    for (const p of expectedPeers) this.#peers.add(p);
    const { tls, clusterSecret, host, port, log } = this.#opts;
    if (!tls && clusterSecret === undefined && expectedPeers.some((p) => p < this.me))
      log('WARNING: plain ws without a clusterSecret: any process that can reach this port can connect as a server and replace a server link; configure a cluster secret (or TLS)', 'insecure-transport');
    this.#listener = new Listener({
      host,
      port,
      tls,
      log,
      maxConnections: this.#limits.maxConnections,
      handshakeTimeoutMs: this.#limits.handshakeTimeoutMs,
      admission: (req) => this.#admission(req),
      accepted: (ws, req, lane) => this.#accepted(ws, req, lane),
      refused: (r) => this.#refused[r]++,
      lanes: tls && this.#opts.lanes ? { port: this.#opts.lanePort } : undefined,
    });
    return this.#listener.listen();
  }

  #clientCount(): number {
    let n = 0;
    for (const c of this.#conns.values()) if (c.client) n++;
    return n;
  }

  /** Why a client from this address cannot have one more connection (undefined: it can). */
  #addressFull(req: http.IncomingMessage): string | undefined {
    const addr = addressGroup(req.socket.remoteAddress);
    let n = 0;
    for (const a of this.#clientAddress.values()) if (a === addr) n++;
    const max = this.#limits.maxClientConnectionsPerAddress;
    return n >= max ? `too many client connections from ${sanitizeForLog(addr, 60)}: the limit is ${max} per address (maxClientConnectionsPerAddress)` : undefined;
  }

  /** Why an upgrade must be refused, with its HTTP status (undefined: accept). */
  #admission(req: http.IncomingMessage): { status: number; why: string; reason: RefusalReason } | undefined {
    if (this.#closed) return { status: 503, why: `${this.me} is closing`, reason: 'connections' };
    const why = handshakeRefusal(req, { me: this.me, tls: !!this.#opts.tls, insecure: this.#opts.insecure, peers: this.#peers, clusterSecret: this.#opts.clusterSecret, allowedOrigins: this.#opts.allowedOrigins });
    if (why) return { status: 401, why, reason: 'auth' };
    if (typeof req.headers[PARTY_HEADER] !== 'string') {
      if (this.#clientCount() >= this.#limits.maxClientConnections)
        return { status: 503, why: `too many client connections: the limit is ${this.#limits.maxClientConnections} (maxClientConnections)`, reason: 'connections' };
      const full = this.#addressFull(req);
      if (full) return { status: 503, why: full, reason: 'connections' };
    }
    return undefined;
  }

  #accepted(ws: WebSocket, req: http.IncomingMessage, lane?: Lane): void {
    const party = req.headers[PARTY_HEADER];
    if (typeof party === 'string') return this.#attach(party, ws, false, lane);
    const full = this.#clientCount() >= this.#limits.maxClientConnections ? `too many client connections: the limit is ${this.#limits.maxClientConnections} (maxClientConnections)` : this.#addressFull(req);
    if (full) {
      // Admitted concurrently with others that filled the last places.
      this.#refused.connections++;
      ws.close(CLOSE.TRY_LATER, full.slice(0, 120));
      return;
    }
    const name = `${CLIENT_PREFIX}${this.#nextClient++}`;
    this.#clientAddress.set(name, addressGroup(req.socket.remoteAddress));
    const tlsSocket = this.#opts.tls ? (req.socket as TLSSocket) : undefined;
    this.#identity.set(name, tlsSocket?.authorized ? commonName(tlsSocket.getPeerCertificate()) : undefined);
    if (req.headers.origin !== undefined) this.#fromPage.add(name);
    this.#attach(name, ws, true);
  }

  /**
   * Dials a peer and keeps the link up (re-dialing after a drop until close()); resolves once
   * connected. `asClient` dials as a client (clients dial every server).
   */
  connect(peer: PeerAddress, opts: { timeoutMs?: number; asClient?: boolean } = {}): Promise<void> {
    this.#peers.add(peer.name);
    return this.#redialer.connect(peer, opts.timeoutMs ?? 10_000, opts.asClient ?? false);
  }

  #attach(peer: PartyName, ws: WebSocket, client: boolean, lane?: Lane): void {
    // A dial (or an upgrade) that finished after close(): nothing may hold the closed endpoint open.
    if (this.#closed) {
      lane?.close('the endpoint is closed');
      ws.terminate();
      return;
    }
    const conn = new Connection(peer, ws, client, lane);
    const old = this.#conns.get(peer);
    this.#conns.set(peer, conn);
    if (old && old.ws !== ws) {
      // A reconnect replaces a half-dead link (a peer restarted, or a partition whose close never
      // came): that link is down, as if its close had come first. What waits for the peer fails
      // and the server layer hears peer-down: its queries and setups with the peer's old process
      // would otherwise wait out their timeouts for messages that link will never carry.
      old.ws.terminate();
      const why = `the link with ${peer} was replaced by a new one (the old one had not closed)`;
      this.#mailbox.failPeer(peer, new Error(why));
      this.#emit('peer-down', peer, why);
    }
    this.#redialer.attached(peer);
    // Binary messages arrive as their fragments: a chunk's body is then ws's own buffer of it,
    // not a second copy joined with the header (wire.ts decodeFrame).
    ws.binaryType = 'fragments';
    ws.on('message', (data: Buffer | Buffer[], isBinary: boolean) => this.#inbound.onMessage(conn, data, isBinary));
    ws.on('pong', (data: Buffer) => conn.pong(data));
    ws.on('ping', (data: Buffer) => {
      conn.missed = 0;
      if (!conn.answerPing(data)) this.#refuse(conn, new Refusal('pings', CLOSE.POLICY, `it pings faster than it reads: ${MAX_UNWRITTEN_PONGS} pongs wait behind what it has not read`));
    });
    ws.on('error', (e: Error & { code?: string }) => {
      // ws refuses oversize frames and protocol violations itself, then closes.
      if (e.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.#refused.messageBytes++;
      else if (e.code?.startsWith('WS_ERR_')) this.#refused.malformed++;
      this.#opts.log(`connection with ${peer}: ${sanitizeForLog(e.message)}`, 'connection-error', { peer, reason: e.message });
    });
    ws.on('close', (code, reason) => {
      lane?.close('its link closed');
      this.#onClose(conn, code, reason);
    });
    // A dialed link (and an accepted one that waited for its lane) was paused until now, its
    // listeners on: see dialer.ts, 'open'.
    ws.resume();
    // The lane carries the link's messages, checked as the WebSocket's are; when it breaks, the
    // link goes with it (and is dialed again, with a new TLS session and a new lane).
    lane?.attach(this.#inbound.laneReader(conn, () => {
      if (this.#closed || ws.readyState === WebSocket.CLOSED) return false;
      ws.terminate();
      return true;
    }));
    this.#heartbeat ??= setInterval(() => this.#tick(), this.#limits.heartbeatMs).unref();
    // A server link's round trip is known at once (rttMs), not only after the first heartbeat.
    if (!client) conn.measure();
    this.#emit('peer-up', peer);
  }

  #onClose(conn: Connection, code: number, reason: Buffer): void {
    this.#free(conn, `${conn.name} disconnected`);
    if (this.#conns.get(conn.name) !== conn) return; // replaced by a newer link
    this.#conns.delete(conn.name);
    if (conn.client) {
      this.#identity.delete(conn.name);
      this.#fromPage.delete(conn.name);
      this.#clientAddress.delete(conn.name);
    }
    const why = `connection with ${conn.name} closed (${code}${reason.length ? `: ${sanitizeForLog(reason.toString())}` : ''})`;
    this.#mailbox.failPeer(conn.name, new Error(why));
    if (!this.#closed) this.#emit('peer-down', conn.name, why);
  }

  /** Frees what a connection holds: its unfinished messages and, for a client, its sessions. */
  #free(conn: Connection, why: string): void {
    conn.free();
    if (conn.client) for (const s of this.#sessions.releaseAll(conn)) this.#finish(s, why);
  }

  /**
   * Ends the client sessions that hold servers' messages no client opened here for
   * orphanSessionMs (WsEndpointOptions): checked at each heartbeat, so within one of it.
   */
  #sweepOrphans(now: number): void {
    const limit = this.#orphanMs;
    if (limit === undefined) return;
    const seen = new Map<string, number>();
    for (const s of this.#mailbox.sessionsWithPrefix('')) {
      if (!CLIENT_SESSION.test(s) || this.#sessions.owned(s)) continue;
      const since = this.#orphans.get(s) ?? now;
      if (now - since < limit) seen.set(s, since);
      else {
        this.#opts.log(`ended session ${s.slice(0, 8)}: its servers' messages waited ${now - since} ms for a client that never opened it here`, 'session-orphaned', { session: s });
        this.#finish(s, 'no client opened it here', true);
      }
    }
    this.#orphans = seen;
  }

  /** Heartbeat and idle check: every connection is pinged; silence for heartbeatMisses pings drops it. */
  #tick(): void {
    this.#sweepOrphans(Date.now());
    for (const c of this.#conns.values()) {
      const verdict = c.beat(this.#limits);
      if (verdict === 'idle') this.#refuse(c, new Refusal('idle', CLOSE.GOING_AWAY, `idle for over ${this.#limits.clientIdleMs} ms (clientIdleMs)`));
      if (verdict !== 'dead') continue;
      this.#refused.heartbeat++;
      this.#opts.log(`dropping the connection with ${c.name}: no answer to ${c.missed} pings ${this.#limits.heartbeatMs} ms apart (heartbeatMs x heartbeatMisses)`, 'connection-dead', { peer: c.name, missed: c.missed });
      this.#free(c, `${c.name} stopped answering`);
      c.ws.terminate();
    }
  }

  /** Listeners' errors are this process's bugs, not the peer's: logged, never a refusal. */
  #emit<K extends keyof WsEndpointEvents>(event: K, ...args: WsEndpointEvents[K]): void {
    try {
      (this.emit as (e: K, ...a: WsEndpointEvents[K]) => boolean)(event, ...args);
    } catch (e) {
      this.#opts.log(`a '${event}' handler failed: ${(e as Error).message}`, 'handler-failed', { handler: event, reason: (e as Error).message });
    }
  }

  /** Closes a peer's connection with the refusal's code and reason, freeing what it held first. */
  #refuse(conn: Connection, r: Refusal): void {
    if (conn.refused) return;
    conn.refused = true;
    this.#refused[r.reason]++;
    this.#refusalLog(`closing the connection from ${conn.name}: ${sanitizeForLog(r.message, 300)}`, 'connection-refused', { peer: conn.name, rule: r.reason, reason: r.message });
    this.#free(conn, `${conn.name} was refused: ${r.message}`);
    conn.ws.close(r.code, closeReason(r.message));
    setTimeout(() => conn.ws.terminate(), REFUSED_GRACE_MS).unref();
  }

  /** Ends (or aborts, with `abortReason`) a session: the mailbox, unfinished messages, client ownership. */
  #finish(session: string, abortReason?: string, abort = abortReason !== undefined): void {
    if (abort) this.#mailbox.abort(session, abortReason ?? 'aborted');
    else this.#mailbox.end(session);
    this.#sendWaits.end(session, abort ? abortReason ?? 'aborted' : undefined);
    for (const c of this.#conns.values()) c.free(session);
    this.#sessions.release(session);
  }

  /** The open socket to `peer`, waiting up to RECONNECT_WAIT_MS for a dropped link to return. */
  async #socket(peer: PartyName): Promise<Connection> {
    const c = this.#conns.get(peer);
    if (c && c.ws.readyState === WebSocket.OPEN && !c.refused) return c;
    if (peer.startsWith(CLIENT_PREFIX)) throw new Error(`${peer} has disconnected`);
    if (!this.#peers.has(peer)) throw new Error(`${this.me} has no peer '${peer}'`);
    await this.#redialer.waitFor(peer, RECONNECT_WAIT_MS);
    return this.#conns.get(peer)!;
  }

  /**
   * Sends `payload` to `to` in `session`. `work`: the message is the protocol's (WebSocketTransport),
   * and fails at once in a session aborted here, so that a party computing for a query that is over
   * (server2 dealing keys nobody will use, say) stops at its next send instead of running to its
   * end; the server's own messages in it (the abort notices, the answer to the client) still go.
   */
  async send(to: PartyName, session: string, key: string, payload: Payload, opts: { work?: boolean } = {}): Promise<void> {
    if (this.#closed) throw new Error(`${this.me}: endpoint is closed`);
    // A transient tensor's memory, freed once written, or at once where it is not.
    const release = this.#opts.release, alone = payload.kind === 'tensor' && payload.transient ? aloneIn(payload.data) : undefined;
    const aborted = opts.work ? this.#mailbox.abortReason(session) : undefined;
    if (aborted !== undefined) {
      if (release && alone) release(alone);
      throw new Error(`session ${session} was aborted: ${aborted}`);
    }
    let frames: [Buffer, Uint8Array][];
    try {
      // No size check here: the receiver's limit decides, and a refusal closes the connection
      // with its reason, which fails every recv() waiting on that peer (nothing hangs).
      frames = encodeFrames(session, key, payload);
    } catch (e) {
      // It can never be sent (a header too long, data JSON cannot encode): fail the session here,
      // so nothing waits for an answer to it.
      this.#finish(session, `${this.me} could not send ${key}: ${(e as Error).message}`);
      throw e;
    }
    // A session over with its peer's link down has no one to tell (an abort notice goes to
    // connected peers only); one that ends while this waits for the link ends the wait. Either
    // way nothing is written, and a transient payload's memory is freed now.
    const conn = this.#mailbox.finished(session) && !this.connected(to) ? undefined : await this.#sendWaits.wait(session, this.#socket(to));
    if (!conn) return void (release && alone && release(alone));
    // A client that reads none of its answers: what waits unread for it is bounded (every
    // request is answered, and a client sending requests without reading made this process queue
    // the answers without end: 617 MiB after 160 000 status requests). Past the bound its
    // connection is refused; one that reads, however slowly, stays (its pings are read as ever).
    if (conn.client && conn.ws.bufferedAmount > this.#limits.maxPendingBytesPerClient) {
      this.#refuse(conn, new Refusal('pendingBytes', CLOSE.POLICY, `${conn.ws.bufferedAmount} bytes of answers wait unread, over the limit of ${this.#limits.maxPendingBytesPerClient} (maxPendingBytesPerClient)`));
      if (release && alone) release(alone);
      throw new Error(`${to} does not read its answers: its connection was closed`);
    }
    for (const [prefix, body] of frames) this.#sent[conn.client ? 'clients' : 'servers'] += prefix.byteLength + body.byteLength;
    if (tracing) traceEvent('send', `${to} ${key}`, frames.reduce((a, [, b]) => a + b.byteLength, 0));
    const written = conn.send(frames, (e) => this.#sendFailed(to, conn.client, e), release && alone ? () => release(alone) : undefined);
    // Ended by the session's end (send_waits.ts says why); a send in a session already over (an
    // abort notice, a straggler of work that outlived its query) is written without a wait.
    if (this.#mailbox.finished(session)) return void written.catch(() => undefined);
    await this.#sendWaits.wait(session, written);
  }

  /**
   * A write that failed after it was queued. A client that went away meanwhile (closed its end, or
   * stopped reading: `tfe predict | head -1`) is routine, logged as info; any other failure, and
   * every failure on a server link, as a warning.
   */
  #sendFailed(to: PartyName, client: boolean, e: Error): void {
    const code = (e as NodeJS.ErrnoException).code;
    if (sendFailureEvent(client, e) === 'client-gone')
      return this.#opts.log(`${to} went away before an answer to it was written (${code ?? e.message})`, 'client-gone', { peer: to, reason: code ?? e.message });
    this.#opts.log(`send to ${to} failed: ${e.message}`, 'send-failed', { peer: to, reason: e.message });
  }

  recv(from: PartyName, session: string, key: string): Promise<Received> {
    if (this.#closed) return Promise.reject(new Error(`${this.me}: endpoint is closed`));
    return this.#mailbox.receive(from, session, key);
  }

  /** Why the last dial of `peer` failed, while its link is down (undefined: it is up, or none failed). */
  dialError(peer: PartyName): string | undefined {
    return this.#redialer.lastError(peer);
  }

  /** Re-dials `peer` now if its link is down: its loop's back-off is cut short, or a loop that ended on a refusal starts again (dialer.ts). */
  hurry(peer: PartyName): void {
    this.#redialer.hurry(peer);
  }

  /** Aborts a session here (waiters fail with `reason`, what it held is freed) and tells `notify` to do the same. */
  abortSession(session: string, reason: string, notify: readonly PartyName[] = []): void {
    this.#finish(session, reason);
    for (const p of notify)
      if (this.connected(p)) this.send(p, session, ABORT_KEY, { kind: 'control', data: reason }).catch(() => undefined);
  }

  /**
   * Frees whatever a session left behind (queued messages, chunked messages in progress, a
   * client's claim on it) and drops its stragglers. The server layer calls it when a session is
   * over, refused requests included.
   */
  endSession(session: string): void {
    this.#finish(session);
  }

  /** Whether the session was ended or aborted here (its stragglers are dropped). */
  sessionEnded(session: string): boolean {
    return this.#mailbox.finished(session);
  }

  /** Ends every session named `prefix...`, those that arrive later included (a retired setup's pooled material). */
  endSessionsWithPrefix(prefix: string): void {
    for (const s of this.#mailbox.endPrefix(prefix)) this.#finish(s);
  }

  /** Messages, bytes and waiters held in the sessions named `prefix...`. */
  heldWithPrefix(prefix: string): { bytes: number; messages: number; waiting: number } {
    return this.#mailbox.heldWithPrefix(prefix);
  }

  /** The messages still awaited in the sessions named `prefix...` (what a stalled setup waits for). */
  awaitedWithPrefix(prefix: string): { peer: PartyName; key: string; session: string }[] {
    return this.#mailbox.awaitedWithPrefix(prefix);
  }

  /** Messages and waiters held in the mailbox (for leak checks). */
  get pending(): number {
    return this.#mailbox.pending;
  }

  /** Counters for operators and leak checks: connections, what peers hold here, refusals. */
  stats(): WsEndpointStats {
    let servers = 0, clients = 0, unfinishedMessages = 0, unfinishedBytes = 0;
    for (const c of this.#conns.values()) {
      if (c.client) clients++;
      else servers++;
      unfinishedMessages += c.unfinishedCount;
      unfinishedBytes += c.received;
    }
    const t = this.#mailbox.totals();
    return {
      connections: { servers, clients },
      sockets: this.#listener?.sockets.size ?? 0,
      pendingMessages: t.messages,
      pendingBytes: t.bytes,
      waiting: t.waiting,
      unfinishedMessages,
      unfinishedBytes,
      clientSessions: this.#sessions.size,
      droppedFrames: this.#inbound.dropped,
      bytes: { sent: { ...this.#sent }, received: { ...this.#inbound.received } },
      refused: { ...this.#refused },
    };
  }

  /** Closes every connection: with `reason`, peers are told why and queued frames flush first. */
  async close(reason?: string): Promise<void> {
    this.#closed = true;
    clearInterval(this.#heartbeat);
    this.#mailbox.close(new Error(`${this.me}: endpoint closed while waiting`));
    const conns = [...this.#conns.values()];
    for (const c of conns) c.free();
    if (reason) {
      const open = conns.filter((c) => c.ws.readyState === WebSocket.OPEN).map((c) => c.ws);
      await Promise.race([
        Promise.all(open.map((ws) => new Promise((r) => {
          ws.once('close', r);
          ws.close(1001, closeReason(reason));
        }))),
        new Promise((r) => setTimeout(r, 1000)),
      ]);
    }
    for (const c of conns) c.ws.terminate();
    // Peers re-dial at once: a handshake caught in flight must not keep the server open.
    await this.#listener?.close();
  }
}
