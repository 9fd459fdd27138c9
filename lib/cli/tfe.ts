#!/usr/bin/env node
// The `tfe` command: info, verify, calibrate, and the service (server, cluster, deploy, undeploy, predict,
// models, status). Every command is listed with an example in docs/cli.md.
// First: a starting `tfe server` must not be ended by a SIGHUP while the library loads.
import './early_hangup';

import { Command } from 'commander';

import { checkDeviceOption, type DeviceOption, getBackend, resolveDevice } from '../backend/backends';
import { describeBinary, info, memory } from '../info';
import { addCalibrateCommand } from './calibrate_command';
import { addProvisionCommands } from './provision_commands';
import { addServiceCommands } from './service_commands';
import { packageVersion, quietOnEpipe } from './term';
import { addVerifyCommand } from './verify_command';

// `tfe server` and `tfe cluster` keep serving when their log's reader goes away.
quietOnEpipe(['server', 'cluster'].includes(process.argv[2]));
const program = new Command();
program.name('tfe').description('tfjs-encrypted: private machine learning on secret-shared tensors').version(packageVersion(), '-V, --version', 'print the version');
// A mistyped or missing option is followed by the command's usage (inherited by the commands added below).
program.showHelpAfterError();

program
  .command('info')
  .description('show the backend in use, its device and memory, how it was built, and whether CUDA is usable here')
  .option('--device <device>', "auto | cpu | cuda (TFE_DEVICE overrides)", 'auto')
  .option('--json', 'print one JSON object')
  .action((opts: { device: DeviceOption; json?: boolean }) => {
    const backend = getBackend(resolveDevice(checkDeviceOption(opts.device, '--device')));
    const i = info(backend);
    if (opts.json) {
      console.log(JSON.stringify({ ...i, memory: memory(backend) }));
      return;
    }
    const gib = (b: number): string => `${(b / 2 ** 30).toFixed(1)} GiB`;
    console.log(`tfjs-encrypted ${i.version}`);
    console.log(`backend        ${i.backend}`);
    console.log(`device         ${i.device} (${gib(i.memoryBytes)})`);
    if (i.backend === 'cuda') {
      console.log(`compute        ${i.computeCapability}, ${i.multiprocessors} SMs`);
      console.log(`cuda           runtime ${i.cudaRuntime} (static), driver ${i.cudaDriver}, built for sm ${i.cudaArchitectures}`);
      if (i.hostFallbackKernels) console.log(`on the host    ${i.hostFallbackKernels.split(',').join(' ')}`);
    } else {
      console.log(`cpu features   ${i.cpuFeatures}`);
      console.log(`matmul kernel  ${i.matmulKernel}${i.matmulRates ? ` (fastest measured here: ${i.matmulRates})` : ''}`);
      console.log(
        `conv2d         im2col + matmul${i.convDirectRates ? `, or direct (stride 1, no im2col), each form timed against it per shape; tile rates here: ${i.convDirectRates}` : ''}`,
      );
      console.log(`prg            AES-128-CTR (${i.aes})`);
      console.log(`threads        ${i.threads}`);
      console.log(`cuda           ${i.cuda.available ? `available (${i.cuda.modulePath}); use --device cuda or TFE_DEVICE=cuda` : `not used: ${i.cuda.reason}`}`);
    }
    console.log(`build          ${i.buildSystem ?? 'unknown'}, ${i.compiler ?? 'unknown compiler'}`);
    console.log(`binary         ${describeBinary(i.binary, i.buildSystem)}`);
    console.log(`kernels        ${i.kernels.length}: ${i.kernels.join(' ')}`);
  });

addServiceCommands(program);
addProvisionCommands(program);
addVerifyCommand(program);
addCalibrateCommand(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  console.error(`tfe: ${(e as Error).message}`);
  process.exit(1);
});
