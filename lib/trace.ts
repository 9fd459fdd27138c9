// An opt-in timeline of one process, for finding where a query's time goes: with
// TFE_TRACE_DIR=<dir> in the environment, every kernel call (its name, input shapes, duration and
// whether it ran on the JS thread), every message sent or dispatched (peer, key, bytes) and every
// garbage collection (its V8 kind and duration) is
// stamped with the wall clock in ms (performance.timeOrigin + performance.now(): comparable across
// the processes of one host) and written to <dir>/<label>-<pid>.json when the process exits.
// `npm run trace:report -- <dir>` (bench/trace_report.ts) merges the files into per-query
// timelines. Off by default: each hook costs one boolean test.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';

const DIR = process.env.TFE_TRACE_DIR;

/** Whether this process records a trace (TFE_TRACE_DIR is set). */
export const tracing = Boolean(DIR);

/** One event: [time ms, kind, what, number (a duration in ms or a byte count)]. */
export type TraceEvent = [number, string, string, number];

const events: TraceEvent[] = [];
let label = 'process';
// A bound on memory: a trace is for a few hundred queries, not a server's lifetime.
const MAX_EVENTS = 2_000_000;

/** The wall clock in ms, as trace events carry it. */
export function traceNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Records an event (call only when `tracing`). */
export function traceEvent(kind: string, what: string, value = 0, at = traceNow()): void {
  if (events.length < MAX_EVENTS) events.push([at, kind, what, value]);
}

/** Names this process's file (a party name, say) instead of 'process'. */
export function traceLabel(name: string): void {
  label = name.replace(/[^A-Za-z0-9_.-]/g, '_');
}

if (tracing) {
  // Garbage collections too: a collection of a few ms on a compute server stalls the query.
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) traceEvent('gc', String(((e as unknown as { detail?: { kind?: number } }).detail)?.kind ?? ''), e.duration, performance.timeOrigin + e.startTime);
  }).observe({ entryTypes: ['gc'] });
  process.on('exit', () => {
    try {
      fs.mkdirSync(DIR!, { recursive: true });
      fs.writeFileSync(path.join(DIR!, `${label}-${process.pid}.json`), JSON.stringify(events));
    } catch (e) {
      process.stderr.write(`[tfe] could not write the trace to ${DIR}: ${(e as Error).message}\n`);
    }
  });
}
