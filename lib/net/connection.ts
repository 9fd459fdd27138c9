// One connection's state on a WsEndpoint: chunked messages being reassembled (with what they
// hold, so limits can be checked and everything freed when the connection goes), the client
// sessions it opened, and its liveness (last activity, missed pings).
import WebSocket from 'ws';

import { type Lane, SPLIT_FROM } from './lane';
import type { Mailbox } from './mailbox';
import { CLOSE, MAX_UNWRITTEN_PONGS, Refusal, type WsLimits } from './limits';
import type { PartyName } from './transport';
import { sanitizeForLog } from './sanitize';
import { aloneIn, type FrameHeader, WireError } from './wire';

/** Above this many bytes buffered in the socket, a send waits for its frame to be written. */
const HIGH_WATER = 8 << 20;
/**
 * Bodies up to this size travel joined to their prefix, as one WebSocket frame. Two fragments are
 * two writes, and on a TLS socket the second waits in the stream's buffer until the first
 * completes, an event-loop turn later: while this process goes on with its own work, the peer
 * holds the prefix and waits for the body (0.1-0.4 ms per message on the benchmark VM, several
 * per round). Copying a small body costs microseconds; large ones go as fragments, uncopied.
 */
export const JOIN_BODY_BYTES = 256 << 10;

interface Unfinished {
  first: FrameHeader;
  parts: Buffer[];
  /** The memory each part holds alone, if it does (spent once the parts are joined). */
  alone: (ArrayBuffer | undefined)[];
  received: number;
}

export class Connection {
  readonly #unfinished = new Map<string, Unfinished>();
  /** Announced bytes of the unfinished messages: what counts against the limits. */
  reserved = 0;
  /** Bytes those messages hold so far. */
  received = 0;
  /** Client sessions this connection opened, oldest first. */
  readonly sessions = new Set<string>();
  lastActive = Date.now();
  /** Pings sent since the last sign of life. */
  missed = 0;
  /**
   * The least round trip a ping took on this link, in ms (undefined before the first pong): the
   * link's delay without the peer's busy spells, which delay pongs (ws answers pings from the
   * event loop).
   */
  rttMs?: number;
  /** Round trips timed on this link (pongs that echoed the ping awaited). */
  rttSamples = 0;
  /** The ping whose pong is awaited: its number (echoed in the pong) and when it went. */
  #ping?: { id: number; at: number };
  #pings = 0;
  /** Refused: what still arrives is ignored, and what it held is already freed. */
  refused = false;
  /** Pongs handed to the socket and not yet written (they wait behind what the peer has not read). */
  #unwrittenPongs = 0;

  /**
   * `client`: the peer is a client (this endpoint accepted it as `client#N`). `lane`: the link's
   * lane (lane.ts), over which every message then goes; the WebSocket keeps the pings.
   */
  constructor(readonly name: PartyName, readonly ws: WebSocket, readonly client: boolean, readonly lane?: Lane) {}

  get unfinishedCount(): number {
    return this.#unfinished.size;
  }

  /**
   * Adds a decoded frame (whose limits were checked at its first chunk); returns the whole message
   * once complete, with the memory that holds it alone (`alone`, wire.ts DecodedFrame) and, for a
   * message of several chunks, the chunks' own memory, no longer needed once joined (`spent`).
   */
  add(h: FrameHeader, body: Buffer, alone?: ArrayBuffer): { first: FrameHeader; body: Buffer; alone?: ArrayBuffer; spent?: ArrayBuffer[] } | undefined {
    const id = JSON.stringify([h.session, h.key]);
    let u = this.#unfinished.get(id);
    const key = sanitizeForLog(h.key, 60);
    if (h.chunk === 0) {
      if (u) throw new WireError(`message ${key} restarted before it completed`);
      if (h.chunks === 1) return { first: h, body, alone };
      u = { first: h, parts: [], alone: [], received: 0 };
      this.#unfinished.set(id, u);
      this.reserved += h.total;
    } else if (!u || h.chunk !== u.parts.length) {
      throw new WireError(`chunk ${h.chunk} of ${key} arrived out of order`);
    } else if (h.total !== u.first.total || h.kind !== u.first.kind) {
      throw new WireError(`chunk ${h.chunk} of ${key} contradicts its first chunk`);
    }
    u.parts.push(body);
    u.alone.push(alone);
    u.received += body.byteLength;
    this.received += body.byteLength;
    if (u.parts.length < u.first.chunks) return undefined;
    this.#forget(id, u);
    const whole = Buffer.concat(u.parts, u.received);
    return { first: u.first, body: whole, alone: aloneIn(whole), spent: u.alone.filter((a) => a !== undefined) };
  }

