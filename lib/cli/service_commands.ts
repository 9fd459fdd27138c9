// `tfe server`, `tfe cluster --local`, `tfe deploy`, `tfe undeploy`, `tfe predict`, `tfe models`
// and `tfe status`.
import * as path from 'node:path';

import type { Command } from 'commander';

import { checkDeviceOption, type DeviceOption } from '../backend/backends';
import { info } from '../info';
import { type ClientOptions, PredictionClient } from '../serve/client';
import { type ClusterConfig, loadClusterConfig, pinsOf, usesTls } from '../serve/config';
import { EXPIRY_WARN_DAYS, reloadAllTls } from '../serve/provision_tls';
import { handleHangup } from './early_hangup';
import { certificateLines, clusterInit } from './provision_commands';
import { checkModelName, type ModelInfo } from '../serve/messages';
import { SERVERS } from '../protocol/party';
import { checkProtocol, defaultProtocolFor, type ProtocolName, protocolsHelpText } from '../protocol/protocols';
import { describeOptions, flagOptions, type ProtocolOptions } from '../protocol/protocol_options';
import { startLocalCluster, stopCluster } from '../serve/local_cluster';
import { missingServerFlags } from '../serve/node_flags';
import { TfeServer } from '../serve/server';
import { checkLogFormat, createLogger, type Log, type LogFormat } from '../log';
import { type ListenAddress, parseListenAddress, showAddress } from '../serve/ops_config';
import { type OpsServer, startOpsServer } from '../serve/ops_http';
import { toNested } from '../api/values';
import type { OutputPart } from '../browser/outputs';
import type { ModelSpec } from '../api/layers_spec';
import { addCalibrationOptions, type CalibrationFlags, pondOptions, printCalibration, reportRefusal } from './calibrate_command';
import { checkReadable, readInputs, readJson } from './inputs';
import { readRawInputs } from './raw_inputs';
import { addInputShapeOption, inputShapesOf } from './input_shape_flag';
import { paint, probeCluster, probeServers, progress, requireConfig, unreachableError } from './term';
import { describeFolds, FOLDS_JSON_HELP, foldReportFor } from './fold_report';
import { addProtocolOptionFlags, listedOptionsHelp } from './protocol_flags';

const DEFAULT_CONFIG = path.join('.tfe-local', 'cluster.json');

/** Connects the CLI's client: a missing config says how to make one, a cluster that is down fails at once naming the addresses. */
async function connect(file: string, opts: ClientOptions = {}): Promise<PredictionClient> {
  requireConfig(file);
  const config = loadClusterConfig(file);
  await probeCluster(config, isLocalConfig(file));
  return PredictionClient.connect(config, opts);
}

/** A local cluster's config (tfe cluster --local writes it under .tfe-local/): for the hint when it is down. */
const isLocalConfig = (file: string): boolean => path.basename(path.dirname(path.resolve(file))) === '.tfe-local';

/**
 * One output row's prediction, as its model's ending reads: softmax (or logits over several
 * classes), the argmax and its probability; one sigmoid unit, 1 when at least 0.5 (a binary
 * classifier); several sigmoid units, the indices at least 0.5 (multi-label); one unit and no
 * final activation, the value (regression). (It was the argmax for all: 0 for every one-unit
 * model, with a softmax of 1 over one value as its probability.)
 */
function rowPrediction(outputs: Float64Array, classOf: number, prob: Float64Array, final: ModelInfo['finalActivation']): { prediction: number | number[]; p?: number } {
  const width = outputs.length;
  if (final === 'sigmoid' && width === 1) return { prediction: outputs[0] >= 0.5 ? 1 : 0, p: outputs[0] };
  if (final === 'sigmoid') return { prediction: [...outputs.keys()].filter((j) => outputs[j] >= 0.5) };
  if (width === 1) return { prediction: outputs[0] };
  return { prediction: classOf, p: prob[classOf] };
}

