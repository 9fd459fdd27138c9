// ConvLSTM1D and ConvLSTM2D in float64: the plaintext twin of layers_conv_lstm.ts (the same
// settings, read by convLstmSettings), with the true activations: Keras's and tfjs's equations.
import type { LayerConfig } from './layers_graph';
import { refuse } from './layers_graph';
import { convLstmOut, convLstmSettings } from './layers_conv_lstm';
import { conv2dOp, plainAlloc, type PlainTensor } from './plain_kernels';
import type { PlainRun } from './plain_recurrent';

type Activation = (l: LayerConfig, name: unknown, o: { isOutput: boolean; keras3: boolean }) => ((v: number) => number) | undefined;
type Ctx = { w: (name: string) => Float64Array; keras3: boolean };

export function plainConvLstm(activation: Activation) {
  return (l: LayerConfig, { w, keras3 }: Ctx): PlainRun => {
    const s = convLstmSettings(l, keras3), f = s.filters, [kh, kw] = s.kernel;
    const fn = (name: string) => activation(l, name, { isOutput: false, keras3 }) ?? ((v: number) => v);
    const act = fn(s.activation), gate = fn(s.recurrentActivation);
    const kernel = w(`${l.config.name}/kernel`), recurrent = w(`${l.config.name}/recurrent_kernel`), bias = s.useBias ? w(`${l.config.name}/bias`) : undefined;
    const all = (xs: PlainTensor[]): PlainTensor[] => {
      const [x, ...init] = xs;
      const [n, steps] = x.shape, ch = x.shape[x.shape.length - 1];
      const [hIn, wIn] = s.dims === 1 ? [1, x.shape[2]] : [x.shape[2], x.shape[3]];
      const [ho, wo] = convLstmOut(s, hIn, wIn), cells = ho * wo * f;
      if (init.length && init.length !== 2) refuse(l, `takes an initial_state of 2 tensors (h and c), got ${init.length}`);
      const stateShape = s.dims === 1 ? [n, wo, f] : [n, ho, wo, f];
      let h = init.length ? Float64Array.from(init[0].data) : new Float64Array(n * cells);
      let c = init.length ? Float64Array.from(init[1].data) : new Float64Array(n * cells);
      const per = hIn * wIn * ch, outs = s.returnSequences ? plainAlloc(n * steps * cells) : undefined;
      for (let i = 0; i < steps; i++) {
        const t = s.goBackwards ? steps - 1 - i : i;
        const xt = plainAlloc(n * per);
        for (let b = 0; b < n; b++) xt.set(x.data.subarray((b * steps + t) * per, (b * steps + t + 1) * per), b * per);
        const zx = conv2dOp({ data: xt, shape: [n, hIn, wIn, ch] }, kernel, [kh, kw, ch, 4 * f], s.strides, s.same, bias).data;
        const zh = conv2dOp({ data: h, shape: [n, ho, wo, f] }, recurrent, [kh, kw, f, 4 * f], [1, 1], true).data;
        const hn = new Float64Array(n * cells), cn = new Float64Array(n * cells);
        for (let p = 0; p < n * ho * wo; p++)
          for (let j = 0; j < f; j++) {
            const z = (g: number) => zx[p * 4 * f + g * f + j] + zh[p * 4 * f + g * f + j];
            const cell = gate(z(1)) * c[p * f + j] + gate(z(0)) * act(z(2));
            cn[p * f + j] = cell;
            hn[p * f + j] = gate(z(3)) * act(cell);
          }
        [h, c] = [hn, cn];
        if (outs) for (let b = 0; b < n; b++) outs.set(h.subarray(b * cells, (b + 1) * cells), (b * steps + i) * cells);
      }
      const y = outs ? { data: outs, shape: [n, steps, ...stateShape.slice(1)] } : { data: h, shape: stateShape };
      return [y, ...(s.returnState ? [{ data: h, shape: stateShape }, { data: c, shape: stateShape }] : [])];
    };
    return Object.assign((xs: PlainTensor[]) => all(xs)[0], s.returnState ? { multi: all } : {});
  };
}
