// The wire format (v2) of lib/net/wire.ts, for the browser: no Buffer, only Uint8Array, DataView
// and TextEncoder. One binary WebSocket message per frame:
//   u32 header length (little-endian) | header (JSON, UTF-8) | body (a chunk of the payload)
// Control payloads travel as JSON in the body. test/browser_wire.test.ts checks both directions
// against the Node implementation, so the two cannot drift apart silently.
import { assertDType, bytesPerElement, type DType } from '../tensor/dtype';

export const WIRE_VERSION = 2;
/** A message the page accepts at most (the Node client's bound, 1 GiB); a seed's bytes at most. */
const MAX_MESSAGE_BYTES = 2 ** 30;
const MAX_SEED_BYTES = 64;
/** Must equal lib/net/wire.ts CHUNK_BYTES: the server checks every chunk's size against it. */
export const CHUNK_BYTES = 4 << 20;
export const MAX_HEADER_BYTES = 4096;

export type Kind = 'tensor' | 'seed' | 'control';

export interface FrameHeader {
  v: number;
  session: string;
  key: string;
  kind: Kind;
  chunk: number;
  chunks: number;
  total: number;
  dtype?: string;
  shape?: number[];
  nonce?: string;
}

/** What a message carries once reassembled. */
export type Message =
  | { kind: 'control'; data: unknown }
  | { kind: 'tensor'; dtype: string; shape: number[]; data: Uint8Array }
  | { kind: 'seed'; dtype: string; shape: number[]; seed: Uint8Array; nonce: bigint };

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

function chunkCount(total: number): number {
  return Math.max(1, Math.ceil(total / CHUNK_BYTES));
}

/** The frames of one message, each a complete WebSocket message (prefix and body in one buffer). */
export function encodeMessage(session: string, key: string, m: Message): Uint8Array[] {
  const body = m.kind === 'control' ? (m.data === undefined ? new Uint8Array(0) : enc.encode(JSON.stringify(m.data))) : m.kind === 'seed' ? m.seed : m.data;
  const chunks = chunkCount(body.byteLength);
  const frames: Uint8Array[] = [];
  for (let i = 0; i < chunks; i++) {
    const h: FrameHeader = { v: WIRE_VERSION, session, key, kind: m.kind, chunk: i, chunks, total: body.byteLength };
    if (i === 0 && m.kind !== 'control') {
      h.dtype = m.dtype;
      h.shape = m.shape;
      if (m.kind === 'seed') h.nonce = m.nonce.toString();
    }
    const head = enc.encode(JSON.stringify(h));
    if (head.byteLength > MAX_HEADER_BYTES) throw new Error(`message header for ${key.slice(0, 80)} is ${head.byteLength} bytes (max ${MAX_HEADER_BYTES})`);
    const part = body.subarray(i * CHUNK_BYTES, Math.min(body.byteLength, (i + 1) * CHUNK_BYTES));
    const frame = new Uint8Array(4 + head.byteLength + part.byteLength);
    new DataView(frame.buffer).setUint32(0, head.byteLength, true);
    frame.set(head, 4);
    frame.set(part, 4 + head.byteLength);
    frames.push(frame);
  }
  return frames;
}