/** A listed model's inputs ('input [784]', or each by name) and, when it has several, its outputs. */
function describeIo(m: ModelInfo): string[] {
  const ids = (i?: { inputEncoding?: { oneHot: number }; strings?: true; hashing?: { numBins: number }; text?: { length: number; bag?: 'all' | 'distinct' } }) =>
    i?.text ? (i.text.bag ? ` (texts, a bag of at most ${i.text.length} ${i.text.bag === 'distinct' ? 'distinct ' : ''}tokens each)` : ` (texts, each split into ${i.text.length} tokens)`) : i?.hashing ? ` (${i.strings ? 'strings' : 'values'} hashed into ${i.hashing.numBins} bins)` : i?.inputEncoding ? ` (token ids, one-hot over ${i.inputEncoding.oneHot})` : i?.strings ? ' (strings)' : '';
  const input = m.inputs && m.inputs.length > 1 ? `inputs ${m.inputs.map((i) => `${i.name} [${i.inputShape}]${ids(i)}`).join(', ')}` : `input [${m.inputShape}]${ids(m.inputs?.[0] ?? m)}`;
  return m.outputs && m.outputs.length > 1 ? [input, `outputs ${m.outputs.map((o) => o.name).join(', ')}`] : [input];
}

/**
 * The predictions of a model with several outputs, per example: each output by name, read as
 * rowPrediction reads one (a class and its probability, a sigmoid's side of 0.5, a value).
 */
function printOutputs(parts: OutputPart[], at: number, m: number, labels: number[] | undefined, latencyMs: number, json: boolean): void {
  for (let k = 0; k < m; k++) {
    const i = at + k, label = labels?.[i];
    const each = parts.map((o) => {
      const per = o.data.length / m, width = o.shape[o.shape.length - 1], rows = per / width;
      const row = (r: number) => rowPrediction(o.outputs.subarray(k * per + r * width, k * per + (r + 1) * width), o.classes[k * rows + r], o.probabilities.subarray(k * per + r * width, k * per + (r + 1) * width), o.finalActivation);
      const all = Array.from({ length: rows }, (_, r) => row(r));
      return { name: o.name, prediction: rows === 1 ? all[0].prediction : all.map((e) => e.prediction), p: rows === 1 ? all[0].p : undefined, outputs: toNested(o.outputs.subarray(k * per, (k + 1) * per), o.shape.slice(1)) };
    });
    // In the model's order: two outputs of one layer share its name (as tfjs names them).
    if (json) console.log(JSON.stringify({ input: i, outputNames: each.map((e) => e.name), predictions: each.map((e) => e.prediction), label, outputs: each.map((e) => e.outputs), latencyMs, batch: m }));
    else {
      const shown = each.map((e, k) => `${e.name}${each.filter((f) => f.name === e.name).length > 1 ? ` (output ${k + 1})` : ''} ${JSON.stringify(e.prediction)}${e.p !== undefined ? ` (p=${e.p.toFixed(3)})` : ''}`);
      console.log(`input ${i}: ${shown.join(', ')}${label === undefined ? '' : ` (true ${label})`}, ${latencyMs.toFixed(1)} ms${m > 1 ? ` (batch of ${m})` : ''}`);
    }
  }
}

