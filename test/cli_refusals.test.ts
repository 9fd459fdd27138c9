// What a review of the CLI and the config found taken as given: flags of the other `tfe cluster`
// mode dropped, numbers that were NaN, a file that is not a certificate not named, a port 0 (a
// random port no peer finds), lane ports past 65535 written by --init, a per-connection pending
// bound below the largest input, and plain-ws doctor saying "all checks passed" with the peers
// down. Each is refused now, naming the problem.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

import test from 'ava';

import { WsEndpoint } from '../lib/net/ws_endpoint';
import { parseClusterConfig } from '../lib/serve/config';
import { doctor } from '../lib/serve/doctor';
import { tfeCli } from '../lib/serve/local_cluster';

const run = promisify(execFile);
const stderrOf = (args: string[]) => run(process.execPath, [tfeCli(), ...args]).then(() => '(exit 0)', (e: { code: number; stderr: string }) => `${e.code}: ${e.stderr}`);
const parties = (port: number, extra: Record<string, unknown> = {}) => ({ server0: { host: '127.0.0.1', port, ...extra }, server1: { host: '127.0.0.1', port: port + 1 }, server2: { host: '127.0.0.1', port: port + 2 } });

test('tfe cluster refuses the flags of the other mode, and --init a port whose lane port would pass 65535', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-cli-'));
  t.regex(await stderrOf(['cluster', '--init', '--plain', '--dir', 'X', '--out', path.join(dir, 'a.json')]), /^1: tfe: --dir, --plain are for --local, not --init/);
  t.regex(await stderrOf(['cluster', '--init', '--local', '--out', path.join(dir, 'b.json')]), /--local and --init are two modes; give one/);
  t.regex(await stderrOf(['cluster', '--local', '--port', '7500', '--dir', path.join(dir, 'l')]), /--port is for --init, not --local/);
  t.regex(await stderrOf(['cluster', '--init', '--server0', '127.0.0.1:65535', '--server1', 'a:1', '--server2', 'b:2', '--out', path.join(dir, 'c.json')]), /--server0 127\.0\.0\.1:65535: its lane port would be 65545, past 65535; use a port at most 65525/);
  // From --port, whose bound is server2's (--port + 2, plus 10 for its lane).
  t.regex(await stderrOf(['cluster', '--init', '--port', '65524', '--out', path.join(dir, 'c.json')]), /--port 65524: server2's port would be 65526 and its lane port 65536, past 65535; use --port at most 65523/);
  t.false(fs.existsSync(path.join(dir, 'a.json')) || fs.existsSync(path.join(dir, 'c.json')), 'nothing written');
});

test('tfe doctor refuses numbers that are not, and tfe certs names a file that is not a certificate', async (t) => {
  t.regex(await stderrOf(['doctor', '--config', 'x.json', '--timeout', 'abc']), /--timeout must be a whole number in \[100, 600000\], got "abc"/);
  t.regex(await stderrOf(['doctor', '--config', 'x.json', '--warn-days', 'xyz']), /--warn-days must be a whole number in \[0, 3650\], got "xyz"/);
  const notPem = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-cli-')), 'hostname');
  fs.writeFileSync(notPem, 'a-host\n');
  t.regex(await stderrOf(['certs', 'fingerprint', notPem]), new RegExp(`${notPem.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not a PEM certificate`));
});

