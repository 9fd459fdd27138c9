// Issue 14's rule for the protocol interface: adding a protocol touches no API file. The API
// (lib/api) reaches protocol-specific steps only through lib/protocol's neutral modules
// (protocols.ts, comparison.ts, product_folding.ts, pond/ for the arithmetic every protocol
// shares, exact/ for the ops every exact protocol builds on its DReLU), so it must neither import from a protocol's own folder other than those nor name a
// protocol. The service and the CLI go by a protocol's traits (PROTOCOL_TRAITS, defaultProtocolFor,
// exactProtocolsText) and carry its deploy options through their specs (OPTION_SPECS: the request,
// the store, the listing, the flags); they name a protocol or an option only in the files of one
// protocol's own service features (FSS's served gate forms, its keys' memory, its folded products' report).
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { EXACT_PROTOCOLS } from '../lib/protocol/exact_protocols';
import { flagOf, OPTION_SPECS } from '../lib/protocol/protocol_options';
import { isExact, PROTOCOLS } from '../lib/protocol/protocols';

const LIB = path.join(__dirname, '..', '..', 'lib');
// exact/ holds the ops built on DReLU (relu, max trees, selection), which run under every exact
// protocol through comparison.ts; fss/ is FSS's alone, securenn/ SecureNN's.
// A static import, a dynamic import() or a require of such a module, at any depth of '../'.
const PROTOCOL_ONLY = /(\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*)['"\x60](\.\.\/)+protocol\/(fss|securenn)\//;
// Any protocol's name as a string in code (in single, double or back quotes): a comparison, a
// switch case, an includes, a default.
const NAME = new RegExp(`(['"\x60])(${PROTOCOLS.join('|')})\\1`);
// A protocol's deploy option, by its name or its flag (and FSS's gate form type).
const OPTION = new RegExp([...OPTION_SPECS.flatMap((s) => [s.name, flagOf(s)]), 'FssGate'].join('|'));
// The files of one protocol's own service features, which may name it and its options: FSS's gate
// forms under load (gate_form.ts), its keys' memory (query_memory.ts), its folded products' report.
const PROTOCOL_FEATURES = ['serve/gate_form.ts', 'serve/query_memory.ts', 'cli/fold_report.ts'];

/** Code without comments (a line comment, or a block comment's lines). */
function code(text: string): string {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .split('\n')
    .map((l) => l.replace(/^\s*\/\/.*$/, ''))
    .join('\n');
}

/** The rule's breaches in one file: `api` for lib/api (no protocol name, no protocol-only import), else lib/serve and lib/cli (no protocol name, no option name). */
function violations(file: string, text: string, api = true): string[] {
  const found: string[] = [];
  for (const [i, line] of code(text).split('\n').entries()) {
    if (api && PROTOCOL_ONLY.test(line)) found.push(`${file}:${i + 1} imports a protocol's own module: ${line.trim()}`);
    if (NAME.test(line)) found.push(`${file}:${i + 1} names a protocol: ${line.trim()}`);
    if (!api && OPTION.test(line)) found.push(`${file}:${i + 1} names a protocol's option: ${line.trim()}`);
  }
  return found;
}

const sources = (dir: string) => fs.readdirSync(path.join(LIB, dir)).filter((f) => f.endsWith('.ts')).map((f) => ({ file: `${dir}/${f}`, text: fs.readFileSync(path.join(LIB, dir, f), 'utf8') }));

test('the rule catches code that names a protocol or imports from its folder (the control)', (t) => {
  t.is(violations('x.ts', "import { fssRelu } from '../protocol/fss/drelu';").length, 1);
  t.is(violations('x.ts', "import { msb } from '../protocol/securenn/msb';").length, 1);
  t.is(violations('x.ts', "import { maxTree } from '../protocol/exact/max_tree';").length, 0, 'the ops every exact protocol shares');
  t.is(violations('x.ts', "  const { fssRelu } = await import('../protocol/fss/drelu');").length, 1, 'a dynamic import');
  t.is(violations('x.ts', '  const m = require("../protocol/securenn/msb");').length, 1, 'a require');
  t.is(violations('x.ts', "  if (c.protocol === 'fss' && foldsGates(c.fssGate)) return foldableRelu(c, px);").length, 1);
  t.is(violations('x.ts', "  if (cluster.protocol !== 'pond') {").length, 1);
  t.is(violations('x.ts', "    case 'securenn':").length, 1);
  t.is(violations('x.ts', "  if (['fss'].includes(p)) {").length, 1);
  t.is(violations('x.ts', '  if (c.protocol === "securenn") {').length, 1);
  t.is(violations('x.ts', '  const p = c.protocol ?? `pond`;').length, 1);
  t.is(violations('x.ts', "  const protocol = spec.comparisons ? 'securenn' : 'pond';", false).length, 1);
  t.is(violations('x.ts', "  const fssBits = opts.fssBits === undefined ? undefined : int(opts.fssBits, '--fss-bits', 16, 64);", false).length, 1, 'an option by name');
  t.is(violations('x.ts', "  .option('--fss-gate <form>', 'the gate form')", false).length, 1, 'an option by its flag');
  t.is(violations('x.ts', '  const options = flagOptions(protocol, opts);', false).length, 0, 'options through their specs');
  t.is(violations('x.ts', "// if (c.protocol === 'fss') is how it used to be").length, 0, 'comments are not code');
});

test('no file under lib/api names a protocol in its code or imports a protocol-only module', (t) => {
  const files = sources('api');
  t.true(files.length > 20, 'lib/api was found');
  t.deepEqual(files.flatMap((f) => violations(f.file, f.text)), []);
});

test("lib/serve and lib/cli name a protocol or its options only in that protocol's own features: the rest goes by traits and OPTION_SPECS", (t) => {
  const files = [...sources('serve'), ...sources('cli')];
  t.true(files.length > 40, 'lib/serve and lib/cli were found');
  for (const f of PROTOCOL_FEATURES) t.true(files.some((x) => x.file === f), `${f} exists`);
  t.deepEqual(files.filter((f) => !PROTOCOL_FEATURES.includes(f.file)).flatMap((f) => violations(f.file, f.text, false)), []);
});

// "One suite runs over every protocol": a protocol added to PROTOCOLS without a file running the
// shared suites for it ran none of them, and nothing said so.
test('every protocol runs every shared suite: protocolSuite, or (Pond) each suite in a file of its own', (t) => {
  const TEST = path.join(__dirname, '..', '..', 'test');
  const shared = fs.readFileSync(path.join(TEST, 'helpers', 'protocol_suite.ts'), 'utf8');
  const body = shared.slice(shared.indexOf('export function protocolSuite'));
  const suites = [...body.matchAll(/^\s+(\w+Suite)\(protocol\);/gm)].map((m) => m[1]);
  t.true(suites.length >= 10, `the suites protocolSuite runs: ${suites.join(', ')}`);
  // Calls in code, not in comments.
  const files = fs.readdirSync(TEST).filter((f) => f.endsWith('.test.ts')).map((f) => code(fs.readFileSync(path.join(TEST, f), 'utf8'))).join('\n');
  const missing = PROTOCOLS.flatMap((p) => (files.includes(`protocolSuite('${p}')`) ? [] : suites.filter((s) => !files.includes(`${s}('${p}')`)).map((s) => `${p}: ${s}`)));
  t.deepEqual(missing, []);
});

test('the exact protocols of PROTOCOL_TRAITS are those exact_protocols.ts supplies a DReLU for', (t) => {
  for (const p of PROTOCOLS) t.is(EXACT_PROTOCOLS[p] !== undefined, isExact(p), p);
});
