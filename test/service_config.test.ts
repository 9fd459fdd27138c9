// The cluster config is validated field by field with errors naming the field; PNG inputs for
// `tfe predict` decode exactly; the CLI drives a local cluster end to end.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';

import test from 'ava';

import * as tfe from '../lib';
import { decodePng } from '../lib/cli/png';
import { tfeCli } from '../lib/serve/local_cluster';
import { mlp } from './helpers/model_files';
import { startCliCluster } from './helpers/service';

const good = () => ({
  parties: { server0: { host: '127.0.0.1', port: 4100 }, server1: { host: '127.0.0.1', port: 4101 }, server2: { host: '127.0.0.1', port: 4102 } },
});

test('cluster config: defaults, and clear errors naming the field', (t) => {
  const c = tfe.parseClusterConfig(good(), 'c.json', '/tmp');
  t.is(c.fracBits, 16);
  t.is(c.insecure, false);
  t.is(c.parties.server1.port, 4101);
  t.is(c.device, 'auto');
  t.is(tfe.parseClusterConfig({ ...good(), device: 'cpu' }, 'c.json').device, 'cpu');
  t.is(c.linkDistance, 'measured');
  t.is(tfe.parseClusterConfig({ ...good(), linkDistance: 'far' }, 'c.json').linkDistance, 'far');
  t.is(c.sessionsPerSetup, 2 ** 24 - 1, 'a setup hands out every session index it can');
  t.is(tfe.parseClusterConfig({ ...good(), sessionsPerSetup: 4096 }, 'c.json').sessionsPerSetup, 4096);
  t.is(tfe.parseClusterConfig({ ...good(), sessionsPerSetup: 40, maxPoolRecordings: 10 }, 'c.json').sessionsPerSetup, 40);
  // A query the limits admit must fit through one server link (its dealt material travels there).
  t.throws(() => tfe.parseClusterConfig({ ...good(), maxQueryBytes: 2 ** 33, maxTotalQueryBytes: 2 ** 34 }, 'c.json'), { message: /'maxQueryBytes' \(8589934592\) must not exceed 'maxPendingBytesPerServer' \(4294967296, the default when unset\)/ });
  t.is(tfe.parseClusterConfig({ ...good(), maxQueryBytes: 2 ** 33, maxTotalQueryBytes: 2 ** 34, maxPendingBytesPerServer: 2 ** 34 }, 'c.json').net.maxPendingBytesPerServer, 2 ** 34);
  t.true(tfe.parseClusterConfig(good(), 'c.json').net.clientIdleMs > tfe.parseClusterConfig(good(), 'c.json').queryTimeoutMs, 'idle clients outlive the longest query');
  const bad = (patch: (o: Record<string, unknown>) => void, msg: RegExp) => {
    const o = good() as unknown as Record<string, unknown>;
    patch(o);
    t.throws(() => tfe.parseClusterConfig(o, 'c.json'), { message: msg });
  };
  bad((o) => delete (o.parties as Record<string, unknown>).server2, /cluster config c.json: parties.server2 is missing/);
  bad((o) => ((o.parties as Record<string, Record<string, unknown>>).server1.port = 70000), /parties.server1.port must be an integer in \[1, 65535\], got 70000/);
  bad((o) => ((o.parties as Record<string, unknown>).mallory = { host: 'x', port: 1 }), /unknown party 'mallory'/);
  bad((o) => (o.colour = 'blue'), /unknown field 'colour'/);
  // A CA alone is a client's config (real hosts: only a server's own host has its key; the server checks it has one).
  t.is(tfe.parseClusterConfig({ ...good(), ca: 'ca.pem' }, 'c.json').ca, 'ca.pem');
  bad((o) => ((o.parties as Record<string, Record<string, unknown>>).server0.cert = 'x.pem') && ((o.parties as Record<string, Record<string, unknown>>).server0.key = 'x.key'), /parties.server0 has a certificate but there is neither a 'ca' nor pinned fingerprints/);
  bad((o) => ((o.parties as Record<string, Record<string, unknown>>).server0.cert = 'x.pem'), /needs both cert and key/);
  bad((o) => (o.fracBits = 40), /'fracBits' must be an integer in \[1, 30\], got 40/);
  bad((o) => (o.sessionsPerSetup = 8), /'sessionsPerSetup' must be an integer in \[32, 16777215\], got 8/);
  bad((o) => (o.sessionsPerSetup = 2 ** 24), /'sessionsPerSetup' must be an integer in \[32, 16777215\], got 16777216/);
  bad((o) => (o.sessionsPerSetup = 2047), /'sessionsPerSetup' \(2047\) must be at least 4 x 'maxPoolRecordings' \(512\)/);
  bad((o) => (o.device = 'gpu'), /'device' must be "auto", "cpu" or "cuda", got "gpu"/);
  bad((o) => (o.linkDistance = 'lan'), /'linkDistance' must be one of "measured", "near", "far", got "lan"/);
  // From the ops review: null read as the default, silently; a port inside a host failed only when dialled.
  bad((o) => (o.maxSessions = null), /'maxSessions' is null: remove the field for its default, or give a value/);
  bad((o) => ((o.parties as Record<string, Record<string, unknown>>).server1.lanePort = null), /'parties.server1.lanePort' is null/);
  bad((o) => ((o.parties as Record<string, Record<string, unknown>>).server1.host = 'h1.example.org:7401'), /parties.server1.host is "h1.example.org:7401": a host name or address, without a port/);
  // From the operator's review: each was accepted, then failed at start or had no effect.
  bad((o) => ((o.parties as Record<string, Record<string, unknown>>).server1.lanePort = 4101), /parties.server1.lanePort is its port \(4101\): the lane needs a port of its own/);
  bad((o) => ((o.ca = 'ca.pem'), (o.clusterSecret = 'secret')), /'clusterSecret' is for plain ws clusters; this one uses TLS/);
  bad((o) => ((o.ca = 'ca.pem'), (o.insecure = true)), /'insecure' is for plain ws clusters; this one uses TLS/);
  t.is(tfe.parseClusterConfig({ ...good(), clusterSecret: 'secret', insecure: true }, 'c.json').insecure, true, 'both are for plain ws');
  t.is(tfe.parseClusterConfig({ ...good(), ca: 'ca.pem', insecure: false }, 'c.json').insecure, false);
  t.is(tfe.parseClusterConfig({ ...good(), parties: { ...good().parties, server1: { host: '::1', port: 4101 } } } as never, 'c.json').parties.server1.host, '::1', 'an IPv6 address keeps its colons');
  t.is(tfe.parseClusterConfig({ ...good(), parties: { ...good().parties, server1: { host: '[::1]', port: 4101 } } } as never, 'c.json').parties.server1.host, '::1', 'in brackets, kept bare');
  bad((o) => ((o.parties as Record<string, Record<string, unknown>>).server1.host = '::1]'), /"::1\]": a host name or address, without a port/);
  t.throws(() => tfe.loadClusterConfig('/nonexistent/cluster.json'), { message: /cluster config \/nonexistent\/cluster.json: ENOENT/ });
});