  #forget(id: string, u: Unfinished): void {
    this.#unfinished.delete(id);
    this.reserved -= u.first.total;
    this.received -= u.received;
  }

  /**
   * Sends a message's frames, with backpressure; errors of frames not waited for go to `onError`.
   * `onWritten` runs once the last frame is written (ws's callback: the socket is done with the
   * bytes), never after an error.
   */
  async send(frames: [Buffer, Uint8Array][], onError: (e: Error) => void, onWritten?: () => void): Promise<void> {
    const ws = this.ws;
    this.lastActive = Date.now();
    if (this.lane) return this.#sendOnLane(this.lane, frames, onWritten);
    for (const [i, [prefix, body]] of frames.entries()) {
      // Backpressure: when the socket's buffer is full, wait for this frame to be written.
      const wait = ws.bufferedAmount > HIGH_WATER;
      const done = (resolve: () => void, reject: (e: Error) => void) => (err?: Error) => (err ? reject(err) : resolve());
      let sent: Promise<void>;
      if (body.byteLength <= JOIN_BODY_BYTES) {
        const whole = Buffer.concat([prefix, body]);
        sent = new Promise<void>((resolve, reject) => ws.send(whole, { binary: true, fin: true }, done(resolve, reject)));
      } else {
        // A large body goes as the second fragment of the prefix's message, never copied here.
        ws.send(prefix, { binary: true, fin: false });
        sent = new Promise<void>((resolve, reject) => ws.send(body, { binary: true, fin: true }, done(resolve, reject)));
      }
      if (onWritten && i === frames.length - 1) sent = sent.then(onWritten);
      if (wait) await sent;
      else sent.catch(onError);
    }
  }

  /**
   * Over the lane each frame is one sealed record, or two for a large body (its prefix, then the
   * body: SPLIT_FROM). Records are sealed copies, so the frames' memory is free as soon as the
   * last is sealed (`onWritten` runs then), and nothing waits for the socket unless its buffer is
   * over the lane's high-water mark.
   */
  async #sendOnLane(lane: Lane, frames: [Buffer, Uint8Array][], onWritten?: () => void): Promise<void> {
    for (const [prefix, body] of frames) {
      if (body.byteLength >= SPLIT_FROM) {
        lane.write([prefix]);
        await lane.write([body]).drained;
      } else {
        await lane.write([prefix, body]).drained;
      }
    }
    onWritten?.();
  }

  /**
   * One heartbeat: 'dead' when the last heartbeatMisses pings went unanswered and nothing else
   * came (pongs are answered by ws even while the peer's event loop is briefly busy, and any
   * message counts as a sign of life, so only a silent link is dead); 'idle' for a client
   * silent both ways for clientIdleMs; otherwise pings and says 'ok'.
   */
  beat(L: WsLimits): 'ok' | 'dead' | 'idle' {
    if (this.ws.readyState !== WebSocket.OPEN || this.refused) return 'ok';
    if (this.missed >= L.heartbeatMisses) return 'dead';
    if (this.client && Date.now() - this.lastActive > L.clientIdleMs) return 'idle';
    this.missed++;
    this.ping();
    return 'ok';
  }

  /**
   * Answers a ping (the endpoint's sockets do not answer by themselves: ws's own bound on such
   * pongs closed the connection unlogged and uncounted). False, answering nothing, when
   * MAX_UNWRITTEN_PONGS already wait: the peer pings faster than it reads, and is refused.
   */
  answerPing(data: Buffer): boolean {
    if (this.ws.readyState !== WebSocket.OPEN) return true;
    if (this.#unwrittenPongs >= MAX_UNWRITTEN_PONGS) return false;
    this.#unwrittenPongs++;
    this.ws.pong(data, undefined, () => this.#unwrittenPongs--);
    return true;
  }

  /** Pings the peer with a number the pong echoes, timing the round trip (`rttMs`) when it comes. */
  ping(): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    const id = ++this.#pings;
    this.#ping = { id, at: performance.now() };
    this.ws.ping(Buffer.from(String(id)));
  }

  /**
   * A pong came: the round trip of the last ping when it echoes that ping's number (a late pong of
   * an earlier ping, timed against a later one, would read too short).
   */
  pong(data?: Buffer): void {
    this.missed = 0;
    const p = this.#ping;
    if (!p || data === undefined || data.toString() !== String(p.id)) return;
    this.#ping = undefined;
    const rtt = performance.now() - p.at;
    this.rttSamples++;
    this.rttMs = this.rttMs === undefined ? rtt : Math.min(this.rttMs, rtt);
  }

  /**
   * Times the link's round trip now and then every `gapMs`, `times` pings in all (`rttMs` keeps
   * the least): a link comes up while both ends are busy setting up (and a busy peer answers a
   * ping late), and the heartbeat's pings come only every heartbeatMs.
   */
  measure(times = RTT_SAMPLES, gapMs = RTT_GAP_MS): void {
    let sent = 1;
    this.ping();
    const next = setInterval(() => {
      if (sent >= times || this.ws.readyState !== WebSocket.OPEN) return clearInterval(next);
      // A ping still awaited is left to its pong (on a link slower than gapMs a new ping would
      // make every pong late, and nothing would be timed), unless it looks lost.
      if (this.#ping && performance.now() - this.#ping.at < PING_PATIENCE_MS) return;
      sent++;
      this.ping();
    }, gapMs);
    next.unref();
  }

  /** Frees the unfinished messages of one session, or all of them. */
  free(session?: string): void {
    for (const [id, u] of this.#unfinished) if (session === undefined || u.first.session === session) this.#forget(id, u);
  }
}

/** A server link's round trip is timed this many times as it comes up, this far apart (Connection.measure). */
const RTT_SAMPLES = 20;
const RTT_GAP_MS = 250;
/** How long measure() waits for a ping's pong before it sends the next ping anyway. */
const PING_PATIENCE_MS = 5000;

/** Client session ids: random UUIDs (what PredictionClient uses); server-internal sessions never look like one. */
export const CLIENT_SESSION = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The namespace of client sessions. A client opens a session with its request (the first frame
 * it sends for that session id) and may then send mail and an abort for it, and nothing else: a
 * frame for a session that is not a UUID, or that another connection opened, or that it never
 * opened, is refused. So a client cannot reach a server-internal session (`epoch:...`), nor
 * another client's.
 */
export class ClientSessions {
  #owner = new Map<string, Connection>();

  constructor(private readonly mailbox: Mailbox, private readonly requestKey: string, private readonly maxPerClient: number) {}

  get size(): number {
    return this.#owner.size;
  }

  /** Checks a client's frame: 'ok' to process it, 'drop' for a straggler of a finished session; throws a Refusal. */
  check(conn: Connection, h: FrameHeader): 'ok' | 'drop' {
    const s = sanitizeForLog(h.session, 60);
    if (!CLIENT_SESSION.test(h.session)) {
      // The server layer answers a request with a malformed id itself (it never opens a session).
      if (h.key === this.requestKey) return 'ok';
      throw new Refusal('namespace', CLOSE.POLICY, `session '${s}' is not a client session (client session ids are UUIDs)`);
    }
    const owner = this.#owner.get(h.session);
    if (owner && owner !== conn) throw new Refusal('namespace', CLOSE.POLICY, `session ${s} belongs to another connection`);
    if (this.mailbox.finished(h.session)) return 'drop';
    if (owner) return 'ok';
    if (h.key !== this.requestKey || h.chunk !== 0) throw new Refusal('namespace', CLOSE.POLICY, `session ${s} was not opened by this client (its request comes first)`);
    this.#open(conn, h.session);
    return 'ok';
  }

  #open(conn: Connection, session: string): void {
    // The server layer ends every session it is done with (answered, refused, run or dropped), so
    // each one still open is in progress: a query computing or waiting to be paired holds nothing
    // in the mailbox and would have looked idle. (Forgetting the oldest such released a running
    // query's session, and the client's next frame for it then closed its connection.)
    if (conn.sessions.size >= this.maxPerClient)
      throw new Refusal('sessions', CLOSE.POLICY, `more than ${this.maxPerClient} sessions in progress on this connection`);
    this.#owner.set(session, conn);
    conn.sessions.add(session);
  }

  /** Whether a client opened the session here (and it has not ended). */
  owned(session: string): boolean {
    return this.#owner.has(session);
  }

  /** Forgets a session (it ended, was aborted, or is idle). */
  release(session: string): void {
    const c = this.#owner.get(session);
    if (!c) return;
    c.sessions.delete(session);
    this.#owner.delete(session);
  }

  /** Forgets every session of a connection; returns them. */
  releaseAll(conn: Connection): string[] {
    const all = [...conn.sessions];
    for (const s of all) this.release(s);
    return all;
  }
}
