// tfjs-encrypted in the browser: encrypted prediction from a web page. The input is secret-shared
// in the page (WebCrypto) and the output is reconstructed in the page; the servers only ever hold
// shares. Bundled by scripts/build-browser.js into dist/browser/tfe-browser.js (an ES module with
// no Node built-ins). See docs/browser.md.
import { BrowserClient, type ConnectOptions, type ServerName } from './client';

export { BrowserClient, SERVERS } from './client';
export type { BrowserPrediction, ConnectOptions, ModelInfo, OpTraffic, ServerName } from './client';
export type { FinalActivation } from './outputs';
export type { BrowserInput } from './input';
export { imageToGray } from './input';
export type { CanvasLike, ImageDataLike, SocketFactory, SocketLike } from './platform';

/** Connects to the three servers' client ports (wss://host:port each, server0 first). */
export function connect(endpoints: readonly string[] | Record<ServerName, string>, opts?: ConnectOptions): Promise<BrowserClient> {
  return BrowserClient.connect(endpoints, opts);
}