const positiveInt = (v: string, what: string): number => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${what} must be a positive integer, got ${JSON.stringify(v)}`);
  return n;
};

/** A failure that ends the process, said how the command's output is written (a server: its log's format). */
type Fatal = (e: Error) => void;
const plainFatal: Fatal = (e) => console.error(`tfe: ${e.message}`);

const onSignal = (fn: () => Promise<void>, fatal = plainFatal) => {
  let stopping = false;
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.on(sig, () => {
      // A second signal while the first one's graceful stop waits (up to its grace): stop now.
      if (stopping) {
        fatal(new Error(`${sig} again: stopping at once, without waiting for queries in flight`));
        process.exit(1);
      }
      stopping = true;
      fn().then(() => process.exit(0), (e: Error) => {
        fatal(e);
        process.exit(1);
      });
    });
};

/** A server's fatal error as one line of its log, an `error`-level `fatal` event naming the stage. */
const logFatal = (log: Log, during: 'start' | 'stop'): Fatal => (e) => log(`cannot ${during}: ${e.message}`, 'fatal', { during, reason: e.message });

function describeRewrites(r: Pick<ModelSpec, 'foldedBatchNorms' | 'poolFirst'>): string | undefined {
  const n = (k: number, one: string, many: string) => `${k} ${k === 1 ? one : many}`;
  const parts = [
    ...(['BatchNormalization', 'LayerScale'] as const).map((cls) => {
      const k = r.foldedBatchNorms.filter((f) => f.batchNorm.startsWith(`${cls}:`)).length;
      return k ? `${n(k, cls, `${cls}s`)} folded into the layer before (no product)` : '';
    }),
    r.poolFirst.length ? `${n(r.poolFirst.length, 'activation runs', 'activations run')} after the max pool it feeds (fewer comparisons)` : '',
  ].filter(Boolean);
  return parts.length ? `${parts.join('; ')}: docs/models.md` : undefined;
}

interface ServerFlags {
  party: string;
  config: string;
  insecure?: boolean;
  device?: DeviceOption;
  logFormat?: string;
  metrics?: string;
}

/** `tfe server` once its flags and config are read: runs until a signal, or its parent (a local cluster) goes. */
async function startServer(opts: ServerFlags, config: ClusterConfig, log: Log, metricsAt: ListenAddress | undefined): Promise<void> {
  // A rejection nothing awaits is a bug; Node would end the process, and with it every other
  // client's query. Logged, with its stack, and the server goes on.
  process.on('unhandledRejection', (e) => log(`internal error: a failure nothing awaited: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`, 'internal-error'));
  const server = new TfeServer(config, opts.party, { log });
  let ops: OpsServer | undefined;
  // SIGHUP: read the certificate, key, CA and pins again (they are also watched); new connections use them.
  handleHangup(() => reloadAllTls('SIGHUP'));
  // SIGTERM: refuse new queries (/healthz says so), let in-flight ones finish, then exit. Taken
  // from here on, before the server says it listens: a supervisor that stops it on that line
  // found no handler yet, and the process ended by the signal's default action.
  const stop = async (graceMs?: number) => {
    await server.stop(graceMs);
    await ops?.close();
  };
  onSignal(() => stop(), logFatal(log, 'stop'));
  const at = metricsAt ?? config.metrics?.listen[opts.party as 'server0'];
  // Bound before the server joins the cluster: a metrics address that cannot be had stops it here.
  if (at) ops = await startOpsServer(server, at, log);
  // A per-party metrics map that leaves this server out: said, not silently no listener.
  else if (config.metrics) log(`no metrics listener: metrics.listen names no address for ${opts.party} (it names ${Object.keys(config.metrics.listen).join(', ') || 'none'})`, 'metrics-off', { party: opts.party });
  await server.start();
  const { backend, device } = info();
  const trust = config.ca && pinsOf(config) ? 'mutual TLS, CA and pins' : config.ca ? 'mutual TLS, cluster CA' : usesTls(config) ? 'mutual TLS, pinned fingerprints' : 'plain ws';
  const host = config.parties[opts.party as 'server0'].listen ?? config.parties[opts.party as 'server0'].host;
  log(`listening on ${host}:${server.port} (${trust}, computing on ${backend}: ${device})`, 'listening', { address: showAddress({ host, port: server.port }), trust, backend, device, metrics: ops ? showAddress(ops.address) : undefined });
  // V8 reads these only at start-up: a server started without them can only say so (node_flags.ts).
  const missing = missingServerFlags(process.execArgv);
  if (missing.length) log(`started without node ${missing.join(' ')}: under steady load the garbage collector takes more CPU (FSS's compute servers back to back: about 1.5 times as much in all); see docs/operators.md, "Starting a server"`, 'heap-default', { missing: missing.join(' ') });
  // Started by a local cluster (npm start, tests): stop when that parent goes away.
  if (process.send)
    process.once('disconnect', () =>
      void stop(5000).then(() => process.exit(0), (e: Error) => {
        logFatal(log, 'stop')(e);
        process.exit(1);
      }),
    );
}

