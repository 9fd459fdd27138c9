// ConvLSTM1D, ConvLSTM2D and ConvLSTM3D in float64: the plaintext twin of layers_conv_lstm.ts (the
// same settings, read by convLstmSettings), with the true activations: Keras's and tfjs's equations.
import type { LayerConfig } from './layers_graph';
import { refuse } from './layers_graph';
import { convLstmOut, convLstmSettings, convLstmSpace } from './layers_conv_lstm';
import { plainConv3d } from './plain_3d';
import { conv2dOp, plainAlloc, type PlainTensor } from './plain_kernels';
import type { PlainRun } from './plain_recurrent';

type Activation = (l: LayerConfig, name: unknown, o: { isOutput: boolean; keras3: boolean }) => ((v: number) => number) | undefined;
type Ctx = { w: (name: string) => Float64Array; keras3: boolean };

export function plainConvLstm(activation: Activation) {
  return (l: LayerConfig, { w, keras3 }: Ctx): PlainRun => {
    const s = convLstmSettings(l, keras3), f = s.filters;
    const fn = (name: string) => activation(l, name, { isOutput: false, keras3 }) ?? ((v: number) => v);
    const act = fn(s.activation), gate = fn(s.recurrentActivation);
    const kernel = w(`${l.config.name}/kernel`), recurrent = w(`${l.config.name}/recurrent_kernel`), bias = s.useBias ? w(`${l.config.name}/bias`) : undefined;
    // A convolution of [n, ...space, ch] by k [...s.kernel, ch, 4F]: Conv2D's (1-D: a height-1 image), or Conv3D's.
    const conv3 = (k: Float64Array, strides: number[], same: boolean, b?: Float64Array) =>
      plainConv3d({ class_name: 'Conv3D', config: { name: l.config.name, filters: 4 * f, kernel_size: s.kernel, strides, padding: same ? 'same' : 'valid', dilation_rate: [1, 1, 1] } }, k, b, undefined);
    const conv = (x: PlainTensor, k: Float64Array, ch: number, strides: number[], same: boolean, b?: Float64Array) =>
      s.dims === 3 ? conv3(k, strides, same, b)([x]) : conv2dOp(x, k, [s.kernel[0], s.kernel[1], ch, 4 * f], strides as [number, number], same, b);
    const all = (xs: PlainTensor[]): PlainTensor[] => {
      const [x, ...init] = xs;
      const [n, steps] = x.shape, ch = x.shape[x.shape.length - 1];
      const space = convLstmSpace(s, x.shape), out = convLstmOut(s, space);
      const cells = out.reduce((a, d) => a * d, f), points = cells / f;
      if (init.length && init.length !== 2) refuse(l, `takes an initial_state of 2 tensors (h and c), got ${init.length}`);
      const stateShape = s.dims === 1 ? [n, out[1], f] : [n, ...out, f];
      let h = init.length ? Float64Array.from(init[0].data) : new Float64Array(n * cells);
      let c = init.length ? Float64Array.from(init[1].data) : new Float64Array(n * cells);
      const per = space.reduce((a, d) => a * d, ch), outs = s.returnSequences ? plainAlloc(n * steps * cells) : undefined;
      for (let i = 0; i < steps; i++) {
        const t = s.goBackwards ? steps - 1 - i : i;
        const xt = plainAlloc(n * per);
        for (let b = 0; b < n; b++) xt.set(x.data.subarray((b * steps + t) * per, (b * steps + t + 1) * per), b * per);
        const zx = conv({ data: xt, shape: [n, ...space, ch] }, kernel, ch, s.strides, s.same, bias).data;
        const zh = conv({ data: h, shape: [n, ...out, f] }, recurrent, f, out.map(() => 1), true).data;
        const hn = new Float64Array(n * cells), cn = new Float64Array(n * cells);
        for (let p = 0; p < n * points; p++)
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
