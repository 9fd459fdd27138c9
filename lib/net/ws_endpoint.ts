// One party's WebSocket endpoint: a server for peers that dial it, connections to the peers it
// dials (the lexicographically smaller name dials), chunked binary frames with backpressure, and
// a mailbox per (sender, session, key). Plain ws is accepted only from loopback unless `insecure`.
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

import WebSocket, { WebSocketServer } from 'ws';

import type { PartyName, Payload } from './transport';
import { decodeFrame, encodeFrames, type FrameHeader, MAX_FRAME_BYTES, toPayload } from './wire';

export interface PeerAddress {
  name: PartyName;
  host: string;
  port: number;
}

export interface WsEndpointOptions {
  me: PartyName;
  host?: string;
  /** 0 picks a free port (see `port` after start()). */
  port?: number;
  /** Allow plain ws from non-loopback peers (there is no TLS yet). */
  insecure?: boolean;
  /** Largest message (all chunks) accepted from a peer; bigger ones close the connection. */
  maxMessageBytes?: number;
  log?: (msg: string) => void;
}

const HIGH_WATER = 8 << 20;
const ZERO_MASK = (mask: Buffer) => mask.fill(0); // server-to-server: masking only costs (ws skips all-zero masks)

interface Slot {
  payload?: Payload;
  waiter?: { resolve: (p: Payload) => void; reject: (e: Error) => void };
}

interface Partial {
  first: FrameHeader;
  parts: Buffer[];
  received: number;
}

function isLoopback(addr: string | undefined): boolean {
  return !!addr && (addr === '::1' || addr.startsWith('127.') || addr === '::ffff:127.0.0.1' || addr.startsWith('::ffff:127.'));
}

export class WsEndpoint {
  readonly me: PartyName;
  #opts: Required<Omit<WsEndpointOptions, 'log'>> & { log: (m: string) => void };
  #server?: WebSocketServer;
  #sockets = new Map<PartyName, WebSocket>();
  #waitingFor = new Map<PartyName, ((ws: WebSocket) => void)[]>();
  #slots = new Map<string, Slot>();
  #partial = new Map<string, Partial>();
  #peers = new Set<PartyName>();
  #closed = false;

  constructor(opts: WsEndpointOptions) {
    this.me = opts.me;
    this.#opts = { host: '127.0.0.1', port: 0, insecure: false, maxMessageBytes: 1 << 30, ...opts, log: opts.log ?? ((m) => console.error(`[tfe ${opts.me}] ${m}`)) };
  }

  get port(): number {
    return (this.#server?.address() as AddressInfo | undefined)?.port ?? this.#opts.port;
  }

  /** Starts listening; resolves once the server is bound. */
  start(expectedPeers: readonly PartyName[]): Promise<void> {
    for (const p of expectedPeers) this.#peers.add(p);
    return new Promise((resolve, reject) => {
      this.#server = new WebSocketServer({
        host: this.#opts.host,
        port: this.#opts.port,
        perMessageDeflate: false,
        maxPayload: MAX_FRAME_BYTES,
        verifyClient: (info: { req: IncomingMessage }, cb: (ok: boolean, code?: number, msg?: string) => void) => {
          const peer = String(info.req.headers['x-tfe-party'] ?? '');
          const addr = info.req.socket.remoteAddress;
          if (!this.#peers.has(peer) || peer >= this.me) {
            this.#opts.log(`refused a connection from ${addr} claiming party '${peer}': not a peer that dials ${this.me}`);
            return cb(false, 401, 'unknown party');
          }
          if (!this.#opts.insecure && !isLoopback(addr)) {
            this.#opts.log(`refused plain ws from ${addr} (${peer}): only loopback without TLS, or --insecure`);
            return cb(false, 403, 'plain ws only on loopback');
          }
          cb(true);
        },
      });
      this.#server.on('connection', (ws, req) => this.#attach(String(req.headers['x-tfe-party']), ws));
      let listening = false;
      this.#server.on('error', (e) => (listening ? this.#opts.log(`server error: ${e.message}`) : reject(e)));
      this.#server.on('listening', () => {
        listening = true;
        resolve();
      });
    });
  }

  /** Dials a peer (retrying while it starts), for peers whose name sorts after ours. */
  async connect(peer: PeerAddress, timeoutMs = 10_000): Promise<void> {
    this.#peers.add(peer.name);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const ws = await new Promise<WebSocket>((resolve, reject) => {
          const s = new WebSocket(`ws://${peer.host}:${peer.port}`, {
            headers: { 'x-tfe-party': this.me },
            perMessageDeflate: false,
            maxPayload: MAX_FRAME_BYTES,
            generateMask: ZERO_MASK,
          });
          s.once('open', () => resolve(s));
          s.once('error', reject);
        });
        this.#attach(peer.name, ws);
        return;
      } catch (e) {
        if (Date.now() > deadline) throw new Error(`${this.me} could not connect to ${peer.name} at ${peer.host}:${peer.port}: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  #attach(peer: PartyName, ws: WebSocket): void {
    this.#sockets.set(peer, ws);
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
      if (this.#sockets.get(peer) === ws) this.#sockets.delete(peer);
      const why = new Error(`connection with ${peer} closed (${code}${reason.length ? `: ${reason}` : ''})`);
      for (const [id, slot] of this.#slots) if (id.startsWith(`${peer}|`) && slot.waiter) {
        slot.waiter.reject(why);
        this.#slots.delete(id);
      }
    });
  }

  #onFrame(peer: PartyName, frame: Buffer): void {
    const { header, body } = decodeFrame(frame);
    const id = `${peer}|${header.session}|${header.key}`;
    let part = this.#partial.get(id);
    if (header.chunk === 0) {
      if (part) throw new Error(`message ${header.key} restarted before it completed`);
      if (header.total > this.#opts.maxMessageBytes) throw new Error(`message of ${header.total} bytes exceeds the limit of ${this.#opts.maxMessageBytes}`);
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
    this.#deliverLocal(id, toPayload(part.first, new Uint8Array(bodyAll.buffer, bodyAll.byteOffset, bodyAll.byteLength)));
  }

  #deliverLocal(id: string, payload: Payload): void {
    const slot = this.#slots.get(id);
    if (slot?.waiter) {
      this.#slots.delete(id);
      slot.waiter.resolve(payload);
    } else if (slot?.payload) {
      throw new Error(`duplicate message ${id}`);
    } else {
      this.#slots.set(id, { payload });
    }
  }

  async #socket(peer: PartyName): Promise<WebSocket> {
    const s = this.#sockets.get(peer);
    if (s && s.readyState === WebSocket.OPEN) return s;
    if (!this.#peers.has(peer)) throw new Error(`${this.me} has no peer '${peer}'`);
    return new Promise((resolve) => this.#waitingFor.set(peer, [...(this.#waitingFor.get(peer) ?? []), resolve]));
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
    const id = `${from}|${session}|${key}`;
    const slot = this.#slots.get(id);
    if (slot?.payload) {
      this.#slots.delete(id);
      return Promise.resolve(slot.payload);
    }
    return new Promise((resolve, reject) => this.#slots.set(id, { waiter: { resolve, reject } }));
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const s of this.#slots.values()) s.waiter?.reject(new Error(`${this.me}: endpoint closed while waiting`));
    this.#slots.clear();
    for (const ws of this.#sockets.values()) ws.terminate();
    await new Promise<void>((r) => (this.#server ? this.#server.close(() => r()) : r()));
  }
}
