// Keras's TextVectorization splits a text into tokens before its vocabulary lookup. The split is a
// public function of the text alone, so the text's owner (a client) computes it: it standardizes,
// splits and joins n-grams as TensorFlow does, keeps the first `length` tokens and pads with the
// empty string (the mask token, index 0), then sends each token as its id (string_ids.ts). The
// servers then run the vocabulary lookup on ids, privately, as StringLookup's (layers_lookup.ts),
// and see neither a token nor how many a text has. Imports nothing: the browser bundle includes it.
//
// The bag-of-words modes (multi_hot, count, tf_idf) read every token, in no order: a text goes as
// all its tokens (count, tf_idf) or its distinct ones (multi_hot: a repeat adds nothing), padded
// to `length`, the deployment's public bound; a text with more is refused by its owner, never cut
// (the answer would change).
//
// TensorFlow's semantics, checked against it (test/fixtures/text_reference.py):
// - lower: tf.strings.lower without an encoding, ASCII letters only ('É' stays);
// - strip_punctuation: ASCII punctuation removed (Keras's regex is string.punctuation's 32);
// - whitespace: tf.strings.split, on runs of ASCII whitespace (space, \t, \n, \v, \f, \r), leading
//   and trailing ones dropped; character: tf.strings.unicode_split, one token per code point;
// - ngrams: for each width in order, every run of that many tokens joined by a space.

/** A TextVectorization's split as its text's owner applies it (a server lists it with the input). */
export interface TextSpec {
  standardize: 'lower_and_strip_punctuation' | 'lower' | 'strip_punctuation' | null;
  split: 'whitespace' | 'character' | null;
  /** The n-gram widths, in order (Keras's ngrams = n: 1 to n), or null: the tokens themselves. */
  ngrams: number[] | null;
  /** Tokens per text (output_sequence_length): the first ones kept, padded with the mask token ''. */
  length: number;
  /**
   * Set for the bag-of-words modes: every token goes ('all': count, tf_idf) or every distinct one
   * ('distinct': multi_hot), at most `length` of them (more is refused), padded with ''.
   */
  bag?: 'all' | 'distinct';
}

export const STANDARDIZE = ['lower_and_strip_punctuation', 'lower', 'strip_punctuation'] as const;
export const SPLIT = ['whitespace', 'character'] as const;
/** At most this many tokens per text, and this wide an n-gram: the servers size every query by them. */
export const MAX_TEXT_TOKENS = 4096;
export const MAX_NGRAM = 16;
/**
 * Tokens per text a bag-of-words TextVectorization takes unless its deployment gives another bound
 * (inputShapes, --input-shape): Keras bounds none, and each token costs an equality test per
 * vocabulary entry (from 256 entries on, a read of the vocabulary's bucket table: table_read.ts).
 */
export const DEFAULT_BAG_TOKENS = 128;

const PUNCTUATION = /[!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]/g;
const ASCII_SPACE = /[ \t\n\v\f\r]+/;

/** Whether `v` is a TextSpec a server may list (checked before a client sizes anything by it). */
export function isTextSpec(v: unknown): v is TextSpec {
  const o = v as Partial<TextSpec> | null;
  return (
    !!o && typeof o === 'object' &&
    (o.standardize === null || (STANDARDIZE as readonly unknown[]).includes(o.standardize)) &&
    (o.split === null || (SPLIT as readonly unknown[]).includes(o.split)) &&
    (o.ngrams === null || (Array.isArray(o.ngrams) && o.ngrams.length >= 1 && o.ngrams.length <= MAX_NGRAM && o.ngrams.every((n) => Number.isSafeInteger(n) && n >= 1 && n <= MAX_NGRAM))) &&
    Number.isSafeInteger(o.length) && (o.length as number) >= 1 && (o.length as number) <= MAX_TEXT_TOKENS &&
    (o.bag === undefined || o.bag === 'all' || o.bag === 'distinct')
  );
}

/**
 * One text's tokens as TextVectorization makes them (see the header), `spec.length` of them; a
 * bag-of-words text with more than that many (distinct, for multi_hot) is refused, naming both.
 */
export function textTokens(text: string, spec: TextSpec): string[] {
  let s = text;
  if (spec.standardize === 'lower' || spec.standardize === 'lower_and_strip_punctuation') s = s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
  if (spec.standardize === 'strip_punctuation' || spec.standardize === 'lower_and_strip_punctuation') s = s.replace(PUNCTUATION, '');
  let tokens = spec.split === 'whitespace' ? s.split(ASCII_SPACE).filter((t) => t !== '') : spec.split === 'character' ? [...s] : [s];
  if (spec.ngrams) {
    const words = tokens;
    tokens = spec.ngrams.flatMap((n) => Array.from({ length: Math.max(0, words.length - n + 1) }, (_, i) => words.slice(i, i + n).join(' ')));
  }
  if (spec.bag === 'distinct') tokens = [...new Set(tokens)];
  if (spec.bag && tokens.length > spec.length)
    throw new RangeError(`has ${tokens.length}${spec.bag === 'distinct' ? ' distinct' : ''} tokens, more than the ${spec.length} per text this model was deployed to take (its bag-of-words TextVectorization reads them all): shorten the text, or deploy the model with a larger bound (inputShapes [${tokens.length}], --input-shape ${tokens.length})`);
  const kept = tokens.slice(0, spec.length);
  return kept.concat(Array<string>(spec.length - kept.length).fill(''));
}

/**
 * Texts as a client gives them (nested arrays [batch] or [batch, 1], or {data, shape} of them) as
 * their tokens, [batch, length]; anything but a string is refused, naming where it is.
 */
export function textsToTokens(v: unknown, spec: TextSpec, what: string): { data: string[]; shape: number[] } {
  const o = v as { data?: unknown; shape?: unknown };
  let texts: unknown[], shape: unknown[];
  if (o && typeof o === 'object' && !Array.isArray(o) && Array.isArray(o.data) && Array.isArray(o.shape)) [texts, shape] = [o.data, o.shape];
  else if (Array.isArray(v)) [texts, shape] = [v.map((e) => (Array.isArray(e) && e.length === 1 ? e[0] : e)), [v.length, ...(v.length > 0 && v.every((e) => Array.isArray(e) && e.length === 1) ? [1] : [])]];
  else if (typeof v === 'string') throw new TypeError(`${what}: a bare string; give a batch of texts, [text, ...] or [[text], ...]`);
  else throw new TypeError(`${what}: this input takes texts (it is read by a TextVectorization layer), [text, ...] or [[text], ...], got ${v === null ? 'null' : typeof v}`);
  if (!(shape.length === 1 || (shape.length === 2 && shape[1] === 1)) || shape[0] !== texts.length)
    throw new RangeError(`${what}: texts of shape [${shape}]; a TextVectorization takes one text per example, [batch] or [batch, 1]`);
  const data: string[] = [];
  texts.forEach((t, i) => {
    if (typeof t !== 'string') throw new TypeError(`${what}: this input takes texts (it is read by a TextVectorization layer), got ${Array.isArray(t) ? 'an array' : t === null ? 'null' : typeof t} at index [${i}]`);
    try {
      data.push(...textTokens(t, spec));
    } catch (e) {
      throw new RangeError(`${what}: the text at index [${i}] ${(e as Error).message}`);
    }
  });
  return { data, shape: [texts.length, spec.length] };
}
