// A peer's frames, from their arrival on a WebSocket or a lane to the mailbox (ws_endpoint.ts owns
// the connections): each frame is decoded, a straggler of a finished session dropped, a new
// message checked against every limit (limits.ts) before anything is held for it, chunks joined,
// and the whole message routed: an abort notice ends its session, a request is an event, the rest
// is mail. A frame that breaks a rule closes its connection with the refusal (the endpoint's).
import type { Log } from '../log';
import { traceEvent, tracing } from '../trace';
import type { ClientSessions, Connection } from './connection';
import type { LaneHandlers } from './lane';
import { ABORT_BYTES, admitMessage, CLOSE, Refusal, type WsLimits } from './limits';
import { DuplicateMessage, type Mailbox } from './mailbox';
import { sanitizeForLog } from './sanitize';
import type { PartyName, Payload, Received } from './transport';
import { decodeFrame, type FrameHeader, prefixOnly, toPayload, WireError } from './wire';
import { ABORT_KEY, type ArrivalTarget, REQUEST_KEY, type WsEndpointOptions } from './ws_options';

/** What a client's held message costs besides its body and key (its mailbox slot and objects), counted against its limits. */
export const HELD_OVERHEAD = 256;

/** What the inbound path uses of its endpoint. */
export interface InboundHost {
  mailbox: Mailbox;
  sessions: ClientSessions;
  limits: WsLimits;
  log: Log;
  adopt: WsEndpointOptions['adopt'];
  holdInto: WsEndpointOptions['holdInto'];
  release: WsEndpointOptions['release'];
  /** The endpoint's connections (the limits for all clients together count them). */
  conns(): Iterable<Connection>;
  /** Ends (or aborts, with `abortReason`) a session everywhere in the endpoint. */
  finish(session: string, abortReason?: string, abort?: boolean): void;
  /** An abort notice came (the session is finished already): the endpoint's 'abort' event. */
  aborted(session: string, reason: string): void;
  /** A request came: the endpoint's 'request' event. */
  request(peer: PartyName, session: string, payload: Payload): void;
  /** Closes the connection with the refusal's code and reason. */
  refuse(conn: Connection, r: Refusal): void;
}

export class Inbound {
  /** Frames dropped as stragglers of finished sessions. */
  dropped = 0;
  /** Wire bytes received (frames with their headers), by kind of peer. */
  readonly received = { servers: 0, clients: 0 };

  constructor(private readonly h: InboundHost) {}

  /**
   * A lane's records: a frame in one record, or a large one as its prefix, then its body (lane.ts).
   * A server's tensor message of one chunk is then opened straight into the memory that will hold
   * it (holdInto), once its prefix has been authenticated, decoded and admitted. `cut` ends the
   * link when the lane ends (false when it is ending anyway).
   */
  laneReader(conn: Connection, cut: () => boolean): LaneHandlers {
    let split: { prefix: Buffer; into?: ArrivalTarget } | undefined;
    return {
      onRecord: (rec) => {
        if (split) {
          const { prefix, into } = split;
          split = undefined;
          const used = into !== undefined && rec.buffer === into.view.buffer;
          if (into && !used) into.drop();
          return this.onMessage(conn, [prefix, rec], true, used ? into : undefined);
        }
        const header = prefixOnly(rec);
        if (!header) return this.onMessage(conn, rec, true);
        split = { prefix: rec, into: this.#arrivalTarget(conn, header) };
      },
      target: (n) => (split?.into && split.into.view.byteLength === n ? split.into.view : undefined),
      onClose: (why) => {
        split?.into?.drop();
        split = undefined;
        if (cut()) this.h.log(`the lane of the link with ${conn.name} ended: ${sanitizeForLog(why)}`, 'connection-error', { peer: conn.name, reason: why });
      },
    };
  }

  /** Where a lane opens a server's message of one chunk (holdInto), when the limits admit it; undefined: as any other. */
  #arrivalTarget(conn: Connection, h: FrameHeader): ArrivalTarget | undefined {
    const holdInto = this.h.holdInto;
    if (!holdInto || conn.client || conn.refused || h.kind !== 'tensor' || h.chunks !== 1 || h.key === REQUEST_KEY || h.key === ABORT_KEY || this.h.mailbox.finished(h.session)) return undefined;
    try {
      // Nothing is allocated for a message the limits refuse (onMessage then refuses it).
      this.#admit(conn, h);
      return holdInto(h.session, h.dtype!, h.shape!);
    } catch {
      return undefined;
    }
  }

