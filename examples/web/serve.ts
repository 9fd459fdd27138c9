// `npm run demo:web`: encrypted digit recognition in a web page.
// 1. starts the three servers on loopback (plain ws: a browser trusts no throwaway CA; for TLS
//    see docs/browser.md) with this page's origin as the only one allowed, and deploys the MNIST
//    model as the model owner (a Node process: the page only predicts);
// 2. serves the page and the browser bundle on http://127.0.0.1:8080 (PORT to change it).
// The page shares the drawing in the browser; the servers never see it in the clear.
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';

import { MODEL_NAME, ROOT, startWebCluster, type WebCluster } from './cluster';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { buildBrowser } = require(path.join(ROOT, 'scripts', 'build-browser.js')) as { buildBrowser: () => Promise<{ file: string; bytes: number; gzipBytes: number }> };

const PAGE_DIR = path.join(ROOT, 'examples', 'web');
const BUNDLE_DIR = path.join(ROOT, 'dist', 'browser');

export interface Demo {
  url: string;
  cluster: WebCluster;
  bundleBytes: number;
  stop(): Promise<void>;
}

const FILES: Record<string, [string, string]> = {
  '/': [path.join(PAGE_DIR, 'index.html'), 'text/html; charset=utf-8'],
  '/app.js': [path.join(PAGE_DIR, 'app.js'), 'text/javascript; charset=utf-8'],
  '/tfe-browser.js': [path.join(BUNDLE_DIR, 'tfe-browser.js'), 'text/javascript; charset=utf-8'],
  '/tfe-browser.js.map': [path.join(BUNDLE_DIR, 'tfe-browser.js.map'), 'application/json'],
};

export async function startDemo(o: { port?: number; dir?: string; log?: (line: string) => void } = {}): Promise<Demo> {
  const bundle = await buildBrowser();
  let config = '{}';
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const p = url.pathname === '/index.html' ? '/' : url.pathname;
    // The page may talk to this server and to the three servers' client ports, nothing else.
    const headers = { 'cache-control': 'no-store', 'content-security-policy': "default-src 'self'; connect-src 'self' ws://127.0.0.1:* ws://localhost:*; style-src 'self' 'unsafe-inline'" };
    if (p === '/config.json') {
      res.writeHead(200, { ...headers, 'content-type': 'application/json' }).end(config);
      return;
    }
    const f = FILES[p];
    if (!f || req.method !== 'GET') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    fs.readFile(f[0], (err, data) => {
      if (err) res.writeHead(500, { 'content-type': 'text/plain' }).end(`cannot read ${path.basename(f[0])}`);
      else res.writeHead(200, { ...headers, 'content-type': f[1] }).end(data);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 8080, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}/`;
  let cluster: WebCluster;
  try {
    cluster = await startWebCluster({ dir: o.dir ?? path.join(ROOT, '.tfe-web'), allowedOrigins: [`http://127.0.0.1:${port}`, `http://localhost:${port}`], log: o.log });
  } catch (e) {
    server.close();
    throw e;
  }
  config = JSON.stringify({ endpoints: cluster.endpoints, fracBits: cluster.fracBits, model: MODEL_NAME });
  return {
    url,
    cluster,
    bundleBytes: bundle.bytes,
    async stop() {
      server.closeAllConnections();
      server.close();
      await cluster.stop();
    },
  };
}

if (require.main === module) {
  const dim = (l: string) => process.stderr.write(process.stderr.isTTY ? `\x1b[2m${l}\x1b[0m\n` : `${l}\n`);
  startDemo({ port: Number(process.env.PORT ?? 8080), log: dim }).then(
    (d) => {
      console.log(`browser bundle: ${d.bundleBytes} bytes; three servers up, '${MODEL_NAME}' deployed (the servers hold shares of its weights)`);
      console.log(`\n  open ${d.url} and draw a digit (Ctrl-C stops everything)\n`);
      let stopping = false;
      const stop = () => {
        if (stopping) return;
        stopping = true;
        void d.stop().then(() => process.exit(0));
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    },
    (e: Error) => {
      console.error(`demo:web: ${e.message}`);
      process.exit(1);
    },
  );
}
