// The demo page in a real browser: Debian's chromium, headless, driven by playwright-core (no
// browser download: the system executable). A digit drawn by script is predicted in the page,
// and the answer compared with the Node client's for the very input the page shared; a page from
// an origin the cluster does not allow gets an error on the page; so does a server killed while
// the page's query is in flight. Skipped, with the reason, only when chromium is not installed
// (.ci/run installs it with apt).
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import test from 'ava';

import { PredictionClient } from '../lib/serve/client';
import { MODEL_NAME } from '../examples/web/cluster';
import { type Demo, startDemo } from '../examples/web/serve';

// playwright-core's own types need the DOM library, which this project does not compile with:
// the few calls used here, typed by hand.
interface Page {
  on(event: 'pageerror', f: (e: Error) => void): void;
  goto(url: string): Promise<unknown>;
  evaluate(expression: string): Promise<unknown>;
  click(selector: string): Promise<void>;
  locator(selector: string): { boundingBox(): Promise<{ x: number; y: number } | null>; textContent(): Promise<string | null> };
  mouse: { move(x: number, y: number, o?: { steps?: number }): Promise<void>; down(): Promise<void>; up(): Promise<void> };
  screenshot(o: { path: string }): Promise<unknown>;
  close(): Promise<void>;
}
interface Browser {
  newPage(o?: { viewport?: { width: number; height: number } }): Promise<Page>;
  close(): Promise<void>;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { chromium } = require('playwright-core') as { chromium: { launch(o: { executablePath: string; headless: boolean; args: string[] }): Promise<Browser> } };

const EXECUTABLE = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => p && fs.existsSync(p));
const serial = EXECUTABLE ? test.serial : test.skip;
const why = EXECUTABLE ? '' : ' (SKIPPED: no chromium executable: apt-get install chromium, or set CHROMIUM_PATH)';

let demo: Demo;
let browser: Browser;
const logs: string[] = [];

