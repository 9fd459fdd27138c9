// `tfe certs ...` (ca, request, sign, fingerprint, show), `tfe doctor`, and the helpers behind
// `tfe cluster --init` and the certificate lines of `tfe status`. The flow for three operators
// is in docs/operators.md.
import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { Command } from 'commander';

import { showFingerprint } from '../net/peer_trust';
import { SERVERS } from '../protocol/party';
import { loadClusterConfig, usesTls } from '../serve/config';
import { doctor, probeTls } from '../serve/doctor';
import { describeCertificate, initClusterConfig, type InitOptions, makeCa, requestCertificate, signCsr } from '../serve/provision';
import { clientTls, EXPIRY_WARN_DAYS } from '../serve/provision_tls';

const collect = (v: string, prev: string[] = []) => [...prev, v];
const days = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 36500) throw new Error(`--days must be a whole number of days in [1, 36500], got ${v}`);
  return n;
};

export function addProvisionCommands(program: Command): void {
  const certs = program.command('certs').description('certificates for a cluster on three hosts run by three operators (docs/operators.md)');

  certs
    .command('ca')
    .description('make a cluster CA (ca.pem to share, ca.key to keep offline): for operators who agree on one signer; pinning needs none')
    .requiredOption('--out <dir>', 'where ca.pem and ca.key go')
    .option('--name <name>', 'the CA certificate name', 'tfjs-encrypted cluster CA')
    .option('--days <n>', 'validity', days, 3650)
    .action((o: { out: string; name: string; days: number }) => {
      const r = makeCa(o.out, o);
      console.log(`wrote ${r.cert} (share it) and ${r.key} (0600: keep it offline)`);
      console.log(`CA sha256 ${r.fingerprint}`);
    });

  certs
    .command('request')
    .description("on a party's own host: make its key (0600, never leaves the host) and a CSR; with --self-signed also a certificate to pin")
    .requiredOption('--party <name>', 'server0 | server1 | server2 | model-owner')
    .option('--host <name>', 'a host name or IP address the others reach it at (repeat; as in parties.<party>.host)', collect, [])
    .requiredOption('--out <dir>', 'where <party>.key, <party>.csr (and <party>.pem) go')
    .option('--self-signed', 'also write <party>.pem signed by its own key, and print its fingerprint for the others to pin')
    .option('--days <n>', 'validity of the self-signed certificate', days, 365)
    .action((o: { party: string; host: string[]; out: string; selfSigned?: boolean; days: number }, cmd: Command) => {
      const days = cmd.getOptionValueSource('days') === 'default' ? undefined : o.days;
      const r = requestCertificate({ party: o.party, hosts: o.host, out: o.out, selfSigned: o.selfSigned, days });
      console.log(`wrote ${r.key} (0600: stays on this host) and ${r.csr} (for a CA to sign: tfe certs sign)`);
      if (r.cert) {
        console.log(`wrote ${r.cert} (self-signed)`);
        console.log(`fingerprint to pin (${o.party === 'model-owner' ? 'owner' : `parties.${o.party}`}.fingerprint): ${r.fingerprint}`);
      }
    });

  certs
    .command('sign')
    .description("the CA's side: check a CSR's party name and host names against what you approve, then sign it")
    .requiredOption('--ca <file>', 'the CA certificate')
    .requiredOption('--ca-key <file>', 'the CA key')
    .requiredOption('--csr <file>', 'the request (from tfe certs request)')
    .requiredOption('--party <name>', 'the party the request must be for')
    .option('--host <name>', 'a host name or address you approve (repeat; the CSR must ask for exactly these)', collect, [])
    .requiredOption('--out <file>', 'the certificate to write')
    .option('--days <n>', 'validity', days, 365)
    .action((o: { ca: string; caKey: string; csr: string; party: string; host: string[]; out: string; days: number }) => {
      const r = signCsr({ ca: o.ca, caKey: o.caKey, csr: o.csr, party: o.party, hosts: o.host, out: o.out, days: o.days });
      console.log(`wrote ${r.cert} for ${o.party}; sha256 ${r.fingerprint}`);
    });

  certs
    .command('fingerprint')
    .description("print a certificate's SHA-256 fingerprint, the form cluster.json pins")
    .argument('<cert>', 'a PEM certificate')
    .action((file: string) => {
      console.log(showFingerprint(describeCertificate(readCert(file)).fingerprint));
    });

  certs
    .command('show')
    .description("a certificate's party name, host names, dates and fingerprint")
    .argument('<cert>', 'a PEM certificate')
    .action((file: string) => {
      const i = describeCertificate(readCert(file));
      console.log(`name         ${i.cn ?? '(no CN)'}`);
      console.log(`hosts        ${i.sans.join(', ') || '(none)'}`);
      console.log(`issuer       ${i.selfSigned ? 'itself (self-signed)' : i.issuer.replace(/\n/g, ', ')}`);
      console.log(`valid        ${i.notBefore.toISOString()} .. ${i.notAfter.toISOString()} (${i.daysLeft < 0 ? 'EXPIRED' : `${i.daysLeft} days left`})`);
      console.log(`sha256       ${showFingerprint(i.fingerprint)}`);
    });

  program
    .command('doctor')
    .description("check, from one party's host, its certificate and key against the config, and that each peer is reachable, trusted and of this release's compute version (and the lane port of each peer it dials reachable); one line per check, exit 1 on a failure")
    .requiredOption('--config <file>', 'the cluster config on this host')
    .option('--party <name>', "this host's party: server0 | server1 | server2 | model-owner (absent: only the peers)")
    .option('--timeout <ms>', 'per connection', whole('--timeout', 100, 600_000), 5000)
    .option('--warn-days <n>', 'warn when a certificate expires within this many days', whole('--warn-days', 0, 3650), EXPIRY_WARN_DAYS)
    .action(async (o: { config: string; party?: string; timeout: number; warnDays: number }) => {
      const checks = await doctor(o.config, { party: o.party, timeoutMs: o.timeout, warnDays: o.warnDays });
      for (const c of checks) console.log(`${c.status.padEnd(4)}  ${c.what.padEnd(22)} ${c.detail}`);
      const failed = checks.filter((c) => c.status === 'FAIL').length;
      console.log(failed ? `${failed} check(s) failed` : 'all checks passed');
      if (failed) process.exitCode = 1;
    });
}

