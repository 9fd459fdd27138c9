// The cipher suites of every server link and client connection, most preferred first. Node's
// default order puts TLS 1.3's AES-256-GCM first; AES-128-GCM gives the 128-bit security the rest
// of the system has (the PRG is AES-128, seeds are 128 bits) and encrypts about 17% faster
// (`openssl speed -evp aes-128-gcm` against aes-256-gcm, 16 KB records, this project's benchmark
// machine), which counts here: a batch of 128 under FSS moves gigabytes of keys. Node takes TLS
// 1.3 suites in `ciphers` too; the TLS 1.2 part is Node's default, unchanged. The accepting
// side's order decides (honorCipherOrder: Node's servers follow their own order, whatever a
// client or browser prefers), so only the listener sets it.
import { DEFAULT_CIPHERS } from 'node:tls';

const TLS13 = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];

export const TLS_CIPHERS = [...TLS13, ...DEFAULT_CIPHERS.split(':').filter((c) => c && !TLS13.includes(c))].join(':');
