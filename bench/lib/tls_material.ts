// Mutual TLS material for named parties from a fresh local CA (lib/serve/certs.ts), held in memory:
// what the transport benchmark and the lane tests give their endpoints.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { TlsMaterial } from '../../lib/net/handshake';
import { generateCertificates } from '../../lib/serve/certs';

export function tlsMaterial(parties: readonly string[] = ['a', 'b']): Record<string, TlsMaterial> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-tls-'));
  try {
    const { ca, certs } = generateCertificates(dir, [...parties], 1);
    const read = (f: string) => fs.readFileSync(path.join(dir, f));
    return Object.fromEntries(parties.map((p) => [p, { ca: read(ca), cert: read(certs[p].cert), key: read(certs[p].key) }]));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