test.before(async () => {
  if (!EXECUTABLE) return;
  demo = await startDemo({ port: 0, dir: fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-web-')), log: (l) => logs.push(l) });
  // --no-sandbox: CI runs as root, where chromium's sandbox refuses to start.
  browser = await chromium.launch({ executablePath: EXECUTABLE, headless: true, args: ['--no-sandbox'] });
});
test.after.always(async () => {
  await browser?.close();
  await demo?.stop();
});

type DemoState = { state: string; predictions: number; lastInput?: number[]; lastPrediction?: { classes: number[]; data: number[]; latencyMs: number }; error?: string };
const state = (page: Page) => page.evaluate('window.tfeDemo') as Promise<DemoState>;

/** Draws a polyline (canvas coordinates, 280x280) with the mouse, as a user would. */
async function draw(page: Page, points: [number, number][]): Promise<void> {
  const box = (await page.locator('#pad').boundingBox())!;
  await page.mouse.move(box.x + points[0][0], box.y + points[0][1]);
  await page.mouse.down();
  for (const [x, y] of points.slice(1)) await page.mouse.move(box.x + x, box.y + y, { steps: 8 });
  await page.mouse.up();
}

async function waitFor(page: Page, pred: (s: DemoState) => boolean, what: string, ms = 30_000): Promise<DemoState> {
  const deadline = Date.now() + ms;
  for (;;) {
    const s = await state(page);
    if (pred(s)) return s;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(s).slice(0, 300)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

serial(`a digit drawn in the page is predicted as the Node client predicts the same input${why}`, async (t) => {
  const page = await browser.newPage({ viewport: { width: 1160, height: 620 } });
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(e.message));
  await page.goto(demo.url);
  await waitFor(page, (s) => s.state === 'ready', 'the page');
  const node = await PredictionClient.connect(demo.cluster.config);
  try {
    const digits: [string, [number, number][]][] = [
      ['1', [[140, 40], [138, 140], [136, 240]]],
      ['7', [[70, 60], [210, 60], [160, 150], [120, 240]]],
    ];
    for (const [i, [name, stroke]] of digits.entries()) {
      if (i) await page.click('#clear');
      await draw(page, stroke);
      const s = await waitFor(page, (x) => x.predictions === i + 1 || x.state === 'error', `the prediction of a drawn ${name}`);
      t.is(s.state, 'done', s.error);
      const p = s.lastPrediction!;
      const input = Float64Array.from(s.lastInput!);
      t.is(input.length, 784);
      t.true(input.some((v) => v > 0.5), 'the page shared a drawing, not an empty image');
      const n = await node.predict(MODEL_NAME, { data: input, shape: [1, 784] });
      t.deepEqual(p.classes, n.classes, `drawn ${name}`);
      const diff = p.data.reduce((m, v, j) => Math.max(m, Math.abs(v - n.data[j])), 0);
      t.true(diff < 0.05, `logits differ by ${diff}`);
      t.log(`drawn ${name}: the page says ${p.classes[0]} (Node client: ${n.classes[0]}), ${p.latencyMs.toFixed(1)} ms in the browser`);
      t.is(await page.locator('#digit').textContent(), String(p.classes[0]));
      t.regex((await page.locator('#s0').textContent()) ?? '', /^([0-9a-f]{2} ){15}[0-9a-f]{2}$/);
    }
    const shot = process.env.TFE_BROWSER_SCREENSHOT;
    if (shot) await page.screenshot({ path: shot });
    t.deepEqual(problems, []);
  } finally {
    await node.close();
    await page.close();
  }
});

serial(`a page from an origin the cluster does not allow shows the refusal${why}`, async (t) => {
  // The same page, served from another origin (another port) by a pass-through server.
  const mirror = http.createServer((req, res) => {
    http.get(new URL(req.url ?? '/', demo.url), (up) => {
      res.writeHead(up.statusCode ?? 502, { 'content-type': up.headers['content-type'] ?? 'text/plain' });
      up.pipe(res);
    }).on('error', () => res.writeHead(502).end());
  });
  await new Promise<void>((r) => mirror.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(mirror.address() as AddressInfo).port}`;
  const page = await browser.newPage();
  try {
    await page.goto(`${origin}/`);
    await waitFor(page, (s) => s.state === 'ready', 'the mirrored page');
    await draw(page, [[140, 40], [140, 240]]);
    const s = await waitFor(page, (x) => x.state === 'error', 'the refusal');
    t.regex(s.error!, /cannot connect to server\d at ws:\/\/127\.0\.0\.1:\d+: the connection was refused .*allowedOrigins/);
    t.regex((await page.locator('#error').textContent()) ?? '', /The prediction failed: cannot connect/);
    // Server log lines come through the child's stderr pipe: give them a moment.
    for (let i = 0; i < 60 && !logs.some((l) => l.includes(`origin ${origin} is not allowed`)); i++) await new Promise((r) => setTimeout(r, 50));
    t.true(logs.some((l) => l.includes(`origin ${origin} is not allowed`)), 'the server log names the origin');
  } finally {
    await page.close();
    mirror.close();
  }
});

serial(`a server killed while the page's query is in flight gives an error on the page${why}`, async (t) => {
  const page = await browser.newPage();
  const server1 = demo.cluster.procs.get('server1')!.child;
  try {
    await page.goto(demo.url);
    await waitFor(page, (s) => s.state === 'ready', 'the page');
    await draw(page, [[140, 40], [140, 240]]);
    await waitFor(page, (x) => x.state === 'done', 'a first prediction');
    // Freeze server1 so the next query is surely in flight, then kill it.
    server1.kill('SIGSTOP');
    await page.click('#clear');
    await draw(page, [[80, 60], [200, 60], [130, 240]]);
    await waitFor(page, (x) => x.state === 'busy', 'the query to start');
    await new Promise((r) => setTimeout(r, 300));
    server1.kill('SIGKILL');
    const t0 = Date.now();
    const s = await waitFor(page, (x) => x.state === 'error', 'the error', 20_000);
    t.log(`${Date.now() - t0} ms after the kill: ${s.error}`);
    t.regex(s.error!, /server1/);
    t.regex((await page.locator('#error').textContent()) ?? '', /The prediction failed: .*server1/);
  } finally {
    server1.kill('SIGKILL');
    await page.close();
  }
});
