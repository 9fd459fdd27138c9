// The README's promise: on a fresh clone, `npm install && npm start` runs the main job with zero
// configuration: three server processes under mutual TLS, the bundled MNIST model deployed, the
// bundled digits predicted privately, the servers kept until Ctrl-C. Nothing ran it in CI. Here the
// compiled example (what `npm start` runs after tsc) is started, read to its summary, and stopped
// with SIGINT, which must stop every server. It runs from a folder of its own (the example
// writes .tfe-local/ beside the dist/ it runs from), so that no other test reading the repository's
// .tfe-local/ (the CLI's default config) sees it come and go.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import test from 'ava';

const root = path.join(__dirname, '..', '..');

test('npm start deploys the bundled model, predicts the bundled digits privately and stops on Ctrl-C', async (t) => {
  t.timeout(240_000);
  const digits = JSON.parse(fs.readFileSync(path.join(root, 'bench', 'models', 'sample-digits.json'), 'utf8')) as { labels: number[] };
  // The example finds its model and writes its cluster relative to its own file: a copy of it,
  // beside links to the library and the bundled models.
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-npm-start-'));
  fs.mkdirSync(path.join(home, 'dist', 'examples'), { recursive: true });
  fs.copyFileSync(path.join(root, 'dist', 'examples', 'mnist-service.js'), path.join(home, 'dist', 'examples', 'mnist-service.js'));
  fs.symlinkSync(path.join(root, 'dist', 'lib'), path.join(home, 'dist', 'lib'));
  fs.symlinkSync(path.join(root, 'bench'), path.join(home, 'bench'));
  const child = spawn(process.execPath, [path.join(home, 'dist', 'examples', 'mnist-service.js')], { cwd: home, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const summary = await Promise.race([
    new Promise<string>((resolve) => {
      const look = () => {
        const m = /^(\d+)\/(\d+) correct\./m.exec(out);
        if (m) resolve(m[0]);
        else setTimeout(look, 200);
      };
      look();
    }),
    exited.then((code) => `exited ${code} before the summary`),
  ]);
  try {
    t.regex(summary, /correct/, `${out}\n${err.slice(-3000)}`);
    // One line per digit: its index, the predicted and true class, p(pred), the latency.
    const rows = [...out.matchAll(/^\s*(\d+)\s+(\d)\s+(\d)\s+([\d.]+)\s+[\d.]+ ms$/gm)];
    t.is(rows.length, digits.labels.length, out);
    t.deepEqual(rows.map((r) => Number(r[3])), digits.labels, 'the true labels, in order');
    for (const r of rows) t.true(Number(r[4]) > 0 && Number(r[4]) <= 1, `p(pred) ${r[4]}`);
    // The Pond variant of network A is as accurate as plaintext (docs/pond.md): 9 or 10 of these 10.
    t.true(Number(summary.split('/')[0]) >= digits.labels.length - 1, summary);
  } finally {
    child.kill('SIGINT');
  }
  t.is(await exited, 0, err.slice(-3000));
  t.regex(out, /stopping the servers/);
  t.true(fs.existsSync(path.join(home, '.tfe-local', 'cluster.json')), 'its cluster was written in its own folder');
  fs.rmSync(home, { recursive: true, force: true });
});
