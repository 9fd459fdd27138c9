// The wire format of the WebSocket transport. One binary frame per chunk:
//   u32 header length | header (JSON, UTF-8) | body (a chunk of the payload's bytes)
// The header names the session (computation) and the message key, so concurrent computations and
// parallel messages never mix, and says which chunk of how many this is. Every payload travels
// in the body (control messages as JSON), so the small header never limits what can be sent, and
// every size a peer declares is checked here before anything is held for it.
import type { DType } from '../tensor/dtype';
import { assertDType, bytesPerElement } from '../tensor/dtype';
import type { Payload } from './transport';

/** 2: control payloads travel in the body (1 had them in the header). */
export const WIRE_VERSION = 2;
/** Payload bytes per frame: large payloads are split into chunks of this size. */
export const CHUNK_BYTES = 4 << 20;
/** Largest header accepted; anything bigger is malformed. */
export const MAX_HEADER_BYTES = 4096;
/** maxPayload for ws: one chunk plus its header. */
export const MAX_FRAME_BYTES = CHUNK_BYTES + MAX_HEADER_BYTES + 4;
/** A seed is a PRG key: anything longer is not one. */
const MAX_SEED_BYTES = 64;

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
}

/** Thrown for anything that breaks the wire format (the sender's fault, never the receiver's). */
export class WireError extends Error {}

export function payloadBody(p: Payload): Uint8Array {
  if (p.kind === 'tensor') return p.data;
  if (p.kind === 'seed') return p.seed;
  const json = JSON.stringify(p.data);
  return json === undefined ? new Uint8Array(0) : Buffer.from(json);
}

export function chunkCount(total: number): number {
  return Math.max(1, Math.ceil(total / CHUNK_BYTES));
}

/** Elements of a shape, or Infinity when the product leaves the safe integers. */
function elements(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return Number.isSafeInteger(n) ? n : Number.POSITIVE_INFINITY;
}

/**
 * What a message will cost the receiver, in bytes: its body, or for a seed the tensor it expands
 * to (a 16-byte seed may announce a shape of any size). Known from the first frame.
 */
export function messageCost(first: FrameHeader): number {
  if (first.kind === 'seed') return Math.max(first.total, elements(first.shape!) * bytesPerElement(first.dtype!));
  return first.total;
}

/**
 * Splits a payload into frames, each as [prefix, body]: u32 length + header, then the body as a
 * view of the payload (no copy). The connection sends a small body joined to its prefix as one
 * WebSocket frame, and a large one as the second fragment of the prefix's message (connection.ts).
 * Throws (before anything is sent) when a header would be too long (an over-long session id, key
 * or shape) or a control payload cannot be encoded as JSON.
 */
export function encodeFrames(session: string, key: string, p: Payload): [Buffer, Uint8Array][] {
  const body = payloadBody(p);
  const chunks = chunkCount(body.byteLength);
  const frames: [Buffer, Uint8Array][] = [];
  for (let i = 0; i < chunks; i++) {
    const h: FrameHeader = { v: WIRE_VERSION, session, key, kind: p.kind, chunk: i, chunks, total: body.byteLength };
    if (i === 0 && (p.kind === 'tensor' || p.kind === 'seed')) {
      h.dtype = p.dtype;
      h.shape = p.shape;
      if (p.kind === 'seed') h.nonce = p.nonce.toString();
    }
    const head = Buffer.from(JSON.stringify(h));
    if (head.byteLength > MAX_HEADER_BYTES) throw new WireError(`message header for ${key.slice(0, 80)} is ${head.byteLength} bytes (max ${MAX_HEADER_BYTES}): session id, key or shape too long`);
    const part = body.subarray(i * CHUNK_BYTES, Math.min(body.byteLength, (i + 1) * CHUNK_BYTES));
    const prefix = Buffer.allocUnsafe(4 + head.byteLength);
    prefix.writeUInt32LE(head.byteLength, 0);
    head.copy(prefix, 4);
    frames.push([prefix, part]);
  }
  return frames;
}

/**
 * Parses and validates one frame; throws a WireError naming what is malformed. The frame is one
 * buffer or the fragments of its WebSocket message as ws hands them over (binaryType
 * 'fragments'): a large body sent as its own fragment (connection.ts) is taken as it is, with no
 * copy; one piece (a small message, or any browser's) is read in place; any other split is joined
 * first.
 */
export function decodeFrame(frame: Buffer | Buffer[]): DecodedFrame {
  if (Array.isArray(frame)) {
    const [prefix, body] = frame;
    if (frame.length === 2 && prefix.byteLength >= 4 && prefix.readUInt32LE(0) + 4 === prefix.byteLength) return { ...decodeParts(prefix, body), alone: aloneIn(body) };
    frame = frame.length === 1 ? frame[0] : Buffer.concat(frame);
  }
  if (frame.byteLength < 4) throw new WireError(`frame of ${frame.byteLength} bytes is too short`);
  const len = frame.readUInt32LE(0);
  if (len > MAX_HEADER_BYTES || 4 + len > frame.byteLength) throw new WireError(`frame header length ${len} is invalid (max ${MAX_HEADER_BYTES})`);
  return { ...decodeParts(frame.subarray(0, 4 + len), frame.subarray(4 + len)), alone: aloneIn(frame) };
}

