// The limits of a WsEndpoint and the counters that show them at work. Every resource a peer can
// make this process hold (connections, sessions, bytes waiting in the mailbox, chunked messages
// not yet complete) has a bound here; a peer that would pass one is refused with a Refusal,
// which names the limit and becomes the close code and reason of that peer's connection only.
import { sanitizeForLog } from './sanitize';
import { CHUNK_BYTES, type FrameHeader, messageCost } from './wire';

export interface WsLimitOptions {
  /** Largest message (all chunks; a seed counts as what it expands to) from a server. Default 1 GiB. */
  maxMessageBytes?: number;
  /** Largest message from a client. Default: maxMessageBytes, at most 64 MiB. */
  maxClientMessageBytes?: number;
  /**
   * Largest request (a control message, parsed as JSON as it comes, on the event loop) from a
   * client; an abort takes at most ABORT_BYTES. Default 1 MiB: a deploy's topology of a large
   * model is tens of kilobytes, and JSON of tens of megabytes held the loop for seconds.
   */
  maxClientRequestBytes?: number;
  /** Bytes a server link may hold here: delivered but not yet received, plus chunked messages in progress (by their announced size). Default 4 GiB. */
  maxPendingBytesPerServer?: number;
  /** The same for one client connection. Default 2 x maxClientMessageBytes. */
  maxPendingBytesPerClient?: number;
  /** The same for all client connections together. Default max(1 GiB, maxPendingBytesPerClient). */
  maxPendingBytesAllClients?: number;
  /** Chunked messages in progress at once on one server link. Default max(64, maxPendingBytesPerServer / chunk size). */
  maxUnfinishedPerServer?: number;
  /** The same for one client connection. Default max(16, maxPendingBytesPerClient / chunk size). */
  maxUnfinishedPerClient?: number;
  /** The same for all client connections together. Default max(64, maxPendingBytesAllClients / chunk size). */
  maxUnfinishedAllClients?: number;
  /** Client connections at once. Default 256. */
  maxClientConnections?: number;
  /**
   * Client connections at once from one address (servers' links apart), so that one host cannot
   * take every place. Default min(64, maxClientConnections); raise it for clients behind one NAT or proxy.
   */
  maxClientConnectionsPerAddress?: number;
  /** Open sockets at once, handshakes in progress included. Default maxClientConnections + 64. */
  maxConnections?: number;
  /** Sessions one client connection may have open (opened by a request, not yet ended). Default 256. */
  maxSessionsPerClient?: number;
  /** A client connection with no message either way for this long is closed. Default 300 000 (5 min). */
  clientIdleMs?: number;
  /** Every connection is pinged this often. Default 15 000. */
  heartbeatMs?: number;
  /** A connection that answers none of this many pings in a row (and sends nothing) is dropped. Default 2. */
  heartbeatMisses?: number;
  /** A socket must finish its TLS and WebSocket handshake within this. Default 10 000. */
  handshakeTimeoutMs?: number;
}

export type WsLimits = Required<WsLimitOptions>;

const GIB = 1 << 30;
const MIB = 1 << 20;

/** Fills in the defaults (each derived so that traffic within one limit fits the others) and checks the values. */
export function resolveLimits(o: WsLimitOptions): WsLimits {
  const maxMessageBytes = o.maxMessageBytes ?? GIB;
  const maxClientMessageBytes = o.maxClientMessageBytes ?? Math.min(maxMessageBytes, 64 * MIB);
  const maxPendingBytesPerServer = o.maxPendingBytesPerServer ?? 4 * GIB;
  const maxPendingBytesPerClient = o.maxPendingBytesPerClient ?? 2 * maxClientMessageBytes;
  const maxPendingBytesAllClients = o.maxPendingBytesAllClients ?? Math.max(GIB, maxPendingBytesPerClient);
  const chunks = (bytes: number, min: number) => Math.max(min, Math.ceil(bytes / CHUNK_BYTES));
  const maxClientConnections = o.maxClientConnections ?? 256;
  const l: WsLimits = {
    maxMessageBytes,
    maxClientMessageBytes,
    maxClientRequestBytes: o.maxClientRequestBytes ?? Math.min(maxClientMessageBytes, MIB),
    maxPendingBytesPerServer,
    maxPendingBytesPerClient,
    maxPendingBytesAllClients,
    maxUnfinishedPerServer: o.maxUnfinishedPerServer ?? chunks(maxPendingBytesPerServer, 64),
    maxUnfinishedPerClient: o.maxUnfinishedPerClient ?? chunks(maxPendingBytesPerClient, 16),
    maxUnfinishedAllClients: o.maxUnfinishedAllClients ?? chunks(maxPendingBytesAllClients, 64),
    maxClientConnections,
    maxClientConnectionsPerAddress: o.maxClientConnectionsPerAddress ?? Math.min(64, maxClientConnections),
    maxConnections: o.maxConnections ?? maxClientConnections + 64,
    maxSessionsPerClient: o.maxSessionsPerClient ?? 256,
    clientIdleMs: o.clientIdleMs ?? 300_000,
    heartbeatMs: o.heartbeatMs ?? 15_000,
    heartbeatMisses: o.heartbeatMisses ?? 2,
    handshakeTimeoutMs: o.handshakeTimeoutMs ?? 10_000,
  };
  for (const [k, v] of Object.entries(l))
    if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`WsEndpoint option ${k} must be a positive integer, got ${String(v)}`);
  return l;
}

/** Largest abort a client may send (its reason, cut for the log anyway). */
export const ABORT_BYTES = 1024;

