// One browser client's connection to one server: opens the WebSocket (offering the 'tfe-client'
// subprotocol, which is how a browser, unable to set headers, says it is a client), sends
// frames, and files what arrives by (session, key) until someone asks for it. Every wait ends:
// opening has a timeout, and a closed socket fails whatever waits on it with the reason.
import { OPEN, type SocketFactory, type SocketLike } from './platform';
import { decodeFrame, encodeMessage, type Message, Reassembler, toMessage } from './wire';

/** The subprotocol a browser client offers (lib/net/handshake.ts accepts it as a client). */
export const CLIENT_PROTOCOL = 'tfe-client';

interface Waiter {
  resolve: (m: Message) => void;
  reject: (e: Error) => void;
}

export class ServerLink {
  #socket?: SocketLike;
  #opening?: Promise<void>;
  #reassembler = new Reassembler();
  /** Sessions this client has open; anything else that arrives is a straggler and is dropped. */
  #sessions = new Set<string>();
  #queued = new Map<string, Message>();
  #waiters = new Map<string, Waiter>();

  constructor(readonly name: string, readonly url: string, private readonly factory: SocketFactory) {}

  get open(): boolean {
    return this.#socket?.readyState === OPEN;
  }

  /** Opens the socket unless it is open; a dropped link is re-opened here, at the next request. */
  connect(timeoutMs: number): Promise<void> {
    if (this.open) return Promise.resolve();
    this.#opening ??= this.#dial(timeoutMs).finally(() => (this.#opening = undefined));
    return this.#opening;
  }

  #dial(timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let ws: SocketLike;
      try {
        ws = this.factory(this.url, [CLIENT_PROTOCOL]);
      } catch (e) {
        reject(new Error(`cannot connect to ${this.name} at ${this.url}: ${(e as Error).message}`));
        return;
      }
      ws.binaryType = 'arraybuffer';
      let settled = false;
      let detail = '';
      const fail = (why: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        // No-op handlers, not null: closing a socket still connecting reports an error (an
        // EventEmitter error with no listener would throw in Node's ws).
        ws.onopen = ws.onmessage = ws.onerror = ws.onclose = () => undefined;
        try {
          ws.close();
        } catch {
          // not open yet: nothing to close
        }
        reject(new Error(`cannot connect to ${this.name} at ${this.url}: ${why}`));
      };
      const timer = setTimeout(() => fail(`no connection within ${timeoutMs} ms`), timeoutMs);
      ws.onerror = (ev) => {
        // Browsers hide why a handshake failed (no status, no text); Node's ws says it.
        const m = (ev as { message?: unknown; error?: { message?: unknown } })?.message ?? (ev as { error?: { message?: unknown } })?.error?.message;
        if (typeof m === 'string' && m) detail = m;
      };
      ws.onclose = (ev) =>
        fail(detail
          ? `${detail}${/server response/i.test(detail) ? " (refused: the server's log names the reason)" : ''}`
          : `the connection was refused or dropped before it opened (code ${ev.code}). A browser does not say why; the usual causes: this page's origin is not in the cluster's allowedOrigins${this.url.startsWith('wss:') ? `, the browser does not trust the server's certificate (open ${this.url.replace(/^wss:/, 'https:')} once to see)` : ''}, or the server is down. The server's log names the reason.`);
      ws.onopen = () => {
        if (settled) return;
        if (ws.protocol !== CLIENT_PROTOCOL) return fail(`the server did not accept the '${CLIENT_PROTOCOL}' subprotocol (got '${ws.protocol}'): is it a tfjs-encrypted server with browser support?`);
        settled = true;
        clearTimeout(timer);
        this.#socket = ws;
        this.#reassembler = new Reassembler();
        ws.onmessage = (e) => this.#onMessage(e.data);
        ws.onerror = () => undefined; // the close that follows carries the news
        ws.onclose = (e) => this.#onClose(ws, `connection with ${this.name} closed (${e.code}${e.reason ? `: ${e.reason}` : ''})`);
        resolve();
      };
    });
  }

  #onMessage(data: unknown): void {
    if (!(data instanceof ArrayBuffer)) return this.#broken('the server sent a text frame');
    try {
      const { header, body } = decodeFrame(new Uint8Array(data));
      if (!this.#sessions.has(header.session)) return; // a straggler of a session that is over
      const done = this.#reassembler.add(header, body);
      if (!done) return;
      const id = `${done.first.session}\n${done.first.key}`;
      const msg = toMessage(done.first, done.body);
      const w = this.#waiters.get(id);
      if (w) {
        this.#waiters.delete(id);
        w.resolve(msg);
      } else {
        this.#queued.set(id, msg);
      }
    } catch (e) {
      this.#broken(`${this.name} broke the wire format: ${(e as Error).message}`);
    }
  }

  #broken(why: string): void {
    const ws = this.#socket;
    if (!ws) return;
    this.#onClose(ws, why);
    ws.close(1008, 'malformed frame');
  }

  #onClose(ws: SocketLike, why: string): void {
    if (this.#socket !== ws) return;
    this.#socket = undefined;
    ws.onmessage = ws.onclose = () => undefined;
    const err = new Error(why);
    for (const w of this.#waiters.values()) w.reject(err);
    this.#waiters.clear();
    this.#queued.clear();
    this.#reassembler.clear();
  }

  begin(session: string): void {
    this.#sessions.add(session);
  }

  /** Forgets a session: what it left queued is dropped, and whoever still waits on it is told. */
  end(session: string, why = `session ${session} ended`): void {
    this.#sessions.delete(session);
    this.#reassembler.endSession(session);
    const prefix = `${session}\n`;
    for (const id of [...this.#queued.keys()]) if (id.startsWith(prefix)) this.#queued.delete(id);
    for (const [id, w] of [...this.#waiters]) {
      if (!id.startsWith(prefix)) continue;
      this.#waiters.delete(id);
      w.reject(new Error(why));
    }
  }

  send(session: string, key: string, m: Message): void {
    const ws = this.#socket;
    if (!ws || ws.readyState !== OPEN) throw new Error(`${this.name} is not connected`);
    for (const f of encodeMessage(session, key, m)) ws.send(f);
  }

  /** The message (session, key) from this server; fails when the link closes or the session ends. */
  recv(session: string, key: string): Promise<Message> {
    const id = `${session}\n${key}`;
    const q = this.#queued.get(id);
    if (q) {
      this.#queued.delete(id);
      return Promise.resolve(q);
    }
    if (!this.#sessions.has(session)) return Promise.reject(new Error(`session ${session} is not open`));
    if (!this.open) return Promise.reject(new Error(`${this.name} is not connected`));
    if (this.#waiters.has(id)) return Promise.reject(new Error(`already waiting for ${key} from ${this.name}`));
    return new Promise((resolve, reject) => this.#waiters.set(id, { resolve, reject }));
  }

  close(): void {
    const ws = this.#socket;
    if (ws) {
      this.#onClose(ws, `the client closed its connection with ${this.name}`);
      ws.close(1000, 'client closed');
    }
  }
}
