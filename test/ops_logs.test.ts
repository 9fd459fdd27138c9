// The servers' logs and the operations config: JSON lines that parse and carry time, level, party,
// event and fields; peer text sanitised in both formats; listen addresses and the cluster.json
// `log`/`metrics` fields refused with a clear error; the Prometheus text writer's escaping.
import * as fs from 'node:fs';
import * as path from 'node:path';

import test from 'ava';

import { createLogger, LOG_EVENTS, type LogEvent, type LogRecord } from '../lib/log';
import { throttledLog } from '../lib/net/sanitize';
import { parseClusterConfig } from '../lib/serve/config';
import { parseListenAddress } from '../lib/serve/ops_config';
import { PromText } from '../lib/serve/prom_text';
import { parsePromText, sampleKey } from './helpers/prom';

/** What must never reach a log line raw: controls, line/paragraph separators, bidi overrides. */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

const capture = (format: 'text' | 'json', now?: () => Date) => {
  const lines: string[] = [];
  return { lines, log: createLogger({ party: 'server1', format, write: (l) => lines.push(l), now }) };
};

/** A peer's hostile text: a forged second line, a terminal escape, a bidi override, a JSON-breaking separator. */
const hostile = (tag: string) => `${tag}\n[tfe server0] forged line \u001b[31mred\u202eevil\u2028more\u0000`;

test('json lines parse and carry time, level, party, event, msg and fields', (t) => {
  const when = new Date(Date.UTC(2026, 10, 30, 1, 2, 3, Math.floor(Math.random() * 1000)));
  const { lines, log } = capture('json', () => when);
  const n = 1 + Math.floor(Math.random() * 1000);
  log(`refused a request from client#${n}: too big`, 'request-refused', { peer: `client#${n}`, reason: 'too big', size: n, ok: false, skipped: undefined });
  log('plain line');
  t.is(lines.length, 2);
  const rec = JSON.parse(lines[0]) as LogRecord;
  t.deepEqual(Object.keys(rec).sort(), ['event', 'fields', 'level', 'msg', 'party', 'time']);
  t.is(rec.time, when.toISOString());
  t.is(rec.level, 'warn');
  t.is(rec.party, 'server1');
  t.is(rec.event, 'request-refused');
  t.is(rec.msg, `refused a request from client#${n}: too big`);
  t.deepEqual(rec.fields, { peer: `client#${n}`, reason: 'too big', size: n, ok: false });
  // A line logged without an event still has every key.
  const plain = JSON.parse(lines[1]) as LogRecord;
  t.is(plain.event, 'message');
  t.is(plain.level, 'info');
  t.deepEqual(plain.fields, {});
  // An event name that is not in the table is not written as given.
  log('odd', 'no-such-event' as LogEvent);
  t.is((JSON.parse(lines[2]) as LogRecord).event, 'message');
});

test('every event has a level', (t) => {
  for (const [event, level] of Object.entries(LOG_EVENTS)) t.true(['info', 'warn', 'error'].includes(level), event);
});

test('peer text is sanitised in json lines: one line, no raw controls, separators or bidi overrides, capped', (t) => {
  const { lines, log } = capture('json');
  log(`connection with client#1: ${hostile('msg')}`, 'connection-error', { peer: hostile('peer'), reason: hostile('reason').repeat(40) });
  t.is(lines.length, 1);
  t.false(lines[0].includes('\n'));
  // JSON.stringify alone leaves U+2028 and U+202E raw: this fails without the logger's sanitising.
  t.false(UNSAFE.test(lines[0]), JSON.stringify(lines[0]));
  const rec = JSON.parse(lines[0]) as LogRecord;
  t.false(UNSAFE.test(rec.msg));
  t.regex(rec.msg, /msg\\n\[tfe server0\] forged line \\u001b\[31mred\\u202eevil\\u2028more\\u0000/);
  t.regex(String(rec.fields.peer), /^peer\\n/);
  t.true(String(rec.fields.reason).length < 300 * 6 + 40, 'a field keeps at most 300 characters of the original (each escaped in at most 6)');
  t.regex(String(rec.fields.reason), /more chars\)$/);
});

