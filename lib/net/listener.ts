// The accepting side of a WsEndpoint: an http(s) server with a WebSocket server on it. Every raw
// socket counts against maxConnections from its first byte, and one that has not finished its
// TLS and HTTP handshake within handshakeTimeoutMs is dropped, so idle or half-open sockets
// cannot pile up before any WebSocket exists. Whether an upgrade is accepted is the endpoint's
// call (`admission`).
// Under TLS, each connection's certificate is judged as the connection is made (peer_trust.ts:
// the CA and/or the pins) and the verdict is recorded on the socket for the handshake rules; when
// the TLS material changes in place (a rotated certificate), new connections get the new
// certificate and connections already up are left alone.
import * as http from 'node:http';
import * as https from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

import type WebSocket from 'ws';
import { WebSocketServer } from 'ws';

import { COMPUTE_VERSION } from '../compute_version';
import { COMPUTE_HEADER, PARTY_HEADER, type TlsMaterial } from './handshake';
import { type Lane, LANE_HEADER } from './lane';
import { LaneListener } from './lane_link';
import { CLOSE, type RefusalReason } from './limits';
import { judgeSocket } from './peer_trust';
import { sanitizeForLog, throttledLog } from './sanitize';
import { TLS_CIPHERS } from './tls_suites';
import { MAX_FRAME_BYTES } from './wire';
import type { Log } from '../log';

export interface ListenerOptions {
  host: string;
  port: number;
  tls?: TlsMaterial;
  maxConnections: number;
  handshakeTimeoutMs: number;
  log: Log;
  /** Why an upgrade must be refused, with its HTTP status (undefined: accept). */
  admission: (req: http.IncomingMessage) => { status: number; why: string; reason: RefusalReason } | undefined;
  /** A connection accepted, with its lane when the link has one (taken into use only then). */
  accepted: (ws: WebSocket, req: http.IncomingMessage, lane?: Lane) => void;
  refused: (reason: RefusalReason) => void;
  /** Under TLS: give server links that offer one a lane (lane_link.ts), on this port (0: any free one). */
  lanes?: { port: number };
}

export class Listener {
  readonly http: http.Server | https.Server;
  readonly wss: WebSocketServer;
  readonly sockets = new Set<Socket>();
  #refusedSockets = 0;
  /** Set once the server listens: errors before that are listen()'s. */
  #listening = false;
  #refusals: Log;
  #unsubscribe?: () => void;
  readonly lanes?: LaneListener;
  /** Lanes expected for upgrades answered with a lane port, until their connection is taken. */
  #lanesFor = new WeakMap<http.IncomingMessage, Promise<Lane>>();

