// The batch-1 benchmarks still run end to end (each starts its own clusters of three server
// processes): bench:b1 on the floor network, and bench:ab with this build against itself. One
// round each; the numbers are not checked here (benchmarks hold the targets, not tests), only that
// every protocol answered and the tables came out.
import { spawn } from 'node:child_process';
import * as path from 'node:path';

import test from 'ava';

const root = path.join(__dirname, '..', '..');

/** Runs a dist/bench script to its end: exit code and output (async: ava's timeout applies). */
function run(script: string, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(root, 'dist', 'bench', script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => resolve({ code, out }));
  });
}

test('bench:b1 --floor runs A1 under the three protocols', async (t) => {
  t.timeout(120_000);
  const { code, out } = await run('b1_ratio.js', ['--floor', '--only', 'A1', '--rounds', '1', '--gap-ms', '0']);
  t.is(code, 0, out);
  t.regex(out, /^A1 +SecureNN [\d.]+ \([\d.]+\) +FSS [\d.]+ \([\d.]+\) +Pond [\d.]+ \([\d.]+\) ms/m, out);
  t.regex(out, /^\| A1R \| -?[\d.]+ \| -?[\d.]+ \| -?[\d.]+ \|$/m, 'A1R above A1 (one round: it may come out negative)');
});

test('bench:ab compares two builds (here this one with itself)', async (t) => {
  t.timeout(120_000);
  const { code, out } = await run('ab_builds.js', ['--old', root, '--only', 'A1', '--rounds', '1', '--gap-ms', '0', '--protocols', 'fss,securenn', '--back-to-back', '2', '--fss-gate', 'compact']);
  t.is(code, 0, out);
  for (const p of ['fss', 'securenn']) t.regex(out, new RegExp(`^\\| ${p} \\| [\\d.]+ \\([\\d.]+\\) \\| [\\d.]+ \\([\\d.]+\\) \\| [\\d.]+ \\| [\\d.]+ \\+ [\\d.]+ \\| [\\d.]+ \\+ [\\d.]+ \\| [\\d.]+ \\|$`, 'm'), out);
});

// A typo in --protocol or --only ran nothing, printed an empty table and exited 0 (and, without
// --quick, rewrote bench/RESULTS.md and the figure from nothing).
test('bench:table refuses a protocol or network it has no entry for, before running anything', async (t) => {
  for (const [args, why] of [
    [['--protocol', 'fs'], /unknown protocol "fs"/],
    [['--only', 'Z'], /--only: no network 'Z' in the table \(its networks: A, B, C, B_max, C_max\)/],
    [['--protocol', 'pond', '--only', 'B_max'], /the table has no pond entry for B_max/],
  ] as const) {
    const { code, out } = await run('table.js', ['--quick', ...args]);
    t.is(code, 1, out);
    t.regex(out, why);
  }
});
