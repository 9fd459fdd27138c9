// The servers' log: one line per event, as text for a person (`[tfe server1] refused a request
// from client#3: ...`, the default) or as JSON lines for a log pipeline (`tfe server --log-format
// json`, cluster.json `"log": { "format": "json" }`). Every part of a server (lib/serve, lib/net)
// logs through a `Log`: the message, and what happened as an event name from LOG_EVENTS with its
// fields. Whatever reaches a line is passed through sanitizeForLog here as well as where peer text
// enters, so a peer can never forge a line, rewrite a terminal or flood the log, in either format.
import { sanitizeForLog } from './net/sanitize';

export type LogLevel = 'info' | 'warn' | 'error';

/**
 * Every event a server logs, with its level. One table, so operators can filter on a closed set
 * (docs/operators.md lists it) and a call site cannot invent a name the docs do not know.
 */
export const LOG_EVENTS = {
  /** A line logged without an event of its own (tests' and embedders' plain callbacks). */
  message: 'info',
  listening: 'info',
  'heap-default': 'info',
  'metrics-listening': 'info',
  'metrics-exposed': 'warn',
  'metrics-off': 'warn',
  'models-loaded': 'info',
  'cluster-ready': 'info',
  'setup-failed': 'error',
  'setup-retry': 'warn',
  'setup-renewed': 'info',
  'peer-setup-failed': 'warn',
  'peer-down': 'warn',
  'session-aborted': 'info',
  'request-refused': 'warn',
  'request-mismatched': 'warn',
  'notice-after-end': 'info',
  'request-ignored': 'warn',
  'notice-ignored': 'warn',
  'model-deployed': 'info',
  'model-undeployed': 'info',
  'model-unavailable': 'error',
  'stored-model-refused': 'error',
  'stored-model-recovered': 'warn',
  'pool-disabled': 'warn',
  'links-judged': 'info',
  'query-failed': 'warn',
  shutdown: 'info',
  'tls-warning': 'warn',
  'tls-reloaded': 'info',
  'tls-unchanged': 'info',
  'tls-reload-failed': 'error',
  'tls-address-changed': 'warn',
  'insecure-transport': 'warn',
  'connection-refused': 'warn',
  'connection-error': 'warn',
  'connection-dead': 'warn',
  'dial-refused': 'warn',
  /** A server peer could not be reached for 5 s (lib/net/dialer.ts): the address and the error, each reason once a minute. */
  'peer-unreachable': 'warn',
  /** A server link came up without its lane (lib/net/lane_link.ts): the lane port was not reachable. */
  'lane-failed': 'warn',
  'send-failed': 'warn',
  /** A client closed its end (or stopped reading) before an answer to it was written: routine. */
  'client-gone': 'info',
  /** A server's message kept in its wire form, as it came (WsEndpointOptions.adopt failed on it: out of memory, say). */
  'adopt-failed': 'warn',
  /** A server sent a second message under one key of a session (a client reusing a session id can cause it): that session ends, the link stays. */
  'duplicate-message': 'warn',
  /** A client session that servers' messages opened here and no client ever did, ended after orphanSessionMs (a query sent to another server alone). */
  'session-orphaned': 'info',
  'handler-failed': 'error',
  /** A failure nothing awaited (a bug): logged with its stack, and the server keeps serving. */
  'internal-error': 'error',
  /** `tfe server` could not start, or could not stop cleanly, and exits with status 1 (field `during`: start or stop). */
  fatal: 'error',
  'listener-error': 'error',
  'log-suppressed': 'warn',
} as const satisfies Record<string, LogLevel>;

export type LogEvent = keyof typeof LOG_EVENTS;
export type LogFields = Record<string, string | number | boolean | undefined>;

/**
 * A log. `msg` is the line a person reads; `event` and `fields` are what a JSON line carries
 * besides. A plain `(m: string) => void` is a Log too (it ignores the rest).
 */
export type Log = (msg: string, event?: LogEvent, fields?: LogFields) => void;

export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** Our own message text is capped too, far above any line we write, in case peer text got in unescaped. */
const MSG_MAX = 4000;
/** A field value is one value (a name, a reason): peer text in it is capped like any log text. */
const FIELD_MAX = 300;

export interface LoggerOptions {
  party: string;
  format?: LogFormat;
  /** Where a finished line goes (default: stderr). */
  write?: (line: string) => void;
  now?: () => Date;
}

/** One JSON line, as the json format writes it (and as tests parse it). */
export interface LogRecord {
  time: string;
  level: LogLevel;
  party: string;
  event: LogEvent;
  msg: string;
  fields: Record<string, string | number | boolean>;
}

/** Throws naming the choices unless `v` is a log format. */
export function checkLogFormat(v: unknown, where: string): LogFormat {
  if (!LOG_FORMATS.includes(v as LogFormat)) throw new Error(`${where} must be ${LOG_FORMATS.map((f) => JSON.stringify(f)).join(' or ')}, got ${JSON.stringify(v)}`);
  return v as LogFormat;
}

function cleanFields(fields: LogFields | undefined): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(fields ?? {})) {
    if (v === undefined) continue;
    // Keys are ours; values may be a peer's text (a reason, a name) or a number that is not finite.
    out[sanitizeForLog(k, 60)] = typeof v === 'string' ? sanitizeForLog(v, FIELD_MAX) : typeof v === 'number' && !Number.isFinite(v) ? String(v) : v;
  }
  return out;
}

/** A server's log in the chosen format; `party` is on every line. */
export function createLogger(o: LoggerOptions): Log {
  const write = o.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const party = sanitizeForLog(o.party, 60);
  if ((o.format ?? 'text') === 'text') return (msg) => write(`[tfe ${party}] ${sanitizeForLog(msg, MSG_MAX)}`);
  const now = o.now ?? (() => new Date());
  return (msg, event = 'message', fields) => {
    const ev: LogEvent = Object.hasOwn(LOG_EVENTS, event) ? event : 'message';
    const rec: LogRecord = { time: now().toISOString(), level: LOG_EVENTS[ev], party, event: ev, msg: sanitizeForLog(msg, MSG_MAX), fields: cleanFields(fields) };
    write(JSON.stringify(rec));
  };
}
