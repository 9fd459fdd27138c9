// Merges the traces of a run's processes (lib/trace.ts: TFE_TRACE_DIR) into per-query timelines.
//   TFE_TRACE_DIR=/tmp/tr npm run bench:b1 -- --only A --rounds 10   (any run: servers inherit it)
//   npm run trace:report -- /tmp/tr                 the last 3 queries: span, kernel time per
//                                                   process, and the stretches where no process did
//                                                   anything traced (waits on the network or the
//                                                   scheduler, or untraced JavaScript)
//   npm run trace:report -- /tmp/tr --last 1 --events   the whole timeline of the last query
//   --split-ms MS   a pause of MS on every process ends a query (default 20)
// Times are ms from the query's first event.
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { TraceEvent } from '../lib/trace';
import { checkOptions, numberOption } from './lib/args';

interface Stamped {
  at: number;
  who: string;
  kind: string;
  what: string;
  value: number;
}

/** Events with a duration (kernels, collections) rather than an instant (messages). */
const lasts = (e: Stamped) => e.kind.startsWith('kernel') || e.kind === 'gc';
const endOf = (e: Stamped) => (lasts(e) ? e.at + e.value : e.at);

function main(): void {
  const argv = process.argv.slice(2);
  checkOptions(argv, { flags: ['--events'], values: ['--last', '--split-ms'], positional: 1, usage: 'npm run trace:report -- <TFE_TRACE_DIR> [--last N] [--events] [--split-ms MS]' });
  const dir = argv[0];
  if (!dir || dir.startsWith('--') || !fs.existsSync(dir)) throw new Error('usage: npm run trace:report -- <TFE_TRACE_DIR> [--last N] [--events] [--split-ms MS]');
  const last = numberOption(argv, '--last', 3, 1), splitMs = numberOption(argv, '--split-ms', 20, 0.001), showEvents = argv.includes('--events');
  const all: Stamped[] = [];
  for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.json'))) {
    const who = f.replace(/\.json$/, '');
    for (const [at, kind, what, value] of JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as TraceEvent[]) all.push({ at, who, kind, what, value });
  }
  if (all.length === 0) throw new Error(`no trace events in ${dir} (was TFE_TRACE_DIR set for the run?)`);
  all.sort((a, b) => a.at - b.at);
  const queries: Stamped[][] = [];
  let prev = Number.NEGATIVE_INFINITY;
  for (const e of all) {
    if (e.at - prev > splitMs) queries.push([]);
    queries[queries.length - 1].push(e);
    prev = Math.max(prev, endOf(e));
  }
  for (const q of queries.slice(-last)) {
    const t0 = q[0].at, end = Math.max(...q.map(endOf));
    const kernelMs = new Map<string, number>();
    for (const e of q) if (e.kind.startsWith('kernel')) kernelMs.set(e.who, (kernelMs.get(e.who) ?? 0) + e.value);
    const busy = [...kernelMs].map(([w, ms]) => `${w} ${ms.toFixed(2)}`).join(', ');
    const gcMs = q.filter((e) => e.kind === 'gc').reduce((a, e) => a + e.value, 0);
    console.log(`query at ${new Date(t0).toISOString()}: ${(end - t0).toFixed(2)} ms, ${q.length} events; kernel ms: ${busy || 'none'}; gc ms: ${gcMs.toFixed(2)}`);
    let doneAt = t0;
    for (let i = 0; i < q.length; i++) {
      const e = q[i];
      if (i > 0 && e.at - doneAt > 0.3) {
        const b = q[i - 1];
        console.log(`  ${(doneAt - t0).toFixed(2).padStart(8)} +${(e.at - doneAt).toFixed(2)} ms nothing traced, after ${b.who} ${b.kind} ${b.what.slice(0, 60)}, before ${e.who} ${e.kind} ${e.what.slice(0, 60)}`);
      }
      if (showEvents) console.log(`  ${(e.at - t0).toFixed(3).padStart(8)} ${e.who.padEnd(20)} ${e.kind.padEnd(11)} ${e.what.slice(0, 90)} ${lasts(e) ? `${e.value.toFixed(3)} ms` : `${e.value} B`}`);
      doneAt = Math.max(doneAt, endOf(e));
    }
  }
}

main();