function png(width: number, height: number, colour: 0 | 2, rows: number[][], filters: number[]): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    return Buffer.concat([len, Buffer.from(type, 'latin1'), data, Buffer.alloc(4)]); // CRC unchecked by the reader
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = colour;
  const ch = colour === 2 ? 3 : 1;
  // Encode each row with its filter, from the raw pixels (the encoder side of the PNG spec).
  const raw: number[] = [];
  rows.forEach((row, y) => {
    raw.push(filters[y]);
    row.forEach((v, x) => {
      const a = x >= ch ? row[x - ch] : 0, b = y > 0 ? rows[y - 1][x] : 0, c = x >= ch && y > 0 ? rows[y - 1][x - ch] : 0;
      const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
      const pred = [0, a, b, (a + b) >> 1, pa <= pb && pa <= pc ? a : pb <= pc ? b : c][filters[y]];
      raw.push((v - pred) & 255);
    });
  });
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(Buffer.from(raw))), chunk('IEND', Buffer.alloc(0))]);
}

test('PNG inputs decode exactly under every row filter, and bad files are refused', (t) => {
  const w = 6, h = 5;
  const rows = Array.from({ length: h }, () => Array.from({ length: w }, () => Math.floor(Math.random() * 256)));
  const img = decodePng(png(w, h, 0, rows, [0, 1, 2, 3, 4]));
  t.deepEqual([img.width, img.height], [w, h]);
  t.deepEqual([...img.gray], rows.flat().map((v) => v / 255));
  const rgb = rows.map((r) => r.flatMap((v) => [v, 255 - v, 7]));
  const img2 = decodePng(png(w, h, 2, rgb, [4, 3, 2, 1, 0]));
  t.deepEqual([...img2.gray].map((g) => Math.round(g * 255 * 3)), rows.flat().map((v) => v + (255 - v) + 7));
  t.throws(() => decodePng(Buffer.from('not a png'), 'x.png'), { message: 'x.png is not a PNG file' });
  const p = png(w, h, 0, rows, [0, 0, 0, 0, 0]);
  t.throws(() => decodePng(p.subarray(0, p.length - 30), 't.png'), { message: /t.png: (chunk IDAT is truncated|image data is (corrupt|truncated))/ });
});

test('the tfe CLI: cluster --local, deploy, predict and models', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-cli-'));
  const cluster = await startCliCluster(dir);
  const { config } = cluster;
  try {
    const run = (args: string[]) => promisify(execFile)(process.execPath, [tfeCli(), ...args, '--config', config]);
    const m = mlp([12, 6, 3], path.join(dir, 'tiny'));
    t.regex((await run(['deploy', '--model', m.file])).stdout, /deployed 'tiny'/);
    // A relu model deploys under an exact protocol by default (Pond's relu is a polynomial).
    t.regex((await run(['models'])).stdout, /tiny {2}securenn {2}input \[12\]/);
    const x = Array.from({ length: 12 }, () => Math.random());
    fs.writeFileSync(path.join(dir, 'in.json'), JSON.stringify({ images: [x], labels: [2] }));
    const out = JSON.parse((await run(['predict', '--model', 'tiny', '--input', path.join(dir, 'in.json'), '--json'])).stdout) as { prediction: number; label: number; probabilities: number[] };
    const logits = m.forward(Float64Array.from(x), (z) => Math.max(z, 0));
    t.is(out.prediction, logits.indexOf(Math.max(...logits)));
    const probs = logits.map((v) => Math.exp(v - Math.max(...logits)));
    const sum = probs.reduce((a, b) => a + b, 0);
    t.true(out.probabilities.length === probs.length && probs.every((p, i) => Math.abs(out.probabilities[i] - p / sum) < 1e-3), `probabilities ${out.probabilities} vs plaintext ${probs.map((p) => p / sum)}`);
    t.is(out.label, 2);
    await t.throwsAsync(run(['predict', '--model', 'nope', '--input', path.join(dir, 'in.json')]), { message: /model 'nope' is not deployed/ });
  } finally {
    t.is(await cluster.stop(), 0, cluster.log());
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