/** Parses one frame from a server; throws naming what is malformed (a server bug or an impostor). */
export function decodeFrame(frame: Uint8Array): { header: FrameHeader; body: Uint8Array } {
  if (frame.byteLength < 4) throw new Error(`frame of ${frame.byteLength} bytes is too short`);
  const len = new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint32(0, true);
  if (len > MAX_HEADER_BYTES || 4 + len > frame.byteLength) throw new Error(`frame header length ${len} is invalid`);
  let h: FrameHeader;
  try {
    h = JSON.parse(dec.decode(frame.subarray(4, 4 + len))) as FrameHeader;
  } catch {
    throw new Error('frame header is not valid JSON');
  }
  if (!h || typeof h !== 'object' || h.v !== WIRE_VERSION) throw new Error(`unsupported frame version ${String(h?.v)} (this client speaks ${WIRE_VERSION})`);
  if (typeof h.session !== 'string' || typeof h.key !== 'string' || !['tensor', 'seed', 'control'].includes(h.kind)) throw new Error('frame header lacks session, key or kind');
  const ints = [h.chunk, h.chunks, h.total];
  if (!ints.every((x) => Number.isSafeInteger(x) && x >= 0) || h.chunk >= h.chunks || h.chunks !== chunkCount(h.total)) throw new Error('frame chunk numbers are inconsistent');
  const body = frame.subarray(4 + len);
  if (body.byteLength !== Math.min(CHUNK_BYTES, h.total - h.chunk * CHUNK_BYTES)) throw new Error(`chunk ${h.chunk} carries ${body.byteLength} bytes, not what its header announces`);
  // What a message declares is checked at its first chunk, before anything is held for it, as the
  // Node side checks it (lib/net/wire.ts): its size, its dtype, and a tensor's bytes against its shape.
  if (h.chunk === 0 && h.total > MAX_MESSAGE_BYTES) throw new Error(`a message of ${h.total} bytes is over the page's limit of ${MAX_MESSAGE_BYTES}`);
  if (h.chunk === 0 && h.kind !== 'control') {
    if (!Array.isArray(h.shape) || h.shape.length > 8 || !h.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new Error('frame shape is invalid');
    let dtype: DType;
    try {
      dtype = assertDType(h.dtype);
    } catch (e) {
      throw new Error((e as Error).message.slice(0, 100));
    }
    const elements = h.shape.reduce((a, d) => a * d, 1);
    if (h.kind === 'tensor' && elements * bytesPerElement(dtype) !== h.total) throw new Error(`tensor of shape [${h.shape.join(',').slice(0, 60)}] ${dtype} announces ${h.total} bytes`);
    if (h.kind === 'seed' && (h.total > MAX_SEED_BYTES || typeof h.nonce !== 'string' || !/^\d{1,20}$/.test(h.nonce))) throw new Error(`seed of ${h.total} bytes or its nonce is invalid`);
  }
  return { header: h, body };
}

/** A whole message from its first header and all its bytes. */
export function toMessage(first: FrameHeader, body: Uint8Array): Message {
  if (first.kind === 'control') {
    if (body.byteLength === 0) return { kind: 'control', data: undefined };
    try {
      return { kind: 'control', data: JSON.parse(dec.decode(body)) as unknown };
    } catch {
      throw new Error(`control message of ${body.byteLength} bytes is not valid JSON`);
    }
  }
  if (first.kind === 'seed') return { kind: 'seed', dtype: first.dtype!, shape: first.shape!, seed: body, nonce: BigInt(first.nonce ?? '0') };
  return { kind: 'tensor', dtype: first.dtype!, shape: first.shape!, data: body };
}

/** Reassembles chunked messages of one connection. */
export class Reassembler {
  #open = new Map<string, { first: FrameHeader; parts: Uint8Array[]; received: number }>();

  /** Adds a frame; returns the message once its last chunk is in. */
  add(h: FrameHeader, body: Uint8Array): { first: FrameHeader; body: Uint8Array } | undefined {
    if (h.chunks === 1) return { first: h, body };
    const id = JSON.stringify([h.session, h.key]);
    let u = this.#open.get(id);
    if (h.chunk === 0) {
      if (u) throw new Error(`message ${h.key} restarted before it completed`);
      this.#open.set(id, (u = { first: h, parts: [], received: 0 }));
    } else if (!u || h.chunk !== u.parts.length || h.total !== u.first.total) {
      throw new Error(`chunk ${h.chunk} of ${h.key} arrived out of order`);
    }
    u.parts.push(body);
    u.received += body.byteLength;
    if (u.parts.length < h.chunks) return undefined;
    this.#open.delete(id);
    const all = new Uint8Array(u.received);
    let off = 0;
    for (const p of u.parts) {
      all.set(p, off);
      off += p.byteLength;
    }
    return { first: u.first, body: all };
  }

  clear(): void {
    this.#open.clear();
  }

  /** Drops the partial messages of a session that ended (their later chunks are stragglers). */
  endSession(session: string): void {
    for (const [id, u] of [...this.#open]) if (u.first.session === session) this.#open.delete(id);
  }
}
