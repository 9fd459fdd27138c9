// The Prometheus text exposition format (version 0.0.4), written by hand: a family is its HELP
// and TYPE lines, then one `name{labels} value` line per sample. Label values are escaped as the
// format requires (backslash, double quote, newline), so no value can break a line.

export type MetricType = 'counter' | 'gauge' | 'histogram';
export type Labels = Record<string, string>;

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

const escapeLabel = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const escapeHelp = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function formatLabels(labels: Labels | undefined): string {
  const entries = Object.entries(labels ?? {});
  if (!entries.length) return '';
  for (const [k] of entries) if (!LABEL.test(k)) throw new Error(`metric label name ${JSON.stringify(k)} is not valid`);
  return `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
}

/** Cumulative bucket counts for `le` bounds, with their sum and count. */
export interface HistogramSample {
  labels?: Labels;
  /** Upper bounds, ascending (+Inf is added). */
  bounds: readonly number[];
  /** Observations in each bucket (not cumulative), one per bound plus one above the last. */
  counts: readonly number[];
  sum: number;
}

/** Collects families and writes them out in the order they were added. */
export class PromText {
  #lines: string[] = [];
  #names = new Set<string>();

  #family(name: string, type: MetricType, help: string): void {
    if (!NAME.test(name)) throw new Error(`metric name ${JSON.stringify(name)} is not valid`);
    if (this.#names.has(name)) throw new Error(`metric ${name} was written twice`);
    this.#names.add(name);
    this.#lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
  }

  /** A counter or gauge family with its samples (none: only HELP and TYPE, so the family is known). */
  add(name: string, type: 'counter' | 'gauge', help: string, samples: readonly { labels?: Labels; value: number }[] | number): this {
    this.#family(name, type, help);
    for (const s of typeof samples === 'number' ? [{ value: samples }] : samples) this.#lines.push(`${name}${formatLabels(s.labels)} ${formatValue(s.value)}`);
    return this;
  }

  histogram(name: string, help: string, samples: readonly HistogramSample[]): this {
    this.#family(name, 'histogram', help);
    for (const s of samples) {
      let cumulative = 0;
      s.bounds.forEach((b, i) => {
        cumulative += s.counts[i];
        this.#lines.push(`${name}_bucket${formatLabels({ ...s.labels, le: formatValue(b) })} ${cumulative}`);
      });
      cumulative += s.counts[s.bounds.length];
      this.#lines.push(`${name}_bucket${formatLabels({ ...s.labels, le: '+Inf' })} ${cumulative}`);
      this.#lines.push(`${name}_sum${formatLabels(s.labels)} ${formatValue(s.sum)}`);
      this.#lines.push(`${name}_count${formatLabels(s.labels)} ${cumulative}`);
    }
    return this;
  }

  toString(): string {
    return `${this.#lines.join('\n')}\n`;
  }
}
