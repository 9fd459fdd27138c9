// Provisioning for three operators on three hosts (docs/operators.md). Each operator makes its own
// key on its own host (`tfe certs request`): the key never leaves it; what goes out is a CSR (for
// a CA to sign, `tfe certs sign`) or a self-signed certificate whose SHA-256 fingerprint the
// other operators pin in their cluster.json. Keys are made with Node's crypto (P-256, written
// 0600 and never over an existing file); requests and certificates with the openssl command line,
// as certs.ts does for local clusters.
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

import { showFingerprint } from '../net/peer_trust';
import { SERVERS } from '../protocol/party';
import { openssl } from './certs';

/** The names a certificate may carry (its CN): the three servers and the model owner. */
export const IDENTITIES = [...SERVERS, 'model-owner'] as const;

export function checkIdentity(name: string): void {
  if (!(IDENTITIES as readonly string[]).includes(name)) throw new Error(`unknown party '${name}' (expected ${IDENTITIES.join(', ')})`);
}

/** The full form of an IPv6 address (8 groups, no leading zeros), as openssl prints it; IPv4 as is. */
function canonicalIp(ip: string): string {
  if (!net.isIPv6(ip)) return ip;
  let s = ip;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    const [a, b, c, d] = v4[1].split('.').map(Number);
    s = `${s.slice(0, -v4[1].length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [h, t] = s.split('::');
  const hg = h ? h.split(':') : [];
  const tg = t ? t.split(':') : [];
  const groups = t === undefined ? hg : [...hg, ...Array<string>(8 - hg.length - tg.length).fill('0'), ...tg];
  return groups.map((g) => parseInt(g, 16).toString(16).toUpperCase()).join(':');
}

/** The subjectAltName entry for a host: IP:... for an address, DNS:... for a name (checked). */
export function sanOf(host: string): string {
  if (net.isIP(host)) return `IP:${canonicalIp(host)}`;
  const h = host.toLowerCase();
  if (h.length > 253 || !/^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/.test(h)) throw new Error(`'${host}' is not a host name or IP address`);
  return `DNS:${h}`;
}

function writeNew(file: string, data: string, mode: number): void {
  try {
    fs.writeFileSync(file, data, { mode, flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new Error(`${file} exists already; not overwriting it (remove it, or choose another --out)`);
    throw e;
  }
  fs.chmodSync(file, mode);
}

/** A fresh P-256 key in PKCS#8 PEM, written 0600 (refusing to overwrite). */
function writeKey(file: string): void {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256', privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
  writeNew(file, privateKey, 0o600);
}

/** Runs `fn`; if it throws, removes the files it was making (a retry must not meet half a result). */
function undoOnFailure(files: readonly string[], fn: () => void): void {
  try {
    fn();
  } catch (e) {
    for (const f of files) fs.rmSync(f, { force: true });
    throw e;
  }
}

/**
 * Runs openssl with `-out` a fresh temporary file beside `target`, then links it in place: never
 * over an existing file, nor through a symlink planted at `target` (openssl's own -out follows
 * one, and a dangling symlink passes an existsSync check), and nothing half-written at `target`.
 */
function opensslOut(args: readonly string[], target: string, cwd: string): void {
  const tmp = path.join(path.dirname(target), `.tfe-tmp-${randomBytes(6).toString('hex')}-${path.basename(target)}`);
  try {
    openssl([...args, '-out', tmp], cwd);
    try {
      fs.linkSync(tmp, target);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new Error(`${target} exists already (a file or a link); not overwriting it`);
      throw e;
    }
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

function extFile(dir: string, sans: readonly string[]): string {
  const f = path.resolve(dir, `.tfe-ext-${randomBytes(6).toString('hex')}`);
  const lines = ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=serverAuth,clientAuth', ...(sans.length ? [`subjectAltName=${sans.join(',')}`] : [])];
  fs.writeFileSync(f, `${lines.join('\n')}\n`);
  return f;
}

export interface CaResult {
  cert: string;
  key: string;
  fingerprint: string;
}

/** A cluster CA: <dir>/ca.pem and <dir>/ca.key (0600). Keep ca.key offline; only ca.pem is shared. */
export function makeCa(dir: string, opts: { name?: string; days?: number } = {}): CaResult {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const key = path.resolve(dir, 'ca.key'), cert = path.resolve(dir, 'ca.pem');
  if (fs.existsSync(cert)) throw new Error(`${cert} exists already; not overwriting it`);
  const name = (opts.name ?? 'tfjs-encrypted cluster CA').replace(/[/\\=+,]/g, ' ');
  writeKey(key);
  undoOnFailure([key, cert], () => opensslOut(['req', '-x509', '-new', '-key', key, '-days', String(opts.days ?? 3650), '-subj', `/CN=${name}`], cert, dir));
  return { cert, key, fingerprint: fingerprintOfFile(cert) };
}

export interface RequestResult {
  key: string;
  csr: string;
  /** With selfSigned: the certificate (for pinning) and its fingerprint. */
  cert?: string;
  fingerprint?: string;
}

/**
 * On a party's own host: a key (0600) and a CSR for `party` with the hosts as subjectAltNames,
 * in `out`; with `selfSigned`, also a self-signed certificate (for pinning, no CA needed).
 */
export function requestCertificate(o: { party: string; hosts: readonly string[]; out: string; selfSigned?: boolean; days?: number }): RequestResult {
  checkIdentity(o.party);
  if (o.party !== 'model-owner' && o.hosts.length === 0) throw new Error(`a server's certificate must name the hosts it is reached at: give --host (its DNS name and/or IP address, as in parties.${o.party}.host)`);
  // Refused rather than ignored: each was accepted and had no effect.
  if (o.party === 'model-owner' && o.hosts.length) throw new Error("the model owner is never reached at a host (it connects to the servers): leave out --host");
  if (o.days !== undefined && !o.selfSigned) throw new Error('--days is the validity of a self-signed certificate: give it with --self-signed, or to tfe certs sign (the CA sets the validity of what it signs)');
  const sans = [...new Set(o.hosts.map(sanOf))];
  fs.mkdirSync(o.out, { recursive: true, mode: 0o700 });
  const key = path.resolve(o.out, `${o.party}.key`), csr = path.resolve(o.out, `${o.party}.csr`), cert = path.resolve(o.out, `${o.party}.pem`);
  for (const f of [key, csr, ...(o.selfSigned ? [cert] : [])]) if (fs.existsSync(f)) throw new Error(`${f} exists already; not overwriting it (remove it, or choose another --out)`);
  writeKey(key);
  // Only what this call creates is removed on failure: an existing <party>.pem (without
  // --self-signed, a live certificate being renewed) is not ours to delete.
  undoOnFailure([key, csr, ...(o.selfSigned ? [cert] : [])], () => {
    opensslOut(['req', '-new', '-key', key, '-subj', `/CN=${o.party}`, ...(sans.length ? ['-addext', `subjectAltName=${sans.join(',')}`] : [])], csr, o.out);
    if (!o.selfSigned) return;
    const ext = extFile(o.out, sans);
    try {
      opensslOut(['x509', '-req', '-in', csr, '-key', key, '-days', String(o.days ?? 365), '-set_serial', `0x${randomBytes(16).toString('hex')}`, '-extfile', ext], cert, o.out);
    } finally {
      fs.rmSync(ext, { force: true });
    }
  });
  if (!o.selfSigned) return { key, csr };
  return { key, csr, cert, fingerprint: fingerprintOfFile(cert) };
}

