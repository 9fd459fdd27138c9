// A lane: a plain TCP connection beside a server link over mutual TLS, carrying that link's
// messages sealed with AES-128-GCM in native code. Moving a gigabyte over the WebSocket link costs
// 2.5-3.4 CPU seconds at both ends together, most of it Node's TLS and WebSocket layers copying
// (bench/RESULTS.md, "What moving keys costs"); over a lane it costs the kernel's socket copies and
// the cipher (about 0.6 s), which matters when server2 deals gigabytes of keys while a batch runs.
//
// Who may use a lane: only the two ends of one TLS link. Its keys come from that link's TLS
// exporter (RFC 8446 section 7.5; label LANE_LABEL), which only the two ends of that TLS session
// can compute; the first 16 bytes name the lane (the dialer sends them first, so the listener
// knows which link it belongs to), the next 32 are one key per direction. A name is taken once:
// a replayed or second lane for a link is refused, and a lane that breaks takes its link down, so
// the next link (a new TLS session) gets new keys.
//
// Records: u32 BE length L | L bytes of ciphertext | 16-byte tag, the length as the associated
// data, the nonce the record's number in its direction (0, 1, 2, ...). So a record that is
// changed, dropped, repeated, reordered or moved to another lane fails its tag, and the lane is
// cut. Each direction's key is replaced by HMAC-SHA256(key, LANE_NEXT_KEY) once REKEY_BYTES have
// been sealed under it (both ends count the same records), as TLS 1.3 bounds what one AES-GCM key
// seals (RFC 8446 section 5.5: 2^24.5 full records, about 2^34.5 blocks); here 2^32 blocks.
// L is checked against the largest frame a link accepts before anything is allocated for it.
// A record holds one frame of the link's wire format (wire.ts), or, for a large body, the frame's
// prefix and then its body in the next record (SPLIT_FROM); either way the frame is checked as the
// link checks it.
import { createHmac } from 'node:crypto';
import type * as net from 'node:net';
import type { TLSSocket } from 'node:tls';

import { getBackend } from '../backend/backends';
import type { LaneOpening, NativeBinding } from '../backend/native_binding';

/** The upgrade header with which a dialer offers a lane and the listener answers with its lane port. */
export const LANE_HEADER = 'x-tfe-lane';
/** The TLS exporter label (RFC 5705: unregistered labels begin with EXPERIMENTAL). */
export const LANE_LABEL = 'EXPERIMENTAL-tfe-lane-v1';
export const LANE_ID_BYTES = 16;
const KEY_BYTES = 16;
const TAG_BYTES = 16;
const LENGTH_BYTES = 4;
/** Bytes sealed under one key before both ends move to the next (2^32 AES blocks). */
export const REKEY_BYTES = 2 ** 36;
const LANE_NEXT_KEY = 'tfe lane next key';
/** Above this many bytes waiting in the socket, a write waits for it to drain. */
const HIGH_WATER = 8 << 20;
/**
 * Frames whose body is this large go as two records, the prefix and then the body, so that the
 * receiver can read the (authenticated) prefix and open the body straight into the memory that
 * will hold it (LaneHandlers.target); smaller ones as one record.
 */
export const SPLIT_FROM = 64 << 10;
/** Records larger than this are sealed into reused buffers of SPARE_BYTES (a chunk and its header), at most MAX_SPARES kept. */
const SPARE_FROM = 64 << 10;
const SPARE_BYTES = (4 << 20) + 8192;
const MAX_SPARES = 4;
/**
 * TCP keep-alive on every lane after this long idle. A lane can be idle for minutes while its
 * link's WebSocket is kept alive by pings; a NAT or firewall between the hosts that forgets the
 * idle lane's flow would then drop its next records silently, and the link would look healthy
 * while every query on it waited for its timeout. The probes keep that state, and a peer gone for
 * good resets the lane (and so its link, which is dialed again).
 */
