// Throwaway TLS material for a local cluster: a CA, one certificate per server (CN = party name,
// usable as client and server certificate for mutual TLS) and one for the model owner.
// Uses the openssl command line (present wherever Node's own OpenSSL is packaged); the keys are
// P-256 and never leave the directory given. Certificates for real hosts, made by each operator
// on its own host: provision.ts.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Runs the openssl command line in `cwd`; returns its standard output. Errors say what failed. */
export function openssl(args: string[], cwd: string): string {
  try {
    return execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: Buffer };
    if (err.code === 'ENOENT') throw new Error('generating certificates needs the openssl command (apt install openssl), or give a config with your own certificates');
    throw new Error(`openssl ${args[0]} failed: ${err.stderr?.toString().trim().split('\n')[0] ?? err.message}`);
  }
}

/** Writes ca.pem and <name>.pem/<name>.key for each name into dir; returns the file names. */
export function generateCertificates(dir: string, names: readonly string[], days = 30): { ca: string; certs: Record<string, { cert: string; key: string }> } {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', String(days), '-subj', '/CN=tfjs-encrypted local CA'], dir);
  const ext = path.join(dir, 'leaf.ext');
  fs.writeFileSync(ext, 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n');
  const certs: Record<string, { cert: string; key: string }> = {};
  for (const n of names) {
    if (!/^[a-z0-9-]+$/.test(n)) throw new Error(`certificate name '${n}' must be lowercase letters, digits and dashes`);
    openssl(['req', ...ec, '-keyout', `${n}.key`, '-out', `${n}.csr`, '-subj', `/CN=${n}`], dir);
    openssl(['x509', '-req', '-in', `${n}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${n}.pem`, '-days', String(days), '-extfile', ext], dir);
    fs.rmSync(path.join(dir, `${n}.csr`));
    fs.chmodSync(path.join(dir, `${n}.key`), 0o600);
    certs[n] = { cert: `${n}.pem`, key: `${n}.key` };
  }
  // The CA key is not needed after signing; keeping it would let anyone with the directory mint peers.
  fs.rmSync(path.join(dir, 'ca.key'));
  fs.rmSync(ext);
  return { ca: 'ca.pem', certs };
}