/** What a CSR asks for: its CN and subjectAltNames (as DNS:... / IP:...), its signature checked. */
export function readCsr(file: string): { cn: string; sans: string[] } {
  if (!fs.existsSync(file)) throw new Error(`CSR ${file}: no such file`);
  // One run parses and checks it. The requester holds the key: OpenSSL 3's `req -verify` exits 0
  // even when the signature fails ("verify failure" on stderr), so its answer is read, not only
  // its exit status.
  const v = spawnSync('openssl', ['req', '-in', path.resolve(file), '-noout', '-verify', '-text', '-nameopt', 'multiline'], { encoding: 'utf8' });
  if (v.error) throw new Error(`checking CSR ${file} needs the openssl command: ${v.error.message}`);
  const said = `${v.stdout ?? ''}${v.stderr ?? ''}`;
  const signatureFailed = /verify fail/i.test(said);
  if (v.status !== 0 && !signatureFailed) throw new Error(`CSR ${file} is not a valid certificate request: openssl req failed: ${(v.stderr ?? '').trim().split('\n')[0]}`);
  if (signatureFailed || !/verify OK/i.test(said))
    throw new Error(`CSR ${file} is not a valid certificate request: its signature does not verify (${(v.stderr ?? '').trim().split('\n')[0] || `openssl exit ${v.status}`})`);
  const text = v.stdout;
  const subject = /Subject:\n((?: {8,}.*\n)+)/.exec(text)?.[1].trim().split('\n').map((l) => l.trim()) ?? [];
  const fields = subject.map((l) => /^(\w+)\s*=\s*(.*)$/.exec(l)).filter((m): m is RegExpExecArray => !!m);
  if (fields.length !== 1 || fields[0][1] !== 'commonName') throw new Error(`CSR ${file}: the subject must be the party name alone (CN=...), got ${JSON.stringify(subject.join(', '))}`);
  const sanLine = /X509v3 Subject Alternative Name:\s*\n\s*(.*)\n/.exec(text)?.[1] ?? '';
  const sans = sanLine ? sanLine.split(',').map((x) => x.trim()).map((x) => (x.startsWith('IP Address:') ? `IP:${canonicalIp(x.slice(11))}` : x)) : [];
  const odd = sans.find((x) => !/^(DNS|IP):/.test(x));
  if (odd) throw new Error(`CSR ${file}: subjectAltName ${JSON.stringify(odd)} is neither a DNS name nor an IP address`);
  return { cn: fields[0][2], sans };
}