export const LANE_KEEPALIVE_MS = 15_000;
/**
 * TCP_USER_TIMEOUT on every lane (Linux): the kernel ends a lane whose sent data has gone
 * unacknowledged this long (native/src/binding/socket_opts.cc). Keep-alive covers an idle lane,
 * not a busy one: an on-path box that drops a busy lane's packets, or a peer host gone without a
 * reset, would otherwise be found only by TCP's retransmission timeout, about 15 minutes, with the
 * link healthy on its WebSocket's pings and every query on it waiting for its own timeout. Half
 * a minute is far beyond a round trip or a retransmission burst between hosts, and within the
 * query timeout (120 s by default). It also ends a lane whose peer reads nothing for this long
 * while the window is full, which only a process stalled past any query's use would do.
 */
export const LANE_USER_TIMEOUT_MS = 30_000;

export interface LaneKeys {
  /** The lane's name: what the dialer sends first. */
  id: Buffer;
  send: Buffer;
  recv: Buffer;
}

/** This end's lane keys from the TLS session of its link (both ends compute the same three values). */
export function laneKeys(tls: TLSSocket, side: 'dialer' | 'listener'): LaneKeys {
  const m = tls.exportKeyingMaterial(LANE_ID_BYTES + 2 * KEY_BYTES, LANE_LABEL, Buffer.alloc(0));
  const id = m.subarray(0, LANE_ID_BYTES), d2l = m.subarray(LANE_ID_BYTES, LANE_ID_BYTES + KEY_BYTES), l2d = m.subarray(LANE_ID_BYTES + KEY_BYTES);
  return side === 'dialer' ? { id, send: d2l, recv: l2d } : { id, send: l2d, recv: d2l };
}

/** The key that follows `key` in its direction. */
function nextKey(key: Buffer): Buffer {
  return createHmac('sha256', key).update(LANE_NEXT_KEY).digest().subarray(0, KEY_BYTES);
}

type Cipher = Pick<NativeBinding, 'laneSeal' | 'laneOpenBegin' | 'laneOpenUpdate' | 'laneOpenEnd'>;

export interface LaneHandlers {
  /** Each record's plaintext, in order (the memory is the record's own, L bytes exactly). */
  onRecord: (record: Buffer) => void;
  /** Called once when the lane ends (socket closed, a record refused, or close()). */
  onClose: (why: string) => void;
  /**
   * Where to open the next record, of `n` bytes (its length just read): memory of exactly n bytes
   * that will hold it, or undefined for a buffer of its own. What is written there before the
   * record's tag is checked is not yet authenticated; the record is delivered (as a view of that
   * memory) only once it is.
   */
  target?: (n: number) => Uint8Array | undefined;
}

export class Lane {
  #sent = 0;
  #opened = 0;
  #length = Buffer.alloc(LENGTH_BYTES);
  #lengthGot = 0;
  #record?: Buffer;
  #recordGot = 0;
  #opening?: LaneOpening;
  #tag = Buffer.alloc(TAG_BYTES);
  #tagGot = 0;
  #closed?: string;
  /** Records that came before anyone took them (the link is still being set up). */
  #queued: Buffer[] = [];
  #handlers?: LaneHandlers;
  readonly #cipher: Cipher;
  /** Send buffers written and free again. */
  #spares: Buffer[] = [];
  /** The wait for the socket's next drain that every record written above the high-water mark shares (#drainedOrClosed). */
  #drain?: Promise<void>;

  #sendKey: Buffer;
  #recvKey: Buffer;
  /** Bytes sealed (opened) under the current key of each direction. */
  #sentBytes = 0;
  #openedBytes = 0;

  private readonly rekeyBytes: number;
  /** The TCP user timeout the kernel holds for this lane (ms), or undefined where none is set. */
  readonly userTimeoutMs?: number;