export interface DecodedFrame {
  header: FrameHeader;
  body: Buffer;
  /**
   * The memory that holds this frame and nothing else (ws allocates each frame or fragment of
   * more than 4 KB on its own; smaller ones share Node's pool): once the body is copied out, it
   * may be freed at once (wire_buffers.ts). Undefined when it may hold anything else.
   */
  alone?: ArrayBuffer;
}

/** The ArrayBuffer under `b` when `b` covers all of it (so no other view's bytes are in it). */
export function aloneIn(b: Uint8Array): ArrayBuffer | undefined {
  return b.buffer instanceof ArrayBuffer && b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b.buffer : undefined;
}

/**
 * A lane record that holds a frame's prefix alone, its body following as the next record (lane.ts:
 * large bodies travel so, to be opened straight into the memory that will hold them): its header
 * when the record is exactly a valid prefix whose chunk announces a body; undefined otherwise (a
 * whole frame, or anything malformed, which the frame's own decoding then refuses).
 */
export function prefixOnly(rec: Buffer): FrameHeader | undefined {
  if (rec.byteLength < 4 || rec.readUInt32LE(0) + 4 !== rec.byteLength) return undefined;
  try {
    const h = headerOf(rec);
    return chunkBytes(h) > 0 ? h : undefined;
  } catch {
    return undefined;
  }
}

/** The body bytes a chunk's header announces. */
function chunkBytes(h: FrameHeader): number {
  return Math.min(CHUNK_BYTES, h.total - h.chunk * CHUNK_BYTES);
}

/** A frame as its prefix (u32 length + header, lengths already consistent) and its body. */
function decodeParts(prefix: Buffer, body: Buffer): { header: FrameHeader; body: Buffer } {
  const h = headerOf(prefix);
  const want = chunkBytes(h);
  if (body.byteLength !== want) throw new WireError(`chunk ${h.chunk} carries ${body.byteLength} bytes, not the ${want} its header announces`);
  return { header: h, body };
}

/** The header of a frame's prefix, validated (everything but the body's length). */
function headerOf(prefix: Buffer): FrameHeader {
  const len = prefix.byteLength - 4;
  if (len > MAX_HEADER_BYTES) throw new WireError(`frame header length ${len} is invalid (max ${MAX_HEADER_BYTES})`);
  let h: FrameHeader;
  try {
    h = JSON.parse(prefix.subarray(4).toString('utf8')) as FrameHeader;
  } catch {
    throw new WireError('frame header is not valid JSON');
  }
  if (!h || typeof h !== 'object' || h.v !== WIRE_VERSION) throw new WireError(`unsupported frame version (want ${WIRE_VERSION})`);
  if (typeof h.session !== 'string' || typeof h.key !== 'string' || !['tensor', 'seed', 'control'].includes(h.kind))
    throw new WireError('frame header lacks session, key or kind');
  const ints = [h.chunk, h.chunks, h.total];
  if (!ints.every((x) => Number.isSafeInteger(x) && x >= 0) || h.chunk >= h.chunks || h.chunks !== chunkCount(h.total))
    throw new WireError(`frame chunk ${String(h.chunk)}/${String(h.chunks)} of ${String(h.total)} bytes is inconsistent`);
  if (h.chunk === 0 && (h.kind === 'tensor' || h.kind === 'seed')) {
    try {
      assertDType(h.dtype);
    } catch (e) {
      throw new WireError((e as Error).message.slice(0, 100));
    }
    if (!Array.isArray(h.shape) || !h.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new WireError('frame shape is invalid');
    if (h.kind === 'tensor' && elements(h.shape) * bytesPerElement(h.dtype!) !== h.total)
      throw new WireError(`tensor of shape [${h.shape.join(',').slice(0, 60)}] ${h.dtype} announces ${h.total} bytes`);
    if (h.kind === 'seed' && (h.total > MAX_SEED_BYTES || typeof h.nonce !== 'string' || !/^\d{1,20}$/.test(h.nonce)))
      throw new WireError(`seed of ${h.total} bytes or its nonce is invalid`);
  }
  return h;
}

/** Reassembles a payload from its first header and the concatenated body. */
export function toPayload(first: FrameHeader, body: Uint8Array): Payload {
  if (first.kind === 'control') {
    if (body.byteLength === 0) return { kind: 'control', data: undefined };
    try {
      return { kind: 'control', data: JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8')) as unknown };
    } catch {
      throw new WireError(`control message of ${body.byteLength} bytes is not valid JSON`);
    }
  }
  if (first.kind === 'seed') return { kind: 'seed', dtype: first.dtype!, shape: first.shape!, seed: body, nonce: BigInt(first.nonce ?? '0') };
  return { kind: 'tensor', dtype: first.dtype!, shape: first.shape!, data: body };
}