test('text lines stay as before: [tfe party] message, on one line, sanitised', (t) => {
  const { lines, log } = capture('text');
  log('cluster set up (epoch 0123, 2 model(s) ready)', 'cluster-ready', { models: 2 });
  log(hostile('x'), 'session-aborted');
  t.is(lines[0], '[tfe server1] cluster set up (epoch 0123, 2 model(s) ready)');
  t.is(lines.length, 2);
  t.false(UNSAFE.test(lines[1]));
  t.true(lines[1].startsWith('[tfe server1] x\\n[tfe server0] forged line'));
});

test('the refusal throttle keeps each line its event and fields, and says what it dropped as an event', (t) => {
  const { lines, log } = capture('json');
  const throttled = throttledLog(log, 2);
  for (let i = 0; i < 5; i++) throttled(`refused ${i}`, 'connection-refused', { address: '127.0.0.1', rule: 'auth' });
  t.is(lines.length, 2);
  t.deepEqual((JSON.parse(lines[0]) as LogRecord).fields, { address: '127.0.0.1', rule: 'auth' });
  t.is((JSON.parse(lines[1]) as LogRecord).event, 'connection-refused');
});

test('listen addresses: a port, host:port, [ipv6]:port; anything else refused naming it', (t) => {
  const p = 1 + Math.floor(Math.random() * 65535);
  t.deepEqual(parseListenAddress(String(p), '--metrics'), { host: '127.0.0.1', port: p });
  t.deepEqual(parseListenAddress(`0.0.0.0:${p}`, '--metrics'), { host: '0.0.0.0', port: p });
  t.deepEqual(parseListenAddress('localhost:1', '--metrics'), { host: 'localhost', port: 1 });
  t.deepEqual(parseListenAddress('[::1]:65535', '--metrics'), { host: '::1', port: 65535 });
  t.deepEqual(parseListenAddress('metrics.example.org:9100', '--metrics'), { host: 'metrics.example.org', port: 9100 });
  const bad: [unknown, RegExp][] = [
    ['', /--metrics must be an address to listen on/],
    [9464, /--metrics must be an address to listen on .* got 9464/],
    ['abc', /"abc" is not an address to listen on: use PORT/],
    [':9464', /"" in ":9464" is not a host name or IP address/],
    ['127.0.0.1:', /the port in "127.0.0.1:" must be an integer in \[1, 65535\]/],
    ['127.0.0.1:0', /must be an integer in \[1, 65535\]/],
    ['127.0.0.1:65536', /must be an integer in \[1, 65535\]/],
    ['127.0.0.1:94a', /not an address to listen on/],
    ['http://127.0.0.1:9464', /not an address to listen on/],
    ['[::1]9464', /not an address to listen on/],
    ['[nothex]:1', /"nothex" .* is not a host name or IP address \(an IPv6 address in brackets\)/],
    ['999.1.1.1:80', /"999.1.1.1" .* is not a host name or IP address/],
    ['a b:80', /"a b" .* is not a host name/],
  ];
  for (const [v, re] of bad) t.throws(() => parseListenAddress(v, '--metrics'), { message: re }, JSON.stringify(v));
});

const parties = { server0: { host: '127.0.0.1', port: 1 }, server1: { host: '127.0.0.1', port: 2 }, server2: { host: '127.0.0.1', port: 3 } };
const parse = (extra: object) => parseClusterConfig({ parties, ...extra }, 'c.json');

