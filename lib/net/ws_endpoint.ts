// One party's WebSocket endpoint. Servers form a mesh (the lexicographically smaller name dials
// and keeps re-dialing while it runs, so a restarted peer is rejoined without help); clients dial
// every server and are named `client#N` by each. Frames are chunked binary with backpressure and
// land in a mailbox per (sender, session, key).
// Authentication: with TLS material, servers prove their party name with a certificate from the
// cluster CA (mutual TLS) and clients connect over TLS; without it, plain ws is accepted only from
// loopback unless `insecure`. Every refusal is logged with its reason; nothing here crashes the
// process on a bad peer.
import { EventEmitter } from 'node:events';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { PeerCertificate, TLSSocket } from 'node:tls';

import WebSocket, { WebSocketServer } from 'ws';

import { Mailbox } from './mailbox';
import type { PartyName, Payload } from './transport';
import { decodeFrame, encodeFrames, type FrameHeader, MAX_FRAME_BYTES, toPayload } from './wire';

export interface PeerAddress {
  name: PartyName;
  host: string;
  port: number;
}

/** PEM material: the cluster CA, and this party's certificate and key (CN = party name). */
export interface TlsMaterial {
  ca: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
}

export interface WsEndpointOptions {
  me: PartyName;
  host?: string;
  /** 0 picks a free port (see `port` after start()). */
  port?: number;
  /** TLS (wss): mutual between servers, server-authenticated for clients. */
  tls?: TlsMaterial;
  /** Allow plain ws from non-loopback peers. */
  insecure?: boolean;
  /** Largest message (all chunks) accepted from a peer; bigger ones close the connection. */
  maxMessageBytes?: number;
  /** Largest message accepted from a client (default: maxMessageBytes). */
  maxClientMessageBytes?: number;
  log?: (msg: string) => void;
}

/** Key of a request (from a client, or a notice between servers): a 'request' event, not mail. */
export const REQUEST_KEY = 'req';
/** Key of an abort notice: the receiver aborts that session locally. */
export const ABORT_KEY = '__abort';

const HIGH_WATER = 8 << 20;
/** How long a send waits for a dropped link to come back before it fails. */
const RECONNECT_WAIT_MS = 10_000;
const ZERO_MASK = (mask: Buffer) => mask.fill(0); // server-to-server: masking only costs (ws skips all-zero masks)
const CLIENT_PREFIX = 'client#';

interface Partial {
  first: FrameHeader;
  parts: Buffer[];
  received: number;
}

export function isLoopback(addr: string | undefined): boolean {
  return !!addr && (addr === '::1' || addr.startsWith('127.') || addr.startsWith('::ffff:127.'));
}

function commonName(cert: PeerCertificate | undefined): string | undefined {
  const cn = cert?.subject?.CN;
  return Array.isArray(cn) ? cn[0] : cn;
}

export interface WsEndpointEvents {
  'peer-up': [peer: PartyName];
  'peer-down': [peer: PartyName, reason: string];
  request: [peer: PartyName, session: string, payload: Payload];
  abort: [session: string, reason: string];
}

export class WsEndpoint extends EventEmitter<WsEndpointEvents> {
  readonly me: PartyName;
  #opts: Required<Omit<WsEndpointOptions, 'log' | 'tls'>> & { log: (m: string) => void; tls?: TlsMaterial };
  #http?: http.Server | https.Server;
  #server?: WebSocketServer;
  #sockets = new Map<PartyName, WebSocket>();
  #waitingFor = new Map<PartyName, ((ws: WebSocket) => void)[]>();
  #mailbox = new Mailbox();
  #partial = new Map<string, Partial>();
  #peers = new Set<PartyName>();
  #dialing = new Map<PartyName, Promise<void>>();
  #identity = new Map<PartyName, string | undefined>();
  #nextClient = 1;
  #closed = false;

