// The TLS material a server or client takes from cluster.json: the CA and/or the pins, and (for a
// server, or the owner) its own certificate and key, checked before use so that a mistake names
// the field and the file instead of showing up as a peer's refusal.
// A server's material is reloadable: on SIGHUP (reloadAllTls) or when cluster.json, the CA, the
// certificate or the key changes on disk, it is read and checked again; new connections then get
// the new certificate and pins, links already up keep working. A reload that fails the checks
// (say the certificate was replaced but not yet its key) keeps the previous material, says why,
// and is tried again at the next change.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';

import type { TlsMaterial } from '../net/handshake';
import { showFingerprint } from '../net/peer_trust';
import { type ClusterConfig, configPath, loadClusterConfig, pinsOf, readPem, usesTls } from './config';
import { describeCertificate } from './provision';
import type { Log } from '../log';

/** How often a server looks at its TLS files for changes (TFE_TLS_WATCH_MS overrides). */
const WATCH_MS = Number(process.env.TFE_TLS_WATCH_MS) > 0 ? Number(process.env.TFE_TLS_WATCH_MS) : 2000;
/** A certificate this close to expiry is warned about at start and on reload. */
export const EXPIRY_WARN_DAYS = 30;

/** The PEM certificates in a bundle. */
function pemBlocks(pem: Buffer): X509Certificate[] {
  return (pem.toString('utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((b) => new X509Certificate(b));
}

/** Whether `cert` was issued (and signed) by one of the certificates in the CA bundle. */
export function issuedBy(cert: X509Certificate, caPem: Buffer): boolean {
  return pemBlocks(caPem).some((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey));
}

export interface OwnMaterial {
  cert: Buffer;
  key: Buffer;
  fingerprint: string;
  notAfter: Date;
  daysLeft: number;
  /** Problems that do not stop it (expiry soon, a key readable by others). */
  warnings: string[];
}

/**
 * Reads and checks a certificate and key named by the config for `name` (a server, or
 * 'model-owner'): the key belongs to the certificate, its CN is the name, it is valid now, it is
 * from the CA and/or matches the pin. Errors name the fields and files.
 */
export function loadOwnIdentity(c: ClusterConfig, name: string): OwnMaterial {
  const owner = name === 'model-owner';
  const entry = owner ? c.owner : c.parties[name as 'server0'];
  const field = owner ? 'owner' : `parties.${name}`;
  const where = `cluster config ${c.file ?? ''}`.trim();
  if (!entry?.cert || !entry.key) {
    // A host's file holds its own party's key: one that holds another's was started as the wrong party.
    const holders = owner ? [] : Object.entries(c.parties).filter(([p, e]) => p !== name && e?.cert && e?.key).map(([p]) => p);
    const hint = holders.length === 1 ? `; this file has the certificate and key of ${holders[0]}: if this host is ${holders[0]}, start it with --party ${holders[0]}` : '';
    throw new Error(`${where}: ${field} has no cert and key: under TLS ${name} needs its own certificate and key (tfe certs request; docs/operators.md)${hint}`);
  }
  const certFile = `${field}.cert (${configPath(c, entry.cert)})`, keyFile = `${field}.key (${configPath(c, entry.key)})`;
  const cert = readPem(c, entry.cert, `${field}.cert`), key = readPem(c, entry.key, `${field}.key`);
  let info;
  try {
    info = describeCertificate(cert);
  } catch (e) {
    throw new Error(`${where}: ${certFile} is not a PEM certificate: ${(e as Error).message}`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (e) {
    throw new Error(`${where}: ${keyFile} is not a PEM private key: ${(e as Error).message}`);
  }
  if (!info.x509.checkPrivateKey(privateKey)) throw new Error(`${where}: ${keyFile} is not the key of ${certFile}`);
  if (info.cn !== name) throw new Error(`${where}: ${certFile} is for '${info.cn ?? '(no CN)'}', not '${name}'`);
  const now = Date.now();
  if (info.notBefore.getTime() > now) throw new Error(`${where}: ${certFile} is not valid before ${info.notBefore.toISOString()}`);
  if (info.notAfter.getTime() < now) throw new Error(`${where}: ${certFile} expired on ${info.notAfter.toISOString()}; renew it (docs/operators.md, rotation)`);
  if (c.ca && !issuedBy(info.x509, readPem(c, c.ca, 'ca'))) throw new Error(`${where}: ${certFile} is not issued by the cluster CA 'ca' (${configPath(c, c.ca)}); the other parties would refuse it`);
  const pins = owner ? c.owner?.fingerprint : c.parties[name as 'server0'].fingerprint;
  if (pins && !pins.includes(info.fingerprint))
    throw new Error(`${where}: ${certFile} (sha256 ${showFingerprint(info.fingerprint)}) is not among ${field}.fingerprint: the other parties would refuse it; add its fingerprint there, on every host, first`);
  const warnings: string[] = [];
  if (info.daysLeft < EXPIRY_WARN_DAYS) warnings.push(`${certFile} expires in ${info.daysLeft} days (${info.notAfter.toISOString()}); rotate it (docs/operators.md)`);
  try {
    const mode = fs.statSync(configPath(c, entry.key)).mode & 0o777;
    if (mode & 0o077) warnings.push(`${keyFile} is readable by others (mode ${mode.toString(8)}); chmod 600 it`);
  } catch {
    // read above; a stat that fails now is a race not worth a message
  }
  return { cert, key, fingerprint: info.fingerprint, notAfter: info.notAfter, daysLeft: info.daysLeft, warnings };
}

/** A client's material: the trust anchors, and with `asOwner` the owner's certificate and key. */
export function clientTls(c: ClusterConfig, asOwner = false): TlsMaterial | undefined {
  if (!usesTls(c)) return undefined;
  const tls: TlsMaterial = { ca: c.ca ? readPem(c, c.ca, 'CA') : undefined, pins: pinsOf(c) };
  if (asOwner) {
    if (!c.owner?.cert || !c.owner.key) throw new Error(`cluster config ${c.file ?? ''}: no owner certificate and key (owner.cert, owner.key): the model owner's certificate is needed to deploy, undeploy or see the operator's status`);
    tls.cert = readPem(c, c.owner.cert, 'owner certificate');
    tls.key = readPem(c, c.owner.key, 'owner key');
  }
  return tls;
}

const live = new Set<ServerTls>();

/** Reloads every server's TLS material in this process (SIGHUP). */
export function reloadAllTls(why: string): void {
  for (const t of live) t.reload(why);
}

/** A server's TLS material, reloaded in place when its files change or on reloadAllTls(). */
export class ServerTls implements TlsMaterial {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  pins?: Record<string, string[]>;
  /** The certificate in use. */
  fingerprint = '';
  notAfter = new Date(0);
  readonly log: Log;
  #config: ClusterConfig;
  #party: string;
  #subscribers = new Set<() => void>();
  #watched = new Set<string>();
  #timer?: NodeJS.Timeout;

  constructor(config: ClusterConfig, party: string, log: Log) {
    this.#config = config;
    this.#party = party;
    this.log = log;
    this.#apply(config);
  }

  /** Checks the material the config names and takes it into use (throws, naming the file, if it fails). */
  #apply(c: ClusterConfig): void {
    const own = loadOwnIdentity(c, this.#party);
    for (const w of own.warnings) this.log(`WARNING: ${w}`, 'tls-warning', { reason: w });
    this.ca = c.ca ? readPem(c, c.ca, 'CA') : undefined;
    this.pins = pinsOf(c);
    this.cert = own.cert;
    this.key = own.key;
    this.fingerprint = own.fingerprint;
    this.notAfter = own.notAfter;
    this.#config = c;
    this.#watch();
  }

  /** Files whose change triggers a reload: cluster.json, the CA, the certificate and the key. */
  #files(): string[] {
    const c = this.#config, mine = c.parties[this.#party as 'server0'];
    return [c.file, c.ca && configPath(c, c.ca), mine.cert && configPath(c, mine.cert), mine.key && configPath(c, mine.key)].filter((f): f is string => !!f);
  }

  #watch(): void {
    if (!this.#subscribers.size) return; // watched only while a listener uses it
    const want = new Set(this.#files());
    for (const f of this.#watched) if (!want.has(f)) fs.unwatchFile(f);
    for (const f of want)
      if (!this.#watched.has(f))
        fs.watchFile(f, { interval: WATCH_MS, persistent: false }, (cur, prev) => {
          if (cur.mtimeMs === prev.mtimeMs && cur.size === prev.size && cur.ino === prev.ino) return;
          // Files are often replaced one after the other: reload once they have settled.
          clearTimeout(this.#timer);
          this.#timer = setTimeout(() => this.reload(`${f} changed`), 300);
          this.#timer.unref();
        });
    this.#watched = want;
  }

  subscribe(changed: () => void): () => void {
    this.#subscribers.add(changed);
    live.add(this);
    this.#watch();
    return () => {
      this.#subscribers.delete(changed);
      if (this.#subscribers.size) return;
      live.delete(this);
      clearTimeout(this.#timer);
      for (const f of this.#watched) fs.unwatchFile(f);
      this.#watched.clear();
    };
  }

  /** Reads cluster.json and the files again; on success new connections use them. */
  reload(why: string): boolean {
    const before = { fingerprint: this.fingerprint, pins: JSON.stringify(this.pins), ca: this.ca?.toString() };
    try {
      const c = this.#config.file ? loadClusterConfig(this.#config.file) : this.#config;
      const old = this.#config;
      const moved = (['server0', 'server1', 'server2'] as const).filter((s) => old.parties[s].host !== c.parties[s].host || old.parties[s].port !== c.parties[s].port || old.parties[s].listen !== c.parties[s].listen);
      if (moved.length) this.log(`TLS reload (${why}): the address of ${moved.join(', ')} changed in ${c.file}; addresses are read at start only: restart to use them (not applied)`, 'tls-address-changed', { trigger: why, parties: moved.join(',') });
      if (usesTls(c) !== true) throw new Error(`${c.file}: TLS is off in the new config (no 'ca' and no pins); switching modes needs a restart`);
      this.#apply(c);
    } catch (e) {
      this.log(`TLS reload (${why}) failed; still using the previous certificate (sha256 ${showFingerprint(this.fingerprint)}): ${(e as Error).message}`, 'tls-reload-failed', { trigger: why, fingerprint: showFingerprint(this.fingerprint), reason: (e as Error).message });
      return false;
    }
    const changed = before.fingerprint !== this.fingerprint || before.pins !== JSON.stringify(this.pins) || before.ca !== this.ca?.toString();
    if (!changed) {
      // "nothing changed" right after an address change read as a contradiction: the TLS material is what did not.
      this.log(`TLS reload (${why}): the certificate, key, pins and CA are unchanged`, 'tls-unchanged', { trigger: why });
      return true;
    }
    for (const s of this.#subscribers) s();
    const days = Math.floor((this.notAfter.getTime() - Date.now()) / 86_400_000);
    this.log(`TLS reloaded (${why}): new connections use certificate sha256 ${showFingerprint(this.fingerprint)} (expires ${this.notAfter.toISOString()}, in ${days} days)${before.pins !== JSON.stringify(this.pins) ? ', and the new pins' : ''}${before.ca !== this.ca?.toString() ? ', and the new CA' : ''}; links already up keep working`, 'tls-reloaded', { trigger: why, fingerprint: showFingerprint(this.fingerprint), notAfter: this.notAfter.toISOString(), daysLeft: days });
    return true;
  }
}

/** A server's TLS material (undefined: plain ws), checked now; errors name the field and file. */
export function serverTls(c: ClusterConfig, party: string, log: Log): ServerTls | undefined {
  return usesTls(c) ? new ServerTls(c, party, log) : undefined;
}