  /**
   * `maxRecordBytes`: the largest record accepted; a peer that announces more is cut off.
   * `opts.rekeyBytes`: REKEY_BYTES, smaller only in tests (both ends must use the same);
   * `opts.userTimeoutMs`: LANE_USER_TIMEOUT_MS, other only in tests.
   */
  constructor(readonly socket: net.Socket, keys: LaneKeys, private readonly maxRecordBytes: number, opts: { rekeyBytes?: number; userTimeoutMs?: number } = {}) {
    this.#cipher = getBackend().native;
    this.#sendKey = keys.send;
    this.#recvKey = keys.recv;
    this.rekeyBytes = opts.rekeyBytes ?? REKEY_BYTES;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, LANE_KEEPALIVE_MS);
    try {
      this.userTimeoutMs = setUserTimeout(socket, opts.userTimeoutMs ?? LANE_USER_TIMEOUT_MS);
    } catch {
      // A socket the kernel refuses it on still makes a lane (keep-alive and the query timeout
      // bound it, as off Linux); `userTimeoutMs` says it is not set.
    }
    socket.on('data', (d: Buffer) => {
      try {
        this.#onData(d);
      } catch (e) {
        this.close(`a lane record could not be read: ${(e as Error).message}`);
      }
    });
    socket.on('error', (e) => this.close(`lane error: ${e.message}`));
    socket.on('close', () => this.close('lane closed'));
  }

  get closed(): boolean {
    return this.#closed !== undefined;
  }

  /** Keeps the records that come from now on until the next attach(). */
  detach(): void {
    this.#handlers = undefined;
  }

  /** Hands the records to `h` from now on (those that came before first), and the lane's end. */
  attach(h: LaneHandlers): void {
    this.#handlers = h;
    for (const r of this.#queued.splice(0)) if (!this.#deliver(r)) return;
    if (this.#closed !== undefined) h.onClose(this.#closed);
  }

  /**
   * Seals the parts as one record and writes it. `drained` resolves once the socket's buffer is
   * below its high-water mark again (at once when it is already), and rejects if the lane closes
   * first (what was buffered is lost); the parts are free for reuse when this returns (the record
   * is a sealed copy). A record that cannot be sealed throws and changes nothing: the next one
   * takes its number and key.
   */
  write(parts: Uint8Array[]): { drained: Promise<void> } {
    if (this.#closed !== undefined) throw new Error(`the lane is closed (${this.#closed})`);
    // Destroyed before its 'close' event has run: the bytes would go nowhere.
    if (this.socket.destroyed || !this.socket.writable) throw new Error('the lane\'s socket is closed');
    let n = 0;
    for (const p of parts) n += p.byteLength;
    const size = LENGTH_BYTES + n + TAG_BYTES;
    // Large records are sealed into buffers used again once written: fresh memory for every
    // record costs its page faults, as much as the cipher.
    const spare = size > SPARE_FROM ? this.#spares.pop() : undefined;
    const buf = spare && spare.byteLength >= size ? spare : size > SPARE_FROM ? Buffer.allocUnsafeSlow(Math.max(size, SPARE_BYTES)) : Buffer.allocUnsafe(size);
    const out = buf.subarray(0, size);
    out.writeUInt32BE(n, 0);
    // The key and record number move on only once the record is sealed, as the receiver's do
    // only for records it receives.
    const [key, keyBytes] = this.#sentBytes + n > this.rekeyBytes ? [nextKey(this.#sendKey), 0] : [this.#sendKey, this.#sentBytes];
    this.#cipher.laneSeal(key, this.#sent, out.subarray(0, LENGTH_BYTES), parts, out.subarray(LENGTH_BYTES));
    [this.#sendKey, this.#sentBytes] = [key, keyBytes + n];
    this.#sent++;
    if (size > SPARE_FROM) this.socket.write(out, () => this.#spares.length < MAX_SPARES && this.#closed === undefined && this.#spares.push(buf));
    else this.socket.write(out);
    if (this.socket.writableLength <= HIGH_WATER) return { drained: Promise.resolve() };
    return { drained: this.#drainedOrClosed() };
  }

  /**
   * The socket's next 'drain' (or its close), one wait shared by every record written above the
   * high-water mark until then: a drain means everything buffered is written, theirs included.
   * A listener pair per record piled up while many waited (Node warned of a leak past ten).
   */
  #drainedOrClosed(): Promise<void> {
    if (this.#drain) return this.#drain;
    const drain = new Promise<void>((resolve, reject) => {
      const off = () => {
        this.socket.off('drain', drained);
        this.socket.off('close', closed);
        this.#drain = undefined;
      };
      const drained = () => (off(), resolve());
      const closed = () => (off(), reject(new Error(`the lane closed before its buffered records were written${this.#closed ? ` (${this.#closed})` : ''}`)));
      this.socket.on('drain', drained);
      this.socket.on('close', closed);
    });
    // A caller that does not wait (a large body's header record) must not leave an unhandled rejection.
    drain.catch(() => undefined);
    return (this.#drain = drain);
  }

  close(why: string): void {
    if (this.#closed !== undefined) return;
    this.#closed = why;
    this.#record = undefined;
    this.#queued = [];
    this.socket.destroy();
    this.#handlers?.onClose(why);
  }

  /** Gives one record to its handler; false when the handler refused it (the lane is then cut). */
  #deliver(rec: Buffer): boolean {
    if (!this.#handlers) {
      this.#queued.push(rec);
      return true;
    }
    try {
      this.#handlers.onRecord(rec);
      return true;
    } catch (e) {
      this.close(`a lane record was refused: ${(e as Error).message}`);
      return false;
    }
  }

  #onData(d: Buffer): void {
    let off = 0;
    while (off < d.byteLength && this.#closed === undefined) {
      if (this.#record === undefined) {
        const k = Math.min(LENGTH_BYTES - this.#lengthGot, d.byteLength - off);
        d.copy(this.#length, this.#lengthGot, off, off + k);
        this.#lengthGot += k;
        off += k;
        if (this.#lengthGot < LENGTH_BYTES) return;
        const n = this.#length.readUInt32BE(0);
        if (n > this.maxRecordBytes) return this.close(`a lane record of ${n} bytes is over the limit of ${this.maxRecordBytes}`);
        const into = this.#handlers?.target?.(n);
        this.#record = into && into.byteLength === n ? Buffer.from(into.buffer, into.byteOffset, n) : Buffer.allocUnsafe(n);
        if (this.#openedBytes + n > this.rekeyBytes) [this.#recvKey, this.#openedBytes] = [nextKey(this.#recvKey), 0];
        this.#openedBytes += n;
        this.#opening = this.#cipher.laneOpenBegin(this.#recvKey, this.#opened++, this.#length);
        this.#recordGot = 0;
        this.#tagGot = 0;
      }
      const rec = this.#record;
      if (this.#recordGot < rec.byteLength) {
        // Decrypted straight from the socket's chunk into the record: no staging copy.
        const k = Math.min(rec.byteLength - this.#recordGot, d.byteLength - off);
        this.#cipher.laneOpenUpdate(this.#opening!, d.subarray(off, off + k), rec.subarray(this.#recordGot, this.#recordGot + k));
        this.#recordGot += k;
        off += k;
      }
      if (this.#recordGot < rec.byteLength) return;
      const k = Math.min(TAG_BYTES - this.#tagGot, d.byteLength - off);
      d.copy(this.#tag, this.#tagGot, off, off + k);
      this.#tagGot += k;
      off += k;
      if (this.#tagGot < TAG_BYTES) return;
      const opening = this.#opening!;
      this.#record = this.#opening = undefined;
      this.#lengthGot = 0;
      if (!this.#cipher.laneOpenEnd(opening, this.#tag)) return this.close('a lane record failed its authentication tag');
      if (!this.#deliver(rec)) return;
    }
  }
}

/**
 * TCP_USER_TIMEOUT on `socket` (LANE_USER_TIMEOUT_MS says why): the value the kernel now holds,
 * or undefined where there is none to set (not Linux, or a socket without a descriptor). The
 * descriptor is read from Node's TCP handle, which has no public accessor for it.
 */
export function setUserTimeout(socket: net.Socket, ms: number): number | undefined {
  const fd = socketFd(socket);
  if (fd === undefined) return undefined;
  const got = getBackend().native.tcpUserTimeout(fd, ms);
  return got < 0 ? undefined : got;
}

/** The descriptor of a connected socket (Node's TCP handle has no public accessor), or undefined. */
export function socketFd(socket: net.Socket): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}
