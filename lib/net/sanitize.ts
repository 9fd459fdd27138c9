// Text that came from a peer (abort and close reasons, session ids, header values, certificate
// names) reaches a log only through sanitizeForLog: a peer must not be able to forge log lines
// (newlines), rewrite a terminal (escape sequences, bidi overrides) or flood the log (length).
import type { Log } from '../log';

/** C0/C1 controls, DEL, Unicode line/paragraph separators and bidi controls. */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** Default cap on peer-supplied text in one log line. */
export const LOG_TEXT_MAX = 200;

function escape(c: string): string {
  if (c === '\n') return '\\n';
  if (c === '\r') return '\\r';
  if (c === '\t') return '\\t';
  return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/**
 * One line of printable text from anything a peer sent: control characters escaped (`\n`,
 * `\u001b`, ...), at most `max` characters of the original kept, and the cut said.
 */
export function sanitizeForLog(text: unknown, max = LOG_TEXT_MAX): string {
  let s: string;
  try {
    s = typeof text === 'string' ? text : String(text);
  } catch {
    s = '[unprintable]';
  }
  let cut = s.length > max ? s.slice(0, max) : s;
  // A cut through a surrogate pair would leave half a character.
  if (cut.length < s.length && /[\ud800-\udbff]$/.test(cut)) cut = cut.slice(0, -1);
  const safe = cut.replace(UNSAFE, escape);
  return cut.length < s.length ? `${safe}...(${s.length - cut.length} more chars)` : safe;
}

/** A WebSocket close reason: at most 123 bytes of UTF-8 (the protocol's limit), sanitised. */
export function closeReason(text: string): string {
  let s = sanitizeForLog(text, 123);
  while (Buffer.byteLength(s) > 123) s = s.slice(0, -1);
  return s;
}

/**
 * A log for refusals: at most `perSecond` lines a second, so a flood of bad peers cannot flood
 * the log too; lines over the rate are counted, and the count said before the next line.
 */
export function throttledLog(log: Log, perSecond = 20): Log {
  let windowStart = 0, used = 0, suppressed = 0;
  return (m, event, fields) => {
    const now = Date.now();
    if (now - windowStart >= 1000) {
      windowStart = now;
      used = 0;
    }
    if (used >= perSecond) {
      suppressed++;
      return;
    }
    used++;
    if (suppressed) log(`(${suppressed} more refusals not logged: over ${perSecond} a second)`, 'log-suppressed', { count: suppressed });
    suppressed = 0;
    log(m, event, fields);
  };
}