/**
 * The CA's side: checks that the CSR is for `party` and asks for exactly the `hosts` the signer
 * approves (no more, no fewer), then signs it with those names only; writes `out` (0644).
 */
export function signCsr(o: { ca: string; caKey: string; csr: string; party: string; hosts: readonly string[]; out: string; days?: number }): { cert: string; fingerprint: string } {
  checkIdentity(o.party);
  for (const [f, what] of [[o.ca, 'CA certificate (--ca)'], [o.caKey, 'CA key (--ca-key)']] as const) if (!fs.existsSync(f)) throw new Error(`${what} ${f}: no such file`);
  const { cn, sans } = readCsr(o.csr);
  if (cn !== o.party) throw new Error(`CSR ${o.csr} is for '${cn}', not '${o.party}': refusing to sign`);
  const want = [...new Set(o.hosts.map(sanOf))];
  if (o.party !== 'model-owner' && want.length === 0) throw new Error(`give the hosts you approve for ${o.party} (--host, each name or address the CSR asks for)`);
  const extra = sans.filter((s) => !want.includes(s)), missing = want.filter((s) => !sans.includes(s));
  if (extra.length || missing.length)
    throw new Error(`CSR ${o.csr} for ${o.party} asks for ${sans.join(', ') || 'no host names'}; approved: ${want.join(', ') || 'none'}${extra.length ? `; not approved: ${extra.join(', ')}` : ''}${missing.length ? `; approved but not asked for: ${missing.join(', ')}` : ''}: refusing to sign`);
  if (fs.existsSync(o.out)) throw new Error(`${o.out} exists already; not overwriting it`);
  const dir = path.dirname(path.resolve(o.out));
  const ext = extFile(dir, sans); // the names asked for, all approved (checked above)
  try {
    opensslOut(['x509', '-req', '-in', path.resolve(o.csr), '-CA', path.resolve(o.ca), '-CAkey', path.resolve(o.caKey), '-days', String(o.days ?? 365), '-set_serial', `0x${randomBytes(16).toString('hex')}`, '-extfile', ext], path.resolve(o.out), dir);
  } finally {
    fs.rmSync(ext, { force: true });
  }
  return { cert: o.out, fingerprint: fingerprintOfFile(o.out) };
}

export interface CertificateInfo {
  cn?: string;
  /** subjectAltNames as DNS:... / IP:... */
  sans: string[];
  notBefore: Date;
  notAfter: Date;
  /** Whole days until it expires (negative once expired). */
  daysLeft: number;
  /** SHA-256, normalized hex. */
  fingerprint: string;
  issuer: string;
  selfSigned: boolean;
  x509: X509Certificate;
}