  constructor(opts: WsEndpointOptions) {
    super();
    this.me = opts.me;
    this.#opts = {
      host: '127.0.0.1',
      port: 0,
      insecure: false,
      maxMessageBytes: 1 << 30,
      maxClientMessageBytes: opts.maxMessageBytes ?? 1 << 30,
      ...opts,
      log: opts.log ?? ((m) => console.error(`[tfe ${opts.me}] ${m}`)),
    };
  }

  get port(): number {
    return (this.#http?.address() as AddressInfo | null | undefined)?.port ?? this.#opts.port;
  }

  /** Whether a connection with `peer` is open now. */
  connected(peer: PartyName): boolean {
    return this.#sockets.get(peer)?.readyState === WebSocket.OPEN;
  }

  /** The certificate name a client proved (TLS client certificate), if any. */
  identityOf(peer: PartyName): string | undefined {
    return this.#identity.get(peer);
  }

  /** Starts listening; resolves once the server is bound. */
  start(expectedPeers: readonly PartyName[]): Promise<void> {
    for (const p of expectedPeers) this.#peers.add(p);
    const tls = this.#opts.tls;
    // Client certificates are requested but checked per connection below: servers must present
    // one, prediction clients need not.
    this.#http = tls
      ? https.createServer({ ca: tls.ca, cert: tls.cert, key: tls.key, requestCert: true, rejectUnauthorized: false })
      : http.createServer();
    this.#http.on('tlsClientError', (e) => this.#opts.log(`refused a TLS connection: ${e.message}`));
    this.#server = new WebSocketServer({
      server: this.#http,
      perMessageDeflate: false,
      maxPayload: MAX_FRAME_BYTES,
      verifyClient: (info: { req: http.IncomingMessage }, cb: (ok: boolean, code?: number, msg?: string) => void) => {
        const why = this.#refusal(info.req);
        if (!why) return cb(true);
        this.#opts.log(`refused a connection from ${info.req.socket.remoteAddress}: ${why}`);
        cb(false, 401, why);
      },
    });
    this.#server.on('connection', (ws, req) => this.#accepted(ws, req));
    this.#server.on('error', (e) => this.#opts.log(`server error: ${e.message}`));
    return new Promise((resolve, reject) => {
      this.#http!.once('error', reject);
      this.#http!.listen(this.#opts.port, this.#opts.host, () => {
        this.#http!.off('error', reject);
        this.#http!.on('error', (e) => this.#opts.log(`server error: ${e.message}`));
        resolve();
      });
    });
  }

  /** Why a connection must be refused (undefined: accept). */
  #refusal(req: http.IncomingMessage): string | undefined {
    if (this.#closed) return `${this.me} is closing`;
    const addr = req.socket.remoteAddress;
    const party = req.headers['x-tfe-party'];
    const client = req.headers['x-tfe-client'];
    const tlsSocket = this.#opts.tls ? (req.socket as TLSSocket) : undefined;
    if (!this.#opts.tls && !this.#opts.insecure && !isLoopback(addr)) return 'plain ws only on loopback (use TLS, or --insecure)';
    if (typeof party === 'string') {
      if (!this.#peers.has(party) || party >= this.me) return `unknown party '${party}' (not a peer that dials ${this.me})`;
      if (tlsSocket) {
        if (!tlsSocket.authorized) return `party '${party}' has no valid certificate from the cluster CA (${String(tlsSocket.authorizationError ?? 'none sent')})`;
        const cn = commonName(tlsSocket.getPeerCertificate());
        if (cn !== party) return `party '${party}' presented a certificate for '${cn}'`;
      }
      return undefined;
    }
    if (typeof client === 'string') return undefined;
    return 'no x-tfe-party or x-tfe-client header';
  }

  #accepted(ws: WebSocket, req: http.IncomingMessage): void {
    const party = req.headers['x-tfe-party'];
    if (typeof party === 'string') return this.#attach(party, ws);
    const name = `${CLIENT_PREFIX}${this.#nextClient++}`;
    const tlsSocket = this.#opts.tls ? (req.socket as TLSSocket) : undefined;
    this.#identity.set(name, tlsSocket?.authorized ? commonName(tlsSocket.getPeerCertificate()) : undefined);
    this.#attach(name, ws);
  }

  /**
   * Dials a peer and keeps the link up (re-dialing after a drop until close()); resolves once
   * connected. `asClient` dials as a client (clients dial every server).
   */
  connect(peer: PeerAddress, opts: { timeoutMs?: number; asClient?: boolean } = {}): Promise<void> {
    this.#peers.add(peer.name);
    if (this.connected(peer.name)) return Promise.resolve();
    const running = this.#dialing.get(peer.name);
    if (running) return running;
    const first = this.#dialLoop(peer, opts.timeoutMs ?? 10_000, opts.asClient ?? false);
    this.#dialing.set(peer.name, first);
    first.then(
      () => this.#dialing.delete(peer.name),
      () => this.#dialing.delete(peer.name),
    );
    return first;
  }

  async #dialLoop(peer: PeerAddress, timeoutMs: number, asClient: boolean): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let delay = 50;
    for (;;) {
      if (this.#closed) throw new Error(`${this.me}: endpoint is closed`);
      try {
        const ws = await this.#dialOnce(peer, asClient);
        this.#attach(peer.name, ws);
        // Keep the link: when it drops, dial again (the peer may be restarting).
        ws.once('close', () => {
          if (!this.#closed && !this.#dialing.has(peer.name))
            this.connect(peer, { timeoutMs: Number.POSITIVE_INFINITY, asClient }).catch(() => undefined);
        });
        return;
      } catch (e) {
        if (Date.now() > deadline) throw new Error(`${this.me} could not connect to ${peer.name} at ${peer.host}:${peer.port}: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(1000, delay * 2);
      }
    }
  }

  #dialOnce(peer: PeerAddress, asClient: boolean): Promise<WebSocket> {
    const tls = this.#opts.tls;
    return new Promise<WebSocket>((resolve, reject) => {
      const s = new WebSocket(`${tls ? 'wss' : 'ws'}://${peer.host}:${peer.port}`, {
        headers: asClient ? { 'x-tfe-client': this.me } : { 'x-tfe-party': this.me },
        perMessageDeflate: false,
        maxPayload: MAX_FRAME_BYTES,
        generateMask: asClient ? undefined : ZERO_MASK,
        ...(tls
          ? {
              ca: tls.ca,
              cert: tls.cert,
              key: tls.key,
              // Identity is the party name in the certificate (from the cluster CA), not the host.
              checkServerIdentity: (_host: string, cert: PeerCertificate) =>
                commonName(cert) === peer.name ? undefined : new Error(`${peer.name} presented a certificate for '${commonName(cert)}'`),
            }
          : {}),
      });
      s.once('open', () => resolve(s));
      s.once('unexpected-response', (_req, res) => {
        reject(new Error(`refused by ${peer.name}: ${res.statusCode} ${res.statusMessage ?? ''}`.trim()));
        s.terminate();
      });
      s.once('error', reject);
    });
  }

  #attach(peer: PartyName, ws: WebSocket): void {
    const old = this.#sockets.get(peer);
    this.#sockets.set(peer, ws);
    if (old && old !== ws) old.terminate(); // a reconnect replaces a half-dead link
    for (const w of this.#waitingFor.get(peer) ?? []) w(ws);
    this.#waitingFor.delete(peer);
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      try {
        if (!isBinary) throw new Error('text frames are not accepted');
        this.#onFrame(peer, data);
      } catch (e) {
        this.#opts.log(`closing the connection from ${peer}: ${(e as Error).message}`);
        ws.close(1008, (e as Error).message.slice(0, 120));
      }
    });
    ws.on('error', (e) => this.#opts.log(`connection with ${peer}: ${e.message}`));
    ws.on('close', (code, reason) => {
      if (this.#sockets.get(peer) !== ws) return;
      this.#sockets.delete(peer);
      if (peer.startsWith(CLIENT_PREFIX)) this.#identity.delete(peer);
      for (const id of this.#partial.keys()) if (id.startsWith(`${peer}|`)) this.#partial.delete(id);
      const why = `connection with ${peer} closed (${code}${reason.length ? `: ${reason}` : ''})`;
      this.#mailbox.failPeer(peer, new Error(why));
      if (!this.#closed) this.emit('peer-down', peer, why);
    });
    this.emit('peer-up', peer);
  }

  #onFrame(peer: PartyName, frame: Buffer): void {
    const { header, body } = decodeFrame(frame);
    const id = `${peer}|${header.session}|${header.key}`;
    let part = this.#partial.get(id);
    if (header.chunk === 0) {
      if (part) throw new Error(`message ${header.key} restarted before it completed`);
      const limit = peer.startsWith(CLIENT_PREFIX) ? this.#opts.maxClientMessageBytes : this.#opts.maxMessageBytes;
      if (header.total > limit) throw new Error(`message of ${header.total} bytes exceeds the limit of ${limit}`);
      part = { first: header, parts: [], received: 0 };
      this.#partial.set(id, part);
    } else if (!part || header.chunk !== part.parts.length) {
      throw new Error(`chunk ${header.chunk} of ${header.key} arrived out of order`);
    }
    part.parts.push(body);
    part.received += body.byteLength;
    if (part.received > part.first.total) throw new Error(`message ${header.key} is longer than announced`);
    if (part.parts.length < part.first.chunks) return;
    this.#partial.delete(id);
    if (part.received !== part.first.total) throw new Error(`message ${header.key} is shorter than announced`);
    // ws hands each message its own buffer, so the body can be used without another copy.
    const bodyAll = part.parts.length === 1 ? part.parts[0] : Buffer.concat(part.parts, part.received);
    const payload = toPayload(part.first, new Uint8Array(bodyAll.buffer, bodyAll.byteOffset, bodyAll.byteLength));
    if (header.key === ABORT_KEY) {
      const reason = payload.kind === 'control' ? String(payload.data) : 'aborted';
      this.#mailbox.abort(header.session, `${peer}: ${reason}`);
      this.emit('abort', header.session, `${peer}: ${reason}`);
    } else if (header.key === REQUEST_KEY) {
      this.emit('request', peer, header.session, payload);
    } else {
      this.#mailbox.deliver(peer, header.session, header.key, payload);
    }
  }

  /** The open socket to `peer`, waiting up to RECONNECT_WAIT_MS for a dropped link to return. */
  async #socket(peer: PartyName): Promise<WebSocket> {
    const s = this.#sockets.get(peer);
    if (s && s.readyState === WebSocket.OPEN) return s;
    if (peer.startsWith(CLIENT_PREFIX)) throw new Error(`${peer} has disconnected`);
    if (!this.#peers.has(peer)) throw new Error(`${this.me} has no peer '${peer}'`);
    return new Promise((resolve, reject) => {
      const waiter = (ws: WebSocket) => {
        clearTimeout(timer);
        resolve(ws);
      };
      const timer = setTimeout(() => {
        this.#waitingFor.set(peer, (this.#waitingFor.get(peer) ?? []).filter((w) => w !== waiter));
        reject(new Error(`${this.me} is not connected to ${peer}`));
      }, RECONNECT_WAIT_MS);
      this.#waitingFor.set(peer, [...(this.#waitingFor.get(peer) ?? []), waiter]);
    });
  }

  async send(to: PartyName, session: string, key: string, payload: Payload): Promise<void> {
    if (this.#closed) throw new Error(`${this.me}: endpoint is closed`);
    const ws = await this.#socket(to);
    for (const [prefix, body] of encodeFrames(session, key, payload)) {
      // Backpressure: when the socket's buffer is full, wait for this frame to be written.
      const wait = ws.bufferedAmount > HIGH_WATER;
      // Prefix and body go as two fragments of one message: the body is never copied here.
      ws.send(prefix, { binary: true, fin: body.byteLength === 0 });
      const sent = body.byteLength === 0
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => ws.send(body, { binary: true, fin: true }, (err) => (err ? reject(err) : resolve())));
      if (wait) await sent;
      else sent.catch((e: Error) => this.#opts.log(`send to ${to} failed: ${e.message}`));
    }
  }

  recv(from: PartyName, session: string, key: string): Promise<Payload> {
    if (this.#closed) return Promise.reject(new Error(`${this.me}: endpoint is closed`));
    return this.#mailbox.receive(from, session, key);
  }

  /** Aborts a session here (waiters fail with `reason`) and tells `notify` to do the same. */
  abortSession(session: string, reason: string, notify: readonly PartyName[] = []): void {
    this.#mailbox.abort(session, reason);
    for (const p of notify)
      if (this.connected(p)) this.send(p, session, ABORT_KEY, { kind: 'control', data: reason }).catch(() => undefined);
  }

  /** Frees whatever a finished session left behind and drops its stragglers. */
  endSession(session: string): void {
    this.#mailbox.end(session);
  }

  /** Messages and waiters held in the mailbox (for leak checks). */
  get pending(): number {
    return this.#mailbox.pending;
  }

  /** Closes every connection: with `reason`, peers are told why and queued frames flush first. */
  async close(reason?: string): Promise<void> {
    this.#closed = true;
    this.#mailbox.close(new Error(`${this.me}: endpoint closed while waiting`));
    if (reason) {
      const open = [...this.#sockets.values()].filter((ws) => ws.readyState === WebSocket.OPEN);
      await Promise.race([
        Promise.all(open.map((ws) => new Promise((r) => {
          ws.once('close', r);
          ws.close(1001, reason.slice(0, 120));
        }))),
        new Promise((r) => setTimeout(r, 1000)),
      ]);
    }
    for (const ws of this.#sockets.values()) ws.terminate();
    this.#server?.close();
    // Peers re-dial at once: a handshake caught in flight must not keep the server open.
    // A TLS handshake still in flight is not an HTTP connection yet, so close() could wait on it:
    // after a second, stop waiting (the listening socket is closed already).
    await new Promise<void>((r) => {
      if (!this.#http) return r();
      const t = setTimeout(r, 1000);
      t.unref();
      this.#http.close(() => {
        clearTimeout(t);
        r();
      });
      this.#http.closeAllConnections();
    });
  }
}
