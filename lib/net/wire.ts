// The wire format of the WebSocket transport. One binary frame per chunk:
//   u32 header length | header (JSON, UTF-8) | body (a chunk of the payload's bytes)
// The header names the session (computation) and the message key, so concurrent computations and
// parallel messages never mix, and says which chunk of how many this is.
import type { DType } from '../tensor/dtype';
import { assertDType } from '../tensor/dtype';
import type { Payload } from './transport';

export const WIRE_VERSION = 1;
/** Payload bytes per frame: large tensors are split into chunks of this size. */
export const CHUNK_BYTES = 4 << 20;
/** Largest header accepted; anything bigger is malformed. */
export const MAX_HEADER_BYTES = 4096;
/** maxPayload for ws: one chunk plus its header. */
export const MAX_FRAME_BYTES = CHUNK_BYTES + MAX_HEADER_BYTES + 4;

export interface FrameHeader {
  v: number;
  session: string;
  key: string;
  kind: Payload['kind'];
  chunk: number;
  chunks: number;
  total: number;
  dtype?: DType;
  shape?: number[];
  nonce?: string;
  control?: unknown;
}

export function payloadBody(p: Payload): Uint8Array {
  if (p.kind === 'tensor') return p.data;
  if (p.kind === 'seed') return p.seed;
  return new Uint8Array(0);
}

/**
 * Splits a payload into frames, each as [prefix, body]: u32 length + header, then the body as a
 * view of the payload (no copy). The endpoint sends the two as fragments of one WebSocket message.
 */
export function encodeFrames(session: string, key: string, p: Payload): [Buffer, Uint8Array][] {
  const body = payloadBody(p);
  const chunks = Math.max(1, Math.ceil(body.byteLength / CHUNK_BYTES));
  const frames: [Buffer, Uint8Array][] = [];
  for (let i = 0; i < chunks; i++) {
    const h: FrameHeader = { v: WIRE_VERSION, session, key, kind: p.kind, chunk: i, chunks, total: body.byteLength };
    if (i === 0) {
      if (p.kind === 'tensor' || p.kind === 'seed') {
        h.dtype = p.dtype;
        h.shape = p.shape;
      }
      if (p.kind === 'seed') h.nonce = p.nonce.toString();
      if (p.kind === 'control') h.control = p.data;
    }
    const head = Buffer.from(JSON.stringify(h));
    if (head.byteLength > MAX_HEADER_BYTES) throw new Error(`message header for ${key} is ${head.byteLength} bytes (max ${MAX_HEADER_BYTES})`);
    const part = body.subarray(i * CHUNK_BYTES, Math.min(body.byteLength, (i + 1) * CHUNK_BYTES));
    const prefix = Buffer.allocUnsafe(4 + head.byteLength);
    prefix.writeUInt32LE(head.byteLength, 0);
    head.copy(prefix, 4);
    frames.push([prefix, part]);
  }
  return frames;
}

/** Parses and validates one frame; throws a descriptive error for anything malformed. */
export function decodeFrame(frame: Buffer): { header: FrameHeader; body: Buffer } {
  if (frame.byteLength < 4) throw new Error(`frame of ${frame.byteLength} bytes is too short`);
  const len = frame.readUInt32LE(0);
  if (len > MAX_HEADER_BYTES || 4 + len > frame.byteLength) throw new Error(`frame header length ${len} is invalid`);
  let h: FrameHeader;
  try {
    h = JSON.parse(frame.subarray(4, 4 + len).toString('utf8')) as FrameHeader;
  } catch {
    throw new Error('frame header is not valid JSON');
  }
  if (!h || typeof h !== 'object' || h.v !== WIRE_VERSION) throw new Error(`unsupported frame version ${String(h?.v)}`);
  if (typeof h.session !== 'string' || typeof h.key !== 'string' || !['tensor', 'seed', 'control'].includes(h.kind))
    throw new Error('frame header lacks session, key or kind');
  const ints = [h.chunk, h.chunks, h.total];
  if (!ints.every((x) => Number.isSafeInteger(x) && x >= 0) || h.chunk >= h.chunks || h.chunks > Math.ceil(h.total / CHUNK_BYTES) + 1)
    throw new Error(`frame chunk ${h.chunk}/${h.chunks} of ${h.total} bytes is inconsistent`);
  if (h.chunk === 0 && (h.kind === 'tensor' || h.kind === 'seed')) {
    assertDType(h.dtype);
    if (!Array.isArray(h.shape) || !h.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new Error('frame shape is invalid');
  }
  return { header: h, body: frame.subarray(4 + len) };
}

/** Reassembles a payload from its first header and the concatenated body. */
export function toPayload(first: FrameHeader, body: Uint8Array): Payload {
  if (first.kind === 'control') return { kind: 'control', data: first.control };
  if (first.kind === 'seed') return { kind: 'seed', dtype: first.dtype!, shape: first.shape!, seed: body, nonce: BigInt(first.nonce ?? '0') };
  return { kind: 'tensor', dtype: first.dtype!, shape: first.shape!, data: body };
}