  /** `into`: where a lane already opened the frame's body (laneReader): taken on delivery, dropped otherwise. */
  onMessage(conn: Connection, data: Buffer | Buffer[], isBinary: boolean, into?: ArrivalTarget): void {
    this.received[conn.client ? 'clients' : 'servers'] += Array.isArray(data) ? data.reduce((a, d) => a + d.byteLength, 0) : data.byteLength;
    let taken = false;
    try {
      if (conn.refused) return; // refused: what is still in flight is ignored
      conn.lastActive = Date.now();
      conn.missed = 0; // a link busy sending is alive, pong or not
      if (!isBinary) throw new WireError('text frames are not accepted');
      const { header, body, alone } = decodeFrame(data);
      // A server's request (a notice: server0's start of a query) still comes in a session ended
      // here: the server layer frees what the notice names (the pooled index server2 dealt for it).
      const ended = this.h.mailbox.finished(header.session) && header.key !== REQUEST_KEY;
      const verdict = conn.client ? this.h.sessions.check(conn, header) : ended ? 'drop' : 'ok';
      if (verdict === 'drop') {
        this.dropped++; // a straggler of an ended or aborted session (its partial was freed then)
        // A session ended by prefix (a retired setup's pool sessions) while one of its messages was
        // arriving in chunks: nothing freed that partial then, and its later chunks end here.
        if (header.chunk > 0) conn.free(header.session);
        return;
      }
      // A client's control messages are its requests and aborts, acted on as they come; its data
      // goes as tensors. Control mail would be held decoded (JSON takes up to ~20x its wire size in
      // the heap), beyond what the limits count.
      if (conn.client && header.kind === 'control' && header.key !== REQUEST_KEY && header.key !== ABORT_KEY)
        throw new Refusal('malformed', CLOSE.POLICY, `a client sends control messages only as requests and aborts, not as ${sanitizeForLog(header.key, 40)}`);
      if (header.chunk === 0) {
        this.#admit(conn, header);
        // And each is parsed whole on the event loop as it comes: bounded before anything is held.
        if (conn.client && header.kind === 'control') {
          const [cap, what] = header.key === ABORT_KEY ? [ABORT_BYTES, 'an abort'] : [this.h.limits.maxClientRequestBytes, 'maxClientRequestBytes'];
          if (header.total > cap) throw new Refusal('messageBytes', CLOSE.TOO_BIG, `${header.key === ABORT_KEY ? 'abort' : 'request'} of ${header.total} bytes exceeds the limit of ${cap} (${what})`);
        }
      }
      const done = conn.add(header, body, alone);
      if (done?.spent && this.h.release) for (const b of done.spent) this.h.release(b); // copied into the joined message
      if (done) {
        taken = into !== undefined && done.body.buffer === into.view.buffer;
        this.#dispatch(conn, done.first, done.body, done.alone, taken ? into : undefined);
      }
    } catch (e) {
      const r = e instanceof Refusal ? e : new Refusal('malformed', CLOSE.POLICY, (e as Error).message);
      this.h.refuse(conn, r);
    } finally {
      if (into && !taken) into.drop();
    }
  }

  /** Checks a new message against every limit (limits.ts) before anything is held for it. */
  #admit(conn: Connection, h: FrameHeader): void {
    const holder = (c: Connection) => ({ client: c.client, unfinishedCount: c.unfinishedCount, heldBytes: this.h.mailbox.heldFrom(c.name).bytes + c.reserved });
    const clients = conn.client ? [...this.h.conns()].filter((c) => c.client).map(holder) : [];
    admitMessage(this.h.limits, holder(conn), clients, h);
  }

  #dispatch(conn: Connection, first: FrameHeader, body: Buffer, alone?: ArrayBuffer, into?: ArrivalTarget): void {
    if (tracing) traceEvent('recv', `${conn.name} ${first.key}`, body.byteLength);
    const payload = toPayload(first, new Uint8Array(body.buffer, body.byteOffset, body.byteLength));
    if (first.key === ABORT_KEY) {
      // Only a server, or the client that opened the session (connection.ts), gets here.
      const reason = `${conn.name}: ${sanitizeForLog(payload.kind === 'control' && payload.data !== undefined ? payload.data : 'aborted')}`;
      this.h.finish(first.session, reason, true);
      this.h.aborted(first.session, reason);
    } else if (first.key === REQUEST_KEY) {
      this.h.request(conn.name, first.session, payload);
    } else {
      // Read before a release empties the buffer. A client's message also counts what holding it
      // costs beyond its bytes (its key and mailbox entry), so empty ones cannot pile up uncounted.
      const bytes = body.byteLength + (conn.client ? first.key.length + HELD_OVERHEAD : 0);
      const filed = into ? into.take() : this.#adopted(conn, first.session, payload);
      // Held: the bytes were copied out, so the wire's buffer can go now.
      if (filed.kind === 'held' && alone) this.h.release?.(alone);
      try {
        this.h.mailbox.deliver(conn.name, first.session, first.key, filed, bytes);
      } catch (e) {
        if (conn.client || !(e instanceof DuplicateMessage)) throw e; // a client breaking the protocol: refused
        // A server's second message under one key of a session. A client can make that happen: it
        // uses a session id again once the sending server has forgotten that it ended (that memory
        // is bounded), where this server still holds the first (a message of a session it never
        // saw). So the session ends here, not the server's link with every query on it.
        const why = `${conn.name} sent ${first.key} twice in this session`;
        this.h.log(`ended session ${sanitizeForLog(first.session, 60)}: ${why}`, 'duplicate-message', { peer: conn.name, session: first.session, key: first.key });
        this.h.finish(first.session, why, true);
      }
    }
  }

  /** A server's message in the form `adopt` gives it (clients' messages are filed as they came). */
  #adopted(conn: Connection, session: string, payload: Payload): Received {
    const adopt = this.h.adopt;
    if (!adopt || conn.client) return payload;
    try {
      return adopt(session, payload);
    } catch (e) {
      this.h.log(`kept a message of ${session.slice(0, 60)} as it came: ${(e as Error).message}`, 'adopt-failed', { reason: (e as Error).message });
      return payload;
    }
  }
}