/** A flag's whole number in [lo, hi], refused naming the flag (Number('abc') was NaN, taken as is). */
function whole(flag: string, lo: number, hi: number): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || n < lo || n > hi) throw new Error(`${flag} must be a whole number in [${lo}, ${hi}], got ${JSON.stringify(v)}`);
    return n;
  };
}

function readCert(file: string): Buffer {
  let pem: Buffer;
  try {
    pem = fs.readFileSync(file);
  } catch (e) {
    throw new Error(`cannot read ${file}: ${(e as Error).message}`);
  }
  try {
    new X509Certificate(pem);
  } catch (e) {
    throw new Error(`${file} is not a PEM certificate (${(e as Error).message})`);
  }
  return pem;
}

/** `tfe cluster --init`: writes a cluster.json skeleton for three hosts (refusing to overwrite). */
export function clusterInit(o: { out: string; mode?: string; party?: string; port?: string; server0?: string; server1?: string; server2?: string; force?: boolean }): void {
  const mode = (o.mode ?? 'pin') as InitOptions['mode'];
  if (!['pin', 'ca', 'both'].includes(mode)) throw new Error(`--trust must be pin, ca or both, got ${o.mode}`);
  const port = Number(o.port ?? 7400);
  if (!Number.isInteger(port) || port < 1 || port > 65533) throw new Error(`--port must be a port number, got ${o.port}`);
  const config = initClusterConfig({ mode, port, party: o.party, hosts: { server0: o.server0, server1: o.server1, server2: o.server2 } });
  if (fs.existsSync(o.out) && !o.force) throw new Error(`${o.out} exists already; not overwriting it (--force)`);
  fs.mkdirSync(path.dirname(path.resolve(o.out)), { recursive: true });
  // Written beside it, then renamed over it: a crash leaves the old file or the new one, and a
  // link planted at o.out is replaced, not written through.
  const tmp = path.join(path.dirname(path.resolve(o.out)), `.tfe-tmp-${process.pid}-${path.basename(o.out)}`);
  fs.writeFileSync(tmp, `${JSON.stringify(config, null, 2)}\n`, { flag: 'wx' });
  try {
    fs.renameSync(tmp, o.out);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  const todo = JSON.stringify(config).match(/<[^>]*>/g) ?? [];
  console.log(`wrote ${o.out} (${mode === 'pin' ? 'pinned fingerprints, no CA' : mode === 'ca' ? 'a cluster CA' : 'a cluster CA and pinned fingerprints'})`);
  if (todo.length) console.log(`fill in ${todo.length} placeholder(s) <...>, then run tfe doctor --config ${o.out} --party ${o.party ?? "<this host's party>"} (docs/operators.md)`);
}

/** Lines for `tfe status`: each server's certificate as a fresh connection sees it, days to expiry. */
export async function certificateLines(configFile: string, warnDays = EXPIRY_WARN_DAYS, asOwner = false): Promise<string[]> {
  const c = loadClusterConfig(configFile);
  if (!usesTls(c)) return [];
  const material = clientTls(c, asOwner && !!c.owner?.cert)!;
  const lines: string[] = [];
  const line = (who: string, i: { notAfter: Date; daysLeft: number; fingerprint: string }) =>
    `${who} certificate expires ${i.notAfter.toISOString().slice(0, 10)} (in ${i.daysLeft} days)${i.daysLeft < warnDays ? ` WARNING: under ${warnDays} days, rotate it (docs/operators.md)` : ''}; sha256 ${showFingerprint(i.fingerprint)}`;
  for (const s of SERVERS) {
    const p = c.parties[s as 'server0'];
    const r = await probeTls(p.host === '0.0.0.0' ? '127.0.0.1' : p.host, p.port, material, 5000);
    if (r.error || !r.info) lines.push(`${s} certificate: unknown (${r.error ?? 'none presented'})`);
    else {
      // Trusted, but another party's (a certificate swapped between hosts): said, as tfe doctor does.
      const other = r.verdict && !r.verdict.why && r.verdict.name !== s ? ` WARNING: it is the certificate of '${r.verdict.name}', not ${s}'s` : '';
      lines.push(line(s, r.info) + (r.verdict?.why ? ` NOT TRUSTED: ${r.verdict.why}` : other));
    }
  }
  if (material.cert) lines.push(line('model-owner', describeCertificate(material.cert)));
  return lines;
}
