// Keras's TextVectorization (keras.io's text classifiers: raw strings in, token ids into an
// Embedding; or a bag of words into Dense layers): the split is the text owner's (text_tokens.ts:
// a client sends each text as a fixed count of token ids, padded with the mask token's), the
// vocabulary lookup is StringLookup's on those ids with the mask token '' (layers_lookup.ts), the
// vocabulary the owner's private weights (config_constants.ts). So the model's text input reaches
// the servers as [batch, length] ids. output_mode int: length is output_sequence_length, and the
// output, index 0 for padding, 1 for a token outside the vocabulary, 2 onwards for its entries,
// feeds an Embedding (or a CategoryEncoding) as any lookup's ids do. multi_hot, count and tf_idf:
// every token is read (the distinct ones for multi_hot), at most `tokens_per_text` of them, the
// library's own config key, written where the model is read (inputShapes, --input-shape:
// input_shapes.ts) or DEFAULT_BAG_TOKENS; the padding adds nothing to the counts.
import { type LayerConfig, type LayerGraph, refuse } from './layers_graph';
import { settings } from './layers_settings';
import { VOCABULARY_TABLE } from './bucket_table';
import { DEFAULT_BAG_TOKENS, MAX_NGRAM, MAX_TEXT_TOKENS, SPLIT, STANDARDIZE, type TextSpec } from './text_tokens';

const isNull = (v: unknown) => v === undefined || v === null;
const isWidth = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 1 && (v as number) <= MAX_NGRAM;

/** Keras's output modes of a TextVectorization; all but int read the text as a bag of words. */
export const TEXT_MODES = ['int', 'multi_hot', 'count', 'tf_idf'] as const;
export type TextMode = (typeof TEXT_MODES)[number];
/** The library's config key for a bag-of-words text's bound on tokens (the header). */
export const TOKENS_PER_TEXT = 'tokens_per_text';

/** A TextVectorization's output mode, checked. */
export function textModeOf(l: LayerConfig): TextMode {
  const mode = l.config.output_mode ?? 'int';
  if (!(TEXT_MODES as readonly unknown[]).includes(mode)) refuse(l, `output_mode ${JSON.stringify(mode)} is not one of Keras's (${TEXT_MODES.join(', ')})`);
  return mode as TextMode;
}

/** A TextVectorization's settings, checked: the split its text's owner applies. */
export function textVectorizationOf(l: LayerConfig): TextSpec {
  const mode = textModeOf(l), bag = mode !== 'int';
  // (A vocabulary still in the config is refused where the lookup is planned: layers_lookup.ts lookupOf.)
  if (!bag && isNull(l.config.output_sequence_length))
    refuse(l, `has no output_sequence_length: the servers size each text by it (without it Keras pads to the batch's longest text, a length the servers would learn); give one`);
  if (bag && !isNull(l.config.output_sequence_length)) refuse(l, `output_sequence_length is set with output_mode '${mode}': Keras refuses it (only int pads to a length)`);
  if (!bag && !isNull(l.config[TOKENS_PER_TEXT])) refuse(l, `${TOKENS_PER_TEXT} is set with output_mode int: an int text's tokens per text are its output_sequence_length`);
  const c = settings(l, {
    vocabulary: isNull,
    vocabulary_size: (v) => isNull(v) || Number.isSafeInteger(v),
    max_tokens: (v) => isNull(v) || (Number.isSafeInteger(v) && (v as number) >= 1),
    // A function (a custom standardize or split) is saved as its name, which no client can run.
    standardize: (v) => v === null || (STANDARDIZE as readonly unknown[]).includes(v),
    split: (v) => v === null || (SPLIT as readonly unknown[]).includes(v),
    ngrams: (v) => isNull(v) || isWidth(v) || (Array.isArray(v) && v.length >= 1 && v.length <= MAX_NGRAM && v.every(isWidth)),
    output_mode: () => true,
    output_sequence_length: (v) => (bag ? isNull(v) : Number.isSafeInteger(v) && (v as number) >= 1 && (v as number) <= MAX_TEXT_TOKENS),
    [TOKENS_PER_TEXT]: (v) => isNull(v) || (bag && Number.isSafeInteger(v) && (v as number) >= 1 && (v as number) <= MAX_TEXT_TOKENS),
    pad_to_max_tokens: (v) => isNull(v) || typeof v === 'boolean',
    // Moved into a weight, as the vocabulary (config_constants.ts); Keras reads it under tf_idf only.
    idf_weights: isNull,
    encoding: (v) => isNull(v) || v === 'utf-8',
    [VOCABULARY_TABLE]: (v) => isNull(v) || v === true,
  });
  // (settings() passes sparse and ragged over: InputLayer's are about the input.)
  if (!isNull(l.config.sparse) && l.config.sparse !== false) refuse(l, `sparse = ${JSON.stringify(l.config.sparse)} is not supported: only dense outputs`);
  if (!isNull(l.config.ragged) && l.config.ragged !== false) refuse(l, `ragged = ${JSON.stringify(l.config.ragged)} is not supported: only dense outputs, output_sequence_length ids per text`);
  const n = c.ngrams;
  // Keras's ngrams = n means the widths 1 to n; a list, those widths.
  const ngrams = isNull(n) ? null : Array.isArray(n) ? (n as number[]) : Array.from({ length: n as number }, (_, i) => i + 1);
  const length = bag ? Number(c[TOKENS_PER_TEXT] ?? DEFAULT_BAG_TOKENS) : Number(c.output_sequence_length);
  return { standardize: c.standardize as TextSpec['standardize'], split: c.split as TextSpec['split'], ngrams, length, ...(bag ? { bag: mode === 'multi_hot' ? ('distinct' as const) : ('all' as const) } : {}) };
}

