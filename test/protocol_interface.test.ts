// Issue 14's rule for the protocol interface: adding a protocol touches no API file. The API
// (lib/api) reaches protocol-specific steps only through lib/protocol's neutral modules
// (protocols.ts, comparison.ts, product_folding.ts, pond/ for the arithmetic every protocol
// shares), so it must neither import from a protocol's own folder other than those nor branch
// on a protocol's name.
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';

const API = path.join(__dirname, '..', '..', 'lib', 'api');
// securenn/ holds the exact ops built on DReLU (relu, max trees, selection), which run under
// every exact protocol through comparison.ts; fss/ is FSS's alone.
const PROTOCOL_ONLY = /from '\.\.\/protocol\/fss\//;
const NAME_BRANCH = /\b(protocol|protocolName)\s*[!=]==?\s*'(pond|securenn|fss)'|'(pond|securenn|fss)'\s*[!=]==?\s*\w*protocol\b/;

/** Code without comments (a line comment, or a block comment's lines). */
function code(text: string): string {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .split('\n')
    .map((l) => l.replace(/^\s*\/\/.*$/, ''))
    .join('\n');
}

function violations(file: string, text: string): string[] {
  const found: string[] = [];
  for (const [i, line] of code(text).split('\n').entries()) {
    if (PROTOCOL_ONLY.test(line)) found.push(`${file}:${i + 1} imports a protocol's own module: ${line.trim()}`);
    if (NAME_BRANCH.test(line)) found.push(`${file}:${i + 1} branches on a protocol's name: ${line.trim()}`);
  }
  return found;
}

test('the rule catches an API file that branches on FSS or imports from its folder (the control)', (t) => {
  t.is(violations('x.ts', "import { fssRelu } from '../protocol/fss/drelu';").length, 1);
  t.is(violations('x.ts', "  if (c.protocol === 'fss' && foldsGates(c.fssGate)) return foldableRelu(c, px);").length, 1);
  t.is(violations('x.ts', "  if (cluster.protocol !== 'pond') {").length, 1);
  t.is(violations('x.ts', "// if (c.protocol === 'fss') is how it used to be").length, 0, 'comments are not code');
});

test('no file under lib/api names a protocol in its code or imports a protocol-only module', (t) => {
  const files = fs.readdirSync(API).filter((f) => f.endsWith('.ts'));
  t.true(files.length > 20, 'lib/api was found');
  const found = files.flatMap((f) => violations(f, fs.readFileSync(path.join(API, f), 'utf8')));
  t.deepEqual(found, []);
});
