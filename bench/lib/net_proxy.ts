// A network emulator for the benchmarks (netem is not available here): a TCP proxy that delays
// every chunk by RTT/2 per direction and paces bytes at a given rate (a token bucket per
// direction and connection), preserving order. TLS passes through untouched.
//
// bench/table.ts runs it in a child process (so the client's work does not delay forwarding):
//   fork(net_proxy.js) -> send {routes: [{listenHost, listenPort, targetHost, targetPort}], rttMs, rateMbit}
//   <- {ready: true, check: {...}}   the proxy's measured delay and rate against its setting
import * as net from 'node:net';

export interface Route { listenHost: string; listenPort: number; targetHost: string; targetPort: number }
export interface LinkSetting { rttMs: number; rateMbit: number }

export const NETS: Record<string, LinkSetting> = {
  lan: { rttMs: 0.2, rateMbit: 10_000 },
  wan: { rttMs: 60, rateMbit: 300 },
};

const now = () => Number(process.hrtime.bigint()) / 1e6; // ms
const BURST_BYTES = 16 * 1024;
const PAUSE_ABOVE = 4 << 20, RESUME_BELOW = 1 << 20;

/** One direction of one connection: src's bytes reach dst after the pacing and the one-way delay. */
function pipeDelayed(src: net.Socket, dst: net.Socket, s: LinkSetting): void {
  const oneWay = s.rttMs / 2;
  const msPerByte = 8 / (s.rateMbit * 1000); // Mbit/s -> bytes per ms = rate*1000/8
  const burstMs = BURST_BYTES * msPerByte;
  const queue: { due: number; data: Buffer }[] = [];
  let head = 0, queued = 0, free = 0, timer: NodeJS.Timeout | undefined, spinning = false, ended = false;
  const flush = () => {
    timer = undefined;
    spinning = false;
    const t = now();
    while (head < queue.length && queue[head].due <= t) {
      const { data } = queue[head++];
      queued -= data.length;
      if (!dst.destroyed) dst.write(data);
    }
    if (head > 1024 && head * 2 > queue.length) queue.splice(0, head), (head = 0);
    if (queued < RESUME_BELOW && src.isPaused()) src.resume();
    if (head < queue.length) schedule(queue[head].due - t);
    else if (ended) dst.end();
  };
  const schedule = (wait: number) => {
    if (timer || spinning) return;
    // setTimeout has ~1 ms granularity: wait most of the time with it, spin (setImmediate) the rest.
    if (wait > 3) timer = setTimeout(flush, Math.floor(wait - 2));
    else (spinning = true), setImmediate(flush);
  };
  src.on('data', (data: Buffer) => {
    const t = now();
    // Token bucket: `free` is when the link has sent everything before; up to a burst goes at once.
    free = Math.max(free, t - burstMs) + data.length * msPerByte;
    queue.push({ due: Math.max(t, free) + oneWay, data });
    queued += data.length;
    if (queued > PAUSE_ABOVE) src.pause();
    schedule(queue[head].due - t);
  });
  src.on('end', () => {
    ended = true;
    if (head >= queue.length) dst.end();
  });
}

/** Starts the proxies; resolves with their servers once all listen. */
export async function startProxies(routes: readonly Route[], s: LinkSetting): Promise<net.Server[]> {
  return Promise.all(routes.map((r) => new Promise<net.Server>((resolve, reject) => {
    const server = net.createServer({ noDelay: true } as net.ServerOpts, (a) => {
      const b = net.connect({ host: r.targetHost, port: r.targetPort, noDelay: true });
      a.setNoDelay(true);
      pipeDelayed(a, b, s);
      pipeDelayed(b, a, s);
      const kill = () => (a.destroy(), b.destroy());
      a.on('error', kill).on('close', () => b.end());
      b.on('error', kill).on('close', () => a.end());
    });
    server.once('error', reject);
    server.listen(r.listenPort, r.listenHost, () => resolve(server));
  })));
}

export interface ProxyCheck {
  setting: LinkSetting;
  /** Median ping-pong (16 bytes) round trip through the proxy, and straight to the echo server. */
  rttMsProxied: number;
  rttMsDirect: number;
  /** Added by the proxy: proxied - direct. */
  rttMsAdded: number;
  /** One-way bulk transfer through the proxy: bytes and the rate achieved (first byte to last). */
  bulkBytes: number;
  rateMbitMeasured: number;
}

/** Measures the delay and rate a proxy with setting `s` adds, against an in-process echo server. */
export async function checkProxy(s: LinkSetting): Promise<ProxyCheck> {
  const echo = net.createServer((c) => {
    c.setNoDelay(true);
    c.on('data', (d) => c.write(d));
    c.on('error', () => undefined);
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  const echoPort = (echo.address() as net.AddressInfo).port;
  const [proxy] = await startProxies([{ listenHost: '127.0.0.1', listenPort: 0, targetHost: '127.0.0.1', targetPort: echoPort }], s);
  const proxyPort = (proxy.address() as net.AddressInfo).port;
  const pingPong = async (port: number, n: number): Promise<number> => {
    const c = net.connect({ host: '127.0.0.1', port, noDelay: true });
    await new Promise((r) => c.once('connect', r));
    const rtts: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = now();
      await new Promise<void>((r) => {
        c.once('data', () => r());
        c.write(Buffer.alloc(16, i));
      });
      rtts.push(now() - t0);
    }
    c.destroy();
    rtts.sort((x, y) => x - y);
    return rtts[rtts.length >> 1];
  };
  const pings = s.rttMs >= 10 ? 10 : 200;
  const rttMsDirect = await pingPong(echoPort, pings);
  const rttMsProxied = await pingPong(proxyPort, pings);
  // Bulk: about 0.5 s worth at the set rate (at most 64 MiB) sent one way, echoed back; timed
  // from the first echoed byte to the last, so the delay is not counted as transfer time.
  const bulkBytes = Math.min(64 << 20, Math.max(1 << 20, Math.round((s.rateMbit * 1e6 / 8) * 0.5)));
  const rateMbitMeasured = await new Promise<number>((resolve) => {
    const c = net.connect({ host: '127.0.0.1', port: proxyPort, noDelay: true }, () => {
      let got = 0, first = 0;
      c.on('data', (d: Buffer) => {
        if (!first) first = now();
        got += d.length;
        if (got >= bulkBytes) {
          c.destroy();
          resolve(((got - d.length) * 8) / ((now() - first) * 1000));
        }
      });
      const chunk = Buffer.alloc(64 * 1024, 7);
      for (let sent = 0; sent < bulkBytes; sent += chunk.length) c.write(chunk);
    });
  });
  proxy.close();
  echo.close();
  return { setting: s, rttMsProxied, rttMsDirect, rttMsAdded: rttMsProxied - rttMsDirect, bulkBytes, rateMbitMeasured };
}

// As a child process: start the routes given over IPC, check a spare proxy, report, then run.
// The routes listen first, before the check's own connections take ephemeral ports that may be
// theirs; a route port another program took since it was picked is reported ({ taken }), and the
// parent picks fresh ports (net_cluster.ts).
if (require.main === module && process.send) {
  process.once('message', async (m: { routes: Route[]; setting: LinkSetting }) => {
    try {
      await startProxies(m.routes, m.setting);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e;
      process.send!({ taken: (e as Error).message }); // the parent stops this process
      return;
    }
    const check = await checkProxy(m.setting);
    process.send!({ ready: true, check });
  });
  process.on('disconnect', () => process.exit(0));
}
