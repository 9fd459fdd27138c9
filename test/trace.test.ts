// The opt-in trace (lib/trace.ts): with TFE_TRACE_DIR a process writes its kernel calls and
// messages at exit, and trace:report reads them; without it, nothing is written.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import test from 'ava';

const root = path.join(__dirname, '..', '..');
// A few ops in a child process: ring kernels on the JS thread, and one large enough for the pool.
const program = `
const { add, mul } = require(${JSON.stringify(path.join(root, 'dist', 'lib', 'ops'))});
const { RingTensor } = require(${JSON.stringify(path.join(root, 'dist', 'lib', 'tensor', 'ring_tensor'))});
(async () => {
  const a = RingTensor.fromBigUint64Array(new BigUint64Array(8).fill(3n), [8]);
  await add(a, a);
  await mul(a, a);
  const big = RingTensor.fromBigUint64Array(new BigUint64Array(1 << 16).fill(5n), [1 << 16]);
  await add(big, big);
})();
`;

test('TFE_TRACE_DIR: the kernel calls are written at exit and trace:report reads them; unset, nothing is written', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-trace-'));
  try {
    const run = (env: Record<string, string>) => spawnSync(process.execPath, ['-e', program], { env: { ...process.env, ...env }, encoding: 'utf8' });
    const off = { ...process.env };
    delete off.TFE_TRACE_DIR;
    t.is(spawnSync(process.execPath, ['-e', program], { env: off, encoding: 'utf8' }).status, 0);
    t.deepEqual(fs.readdirSync(dir), [], 'nothing without TFE_TRACE_DIR');
    const r = run({ TFE_TRACE_DIR: dir });
    t.is(r.status, 0, r.stderr);
    const files = fs.readdirSync(dir);
    t.is(files.length, 1);
    t.regex(files[0], /^process-\d+\.json$/);
    const events = JSON.parse(fs.readFileSync(path.join(dir, files[0]), 'utf8')) as [number, string, string, number][];
    const kernels = events.filter((e) => e[1].startsWith('kernel'));
    t.deepEqual(kernels.map((e) => e[2]), ['Add 8,8', 'Mul 8,8', 'Add 65536,65536']);
    t.deepEqual(kernels.map((e) => e[1]), ['kernel', 'kernel', 'kernel-pool']);
    for (const [at, , , ms] of kernels) t.true(at > 1.6e12 && ms >= 0 && ms < 10_000, `time ${at}, duration ${ms}`);
    const report = spawnSync(process.execPath, [path.join(root, 'dist', 'bench', 'trace_report.js'), dir, '--events'], { encoding: 'utf8' });
    t.is(report.status, 0, report.stderr);
    t.regex(report.stdout, /query at .*3 events; kernel ms: process-\d+/);
    t.regex(report.stdout, /kernel-pool +Add 65536,65536/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
