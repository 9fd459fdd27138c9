// `tfe server`, `tfe cluster --local`, `tfe deploy`, `tfe undeploy`, `tfe predict`, `tfe models`
// and `tfe status`.
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { Command } from 'commander';

import type { DeviceOption } from '../backend/backends';
import { info } from '../info';
import { PredictionClient } from '../serve/client';
import { loadClusterConfig } from '../serve/config';
import { checkModelName } from '../serve/messages';
import type { ProtocolName } from '../protocol/protocols';
import { spawnCluster, stopCluster, writeLocalConfig } from '../serve/local_cluster';
import { TfeServer } from '../serve/server';
import { decodePng } from './png';

const DEFAULT_CONFIG = path.join('.tfe-local', 'cluster.json');

/** The inputs of a --input file: a PNG, or JSON ({images, labels}, {data, shape}, or an array). */
export function readInputs(file: string): { images: Float64Array[]; labels?: number[] } {
  if (file.toLowerCase().endsWith('.png')) return { images: [decodePng(fs.readFileSync(file), file).gray] };
  let j: unknown;
  try {
    j = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read input ${file}: ${(e as Error).message}`);
  }
  const flat = (v: unknown): number[] => (Array.isArray(v) ? v.flatMap(flat) : [Number(v)]);
  const o = j as { images?: unknown[]; labels?: number[]; data?: unknown };
  if (o && Array.isArray(o.images)) return { images: o.images.map((im) => Float64Array.from(flat(im))), labels: o.labels };
  if (o && o.data !== undefined) return { images: [Float64Array.from(flat(o.data))] };
  if (Array.isArray(j)) return { images: [Float64Array.from(flat(j))] };
  throw new Error(`input ${file}: expected a PNG, or JSON with an array, {data, shape} or {images, labels}`);
}

const onSignal = (fn: () => Promise<void>) => {
  let stopping = false;
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.on(sig, () => {
      if (stopping) return;
      stopping = true;
      fn().then(() => process.exit(0), (e: Error) => {
        console.error(`tfe: ${e.message}`);
        process.exit(1);
      });
    });
};

export function addServiceCommands(program: Command): void {
  program
    .command('server')
    .description('run one server of a cluster (server0, server1 or server2)')
    .requiredOption('--party <name>', 'server0 | server1 | server2')
    .option('--config <file>', 'cluster config (JSON)', DEFAULT_CONFIG)
    .option('--insecure', 'accept plain ws from non-loopback peers (never in production)')
    .option('--device <device>', "auto | cpu | cuda (overrides the config's 'device'; TFE_DEVICE overrides both)")
    .action(async (opts: { party: string; config: string; insecure?: boolean; device?: DeviceOption }) => {
      const config = loadClusterConfig(opts.config);
      if (opts.insecure) config.insecure = true;
      if (opts.device) config.device = opts.device;
      const server = new TfeServer(config, opts.party);
      await server.start();
      const { backend, device } = info();
      console.error(`[tfe ${opts.party}] listening on ${config.parties[opts.party as 'server0'].host}:${server.port} (${config.ca ? 'mutual TLS' : 'plain ws'}, computing on ${backend}: ${device})`);
      // SIGTERM: refuse new queries, let in-flight ones finish, then exit.
      onSignal(() => server.stop());
      // Started by a local cluster (npm start, tests): stop when that parent goes away.
      if (process.send) process.once('disconnect', () => void server.stop(5000).then(() => process.exit(0)));
    });

  program
    .command('cluster')
    .description('start all three servers as processes on loopback, with throwaway certificates')
    .requiredOption('--local', 'on this machine (the only mode for now)')
    .option('--dir <dir>', 'where the config, certificates and shares go', '.tfe-local')
    .option('--plain', 'plain ws instead of mutual TLS (loopback only)')
    .action(async (opts: { dir: string; plain?: boolean }) => {
      const file = await writeLocalConfig(opts.dir, { tls: !opts.plain });
      const procs = spawnCluster(file);
      console.error(`tfe: cluster config ${file}; stop with Ctrl-C`);
      onSignal(() => stopCluster(procs));
      await Promise.race(procs.map((p) => p.exited));
      await stopCluster(procs);
    });

  program
    .command('deploy')
    .description("secret-share a TensorFlow.js LayersModel's weights to the cluster (as the model owner)")
    .requiredOption('--model <path>', 'model.json of a LayersModel')
    .option('--name <name>', "name to deploy under: 1-64 letters, digits, '_' or '-' (default: the model directory name)")
    .option('--protocol <name>', 'securenn | fss | pond (default: securenn, exact, for any model with relu, max pooling or another comparison; pond only for models without; fss: exact too, fewer rounds, more offline bytes)')
    .option('--config <file>', 'cluster config', DEFAULT_CONFIG)
    .action(async (opts: { model: string; name?: string; protocol?: ProtocolName; config: string }) => {
      const name = opts.name ?? path.basename(path.dirname(path.resolve(opts.model)));
      try {
        checkModelName(name);
      } catch (e) {
        throw new Error(`${(e as Error).message}${opts.name ? '' : ' (it is the model directory name; choose one with --name)'}`);
      }
      const client = await PredictionClient.connect(opts.config, { asOwner: true });
      try {
        await client.deploy(opts.model, { name, protocol: opts.protocol });
        console.log(`deployed '${name}'`);
      } finally {
        await client.close();
      }
    });

  program
    .command('undeploy')
    .description('remove a deployed model from all three servers (as the model owner); a server without it is fine, so a partial deploy or a model lost on one server can be removed and deployed again')
    .argument('<model>', 'the deployed model name')
    .option('--config <file>', 'cluster config', DEFAULT_CONFIG)
    .action(async (model: string, opts: { config: string }) => {
      checkModelName(model);
      const client = await PredictionClient.connect(opts.config, { asOwner: true });
      try {
        const had = await client.undeploy(model);
        console.log(had.length ? `undeployed '${model}' (it was on ${had.join(', ')})` : `'${model}' was not deployed on any server`);
      } finally {
        await client.close();
      }
    });

  program
    .command('status')
    .description("each server's status: ready and models for anyone; counters and memory for the operator (--operator: present the owner certificate under TLS)")
    .option('--config <file>', 'cluster config', DEFAULT_CONFIG)
    .option('--operator', "present the owner's certificate (TLS) to get the counters")
    .action(async (opts: { config: string; operator?: boolean }) => {
      const client = await PredictionClient.connect(opts.config, { asOwner: opts.operator });
      try {
        for (const s of await client.status()) console.log(JSON.stringify(s));
      } finally {
        await client.close();
      }
    });

  program
    .command('predict')
    .description('run encrypted predictions; only this client sees the input and the output')
    .requiredOption('--input <file>', 'a PNG, or JSON: an array, {data, shape} or {images, labels}')
    .requiredOption('--model <name>', 'a deployed model')
    .option('--config <file>', 'cluster config', DEFAULT_CONFIG)
    .option('--json', 'print one JSON object per input')
    .action(async (opts: { input: string; model: string; config: string; json?: boolean }) => {
      checkModelName(opts.model);
      const { images, labels } = readInputs(opts.input);
      const client = await PredictionClient.connect(opts.config);
      try {
        const info = (await client.models()).find((m) => m.name === opts.model);
        if (!info) throw new Error(`model '${opts.model}' is not deployed`);
        const n = info.inputShape.reduce((a, b) => a * b, 1);
        for (const [i, im] of images.entries()) {
          if (im.length !== n) throw new Error(`input ${i} has ${im.length} values; model '${opts.model}' takes [${info.inputShape}] (${n})`);
          const p = await client.predict(opts.model, { data: im, shape: [1, ...info.inputShape] });
          const label = labels?.[i];
          if (opts.json) console.log(JSON.stringify({ prediction: p.classes[0], label, probabilities: [...p.probabilities], latencyMs: p.latencyMs }));
          else console.log(`input ${i}: predicted ${p.classes[0]}${label === undefined ? '' : ` (true ${label})`}, p=${p.probabilities[p.classes[0]].toFixed(3)}, ${p.latencyMs.toFixed(1)} ms`);
        }
      } finally {
        await client.close();
      }
    });

  program
    .command('models')
    .description('list the deployed models')
    .option('--config <file>', 'cluster config', DEFAULT_CONFIG)
    .action(async (opts: { config: string }) => {
      const client = await PredictionClient.connect(opts.config);
      try {
        for (const m of await client.models()) console.log(`${m.name}  ${m.protocol}  input [${m.inputShape}]  ${m.layers.join(' > ')}`);
      } finally {
        await client.close();
      }
    });
}