export function addServiceCommands(program: Command): void {
  program
    .command('server')
    .description('run one server of a cluster (server0, server1 or server2)')
    .requiredOption('--party <name>', 'server0 | server1 | server2')
    .option('--config <file>', 'cluster config (JSON)', DEFAULT_CONFIG)
    .option('--insecure', 'accept plain ws from non-loopback peers (never in production)')
    .option('--device <device>', "auto | cpu | cuda (overrides the config's 'device'; TFE_DEVICE overrides both)")
    .option('--log-format <format>', "text (default) | json: one JSON object a line (time, level, party, event, msg, fields); overrides the config's log.format")
    .option('--metrics <[host:]port>', "serve GET /metrics (Prometheus) and GET /healthz over plain HTTP at this address (a bare port: 127.0.0.1); overrides the config's metrics.listen")
    .addHelpText('after', '\nLogs go to stderr; metrics and health are off unless --metrics or metrics.listen is set (docs/operators.md, "Logs, health and metrics").\nFor throughput start it as `node --initial-old-space-size=64 node_modules/tfjs-encrypted/dist/lib/cli/tfe.js server ...` (a global install: "$(command -v tfe)" for the path; docs/operators.md, "Starting a server"); started without that, it says so in its log (heap-default).')
    .action(async (opts: ServerFlags) => {
      // Flags are checked before anything starts, so a typo fails at once, naming the flag.
      const format: LogFormat | undefined = opts.logFormat === undefined ? undefined : checkLogFormat(opts.logFormat, '--log-format');
      let log: Log | undefined;
      try {
        const metricsAt = opts.metrics === undefined ? undefined : parseListenAddress(opts.metrics, '--metrics');
        if (!SERVERS.includes(opts.party)) throw new Error(`--party must be ${SERVERS.join(', ')}, got ${JSON.stringify(opts.party.slice(0, 40))}`);
        if (opts.device !== undefined) checkDeviceOption(opts.device, '--device');
        requireConfig(opts.config);
        const config = loadClusterConfig(opts.config);
        if (opts.insecure && usesTls(config)) throw new Error(`--insecure is for plain ws clusters; ${opts.config} uses TLS ('ca' or pinned fingerprints), where it has no effect`);
        if (opts.insecure) config.insecure = true;
        if (opts.device) config.device = opts.device;
        if (format) config.log = { format };
        log = createLogger({ party: opts.party, format: config.log.format });
        await startServer(opts, config, log, metricsAt);
      } catch (e) {
        // In the log's format where one is known (the flag, or a config that loaded), so a JSON log
        // pipeline reads a failed start as one line of its own; with neither, the plain line below.
        log ??= format ? createLogger({ party: opts.party, format }) : undefined;
        if (!log) throw e;
        logFatal(log, 'start')(e as Error);
        process.exit(1);
      }
    });

  program
    .command('cluster')
    .description('--local: start all three servers as processes on loopback, with throwaway certificates; --init: write a cluster.json skeleton for three hosts (docs/operators.md)')
    .option('--local', 'on this machine')
    .option('--dir <dir>', 'where the config, certificates and shares go', '.tfe-local')
    .option('--plain', 'plain ws instead of mutual TLS (loopback only)')
    .option('--init', 'write a cluster.json skeleton for three hosts run by three operators')
    .option('--out <file>', '--init: the file to write', 'cluster.json')
    .option('--trust <mode>', '--init: pin (each certificate pinned, no CA), ca (a cluster CA), both', 'pin')
    .option('--party <name>', "--init: this host's party (its cert and key paths are filled in)")
    .option('--port <n>', '--init: first port (server i listens on port + i) where a host gives none', '7400')
    .option('--server0 <host[:port]>', '--init: where server0 is reached')
    .option('--server1 <host[:port]>', '--init: where server1 is reached')
    .option('--server2 <host[:port]>', '--init: where server2 is reached')
    .option('--force', '--init: overwrite an existing file')
    .action(async (opts: { dir: string; plain?: boolean; local?: boolean; init?: boolean; out: string; trust: string; party?: string; port: string; server0?: string; server1?: string; server2?: string; force?: boolean }, cmd: Command) => {
      // Each mode's flags are its own: one given to the other mode is refused, not dropped.
      const given = (names: string[]) => names.filter((n) => cmd.getOptionValueSource(n) === 'cli').map((n) => `--${n}`);
      if (opts.init && opts.local) throw new Error('--local and --init are two modes; give one');
      const foreign = opts.init ? given(['dir', 'plain']) : given(['out', 'trust', 'party', 'port', 'server0', 'server1', 'server2', 'force']);
      if (foreign.length) throw new Error(`${foreign.join(', ')} ${foreign.length > 1 ? 'are' : 'is'} for ${opts.init ? '--local' : '--init'}, not ${opts.init ? '--init' : '--local'}`);
      if (opts.init) return clusterInit({ ...opts, mode: opts.trust });
      if (!opts.local) throw new Error('tfe cluster needs --local (three servers on this machine) or --init (a config for three hosts)');
      // openssl runs inside the folder: absolute paths
      const { config: file, procs } = await startLocalCluster(path.resolve(opts.dir), { tls: !opts.plain });
      console.error(`tfe: cluster ready, config ${file}; stop with Ctrl-C`);
      let stopping = false;
      onSignal(() => ((stopping = true), stopCluster(procs)));
      const [dead, code] = await Promise.race(procs.map((p) => p.exited.then((c) => [p, c] as const)));
      if (stopping) return;
      // A server ended by itself: the others stop, and the command fails naming it and why.
      await stopCluster(procs);
      throw new Error(`${dead.party} exited (${code}); the other servers were stopped. Its last lines:\n${dead.recent.slice(-8).join('\n')}`);
    });

  const deploy = program
    .command('deploy')
    .description("secret-share a TensorFlow.js LayersModel's (or GraphModel's) weights to the cluster (as the model owner)")
    .requiredOption('--model <path>', 'model.json of a LayersModel or GraphModel')
    .option('--name <name>', "name to deploy under: 1-64 letters, digits, '_' or '-' (default: the model directory name)")
    .option('--protocol <name>', `${protocolsHelpText()} (default: ${defaultProtocolFor(true)}, exact, for any model with relu, max pooling or another comparison; ${defaultProtocolFor(false)} only for models without; fss: exact too, fewer rounds, more offline bytes)`);
  addCalibrationOptions(
    addProtocolOptionFlags(deploy, 'deploy')
      .option('--calibrate <inputs>', "pond: fit each relu to these inputs (JSON or PNG, like tfe calibrate --input) and deploy the calibrated model; a model with relu needs this under pond")
      .option('--uncalibrated', "pond: accept relu's default polynomial on [-4, 4] (answers differ from the model's wherever a relu sees values outside it)"),
  )
    .option('--config <file>', 'cluster config', DEFAULT_CONFIG)
    .option('--json', `print one JSON object: the model as the cluster lists it (${FOLDS_JSON_HELP})`);
  addInputShapeOption(deploy)
    .action(async (opts: CalibrationFlags & { model: string; name?: string; protocol?: ProtocolName; config: string; json?: boolean; inputShape?: string[] }) => {
      const name = opts.name ?? path.basename(path.dirname(path.resolve(opts.model)));
      try {
        checkModelName(name);
      } catch (e) {
        throw new Error(`${(e as Error).message}${opts.name ? '' : ' (it is the model directory name; choose one with --name)'}`);
      }
      // Every flag checked, naming it, before the cluster is reached.
      const options = checkDeployFlags(opts);
      const inputShapes = inputShapesOf(opts);
      const pond = pondOptions(opts, opts.model, inputShapes);
      const client = await connect(opts.config, { asOwner: true });
      const bar = progress(`deploying '${name}' (${pond.calibrate ? 'calibrating, then ' : ''}sharing the weights)...`);
      try {
        bar.update();
        const { calibration, rewrites } = await client.deploy(opts.model, { name, protocol: opts.protocol, ...options, ...pond, ...(inputShapes ? { inputShapes } : {}) }).catch(reportRefusal);
        bar.end();
        if (calibration && !opts.json) printCalibration(calibration);
        const m = (await client.models()).find((x) => x.name === name);
        // The model is deployed by now: a report that cannot be made here says so and fails nothing.
        const folds = m && (await foldReportFor(opts.model, m, inputShapes));
        if (opts.json) console.log(JSON.stringify({ deployed: name, ...m, finalActivation: m?.finalActivation ?? null, ...(calibration ? { calibration } : {}), rewrites, ...(folds ? { folds } : {}) }));
        else {
          console.log(`deployed '${name}'${m ? ` (${[m.protocol, ...describeOptions(m.protocol, m), ...describeIo(m), `${m.layers.length} layers`].join(', ')})` : ''}`);
          const said = describeRewrites(rewrites);
          if (said) console.log(`  ${said}`);
          if (folds) console.log(`  ${describeFolds(folds)}`);
        }
      } finally {
        bar.end();
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
      const client = await connect(opts.config, { asOwner: true });
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
    .option('--json', 'print one JSON object: {servers: [each server\'s status]}; when a server cannot be reached, {servers: [], unreachable: [{party, address, down}]} and exit 1')
    .action(async (opts: { config: string; operator?: boolean; json?: boolean }) => {
      // A server down is when status matters most: say which answer and which do not, then fail.
      requireConfig(opts.config);
      const config = loadClusterConfig(opts.config);
      const probes = await probeServers(config);
      if (probes.some((p) => p.down)) {
        if (opts.json) console.log(JSON.stringify({ servers: [], unreachable: probes.filter((p) => p.down) }));
        else for (const p of probes) console.log(`${p.party}  ${p.down ? paint(process.stdout, 'red', `unreachable at ${p.address} (${p.down})`) : `listening at ${p.address}`}`);
        throw unreachableError(probes, isLocalConfig(opts.config));
      }
      const client = await PredictionClient.connect(config, { asOwner: opts.operator });
      try {
        const all = await client.status();
        if (opts.json) console.log(JSON.stringify({ servers: all }));
        else
          for (const s of all) {
            const mib = (b?: number) => (b === undefined ? '?' : `${(b / 2 ** 20).toFixed(0)} MiB`);
            // The offline pool: server2's runs ahead, and what server0 and server1 hold of them.
            const pool = !s.operator ? '' : s.party === 'server2' ? `, pool ${s.pool?.held ?? 0} held (${s.pool?.making ?? 0} being dealt)${s.pool?.compactUnderLoad ? `, ${s.pool.compactUnderLoad} queries dealt compact under load` : ''}${s.pool?.redealt ? `, ${s.pool.redealt} dealt again` : ''}` : `, ${mib(s.prefetched?.bytes)} dealt ahead`;
            // The links' least ping round trips, and (server2) whether it takes them as near or far:
            // what its choice of FSS gate form reads (docs/fss.md, "Under load, and over far links").
            const judged = s.party === 'server2' && s.pool?.links ? ` (${s.pool.links})` : '';
            // ... and whether each has its lane (docs/operators.md, "Lanes").
            const lane = (p: string) => (s.linkLanes?.[p] ? ' lane' : '');
            const rtt = !s.operator || !s.linkRttMs ? '' : `, links ${Object.entries(s.linkRttMs).map(([p, ms]) => `${p} ${ms === null ? '?' : `${ms.toFixed(1)} ms`}${lane(p)}`).join(' ')}${judged}`;
            // server0: the session indices its setup has left, and the renewals (docs/service.md, "Setups").
            const setup = s.operator && s.setup?.indicesLeft != null ? `, ${s.setup.indicesLeft} session indices left${s.setup.renewals ? ` (${s.setup.renewals} setups renewed)` : ''}` : '';
            const counters = s.operator ? `  running ${s.running}, pending ${s.pending}, rss ${mib(s.rssBytes)}, tensors ${s.liveTensors} (${mib(s.tensorBytes)}), cached ${mib(s.hostCacheBytes)}${pool}${setup}${rtt}` : '';
            // Not ready says why, as /healthz does (a server's own link to a peer down, say).
            const why = !s.ready && s.reason ? ` (${s.reason})` : '';
            console.log(`${s.party}  ${s.ready ? paint(process.stdout, 'green', 'ready') : paint(process.stdout, 'yellow', 'not ready')}${why}  models: ${s.models.length ? s.models.join(', ') : '(none)'}${counters}`);
          }
        // Each server's certificate as a new connection gets it, and days to its expiry (TLS only).
        if (!opts.json) for (const l of await certificateLines(opts.config, EXPIRY_WARN_DAYS, opts.operator)) console.log(l);
      } finally {
        await client.close();
      }
    });

  program
    .command('predict')
    .description('run encrypted predictions; only this client sees the input and the output')
    .requiredOption('--input <file>', 'a PNG, or JSON: an array, {data, shape} or {images, labels}; for a model with several inputs, JSON with each by name (and labels) or a list of them; for a model taking strings or texts, JSON of its examples as they are (an array, or each input by name)')
    .requiredOption('--model <name>', 'a deployed model')
    .option('--config <file>', 'cluster config', DEFAULT_CONFIG)
    .option('--json', 'print one JSON object per input: prediction, label, probabilities, outputs (what tfjs model.predict returns), latencyMs; inputNote for a PNG (how it was fitted); a model with several outputs: outputNames, and predictions and outputs as lists in the model\'s order')
    .option('--batch <n>', 'inputs per query: N inputs are shared and predicted as one batch', '1')
    .action(async (opts: { input: string; model: string; config: string; json?: boolean; batch: string }) => {
      checkModelName(opts.model);
      const batch = positiveInt(opts.batch, '--batch');
      checkReadable(opts.input); // named before any cluster is reached (its fit to the model needs the model's shape)
      const client = await connect(opts.config);
      try {
        const info = (await client.models()).find((m) => m.name === opts.model);
        if (!info) throw new Error(`model '${opts.model}' is not deployed`);
        // A model reading strings or texts: JSON of its examples as they are, which the client
        // encodes (raw_inputs.ts); otherwise numbers (images, rows), packed here.
        const raw = (info.inputs ?? []).some((i) => i.strings) ? readRawInputs(opts.input, readJson(opts.input), info.inputs!) : undefined;
        const { images, labels, note } = raw ? { images: [], labels: raw.labels, note: undefined } : readInputs(opts.input, info.inputShape, info.inputs);
        const count = raw ? raw.count : images.length;
        if (note && !opts.json) console.error(`tfe: ${note}`);
        const n = info.inputShape.reduce((a, b) => a * b, 1);
        const queryAt = (at: number, m: number) => {
          if (raw) return raw.slice(at, m);
          const data = new Float64Array(m * n);
          for (let k = 0; k < m; k++) data.set(images[at + k], k * n);
          return { data, shape: [m, ...info.inputShape] };
        };
        // Progress only when the results go elsewhere (a file, a pipe) and stderr is a terminal.
        const bar = progress('predicting', !process.stdout.isTTY);
        for (let at = 0; at < count; at += batch) {
          const m = Math.min(batch, count - at);
          // The last query leases nothing: a lease no query uses costs the servers a pooled recording.
          const p = await client.predict(opts.model, queryAt(at, m), { last: at + batch >= count });
          bar.end();
          if (p.perOutput) {
            printOutputs(p.perOutput, at, m, labels, p.latencyMs, opts.json === true);
            bar.update(at + m, count);
            continue;
          }
          const per = p.data.length / m, width = p.shape[p.shape.length - 1], rows = per / width;
          const outputs = p.outputs;
          // Probabilities: softmax's (or a softmax of logits over several classes), or the sigmoid
          // units' own values; a regression (one unit, no activation) has none.
          const probs = p.finalActivation === 'sigmoid' || width > 1 ? p.probabilities : undefined;
          for (let k = 0; k < m; k++) {
            const i = at + k, label = labels?.[i];
            const row = (r: number) => rowPrediction(outputs.subarray(k * per + r * width, k * per + (r + 1) * width), p.classes[k * rows + r], p.probabilities.subarray(k * per + r * width, k * per + (r + 1) * width), p.finalActivation);
            const each = Array.from({ length: rows }, (_, r) => row(r));
            const prediction = rows === 1 ? each[0].prediction : each.map((e) => e.prediction);
            const slice = (v: Float64Array) => toNested(v.subarray(k * per, (k + 1) * per), p.shape.slice(1));
            if (opts.json) console.log(JSON.stringify({ input: i, ...(note ? { inputNote: note } : {}), prediction, label, ...(probs ? { probabilities: slice(probs) } : {}), outputs: slice(outputs), latencyMs: p.latencyMs, batch: m }));
            else {
              const one = rows === 1 ? each[0].p : undefined;
              const shown = one !== undefined ? `p=${one.toFixed(3)}` : `outputs ${JSON.stringify(slice(outputs))}`;
              console.log(`input ${i}: predicted ${JSON.stringify(prediction)}${label === undefined ? '' : ` (true ${label})`}, ${shown}, ${p.latencyMs.toFixed(1)} ms${m > 1 ? ` (batch of ${m})` : ''}`);
            }
          }
          bar.update(at + m, count);
        }
        bar.end();
      } finally {
        await client.close();
      }
    });

  program
    .command('models')
    .description('list the deployed models')
    .option('--config <file>', 'cluster config', DEFAULT_CONFIG)
    .option('--json', `print one JSON object: {models: [{name, protocol, ${listedOptionsHelp()}inputShape, inputEncoding (Embedding models only), inputs (name, inputShape, inputEncoding, strings (true: it takes strings), hashing ({numBins, maskValue, salt}: a Hashing reads it), text ({standardize, split, ngrams, length}: a TextVectorization reads it; inputShape [length]) each; several: packed as inputShape), layers, finalActivation ('softmax', 'sigmoid', 'exponential', 'log_softmax' or null), outputs (name, finalActivation each), fracBits}]}`)
    .action(async (opts: { config: string; json?: boolean }) => {
      const client = await connect(opts.config);
      try {
        const models = await client.models();
        // A model without a final activation says so (null) rather than leaving the field out.
        if (opts.json) console.log(JSON.stringify({ models: models.map((m) => ({ ...m, finalActivation: m.finalActivation ?? null })) }));
        else if (!models.length) console.log('(no models deployed)');
        else
          for (const m of models) console.log(`${m.name}  ${m.protocol}${describeOptions(m.protocol, m).length ? ` (${describeOptions(m.protocol, m).join(', ')})` : ''}  ${describeIo(m).join('  ')}  ${m.layers.join(' > ')}`);
      } finally {
        await client.close();
      }
    });
}

/** deploy's flags, each named when wrong, before any cluster is reached (the client would name its API fields, after connecting); returns the protocol's options. */
function checkDeployFlags(opts: { model: string; protocol?: string }): ProtocolOptions {
  if (opts.protocol !== undefined) checkProtocol(opts.protocol, '--protocol');
  // Without --protocol a deploy runs securenn or pond (by the model).
  const options = flagOptions(opts.protocol as ProtocolName | undefined, opts, opts.protocol ?? `the default (${defaultProtocolFor(true)} or ${defaultProtocolFor(false)})`);
  checkReadable(opts.model, 'the model');
  return options;
}