test('a config with port 0, or a pending bound per client below the largest input, is refused naming the fields', (t) => {
  t.throws(() => parseClusterConfig({ parties: parties(0) }), { message: /parties\.server0\.port must be an integer in \[1, 65535\], got 0/ });
  t.throws(() => parseClusterConfig({ parties: parties(7400, { lanePort: 0 }) }), { message: /parties\.server0\.lanePort must be an integer in \[1, 65535\], got 0/ });
  t.throws(() => parseClusterConfig({ parties: parties(7400), maxPendingBytesPerClient: 1 << 20 }), { message: /'maxPendingBytesPerClient' \(1048576\) must be at least 'maxInputBytes' \(67108864, the default when unset\) plus 65536/ });
  // A misspelt field is named with the one it likely means.
  t.throws(() => parseClusterConfig({ parties: parties(7400), maxSesions: 4 }), { message: /unknown field 'maxSesions' \(did you mean 'maxSessions'\?\)/ });
  t.throws(() => parseClusterConfig({ parties: parties(7400), zzz: 1 }), { message: /unknown field 'zzz' \(known: / });
  // A bound the file left out is named as its default; one it wrote, as written.
  t.throws(() => parseClusterConfig({ parties: parties(7400), maxSessions: 4 }), { message: /'maxSessionsPerClient' \(8, the default when unset\) must not exceed 'maxSessions' \(4\)/ });
  t.notThrows(() => parseClusterConfig({ parties: parties(7400), maxPendingBytesPerClient: 1 << 20, maxInputBytes: (1 << 20) - (1 << 16) }));
});

test('tfe doctor on a plain-ws config checks that each peer listens: down is a failure', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-doc-'));
  const up = new WsEndpoint({ me: 'server0', log: () => undefined });
  await up.start([]);
  // server0 listens; server1 and server2's ports are closed (ports just freed by the OS).
  const free = await Promise.all([0, 1].map(async () => {
    const e = new WsEndpoint({ me: 'x', log: () => undefined });
    await e.start([]);
    const port = e.port;
    await e.close();
    return port;
  }));
  const file = path.join(dir, 'cluster.json');
  fs.writeFileSync(file, JSON.stringify({ parties: { server0: { host: '127.0.0.1', port: up.port }, server1: { host: '127.0.0.1', port: free[0] }, server2: { host: '127.0.0.1', port: free[1] } } }));
  try {
    const checks = await doctor(file, { party: 'server1', timeoutMs: 2000 });
    t.like(checks.find((c) => c.what === 'peer server0'), { status: 'ok' });
    t.like(checks.find((c) => c.what === 'peer server2'), { status: 'FAIL' });
    t.regex(checks.find((c) => c.what === 'peer server2')!.detail, /is unreachable \(.*ECONNREFUSED/);
    t.is(checks.find((c) => c.what === 'peer server1'), undefined, 'not itself');
  } finally {
    await up.close();
  }
});

// A second review found flags checked only once a cluster answered (so a wrong flag read as an
// unreachable cluster, or named an API field), and parser errors without the usage the docs promise.
test('deploy, predict, server and info check their flags and files before any cluster, naming the flag; parser errors show the usage', async (t) => {
  const model = path.join(__dirname, '..', '..', 'bench', 'models', 'A', 'model.json');
  const none = ['--config', path.join(os.tmpdir(), 'no-such-cluster.json')];
  const deploy = (...args: string[]) => stderrOf(['deploy', '--model', model, ...args, ...none]);
  t.regex(await deploy('--protocol', 'fss', '--fss-bits', '99'), /^1: tfe: --fss-bits must be a whole number of bits \(16-64\), got "99"/);
  t.regex(await deploy('--protocol', 'bogus'), /^1: tfe: --protocol: unknown protocol "bogus"/);
  t.regex(await deploy('--fss-gate', 'folded'), /^1: tfe: --fss-gate applies to --protocol fss, not the default \(securenn or pond\)/);
  t.regex(await deploy('--protocol', 'securenn', '--fss-bits', '32'), /^1: tfe: --fss-bits applies to --protocol fss, not securenn/);
  t.regex(await deploy('--calibrate', 'x.json', '--uncalibrated'), /^1: tfe: --calibrate and --uncalibrated exclude each other/);
  t.regex(await stderrOf(['deploy', '--model', '/nonexistent/model.json', ...none]), /^1: tfe: cannot read the model \/nonexistent\/model\.json: ENOENT/);
  t.regex(await stderrOf(['predict', '--input', '/nonexistent.png', '--model', 'm', ...none]), /^1: tfe: cannot read input \/nonexistent\.png: ENOENT/);
  t.regex(await stderrOf(['server', '--party', 'server9', ...none]), /^1: tfe: --party must be server0, server1, server2, got "server9"/);
  t.regex(await stderrOf(['server', '--party', 'server0', '--device', 'gpu', ...none]), /^1: tfe: --device must be auto, cpu or cuda, got "gpu"/);
  t.regex(await stderrOf(['info', '--device', 'gpu']), /^1: tfe: --device must be auto, cpu or cuda, got "gpu"/);
  // The option parser's own errors, followed by the command's usage (docs/cli.md).
  t.regex(await stderrOf(['predict', '--modle', 'm', '--input', 'x']), /^1: error: (unknown option '--modle'|required option '--model <name>' not specified)\n\nUsage: tfe predict \[options\]/);
  t.regex(await stderrOf(['bogus']), /^1: error: unknown command 'bogus'\n\nUsage: tfe \[options\] \[command\]/);
});
