// Setting up the lane beside a server link (lane.ts says what a lane is and why it is safe):
//   1. the dialer offers one in its upgrade request (LANE_HEADER: offer);
//   2. the listener, when it has lanes, answers with its lane port in the upgrade response, and
//      expects a lane named by the TLS exporter of that connection;
//   3. the dialer connects to the lane port and sends the lane's name (16 bytes);
//   4. the listener finds the link of that name (each name once), and sends an empty record, the
//      first sealed with its key: the dialer knows the lane is bound, and to whom;
//   5. both ends take the link into use with its lane; every message then goes over the lane,
//      in order, and the WebSocket carries only pings and the close.
// A lane that does not come within the handshake timeout fails its link (the dialer dials again,
// as after any failed dial); so does a lane that breaks later.
import * as net from 'node:net';
import type { TLSSocket } from 'node:tls';

import { plainAddress } from './handshake';
import { Lane, LANE_ID_BYTES, type LaneKeys, laneKeys } from './lane';
import { sanitizeForLog, throttledLog } from './sanitize';
import { MAX_FRAME_BYTES } from './wire';
import type { Log } from '../log';

/** Dials the lane of a link just opened (steps 3 and 4); resolves once the listener has bound it. */
export function dialLane(host: string, port: number, tls: TLSSocket, timeoutMs: number): Promise<Lane> {
  const keys = laneKeys(tls, 'dialer');
  return new Promise<Lane>((resolve, reject) => {
    const sock = net.connect(port, host);
    const lane = new Lane(sock, keys, MAX_FRAME_BYTES);
    const fail = (why: string) => {
      clearTimeout(timer);
      lane.close(why);
      reject(new Error(`the lane at ${host}:${port} failed: ${why}`));
    };
    const timer = setTimeout(() => fail(`no answer within ${timeoutMs} ms (is the lane port reachable?)`), timeoutMs);
    sock.once('connect', () => sock.write(keys.id));
    lane.attach({
      onRecord: (rec) => {
        if (rec.byteLength !== 0) throw new Error('the lane did not start with its ready record');
        clearTimeout(timer);
        lane.detach();
        resolve(lane);
      },
      onClose: fail,
    });
  });
}

export interface LaneListenerOptions {
  host: string;
  port: number;
  handshakeTimeoutMs: number;
  /** Lane sockets not yet bound to a link, at most (more are dropped at once). */
  maxUnbound: number;
  log: Log;
  /** A socket that named no expected lane, or too many at once. */
  refused: (reason: 'auth' | 'connections') => void;
}

/** The listener's lane port (steps 2 and 4). */
export class LaneListener {
  readonly server: net.Server;
  #expected = new Map<string, { keys: LaneKeys; bound: (lane: Lane) => void }>();
  /** The addresses lanes are expected from (their links' peers), with how many each. */
  #from = new Map<string, number>();
  #unbound = new Set<net.Socket>();
  #lanes = new Set<Lane>();
  #refusals: Log;

  constructor(private readonly o: LaneListenerOptions) {
    this.#refusals = throttledLog(o.log);
    this.server = net.createServer((s) => this.#onSocket(s));
    this.server.on('error', (e) => o.log(`lane port error: ${e.message}`, 'listener-error', { reason: e.message }));
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo | null)?.port ?? this.o.port;
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.o.port, this.o.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  /** Expects the lane of the link on `tls`; resolves with it once bound, rejects after the handshake timeout. */
  expect(tls: TLSSocket): Promise<Lane> {
    const keys = laneKeys(tls, 'listener');
    const name = keys.id.toString('hex');
    // A lane comes from the host its link came from (the dialer dials both at one address).
    const from = plainAddress(tls.remoteAddress);
    this.#from.set(from, (this.#from.get(from) ?? 0) + 1);
    let expected = true;
    const unexpect = () => {
      if (!expected) return;
      expected = false;
      const n = (this.#from.get(from) ?? 1) - 1;
      if (n > 0) this.#from.set(from, n);
      else this.#from.delete(from);
    };
    return new Promise<Lane>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#expected.delete(name);
        unexpect();
        reject(new Error(`no lane came within ${this.o.handshakeTimeoutMs} ms (handshakeTimeoutMs)`));
      }, this.o.handshakeTimeoutMs);
      tls.once('close', () => {
        clearTimeout(timer);
        unexpect();
        if (this.#expected.delete(name)) reject(new Error('the link closed before its lane came'));
      });
      this.#expected.set(name, {
        keys,
        bound: (lane) => {
          clearTimeout(timer);
          unexpect();
          resolve(lane);
        },
      });
    });
  }

  #onSocket(s: net.Socket): void {
    // Only from where a lane is expected: anyone who could reach the port held its places for
    // unbound sockets (each up to the handshake timeout), and real lanes were then refused and
    // their links ran without one. Counted, not logged: `tfe doctor` probes the port this way,
    // and a scan would fill the log.
    if (!this.#from.has(plainAddress(s.remoteAddress))) {
      this.o.refused('auth');
      s.destroy();
      return;
    }
    if (this.#unbound.size >= this.o.maxUnbound) {
      this.o.refused('connections');
      s.destroy();
      return;
    }
    this.#unbound.add(s);
    let head = Buffer.alloc(0);
    const drop = (why: string, reason: 'auth' | 'connections') => {
      cleanup();
      this.o.refused(reason);
      this.#refusals(`refused a lane connection from ${s.remoteAddress}: ${why}`, 'connection-refused', { address: s.remoteAddress, rule: reason, reason: why });
      s.destroy();
    };
    const timer = setTimeout(() => drop(`it named no lane within ${this.o.handshakeTimeoutMs} ms`, 'auth'), this.o.handshakeTimeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      this.#unbound.delete(s);
      s.off('data', onData);
    };
    const onData = (d: Buffer) => {
      head = Buffer.concat([head, d]);
      if (head.byteLength < LANE_ID_BYTES) return;
      // The dialer says nothing more until it has the ready record.
      if (head.byteLength > LANE_ID_BYTES) return drop('it sent more than a lane name before its lane was bound', 'auth');
      const name = head.toString('hex');
      const want = this.#expected.get(name);
      if (!want) return drop('it named no lane this server expects (a lane belongs to one TLS link and is taken once)', 'auth');
      this.#expected.delete(name);
      cleanup();
      const lane = new Lane(s, want.keys, MAX_FRAME_BYTES);
      this.#lanes.add(lane);
      s.once('close', () => this.#lanes.delete(lane));
      lane.write([]); // the ready record (step 4)
      want.bound(lane);
    };
    s.on('data', onData);
    s.on('error', (e) => {
      if (this.#unbound.has(s)) drop(sanitizeForLog(e.message), 'auth');
    });
    s.once('close', () => cleanup());
  }

  /** Stops listening and cuts every lane. */
  async close(): Promise<void> {
    for (const s of this.#unbound) s.destroy();
    for (const l of this.#lanes) l.close('the server is closing');
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
