// A strict reader of the Prometheus text format (0.0.4) for tests: every line is a HELP or TYPE
// line or a sample `name{labels} value`; every sample belongs to a family whose TYPE came first;
// a histogram's buckets are cumulative and its +Inf bucket equals its _count. Throws naming the
// line otherwise; returns the samples by `name{label="v",...}` (labels sorted).
import * as http from 'node:http';

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const VALUE = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|NaN|[+-]Inf)$/;
const LABEL_PAIR = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"/y;

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseLabels(text: string, line: string): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    LABEL_PAIR.lastIndex = i;
    const m = LABEL_PAIR.exec(text);
    if (!m) throw new Error(`bad labels in ${JSON.stringify(line)}`);
    if (m[1] in out) throw new Error(`label ${m[1]} twice in ${JSON.stringify(line)}`);
    out[m[1]] = m[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    i = LABEL_PAIR.lastIndex;
    if (i < text.length) {
      if (text[i] !== ',') throw new Error(`bad labels in ${JSON.stringify(line)}`);
      i++;
    }
  }
  return out;
}

export const sampleKey = (name: string, labels: Record<string, string> = {}): string =>
  `${name}{${Object.keys(labels).sort().map((k) => `${k}="${labels[k]}"`).join(',')}}`;

export function parsePromText(text: string): Map<string, Sample> {
  if (!text.endsWith('\n')) throw new Error('the exposition must end with a newline');
  const types = new Map<string, string>(), helped = new Set<string>(), samples = new Map<string, Sample>();
  const familyOf = (name: string): string | undefined => {
    if (types.has(name)) return name;
    const base = name.replace(/_(bucket|sum|count)$/, '');
    return types.get(base) === 'histogram' ? base : undefined;
  };
  for (const line of text.slice(0, -1).split('\n')) {
    let m: RegExpExecArray | null;
    if ((m = new RegExp(`^# HELP (${NAME}) (.*)$`).exec(line))) {
      if (helped.has(m[1])) throw new Error(`HELP for ${m[1]} twice`);
      helped.add(m[1]);
    } else if ((m = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`).exec(line))) {
      if (types.has(m[1])) throw new Error(`TYPE for ${m[1]} twice`);
      types.set(m[1], m[2]);
    } else if ((m = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)$`).exec(line))) {
      const [, name, labelText, value] = m;
      const family = familyOf(name);
      if (!family) throw new Error(`sample ${name} has no TYPE line before it`);
      if (!helped.has(family)) throw new Error(`family ${family} has no HELP line`);
      if (!VALUE.test(value)) throw new Error(`bad value in ${JSON.stringify(line)}`);
      const labels = parseLabels(labelText ?? '', line);
      const key = sampleKey(name, labels);
      if (samples.has(key)) throw new Error(`sample ${key} twice`);
      samples.set(key, { name, labels, value: value === '+Inf' ? Infinity : value === '-Inf' ? -Infinity : Number(value) });
    } else {
      throw new Error(`not a HELP, TYPE or sample line: ${JSON.stringify(line)}`);
    }
  }
  // Histograms: cumulative buckets, +Inf = _count.
  for (const [family, type] of types) {
    if (type !== 'histogram') continue;
    const series = new Map<string, { le: number; v: number }[]>();
    for (const s of samples.values()) {
      if (s.name !== `${family}_bucket`) continue;
      const { le, ...rest } = s.labels;
      if (le === undefined) throw new Error(`${family}_bucket without le`);
      const k = sampleKey(family, rest);
      series.set(k, [...(series.get(k) ?? []), { le: le === '+Inf' ? Infinity : Number(le), v: s.value }]);
    }
    for (const [k, buckets] of series) {
      buckets.sort((a, b) => a.le - b.le);
      for (let i = 1; i < buckets.length; i++) if (buckets[i].v < buckets[i - 1].v) throw new Error(`${k}: buckets are not cumulative`);
      const labels = samples.get(k.replace(family, `${family}_count`))?.value;
      if (buckets.at(-1)?.le !== Infinity || labels !== buckets.at(-1)!.v) throw new Error(`${k}: the +Inf bucket must equal _count`);
    }
  }
  return samples;
}

/** GET over plain HTTP: status, content type and body. */
export function httpGet(host: string, port: number, path: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, path, method, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

