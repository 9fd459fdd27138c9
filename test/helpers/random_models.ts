// Random TensorFlow.js models, built from the layers and settings people use: image, sequence,
// token and vector inputs; a few blocks each (convolutions of every kind with random kernels,
// strides, padding and dilation, pooling, normalisation, activations, recurrent layers, residual
// and branching merges); then a head. Seeded, so a failing model can be built again.
/* eslint-disable @typescript-eslint/no-explicit-any */

/** A small seeded generator (mulberry32): the same seed builds the same models and inputs. */
export function seeded(seed: number): () => number {
  let s = seed | 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface RandomModel {
  model: any;
  /** The input shape without the batch. */
  shape: number[];
  /** Token ids (an Embedding first) rather than values. */
  tokens: boolean;
  /** What was built, layer by layer (a failing case's message). */
  desc: string[];
}

export interface RandomMultiModel {
  model: any;
  /** Each input's shape without the batch, and whether it holds token ids. */
  inputs: { shape: number[]; tokens: boolean }[];
  desc: string[];
}

/** Hidden activations by name, as tfjs writes them. */
const ACTIVATIONS = ['linear', 'relu', 'relu6', 'sigmoid', 'tanh', 'elu', 'selu', 'softplus', 'softsign', 'hardSigmoid', 'swish', 'mish', 'gelu', 'gelu_new', 'linear', 'relu'];

export function randomModels(tf: any, rnd: () => number) {
  const L = tf.layers;
  const ri = (a: number, b: number) => a + Math.floor(rnd() * (b - a + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const act = () => pick(ACTIVATIONS);
  const KEYS = ['filters', 'kernelSize', 'strides', 'padding', 'dilationRate', 'activation', 'poolSize', 'depthMultiplier', 'size', 'cropping', 'maxValue', 'alpha', 'useBias', 'sharedAxes', 'dims', 'units', 'returnSequences', 'mergeMode', 'resetAfter'];
  const described = (desc: string[], layer: any) => desc.push(`${layer.getClassName()}(${JSON.stringify(layer.getConfig(), KEYS)})`);

  /** Random moving statistics and scales, so that a BatchNormalization does something. */
  const randomBn = (layer: any) =>
    layer.setWeights(
      layer.getWeights().map((w: any, i: number) => {
        const name: string = layer.weights[i].name;
        const value = () => (/moving_variance/.test(name) ? 0.2 + rnd() * 2 : /gamma/.test(name) ? 0.5 + rnd() : rnd() - 0.5);
        return tf.tensor(Float32Array.from({ length: w.size }, value), w.shape);
      }),
    );

  const merged = (desc: string[], what: string, merge: any, xs: any[]) => (desc.push(what), merge.apply(xs));

  /**
   * tfjs's initializers seed their generators from Math.random: while a model is built, that is
   * rnd, so that a seed builds the same weights too (they came out different on every run).
   */
  const seededBuild = <T>(build: () => T): T => {
    const saved = Math.random;
    Math.random = rnd;
    try {
      return build();
    } finally {
      Math.random = saved;
    }
  };

  function image(x: any, desc: string[]): any {
    const [h, , c] = x.shape.slice(1) as number[];
    const ks = () => (rnd() < 0.3 ? [ri(1, 3), ri(1, 3)] : ri(1, 3));
    const padding = pick(['same', 'valid']), strides = ri(1, 2), dilationRate = strides === 1 && rnd() < 0.25 ? 2 : 1;
    let layer: any;
    switch (pick(['conv', 'conv', 'dw', 'sep', 'maxpool', 'avgpool', 'bn', 'act', 'relu', 'leaky', 'prelu', 'elu', 'zpad', 'crop', 'up', 'convT', 'res', 'concat', 'concatAxis', 'mul', 'max', 'avg', 'softmax', 'ln', 'permute', 'dense', 'dropout'])) {
      case 'conv': layer = L.conv2d({ filters: ri(1, 4), kernelSize: ks(), strides, padding, dilationRate, useBias: rnd() < 0.7, activation: act() }); break;
      case 'dw': layer = L.depthwiseConv2d({ kernelSize: ks(), depthMultiplier: ri(1, 2), strides, padding, useBias: rnd() < 0.5, activation: act() }); break;
      case 'sep': layer = L.separableConv2d({ filters: ri(1, 4), kernelSize: ks(), depthMultiplier: ri(1, 2), strides, padding, activation: act() }); break;
      case 'maxpool': layer = L.maxPooling2d({ poolSize: ri(1, 3), strides: ri(1, 3), padding }); break;
      case 'avgpool': layer = L.averagePooling2d({ poolSize: ri(1, 3), strides: ri(1, 3), padding }); break;
      case 'bn': layer = L.batchNormalization({ axis: -1, center: rnd() < 0.8, scale: rnd() < 0.8, epsilon: pick([1e-3, 1e-5]) }); break;
      case 'ln': layer = L.layerNormalization({ axis: -1 }); break;
      case 'act': layer = L.activation({ activation: act() }); break;
      case 'relu': layer = L.reLU(rnd() < 0.5 ? { maxValue: pick([1, 6]) } : {}); break;
      case 'leaky': layer = L.leakyReLU({ alpha: pick([0.1, 0.3, 0.01]) }); break;
      case 'prelu': layer = L.prelu({ sharedAxes: pick([undefined, [1, 2], [1], [2]]), alphaInitializer: tf.initializers.randomUniform({ minval: 0, maxval: 0.5 }) }); break;
      case 'elu': layer = L.elu({ alpha: pick([1, 0.5]) }); break;
      case 'softmax': layer = L.softmax({ axis: -1 }); break;
      case 'zpad': layer = L.zeroPadding2d({ padding: rnd() < 0.5 ? ri(1, 2) : [[ri(0, 2), ri(0, 2)], [ri(0, 2), ri(0, 2)]] }); break;
      case 'crop': if (h < 4) return null; layer = L.cropping2d({ cropping: [[ri(0, 1), ri(0, 1)], [ri(0, 1), ri(0, 1)]] }); break;
      case 'up': if (h > 10) return null; layer = L.upSampling2d({ size: [ri(1, 2), ri(1, 2)] }); break;
      case 'convT': if (h > 10) return null; layer = L.conv2dTranspose({ filters: ri(1, 3), kernelSize: ks(), strides, padding, activation: act() }); break;
      case 'permute': layer = L.permute({ dims: pick([[2, 1, 3], [1, 3, 2], [3, 2, 1]]) }); break;
      case 'dense': layer = L.dense({ units: ri(1, 4), activation: act() }); break;
      case 'dropout': layer = L.dropout({ rate: 0.3 }); break;
      case 'res': return merged(desc, 'Add(x, Conv2D same)', L.add(), [x, L.conv2d({ filters: c, kernelSize: ri(1, 3), padding: 'same', activation: act() }).apply(x)]);
      case 'concat':
        return merged(desc, 'Concatenate(Conv2D same, MaxPooling2D 3 same, x)', L.concatenate({ axis: -1 }), [L.conv2d({ filters: ri(1, 3), kernelSize: ri(1, 3), padding: 'same', activation: act() }).apply(x), L.maxPooling2d({ poolSize: 3, strides: 1, padding: 'same' }).apply(x), x]);
      case 'concatAxis': {
        const axis = pick([1, 2, -1]);
        return merged(desc, `Concatenate axis ${axis}(x, Conv2D 1x1)`, L.concatenate({ axis }), [x, L.conv2d({ filters: c, kernelSize: 1, activation: act() }).apply(x)]);
      }
      case 'mul': return merged(desc, 'Multiply(x, Conv2D 1x1 sigmoid)', L.multiply(), [x, L.conv2d({ filters: c, kernelSize: 1, activation: 'sigmoid' }).apply(x)]);
      case 'max': return merged(desc, 'Maximum(x, Conv2D 1x1)', L.maximum(), [x, L.conv2d({ filters: c, kernelSize: 1 }).apply(x)]);
      case 'avg':
        return merged(desc, 'Average(x, Conv2D 3 same, DepthwiseConv2D 3 same)', L.average(), [x, L.conv2d({ filters: c, kernelSize: 3, padding: 'same' }).apply(x), L.depthwiseConv2d({ kernelSize: 3, padding: 'same', activation: act() }).apply(x)]);
    }
    const y = layer.apply(x);
    if (layer.getClassName() === 'BatchNormalization') randomBn(layer);
    described(desc, layer);
    return y;
  }

  function sequence(x: any, desc: string[]): any {
    let layer: any;
    switch (pick(['conv1d', 'conv1d', 'dilated', 'maxpool', 'avgpool', 'lstm', 'gru', 'rnn', 'bidirectional', 'timeDistributed', 'ln', 'bn', 'act', 'permute', 'dense', 'repeat'])) {
      case 'conv1d': layer = L.conv1d({ filters: ri(1, 4), kernelSize: ri(1, 3), strides: ri(1, 2), padding: pick(['same', 'valid']), activation: act() }); break;
      case 'dilated': layer = L.conv1d({ filters: ri(1, 4), kernelSize: ri(2, 3), dilationRate: 2, padding: pick(['same', 'valid']), activation: act() }); break;
      case 'maxpool': layer = L.maxPooling1d({ poolSize: ri(1, 3), strides: ri(1, 2), padding: pick(['same', 'valid']) }); break;
      case 'avgpool': layer = L.averagePooling1d({ poolSize: ri(1, 3), strides: ri(1, 2), padding: pick(['same', 'valid']) }); break;
      case 'lstm': layer = L.lstm({ units: ri(1, 4), returnSequences: true }); break;
      case 'gru': layer = L.gru({ units: ri(1, 4), returnSequences: true, resetAfter: rnd() < 0.5 }); break;
      case 'rnn': layer = L.simpleRNN({ units: ri(1, 4), returnSequences: true, activation: pick(['tanh', 'relu']) }); break;
      case 'bidirectional': layer = L.bidirectional({ layer: L.lstm({ units: ri(1, 3), returnSequences: true }), mergeMode: pick(['concat', 'sum', 'ave', 'mul']) }); break;
      case 'timeDistributed': layer = L.timeDistributed({ layer: L.dense({ units: ri(1, 4), activation: act() }) }); break;
      case 'ln': layer = L.layerNormalization({ axis: -1 }); break;
      case 'bn': layer = L.batchNormalization({ axis: -1 }); break;
      case 'act': layer = L.activation({ activation: act() }); break;
      case 'permute': layer = L.permute({ dims: [2, 1] }); break;
      case 'dense': layer = L.dense({ units: ri(1, 5), activation: act() }); break;
      case 'repeat': desc.push('LSTM (last step) then RepeatVector'); return L.repeatVector({ n: ri(2, 4) }).apply(L.lstm({ units: ri(1, 3) }).apply(x));
    }
    const y = layer.apply(x);
    if (layer.getClassName() === 'BatchNormalization') randomBn(layer);
    described(desc, layer);
    return y;
  }

  function vector(x: any, desc: string[]): any {
    const f = x.shape[1] as number;
    let layer: any;
    switch (pick(['dense', 'dense', 'bn', 'ln', 'act', 'relu', 'leaky', 'dropout', 'res', 'sub', 'avg', 'min', 'reshape'])) {
      case 'dense': layer = L.dense({ units: ri(1, 12), activation: act(), useBias: rnd() < 0.8 }); break;
      case 'bn': layer = L.batchNormalization({}); break;
      case 'ln': layer = L.layerNormalization({}); break;
      case 'act': layer = L.activation({ activation: act() }); break;
      case 'relu': layer = L.reLU(rnd() < 0.5 ? { maxValue: 6 } : {}); break;
      case 'leaky': layer = L.leakyReLU({ alpha: 0.2 }); break;
      case 'dropout': layer = L.dropout({ rate: 0.5 }); break;
      case 'res': return merged(desc, 'Add(x, Dense)', L.add(), [x, L.dense({ units: f, activation: act() }).apply(x)]);
      case 'sub': return merged(desc, 'Subtract(x, Dense)', L.subtract(), [x, L.dense({ units: f }).apply(x)]);
      case 'avg': return merged(desc, 'Average(x, Dense)', L.average(), [x, L.dense({ units: f, activation: act() }).apply(x)]);
      case 'min': return merged(desc, 'Minimum(x, Dense)', L.minimum(), [x, L.dense({ units: f }).apply(x)]);
      case 'reshape':
        if (f % 2) return null;
        desc.push('Reshape [2, f/2], Conv1D 1, Flatten');
        return L.flatten().apply(L.conv1d({ filters: 2, kernelSize: 1 }).apply(L.reshape({ targetShape: [2, f / 2] }).apply(x)));
    }
    const y = layer.apply(x);
    if (layer.getClassName() === 'BatchNormalization') randomBn(layer);
    described(desc, layer);
    return y;
  }

  /** One input and its blocks, pooled to a vector; throws where tfjs refuses the random shapes (the caller draws again). */
  function trunk(): { input: any; x: any; shape: number[]; tokens: boolean; desc: string[]; head: string } {
    const kind = pick(['image', 'image', 'sequence', 'vector', 'tokens']);
    const shape = kind === 'image' ? [ri(3, 10), ri(3, 10), ri(1, 3)] : kind === 'sequence' ? [ri(3, 8), ri(1, 4)] : kind === 'tokens' ? [ri(2, 8)] : [ri(2, 12)];
    const desc = [`${kind} [${shape}]`];
    const input = tf.input({ shape });
    let x = input;
    if (kind === 'tokens') (x = L.embedding({ inputDim: 20, outputDim: ri(2, 5) }).apply(x)), desc.push('Embedding(20)');
    const block = kind === 'image' ? image : kind === 'vector' ? vector : sequence;
    for (let i = ri(1, 5); i > 0; i--) {
      for (let tries = 0; tries < 5; tries++) {
        let y: any = null;
        try {
          y = block(x, desc);
        } catch {
          y = null; // shapes tfjs refuses: another block
        }
        if (y && !(y.shape.slice(1) as number[]).some((d) => d < 1)) {
          x = y;
          break;
        }
      }
    }
    const head = pick(['flatten', 'average', 'max', 'recurrent']);
    if (kind === 'image') x = (head === 'average' ? L.globalAveragePooling2d({}) : head === 'max' ? L.globalMaxPooling2d({}) : L.flatten()).apply(x);
    else if (kind !== 'vector') x = (head === 'average' ? L.globalAveragePooling1d({}) : head === 'max' ? L.globalMaxPooling1d({}) : head === 'recurrent' ? L.lstm({ units: 3 }) : L.flatten()).apply(x);
    return { input, x, shape, tokens: kind === 'tokens', desc, head };
  }

  /** One model; throws where tfjs refuses the random shapes (the caller draws again). */
  function one(): RandomModel {
    const { input, x, shape, tokens, desc, head } = trunk();
    const out = pick(['softmax', 'linear', 'sigmoid', 'relu']);
    desc.push(`head ${head}, Dense ${out}`);
    return { model: tf.model({ inputs: input, outputs: L.dense({ units: ri(1, 5), activation: out }).apply(x) }), shape, tokens, desc };
  }

  /**
   * A model with one to three inputs (each a trunk as above), maybe a shared Dense applied to
   * each input's features (and again to its own output), their concatenation, and one to three
   * output heads, a head sometimes reading the head before it (its activation applied).
   */
  function several(): RandomMultiModel {
    const trunks = Array.from({ length: ri(1, 3) }, () => trunk());
    const desc = trunks.flatMap((tr, i) => [`input ${i}: ${tr.desc.join(', ')}, ${tr.head}`]);
    let feats = trunks.map((tr) => tr.x);
    if (rnd() < 0.6) {
      const u = ri(2, 6), shared = L.dense({ units: u, activation: act() }), again = rnd() < 0.4;
      feats = feats.map((f) => shared.apply(L.dense({ units: u }).apply(f)));
      if (again) feats = feats.map((f) => shared.apply(f));
      desc.push(`shared Dense ${u} ${shared.getConfig().activation}${again ? ' twice' : ''} on each input`);
    }
    const h = feats.length > 1 ? L.concatenate().apply(feats) : feats[0];
    const outputs: any[] = [];
    for (let j = ri(trunks.length === 1 ? 2 : 1, 3); j > 0; j--) {
      const out = pick(['softmax', 'linear', 'sigmoid', 'relu']), chained = outputs.length > 0 && rnd() < 0.3;
      outputs.push(L.dense({ units: ri(1, 5), activation: out }).apply(chained ? outputs[outputs.length - 1] : h));
      desc.push(`head Dense ${out}${chained ? ' on the head before' : ''}`);
    }
    return { model: tf.model({ inputs: trunks.map((tr) => tr.input), outputs }), inputs: trunks.map((tr) => ({ shape: tr.shape, tokens: tr.tokens })), desc };
  }

  /** A model with several inputs or outputs that tfjs can build and run on `batch` random inputs, with those inputs and tfjs's predictions (one [batch][...] per output). */
  function drawSeveral(batch: number, scale: number): RandomMultiModel & { xs: Float32Array[]; want: number[][][] } {
    for (;;) {
      try {
        const m = seededBuild(several);
        const xs = m.inputs.map((i) => Float32Array.from({ length: batch * i.shape.reduce((a, b) => a * b, 1) }, () => (i.tokens ? ri(0, 19) : (rnd() * 2 - 1) * scale)));
        const tensors = xs.map((x, k) => tf.tensor(x, [batch, ...m.inputs[k].shape]));
        const predicted = m.model.predict(tensors.length === 1 ? tensors[0] : tensors);
        return { ...m, xs, want: (Array.isArray(predicted) ? predicted : [predicted]).map((p: any) => p.arraySync()) };
      } catch {
        // tfjs could not build or run it: draw again
      }
    }
  }

  /** A model tfjs itself can build and run on `batch` random inputs, with those inputs and tfjs's predictions. */
  return Object.assign(function draw(batch: number, scale: number): RandomModel & { x: Float32Array; want: number[][] } {
    for (;;) {
      try {
        const m = seededBuild(one);
        const per = m.shape.reduce((a, b) => a * b, 1);
        const x = Float32Array.from({ length: batch * per }, () => (m.tokens ? ri(0, 19) : (rnd() * 2 - 1) * scale));
        const want = m.model.predict(tf.tensor(x, [batch, ...m.shape])).arraySync();
        return { ...m, x, want };
      } catch {
        // tfjs could not build or run it (shapes, an unimplemented mode): draw again
      }
    }
  }, { several: drawSeveral });
}
