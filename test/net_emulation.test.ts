// The benchmarks' network emulation (bench/lib/net_cluster.ts): a port of the config that another
// program took between being picked and the proxy listening on it costs fresh ports, not the run.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import test from 'ava';

import { emulateNetwork } from '../bench/lib/net_cluster';
import { writeLocalConfig } from '../lib/serve/local_cluster';

test('a party port taken before the proxy listens: every party gets fresh ports and the proxy starts', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-net-emulation-'));
  const config = await writeLocalConfig(dir, { tls: false });
  const parties = () => (JSON.parse(fs.readFileSync(config, 'utf8')) as { parties: Record<string, { host: string; port: number }> }).parties;
  const { host, port } = parties().server1;
  const squatter = net.createServer((s) => s.destroy());
  await new Promise<void>((r) => squatter.listen(port, host, r));
  try {
    const em = await emulateNetwork(config, { rttMs: 1, rateMbit: 1000 });
    try {
      t.not(parties().server1.port, port, 'server1 moved off the taken port');
      t.true(em.check.rttMsAdded > 0, 'the proxy runs and adds its delay');
    } finally {
      em.stop();
    }
  } finally {
    squatter.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