  constructor(private readonly o: ListenerOptions) {
    this.#refusals = throttledLog(o.log);
    const t = o.handshakeTimeoutMs;
    const tls = o.tls;
    // Client certificates are requested but checked per connection (handshake.ts): servers must
    // present one, prediction clients need not.
    this.http = tls
      ? https.createServer({ ca: tls.ca, cert: tls.cert, key: tls.key, ciphers: TLS_CIPHERS, honorCipherOrder: true, requestCert: true, rejectUnauthorized: false, handshakeTimeout: t, headersTimeout: t, requestTimeout: t, connectionsCheckingInterval: Math.min(30_000, Math.max(50, t / 4)) })
      : http.createServer({ headersTimeout: t, requestTimeout: t, connectionsCheckingInterval: Math.min(30_000, Math.max(50, t / 4)) });
    this.http.on('connection', (s: Socket) => this.#onSocket(s));
    if (tls) {
      // Client certificates are not rejected by OpenSSL (clients need none); the verdict that
      // counts is ours, recorded where the handshake rules and the endpoint read it.
      this.http.on('secureConnection', (s: TLSSocket) => {
        const v = judgeSocket(tls, s);
        s.authorized = !v.why;
        s.authorizationError = (v.why ?? null) as unknown as Error;
      });
      this.#unsubscribe = tls.subscribe?.(() => {
        try {
          (this.http as https.Server).setSecureContext({ ca: tls.ca, cert: tls.cert, key: tls.key, ciphers: TLS_CIPHERS, honorCipherOrder: true });
        } catch (e) {
          o.log(`could not take the new TLS material into use (new connections still get the previous certificate): ${(e as Error).message}`, 'tls-reload-failed', { reason: (e as Error).message });
        }
      });
    }
    // A peer that opens a socket and closes it before saying anything (a reachability probe such as
    // the CLI's, a port scanner) is not a refusal worth a log line; failed handshakes are.
    this.http.on('tlsClientError', (e: NodeJS.ErrnoException, s: TLSSocket) => {
      if (e.code === 'ECONNRESET' && /socket hang up/.test(e.message)) return;
      this.#refusals(`refused a TLS connection: ${sanitizeForLog(e.message)}`, 'connection-refused', { address: s.remoteAddress, reason: e.message });
    });
    this.wss = new WebSocketServer({
      server: this.http,
      perMessageDeflate: false,
      // The endpoint answers pings itself, bounding the pongs a peer leaves unread (connection.ts).
      autoPong: false,
      maxPayload: MAX_FRAME_BYTES,
      verifyClient: (info: { req: http.IncomingMessage }, cb: (ok: boolean, code?: number, msg?: string) => void) => {
        const no = o.admission(info.req);
        if (!no) return cb(true);
        o.refused(no.reason);
        this.#refusals(`refused a connection from ${info.req.socket.remoteAddress}: ${sanitizeForLog(no.why, 300)}`, 'connection-refused', { address: info.req.socket.remoteAddress, rule: no.reason, reason: no.why });
        cb(false, no.status, no.why);
      },
    });
    if (tls && o.lanes)
      this.lanes = new LaneListener({ host: o.host, port: o.lanes.port, handshakeTimeoutMs: t, maxUnbound: Math.max(4, Math.ceil(o.maxConnections / 4)), log: o.log, refused: (r) => o.refused(r) });
    // Every upgrade answers with this server's compute version; dialing servers check it (dialer.ts).
    this.wss.on('headers', (headers, req) => {
      headers.push(`${COMPUTE_HEADER}: ${COMPUTE_VERSION}`);
      // Every upgrade names the lane port (`tfe doctor` checks that it can be reached); a server
      // (admitted as one: handshake.ts) that offers a lane has its lane expected there.
      if (this.lanes) headers.push(`${LANE_HEADER}: ${this.lanes.port}`);
      if (this.lanes && req.headers[LANE_HEADER] === 'offer' && typeof req.headers[PARTY_HEADER] === 'string') {
        const lane = this.lanes.expect(req.socket as TLSSocket);
        lane.catch(() => undefined); // reported when the connection is taken
        this.#lanesFor.set(req, lane);
      }
    });
    this.wss.on('connection', (ws, req) => {
      const lane = this.#lanesFor.get(req);
      if (!lane) return o.accepted(ws, req);
      this.#lanesFor.delete(req);
      // Nothing is read while the lane is bound: the endpoint attaches the link (and resumes it)
      // only then, and a message read before would reach no listener (dialer.ts, 'open').
      ws.pause();
      lane.then(
        (l) => {
          if (ws.readyState !== ws.OPEN) l.close('its link closed');
          else o.accepted(ws, req, l);
        },
        (e: Error) => {
          this.#refusals(`refused a server link from ${req.socket.remoteAddress}: ${sanitizeForLog(e.message)}`, 'connection-refused', { address: req.socket.remoteAddress, rule: 'auth', reason: e.message });
          ws.close(CLOSE.POLICY, `its lane failed: ${e.message}`.slice(0, 120));
        },
      );
    });
    // ws re-emits the http server's errors: logged here, once, and only once listening (a failure
    // to listen is listen()'s rejection, which its caller reports: `tfe server`'s 'fatal' line).
    this.wss.on('error', (e) => {
      if (this.#listening) o.log(`server error: ${e.message}`, 'listener-error', { reason: e.message });
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(this.o.port, this.o.host, () => {
        this.http.off('error', reject);
        this.#listening = true;
        resolve();
      });
    });
    // The lane port after the server's own, so that its own port is taken first (a server whose
    // port is taken says so, naming it).
    try {
      await this.lanes?.listen();
    } catch (e) {
      await new Promise<void>((r) => this.http.close(() => r()));
      throw new Error(`cannot take the lane port ${this.o.lanes?.port ?? 0} on ${this.o.host} (lanePort): ${(e as Error).message}`);
    }
  }

  #onSocket(s: Socket): void {
    if (this.sockets.size < this.o.maxConnections) {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
      return;
    }
    this.o.refused('connections');
    this.#refusedSockets++;
    const why = `too many connections: the limit is ${this.o.maxConnections} (maxConnections)`;
    this.#refusals(`refused a connection from ${s.remoteAddress}: ${why} (${this.#refusedSockets} so far)`, 'connection-refused', { address: s.remoteAddress, rule: 'connections', reason: why });
    // Plain http can still say why; a TLS socket has not even done its handshake.
    if (this.o.tls) s.destroy();
    else s.end(`HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${why.length}\r\n\r\n${why}`, () => s.destroy());
  }

  /** Stops listening; after a second, stops waiting for handshakes caught in flight. */
  async close(): Promise<void> {
    this.#unsubscribe?.();
    this.wss.close();
    await this.lanes?.close();
    // A TLS handshake still in flight is not an HTTP connection yet, so close() could wait on it:
    // after a second, stop waiting (the listening socket is closed already).
    await new Promise<void>((r) => {
      const t = setTimeout(r, 1000);
      t.unref();
      this.http.close(() => {
        clearTimeout(t);
        r();
      });
      this.http.closeAllConnections();
    });
  }
}