/**
 * Per model input (graph.inputs order), the split its owner applies where a TextVectorization
 * reads it, or undefined: a text input is a string input of one text per example ([] or [1]),
 * read by TextVectorization layers of one split only, and not an output.
 */
export function textInputsOf(graph: LayerGraph): (TextSpec | undefined)[] {
  const texts = graph.nodes.filter((n) => n.layer.class_name === 'TextVectorization');
  const ids = graph.inputs.map((i) => i.id);
  for (const { layer, inputs } of texts)
    if (inputs.length !== 1 || !ids.includes(inputs[0]) || !graph.inputs.find((i) => i.id === inputs[0])!.strings)
      refuse(layer, `reads '${inputs.join("', '")}', which is not one of the model's string inputs: a TextVectorization must read a model input of dtype string directly (its owner splits the texts)`);
  return graph.inputs.map((input) => {
    const readers = texts.filter((n) => n.inputs[0] === input.id);
    if (readers.length === 0) return undefined;
    // Bags of words of several modes share one split: every token goes where any reads them all
    // (multi_hot's min(count, 1) is the same on them as on the distinct ones).
    const specs = readers.map((r) => textVectorizationOf(r.layer));
    const split = (t: TextSpec) => JSON.stringify({ ...t, bag: t.bag ? 'bag' : undefined });
    readers.forEach(({ layer }, k) => {
      if (split(specs[k]) !== split(specs[0]))
        refuse(layer, `splits input '${input.id}' otherwise than TextVectorization '${readers[0].layer.config.name}' (standardize, split, ngrams, output_sequence_length or a bag of words' bound, int or a bag of words): its owner splits each text one way (to split a text two ways, give it as two inputs)`);
    });
    const bag = specs.some((t) => t.bag === 'all') ? ('all' as const) : specs[0].bag;
    const first = bag ? { ...specs[0], bag } : specs[0];
    if (!(input.shape.length === 0 || (input.shape.length === 1 && input.shape[0] === 1)))
      refuse(readers[0].layer, `reads input '${input.id}' of shape [batch, ${input.shape}]: a TextVectorization takes one text per example, [batch] or [batch, 1]`);
    // Keras's bag of words without a split on a [batch] input counts the whole batch as one text.
    if (first.bag && first.split === null && input.shape.length === 0)
      refuse(readers[0].layer, `reads input '${input.id}' of shape [batch] with split None and output_mode '${readers[0].layer.config.output_mode}': Keras then counts the whole batch's strings as one example's tokens; give the input shape [1] (one string per example)`);
    for (const { layer, inputs } of graph.nodes)
      if (layer.class_name !== 'TextVectorization' && layer.class_name !== 'InputLayer' && inputs.includes(input.id))
        refuse(layer, `reads input '${input.id}', which TextVectorization '${readers[0].layer.config.name}' splits (its owner sends the tokens' ids): only TextVectorization layers may read it`);
    if (graph.outputs.includes(input.id)) throw new Error(`input '${input.id}' is split by TextVectorization '${readers[0].layer.config.name}' and is also an output of the model, which is not supported`);
    return first;
  });
}
