// What the numbers were measured on: a benchmark result without the CPU and kernel is useless.
import * as fs from 'node:fs';
import * as os from 'node:os';

import { cpuInfo } from '../../lib';

export interface MachineInfo {
  cpu: string;
  cores: number;
  cpuFeatures: string;
  matmulKernel: string;
  aes: string;
  threads: number;
  compiler?: string;
  node: string;
  date: string;
}

function cpuModel(): string {
  // /proc/cpuinfo is authoritative on Linux; os.cpus() is the portable fallback.
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1].trim();
  } catch {
    /* not Linux */
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

export function machineInfo(): MachineInfo {
  const i = cpuInfo();
  return {
    cpu: cpuModel(),
    cores: os.availableParallelism(),
    cpuFeatures: i.cpuFeatures,
    matmulKernel: i.matmulRates ? `${i.matmulKernel} (${i.matmulRates})` : i.matmulKernel,
    aes: i.aes,
    threads: i.threads,
    compiler: i.compiler,
    node: process.version,
    date: new Date().toISOString(),
  };
}
