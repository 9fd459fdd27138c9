// The operator's HTTP listener of one server: `GET /healthz` (200 "ready", or 503 and why not)
// and `GET /metrics` (Prometheus text). Plain HTTP, opt-in, on loopback unless told otherwise: it
// carries counters and readiness only (metrics.ts says what is never in it), and it answers GET
// and HEAD on those two paths, nothing else; a request's own text is never echoed back.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

import type { Log } from '../log';
import { info } from '../info';
import { health, type MetricsSource, renderMetrics } from './metrics';
import { isLoopbackHost, type ListenAddress, showAddress } from './ops_config';
import { CONTENT_TYPE } from './prom_text';

/** Scrapers and probes are few: more connections than this at once are refused. */
const MAX_CONNECTIONS = 32;
/**
 * A request's headers and whole request must come within this; idle connections are checked every
 * CHECK_MS. Node checks only at its connectionsCheckingInterval (30 s by default), so 32 sockets
 * that sent nothing held the port for about 30 s: every readiness probe failed meanwhile.
 */
const TIMEOUT_MS = 3_000;
const CHECK_MS = 500;

export interface OpsServer {
  /** The bound address (the port the OS chose when asked for 0). */
  readonly address: ListenAddress;
  close(): Promise<void>;
}

function answer(res: http.ServerResponse, head: boolean, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
  res.end(head ? undefined : body);
}

function handle(src: MetricsSource, version: string, req: http.IncomingMessage, res: http.ServerResponse): void {
  const head = req.method === 'HEAD';
  let path: string;
  try {
    path = new URL(req.url ?? '/', 'http://x').pathname;
  } catch {
    return answer(res, head, 400, 'text/plain; charset=utf-8', 'bad request\n');
  }
  if (path !== '/healthz' && path !== '/metrics') return answer(res, head, 404, 'text/plain; charset=utf-8', 'not found: this listener serves /healthz and /metrics\n');
  if (req.method !== 'GET' && !head) {
    res.setHeader('allow', 'GET, HEAD');
    return answer(res, false, 405, 'text/plain; charset=utf-8', 'method not allowed: use GET\n');
  }
  try {
    if (path === '/metrics') return answer(res, head, 200, CONTENT_TYPE, renderMetrics(src, version));
    const h = health(src);
    answer(res, head, h.ready ? 200 : 503, 'text/plain; charset=utf-8', `${h.ready ? 'ready' : 'not ready'}: ${h.reason}\n`);
  } catch (e) {
    answer(res, head, 500, 'text/plain; charset=utf-8', 'internal error (see the server log)\n');
    throw e;
  }
}

/** Starts the listener; a bind that fails (port in use, an address not on this host) rejects naming the address. */
export async function startOpsServer(src: MetricsSource, at: ListenAddress, log: Log): Promise<OpsServer> {
  const version = info().version;
  const server = http.createServer({ headersTimeout: TIMEOUT_MS, requestTimeout: TIMEOUT_MS, connectionsCheckingInterval: CHECK_MS }, (req, res) => {
    try {
      handle(src, version, req, res);
    } catch (e) {
      log(`metrics listener: ${(e as Error).message}`, 'listener-error', { reason: (e as Error).message });
    }
  });
  server.maxConnections = MAX_CONNECTIONS;
  server.keepAliveTimeout = 2000;
  const shown = showAddress(at);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      const why = e.code === 'EADDRINUSE' ? 'the port is in use' : e.code === 'EADDRNOTAVAIL' ? 'the address is not one of this host\'s' : e.code === 'EACCES' ? 'permission denied (a port below 1024?)' : e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN' ? 'the host name does not resolve' : e.message;
      reject(new Error(`cannot listen for metrics on ${shown}: ${why}`));
    });
    server.listen(at.port, at.host, () => resolve());
  });
  server.on('error', (e) => log(`metrics listener: ${e.message}`, 'listener-error', { reason: e.message }));
  const bound = server.address() as AddressInfo;
  const address = { host: at.host, port: bound.port };
  log(`metrics and health on http://${showAddress(address)}/metrics and /healthz`, 'metrics-listening', { address: showAddress(address) });
  if (!isLoopbackHost(at.host))
    log(`the metrics listener on ${shown} is reachable from other hosts, without authentication (counters and readiness only); firewall it, or bind 127.0.0.1`, 'metrics-exposed', { address: shown });
  return {
    address,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