test('cluster.json log and metrics: defaults, one address for all or one per party, errors name the field', (t) => {
  const d = parse({});
  t.deepEqual(d.log, { format: 'text' });
  t.is(d.metrics, undefined);
  t.deepEqual(parse({ log: { format: 'json' } }).log, { format: 'json' });
  const all = parse({ metrics: { listen: '127.0.0.1:9464' } }).metrics!.listen;
  for (const s of ['server0', 'server1', 'server2'] as const) t.deepEqual(all[s], { host: '127.0.0.1', port: 9464 });
  const per = parse({ metrics: { listen: { server0: '9464', server2: '127.0.0.1:9466' } } }).metrics!.listen;
  t.deepEqual(per, { server0: { host: '127.0.0.1', port: 9464 }, server2: { host: '127.0.0.1', port: 9466 } });
  const bad: [object, RegExp][] = [
    [{ log: 'json' }, /c\.json: 'log' must be an object/],
    [{ log: { format: 'xml' } }, /c\.json: log\.format must be "text" or "json", got "xml"/],
    [{ log: { level: 'debug' } }, /unknown field log\.level/],
    [{ metrics: { listen: 'nope' } }, /c\.json: metrics\.listen: "nope" is not an address/],
    [{ metrics: { listen: { server1: '127.0.0.1:70000' } } }, /metrics\.listen\.server1: the port in "127.0.0.1:70000"/],
    [{ metrics: { listen: { server3: '9464' } } }, /unknown party metrics\.listen\.server3/],
    [{ metrics: { listen: { server0: '9464', server1: '127.0.0.1:9464' } } }, /metrics\.listen\.server0 and metrics\.listen\.server1 are both 127\.0\.0\.1:9464/],
    [{ metrics: { port: 9464 } }, /unknown field metrics\.port/],
    [{ metrics: { listen: 9464 } }, /metrics\.listen must be an address/],
    [{ metrics: [] }, /'metrics' must be an object/],
  ];
  for (const [extra, re] of bad) t.throws(() => parse(extra), { message: re }, JSON.stringify(extra));
});

test('prometheus text: label values escaped, histograms cumulative, names checked', (t) => {
  const odd = `a"b\\c\nd${Math.random()}`;
  const text = new PromText()
    .add('x_total', 'counter', 'help with \\ and\nnewline', [{ labels: { model: odd }, value: 3 }])
    .add('y', 'gauge', 'a gauge', 2.5)
    .histogram('h_seconds', 'a histogram', [{ labels: { model: 'm' }, bounds: [0.1, 1], counts: [2, 0, 1], sum: 1.7 }])
    .toString();
  const s = parsePromText(text);
  t.is(s.get(sampleKey('x_total', { model: odd }))?.value, 3);
  t.is(s.get(sampleKey('y'))?.value, 2.5);
  t.is(s.get(sampleKey('h_seconds_bucket', { model: 'm', le: '0.1' }))?.value, 2);
  t.is(s.get(sampleKey('h_seconds_bucket', { model: 'm', le: '1' }))?.value, 2);
  t.is(s.get(sampleKey('h_seconds_bucket', { model: 'm', le: '+Inf' }))?.value, 3);
  t.is(s.get(sampleKey('h_seconds_count', { model: 'm' }))?.value, 3);
  t.is(text.split('\n').length, 14, 'no label or help text broke a line');
  t.throws(() => new PromText().add('bad-name', 'gauge', 'h', 1), { message: /metric name "bad-name" is not valid/ });
  t.throws(() => new PromText().add('g', 'gauge', 'h', [{ labels: { 'bad-label': 'x' }, value: 1 }]), { message: /label name/ });
  t.throws(() => new PromText().add('g', 'gauge', 'h', 1).add('g', 'gauge', 'h', 1), { message: /written twice/ });
  // The reader used on the servers' pages rejects what is not the format (its own control).
  t.throws(() => parsePromText('# TYPE a counter\n# HELP a h\na{x="1} 2\n'), { message: /bad labels|not a HELP/ });
  t.throws(() => parsePromText('b 1\n'), { message: /no TYPE line/ });
});

test("docs/operators.md lists every server event at its level, and nothing else", (t) => {
  const doc = fs.readFileSync(path.join(__dirname, '..', '..', 'docs', 'operators.md'), 'utf8');
  const listed = new Map<string, string>();
  for (const row of doc.split('\n').filter((l) => /^\| (info|warn|error) \|/.test(l)))
    for (const m of row.matchAll(/`([a-z-]+)`/g)) listed.set(m[1], row.split('|')[1].trim());
  // 'message' is a line from an embedder's plain callback: servers never log one (test/ops_metrics).
  const events = Object.entries(LOG_EVENTS).filter(([e]) => e !== 'message');
  t.deepEqual(Object.fromEntries([...listed].sort()), Object.fromEntries(events.sort()));
});