export function describeCertificate(pem: string | Buffer, now = Date.now()): CertificateInfo {
  const x = new X509Certificate(pem);
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(x.subject)?.[1];
  const sans = (x.subjectAltName ?? '').split(', ').filter(Boolean).map((s) => (s.startsWith('IP Address:') ? `IP:${canonicalIp(s.slice(11))}` : s));
  const notAfter = new Date(x.validTo), notBefore = new Date(x.validFrom);
  return { cn, sans, notBefore, notAfter, daysLeft: Math.floor((notAfter.getTime() - now) / 86_400_000), fingerprint: x.fingerprint256.replace(/:/g, '').toLowerCase(), issuer: x.issuer, selfSigned: x.issuer === x.subject, x509: x };
}

export function fingerprintOfFile(file: string): string {
  try {
    return showFingerprint(describeCertificate(fs.readFileSync(file)).fingerprint);
  } catch (e) {
    throw new Error(`${file}: not a PEM certificate (${(e as Error).message})`);
  }
}

/** Whether a certificate's subjectAltNames cover `host` (a name or an address). */
export function covers(info: CertificateInfo, host: string): boolean {
  return net.isIP(host) ? info.x509.checkIP(host) !== undefined : info.x509.checkHost(host) !== undefined;
}

export interface InitOptions {
  mode: 'pin' | 'ca' | 'both';
  /** host[:port] per server; absent: a placeholder to fill in. */
  hosts: Partial<Record<string, string>>;
  /** The first port, when a host gives none (server i gets port + i). */
  port: number;
  /** The party this host runs: its cert and key paths are filled in. */
  party?: string;
}

/** A skeleton's lane port is the party's port plus this (7410 for 7400). */
export const LANE_PORT_OFFSET = 10;

/** A cluster.json skeleton for three hosts: one entry per party with its address, port, lane port and identity. */
export function initClusterConfig(o: InitOptions): Record<string, unknown> {
  if (o.party) checkIdentity(o.party);
  const pin = o.mode !== 'ca', ca = o.mode !== 'pin';
  const parties = Object.fromEntries(SERVERS.map((s, i) => {
    const given = o.hosts[s];
    let host = `<${s} host name or address>`, port = o.port + i, ownPort = false;
    if (given) {
      const m = /^(\[[^\]]+\]|[^:]+|[^[\]]*:[^[\]]*:[^[\]]*)(?::(\d+))?$/.exec(given);
      if (!m || (m[2] !== undefined && !(Number(m[2]) > 0 && Number(m[2]) < 65536))) throw new Error(`--${s} ${given}: expected host or host:port`);
      host = m[1].replace(/^\[|\]$/g, '');
      sanOf(host);
      if (m[2]) (port = Number(m[2])), (ownPort = true);
    }
    // Its lane port is port + LANE_PORT_OFFSET, which the config's own check bounds too.
    // A port from --port (server0's; the others' follow it) is named as --port, its bound being server2's.
    if (port + LANE_PORT_OFFSET > 65535)
      throw new Error(ownPort ? `--${s} ${given}: its lane port would be ${port + LANE_PORT_OFFSET}, past 65535; use a port at most ${65535 - LANE_PORT_OFFSET}` : `--port ${o.port}: ${s}'s port would be ${port} and its lane port ${port + LANE_PORT_OFFSET}, past 65535; use --port at most ${65535 - LANE_PORT_OFFSET - (SERVERS.length - 1)}`);
    return [s, {
      host,
      port,
      // Its links' lanes (docs/operators.md, "Lanes"): a fixed port, so that a firewall can let it through.
      lanePort: port + LANE_PORT_OFFSET,
      ...(pin ? { fingerprint: `<sha256 of ${s}'s certificate: tfe certs fingerprint ${s}.pem, from ${s}'s operator>` } : {}),
      ...(o.party === s ? { cert: `${s}.pem`, key: `${s}.key` } : {}),
    }];
  }));
  return {
    ...(ca ? { ca: 'ca.pem' } : {}),
    parties,
    owner: {
      ...(pin ? { fingerprint: "<sha256 of the model owner's certificate: tfe certs fingerprint model-owner.pem>" } : {}),
      ...(o.party === 'model-owner' || !pin ? { cert: 'model-owner.pem', key: 'model-owner.key' } : {}),
    },
    dataDir: 'data',
  };
}
