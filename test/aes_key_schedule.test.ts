// The AES-NI key schedule (aeskeygenassist) and the portable S-box one must give identical round
// keys: the PRG stream, shared by all parties and the CUDA port, depends on every byte of them.
// 1. A C++ check (test/native/aes_key_schedule.cc) compares both schedules with FIPS-197's published
//    round keys (Appendix A.1), each other on 100,000 keys, and C.1's ciphertext for every pairing
//    of schedule and block function. It needs a C++ compiler; without one that test is skipped.
// 2. Through the addon: prgRing with impl 'portable' (S-box schedule and rounds) and 'aesni'
//    (aeskeygenassist schedule and AES-NI rounds) gives OpenSSL's AES-128-CTR stream for the
//    FIPS-197 and SP 800-38A keys and for random seeds.
import { spawnSync } from 'node:child_process';
import { createCipheriv, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import test from 'ava';

import { cpuInfo, prgRing } from '../lib/ring';
import { take } from './helpers/tensors';

const root = path.resolve(__dirname, '..', '..');
const IMPLS: ('portable' | 'aesni')[] = ['portable', ...(cpuInfo().aes === 'aes-ni' ? (['aesni'] as const) : [])];
const cxx = ['c++', 'g++', 'clang++'].find((c) => spawnSync(c, ['--version'], { stdio: 'ignore' }).status === 0);

(cxx ? test : test.skip)('C++: AES-NI and portable key schedules equal FIPS-197 A.1 and each other', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-aes-ks-'));
  try {
    const exe = path.join(dir, 'aes_key_schedule');
    const src = ['test/native/aes_key_schedule.cc', 'native/src/prg/aes128_ctr.cc', 'native/src/prg/aes128_ni.cc', 'native/src/prg/aes128_portable.cc', 'native/src/core/cpu_features.cc'];
    const cc = spawnSync(cxx!, ['-std=c++17', '-O2', '-Inative/src', ...src, '-o', exe], { cwd: root, encoding: 'utf8' });
    t.is(cc.status, 0, `compiling the check failed:\n${cc.stderr}`);
    for (const env of [{}, { TFE_CPU_BASELINE: '1' }]) {
      const r = spawnSync(exe, { encoding: 'utf8', env: { ...process.env, ...env } });
      t.log(r.stdout.trim());
      t.is(r.status, 0, `${JSON.stringify(env)}:\n${r.stdout}${r.stderr}`);
      t.regex(r.stdout, /^PASSED$/m);
    }
    if (IMPLS.includes('aesni')) t.regex(spawnSync(exe, { encoding: 'utf8' }).stdout, /ok aes-ni schedule = FIPS-197 A\.1/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** OpenSSL's AES-128-CTR keystream for the PRG's counter block nonce (big-endian) || 0. */
function openssl(key: Uint8Array, nonce: bigint, n: number): bigint[] {
  const iv = Buffer.alloc(16);
  iv.writeBigUInt64BE(nonce, 0);
  const c = createCipheriv('aes-128-ctr', key, iv);
  const ks = Buffer.concat([c.update(Buffer.alloc(8 * n)), c.final()]);
  return [...new BigUint64Array(ks.buffer, ks.byteOffset, n)];
}

const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));

for (const impl of IMPLS) {
  test(`prgRing (${impl} key schedule and rounds) equals OpenSSL on FIPS-197/SP 800-38A keys and random seeds`, async (t) => {
    const keys = [hex('000102030405060708090a0b0c0d0e0f'), hex('2b7e151628aed2a6abf7158809cf4f3c'), new Uint8Array(16), new Uint8Array(16).fill(255)];
    for (let i = 0; i < 20; i++) keys.push(randomBytes(16));
    for (const key of keys) {
      const nonce = 0x0123456789abcdefn;
      t.deepEqual(take(await prgRing(key, [257], { nonce, impl })), openssl(key, nonce, 257), Buffer.from(key).toString('hex'));
    }
  });
}
