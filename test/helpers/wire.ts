// Watching the wire: a recorder of every message a cluster's transport carries, and the
// chi-square uniformity statistic used on shares and payloads.
import * as tfe from '../../lib';

export interface Sent {
  from: string;
  to: string;
  op: string;
  step: string;
  payload: tfe.Payload;
}

/**
 * Wraps cluster.transport.send (the one path every message takes) to record each message.
 * Counting stays in the base class, so traffic() is unaffected.
 */
export function record(c: tfe.Cluster): Sent[] {
  const seen: Sent[] = [];
  const send = c.transport.send.bind(c.transport);
  c.transport.send = (from, to, tag, payload) => {
    // A tensor's bytes are read now: in process they are made on demand, from a tensor its
    // receiver may have freed by the time a test looks.
    seen.push({ from, to, op: tag.op, step: tag.step, payload: payload.kind === 'tensor' ? { ...payload, data: payload.data } : payload });
    return send(from, to, tag, payload);
  };
  return seen;
}

/** Waits until setup (the seed exchange) has finished: run() starts only after it. */
export async function setupDone(c: tfe.Cluster): Promise<void> {
  await c.run(c.nextOp('wait-for-setup'), async () => undefined);
}

/** Chi-square statistic of the byte at `offset` of each 8-byte element, over 256 bins. */
export function chiSquareByte(bytes: Uint8Array, offset: number): number {
  const h = new Float64Array(256);
  const n = bytes.length / 8;
  for (let i = offset; i < bytes.length; i += 8) h[bytes[i]]++;
  const e = n / 256;
  return h.reduce((a, v) => a + (v - e) ** 2 / e, 0);
}

/**
 * Critical value of chi-square with `df` degrees of freedom at a false-alarm rate given by the
 * normal quantile z (Wilson-Hilferty). z = 5.2 is about 1e-7 one-sided: with the few dozen
 * statistics a run computes, a false alarm is about one run in 10^5.
 */
export function chiSquareCritical(df = 255, z = 5.2): number {
  const v = 2 / (9 * df);
  return df * (1 - v + z * Math.sqrt(v)) ** 3;
}

/** The raw ring bytes of a tensor's share on one party. */
export async function shareBytes(x: tfe.PrivateTensor, party: string): Promise<Uint8Array> {
  const s = (await x.shares).get(party);
  if (!s) throw new Error(`${party} holds no share`);
  return new Uint8Array(s.toBigUint64Array().buffer);
}
