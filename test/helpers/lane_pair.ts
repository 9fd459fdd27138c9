// Two lanes over one loopback socket pair, with mirrored keys (test/lane.test.ts,
// test/lane_stall.test.ts). `got` collects what the receiving lane delivers, `closed` its end.
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';

import { Lane, type LaneKeys } from '../../lib/net/lane';
import { MAX_FRAME_BYTES } from '../../lib/net/wire';

export interface LanePair {
  send: Lane;
  recv: Lane;
  /** The sending lane's socket. */
  raw: net.Socket;
  got: Buffer[];
  closed: Promise<string>;
  keys: LaneKeys;
}

/** `rekey`: each end's rekey interval in bytes; `userTimeoutMs`: both ends' TCP user timeout. */
export async function lanePair(opts: { rekey?: { send?: number; recv?: number }; userTimeoutMs?: number } = {}): Promise<LanePair> {
  const id = randomBytes(16), k1 = randomBytes(16), k2 = randomBytes(16);
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const raw = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await new Promise((r) => raw.once('connect', r));
  const s = await accepted;
  server.close();
  const keys = { id, send: k1, recv: k2 };
  const send = new Lane(raw, keys, MAX_FRAME_BYTES, { rekeyBytes: opts.rekey?.send, userTimeoutMs: opts.userTimeoutMs });
  const recv = new Lane(s, { id, send: k2, recv: k1 }, MAX_FRAME_BYTES, { rekeyBytes: opts.rekey?.recv, userTimeoutMs: opts.userTimeoutMs });
  const got: Buffer[] = [];
  const closed = new Promise<string>((resolve) => recv.attach({ onRecord: (r) => got.push(Buffer.from(r)), onClose: resolve }));
  return { send, recv, raw, got, closed, keys };
}
