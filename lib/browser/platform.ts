// The few browser APIs the client uses, typed structurally: the project compiles without the DOM
// library, and the same code runs in Node (WebCrypto is global there; sockets come from the `ws`
// package through a factory). Nothing here imports a Node module.

export interface SubtleLike {
  importKey(format: 'raw', key: Uint8Array, alg: { name: string }, extractable: boolean, usages: string[]): Promise<unknown>;
  encrypt(alg: { name: string; counter: Uint8Array; length: number }, key: unknown, data: Uint8Array): Promise<ArrayBuffer>;
}

export interface CryptoLike {
  subtle?: SubtleLike;
  getRandomValues?<T extends Uint8Array>(a: T): T;
}

export function platformCrypto(): CryptoLike | undefined {
  return (globalThis as { crypto?: CryptoLike }).crypto;
}

/** What the client needs of a WebSocket: the browser's, or the `ws` package's (same API). */
export interface SocketLike {
  binaryType: string;
  readonly readyState: number;
  readonly protocol: string;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
}

/** Opens a socket to `url` offering `protocols` (the browser's `new WebSocket(url, protocols)`). */
export type SocketFactory = (url: string, protocols: string[]) => SocketLike;

export const OPEN = 1;

export function defaultSocketFactory(): SocketFactory {
  const WS = (globalThis as { WebSocket?: new (url: string, protocols: string[]) => SocketLike }).WebSocket;
  if (!WS) throw new Error('this environment has no WebSocket: pass a socket factory (options.socket)');
  return (url, protocols) => new WS(url, protocols);
}

// An image as the browser gives it (ImageData), and a canvas: the shapes every client takes.
export type { CanvasLike, ImageDataLike } from '../api/client_input';
