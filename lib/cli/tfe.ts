#!/usr/bin/env node
// The `tfe` command: info, and the service (server, cluster, deploy, predict, models).
import { Command } from 'commander';

import { info, memory } from '../info';
import { addServiceCommands } from './service_commands';

const program = new Command();
program.name('tfe').description('tfjs-encrypted: private machine learning on secret-shared tensors');

program
  .command('info')
  .description('show the backend in use, CPU features, threads and compiled kernels')
  .option('--json', 'print one JSON object')
  .action((opts: { json?: boolean }) => {
    const i = info();
    if (opts.json) {
      console.log(JSON.stringify({ ...i, memory: memory() }));
      return;
    }
    console.log(`tfjs-encrypted ${i.version}`);
    console.log(`backend        ${i.backend}`);
    console.log(`cpu features   ${i.cpuFeatures}`);
    console.log(`matmul kernel  ${i.matmulKernel}`);
    console.log(`prg            AES-128-CTR (${i.aes})`);
    console.log(`threads        ${i.threads}`);
    console.log(`build          ${i.buildSystem ?? 'unknown'}, ${i.compiler ?? 'unknown compiler'}`);
    console.log(`kernels        ${i.kernels.length}: ${i.kernels.join(' ')}`);
  });

addServiceCommands(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  console.error(`tfe: ${(e as Error).message}`);
  process.exit(1);
});