/** Why a peer was refused; one counter each in stats().refused. */
export type RefusalReason =
  | 'auth' // handshake: no/bad certificate or cluster secret, unknown party, plain ws off loopback
  | 'connections' // maxConnections, maxClientConnections, maxClientConnectionsPerAddress
  | 'malformed' // a frame or message that breaks the wire format
  | 'namespace' // a client touching a session it did not open
  | 'sessions' // maxSessionsPerClient
  | 'messageBytes' // maxMessageBytes, maxClientMessageBytes, maxClientRequestBytes, ws frame size
  | 'pendingBytes' // maxPendingBytes*
  | 'unfinished' // maxUnfinished*
  | 'idle' // clientIdleMs
  | 'heartbeat' // heartbeatMs x heartbeatMisses without a sign of life
  | 'pings'; // MAX_UNWRITTEN_PONGS: a peer pinging faster than it reads

export const REFUSAL_REASONS: readonly RefusalReason[] = ['auth', 'connections', 'malformed', 'namespace', 'sessions', 'messageBytes', 'pendingBytes', 'unfinished', 'idle', 'heartbeat', 'pings'];

/**
 * Pongs that may wait unwritten behind what a peer has not read. Each ping is answered; one that
 * pings faster than it reads would otherwise queue pongs without end. A heartbeat's pings (15 s
 * apart by default) leave a slow reader a quarter of an hour; a link's come-up pings (20) fit.
 */
export const MAX_UNWRITTEN_PONGS = 60;

/** WebSocket close codes used for refusals. */
export const CLOSE = {
  /** The peer broke a rule (wire format, namespace, its own share of a limit). */
  POLICY: 1008,
  /** A message larger than allowed. */
  TOO_BIG: 1009,
  /** This endpoint is full (all clients together): try again later. */
  TRY_LATER: 1013,
  /** Idle for too long. */
  GOING_AWAY: 1001,
} as const;

/** A refusal of a peer: the message names the limit (and its value) or the rule broken. */
export class Refusal extends Error {
  constructor(readonly reason: RefusalReason, readonly code: number, message: string) {
    super(message);
  }
}

export interface WsEndpointStats {
  /** Open connections: server links and client connections. */
  connections: { servers: number; clients: number };
  /** Open sockets, handshakes in progress included (bounded by maxConnections). */
  sockets: number;
  /** Messages delivered to the mailbox and not yet received, and their bytes. */
  pendingMessages: number;
  pendingBytes: number;
  /** recv()s waiting for a message. */
  waiting: number;
  /** Chunked messages in progress, and the bytes they hold so far. */
  unfinishedMessages: number;
  unfinishedBytes: number;
  /** Sessions clients have opened and not yet ended. */
  clientSessions: number;
  /** Frames dropped because their session had ended or been aborted (stragglers). */
  droppedFrames: number;
  /** Wire bytes sent to and received from server links and clients (frame headers included), since start. */
  bytes: { sent: { servers: number; clients: number }; received: { servers: number; clients: number } };
  /** Connections refused or closed, per reason (since the endpoint was created). */
  refused: Record<RefusalReason, number>;
}

/** What a connection holds here, for the limit checks. */
export interface Holder {
  client: boolean;
  /** Chunked messages in progress. */
  unfinishedCount: number;
  /** Undelivered bytes in the mailbox plus the announced bytes of its unfinished messages. */
  heldBytes: number;
}

/**
 * Checks a new message (its first frame's header) against every limit before anything is held
 * for it; throws the Refusal for the first limit it would pass. `clients`: every client
 * connection (for the all-clients limits; empty when `conn` is a server link).
 */
export function admitMessage(L: WsLimits, conn: Holder, clients: readonly Holder[], h: FrameHeader): void {
  const key = sanitizeForLog(h.key, 40);
  const [maxMsg, msgOpt] = conn.client ? [L.maxClientMessageBytes, 'maxClientMessageBytes'] : [L.maxMessageBytes, 'maxMessageBytes'];
  const cost = messageCost(h);
  if (cost > maxMsg) throw new Refusal('messageBytes', CLOSE.TOO_BIG, `message ${key} of ${cost} bytes exceeds the limit of ${maxMsg} (${msgOpt})`);
  if (h.chunks > 1) {
    const [max, opt] = conn.client ? [L.maxUnfinishedPerClient, 'maxUnfinishedPerClient'] : [L.maxUnfinishedPerServer, 'maxUnfinishedPerServer'];
    if (conn.unfinishedCount >= max) throw new Refusal('unfinished', CLOSE.POLICY, `${conn.unfinishedCount + 1} chunked messages in progress exceed the limit of ${max} (${opt})`);
    const all = clients.reduce((n, c) => n + c.unfinishedCount, 0);
    if (conn.client && all >= L.maxUnfinishedAllClients)
      throw new Refusal('unfinished', CLOSE.TRY_LATER, `${all + 1} chunked messages in progress from all clients exceed the limit of ${L.maxUnfinishedAllClients} (maxUnfinishedAllClients)`);
  }
  const held = conn.heldBytes + h.total;
  const [max, opt] = conn.client ? [L.maxPendingBytesPerClient, 'maxPendingBytesPerClient'] : [L.maxPendingBytesPerServer, 'maxPendingBytesPerServer'];
  if (held > max) throw new Refusal('pendingBytes', CLOSE.POLICY, `${held} bytes pending from this connection exceed the limit of ${max} (${opt})`);
  if (conn.client) {
    const all = clients.reduce((n, c) => n + c.heldBytes, 0) + h.total;
    if (all > L.maxPendingBytesAllClients)
      throw new Refusal('pendingBytes', CLOSE.TRY_LATER, `${all} bytes pending from all clients exceed the limit of ${L.maxPendingBytesAllClients} (maxPendingBytesAllClients)`);
  }
}
