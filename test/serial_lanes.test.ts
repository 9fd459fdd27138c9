// SerialLanes (lib/serve/serial_lanes.ts): the offline pool makes one model's recordings of one
// batch size one after another, so the first index is shipped first. Tasks on one key must not
// overlap and must run in order; a failure must not hold up the lane; keys must not wait for each
// other; a settled lane must not be kept.
import test from 'ava';

import { SerialLanes } from '../lib/serve/serial_lanes';

/** A task that logs its start, then waits until released. */
function gated(log: string[], name: string) {
  let release!: (fail?: boolean) => void;
  const gate = new Promise<boolean>((r) => (release = (fail = false) => r(fail)));
  const task = async () => {
    log.push(`${name} start`);
    const fail = await gate;
    log.push(`${name} end`);
    if (fail) throw new Error(`${name} failed`);
    return name;
  };
  return { task, release };
}

const tick = () => new Promise((r) => setImmediate(r));

test('tasks on one lane run one at a time, in order; a failure reaches its caller and the next task still runs', async (t) => {
  const lanes = new SerialLanes();
  const log: string[] = [];
  const [a, b, c] = ['a', 'b', 'c'].map((n) => gated(log, n));
  const ra = lanes.run('m', a.task);
  const rb = lanes.run('m', b.task);
  const rc = lanes.run('m', c.task);
  await tick();
  t.deepEqual(log, ['a start'], 'b and c wait for a');
  t.is(lanes.busy, 1);
  a.release(true);
  await t.throwsAsync(ra, { message: 'a failed' });
  await tick();
  t.deepEqual(log, ['a start', 'a end', 'b start'], 'a failure does not hold up the lane');
  b.release();
  t.is(await rb, 'b');
  await tick();
  t.deepEqual(log.slice(-1), ['c start']);
  c.release();
  t.is(await rc, 'c');
  await tick();
  t.is(lanes.busy, 0, 'a settled lane is not kept');
});

test('different lanes run side by side', async (t) => {
  const lanes = new SerialLanes();
  const log: string[] = [];
  const x = gated(log, 'x');
  const y = gated(log, 'y');
  const rx = lanes.run('model-1\u00001', x.task);
  const ry = lanes.run('model-1\u0000128', y.task);
  await tick();
  t.deepEqual(log.sort(), ['x start', 'y start']);
  t.is(lanes.busy, 2);
  y.release();
  x.release();
  t.deepEqual(await Promise.all([rx, ry]), ['x', 'y']);
});
