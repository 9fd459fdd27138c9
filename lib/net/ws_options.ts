// What a WsEndpoint (ws_endpoint.ts) is made with, and the two keys its frames route by.
import type { Log } from '../log';
import type { DType } from '../tensor/dtype';
import type { TlsMaterial } from './handshake';
import type { WsLimitOptions } from './limits';
import type { PartyName, Payload, Received } from './transport';

export interface WsEndpointOptions extends WsLimitOptions {
  me: PartyName;
  host?: string;
  /** 0 picks a free port (see `port` after start()). */
  port?: number;
  /** TLS (wss): mutual between servers, server-authenticated for clients. */
  tls?: TlsMaterial;
  /** Allow plain ws from non-loopback peers. */
  insecure?: boolean;
  /** Plain ws: server links send this and must present it to be accepted (ignored under TLS). */
  clusterSecret?: Buffer | string;
  /** Origins whose browser pages may connect as clients (handshake.ts); default none. */
  allowedOrigins?: readonly string[];
  log?: Log;
  /**
   * Called on each message from a server as it arrives, before the mailbox files it: may return
   * it in another form, e.g. a tensor copied into native memory (HeldPayload), so that a message
   * that waits long (the offline pool's) does not sit in a JavaScript buffer. If it throws, the
   * message is filed as it came.
   */
  adopt?: (session: string, payload: Payload) => Received;
  /**
   * Over a lane, a server's tensor message of one chunk may be opened straight into the memory
   * that will hold it: given the message's dtype and shape (read from its authenticated prefix and
   * admitted), returns that memory and how to take it (the held payload) or drop it; undefined:
   * the message arrives as any other and goes to `adopt`.
   */
  holdInto?: (session: string, dtype: DType, shape: number[]) => ArrivalTarget | undefined;
  /**
   * Under TLS, server links get a lane (lane.ts: a plain TCP connection beside the link, its
   * records sealed with keys from the link's TLS session), which moves bulk data at a fraction of
   * the CPU; both ends must have it on. Default true.
   */
  lanes?: boolean;
  /** The port lanes are accepted on (default 0: any free port; the link's upgrade tells the dialer which). */
  lanePort?: number;
  /**
   * A server's endpoint: a client session no client has opened here whose messages (from other
   * servers) have waited this long is ended. A query a client sent to one server alone leaves
   * that server's messages to the others in a session they never see; nothing else would ever end
   * it there. Servers set it from their query timeout and pairing wait; unset (a client's
   * endpoint, whose own sessions no client opens), nothing is ended so.
   */
  orphanSessionMs?: number;
  /**
   * Frees memory this endpoint holds alone and no longer needs, at once rather than at some later
   * garbage collection: a received message's buffer once `adopt` copied it (returned it held),
   * and a sent tensor's bytes once written, when the sender made them for that message alone
   * (`transient`). Without it, both wait for the collector (wire_buffers.ts says why that costs).
   */
  release?: (buffer: ArrayBuffer) => void;
}

/** Memory a lane opens a message into (WsEndpointOptions.holdInto). */
export interface ArrivalTarget {
  /** Exactly the message's bytes. */
  view: Uint8Array;
  /** The message once its record was authenticated and admitted. */
  take(): Received;
  /** The message will not come (refused, dropped, or its lane closed). */
  drop(): void;
}

/** Key of a request (from a client, or a notice between servers): a 'request' event, not mail. */
export const REQUEST_KEY = 'req';
/** Key of an abort notice: the receiver aborts that session locally. */
export const ABORT_KEY = '__abort';
