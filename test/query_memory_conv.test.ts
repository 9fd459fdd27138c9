// The per-query memory estimate (lib/serve/query_memory.ts) of the convolutions whose kernels the
// owner expands (lib/api/layers_conv.ts): a dilated Conv2D or Conv1D runs as an ordinary one on a
// kernel of (k - 1) d + 1 taps per axis, a DepthwiseConv2D as a depthwise convolution (one kernel:
// its input and its output), a SeparableConv2D as a depthwise convolution then a 1x1 Conv2D (or, folded, a Conv2D). Each must be estimated at least as what it
// runs as; the estimate used to read the undilated kernel_size and to leave the depthwise layers
// to its default case (their output shape unchanged, no im2col), so such a model's queries could
// use many times what maxQueryBytes was told.
import test from 'ava';

import { estimateQueryBytes } from '../lib/serve/limits';
import { PATCH_CHUNK_VALUES } from '../lib/protocol/correlated';

const IN = [64, 64, 4];
const model = (layer: { class_name: string; config: Record<string, unknown> }) => ({
  class_name: 'Sequential',
  config: { layers: [{ ...layer, config: { name: 'c', batch_input_shape: [null, ...IN], ...layer.config } }, { class_name: 'Flatten', config: { name: 'f' } }] },
});
const est = (layer: { class_name: string; config: Record<string, unknown> }, protocol: 'securenn' | 'fss' | 'pond' = 'securenn') =>
  estimateQueryBytes({ topology: model(layer) as never, protocol, inputShape: IN }, 1);
const none = est({ class_name: 'Flatten', config: {} });

test('a dilated Conv2D is estimated as the Conv2D on its dilated kernel that it runs as', (t) => {
  for (const padding of ['valid', 'same']) {
    const dilated = est({ class_name: 'Conv2D', config: { filters: 8, kernel_size: [3, 3], dilation_rate: [8, 8], padding } });
    const runs = est({ class_name: 'Conv2D', config: { filters: 8, kernel_size: [17, 17], padding } });
    t.is(dilated, runs, padding);
    // im2col of the effective kernel alone: (VALID) 48 x 48 outputs x 17 x 17 taps x 4 channels, 8 bytes each.
    const out = padding === 'valid' ? 48 : 64;
    t.true(dilated - none >= 8 * out * out * 17 * 17 * 4, `${padding}: ${dilated - none}`);
  }
});

test('a dilated Conv1D is estimated as the Conv1D on its dilated kernel', (t) => {
  const topo = (c: Record<string, unknown>) => ({ class_name: 'Sequential', config: { layers: [{ class_name: 'Conv1D', config: { name: 'c', batch_input_shape: [null, 512, 4], filters: 8, ...c } }] } });
  const e = (c: Record<string, unknown>) => estimateQueryBytes({ topology: topo(c) as never, protocol: 'fss', inputShape: [512, 4] }, 1);
  t.is(e({ kernel_size: [3], dilation_rate: [50], padding: 'causal' }), e({ kernel_size: [101], padding: 'causal' }));
  t.is(e({ kernel_size: 3, dilation_rate: 50 }), e({ kernel_size: 101 }));
});

test('DepthwiseConv2D is estimated as its input and its C m outputs (one kernel, no patches); SeparableConv2D as that then a 1x1 Conv2D, or folded as a Conv2D', (t) => {
  for (const protocol of ['securenn', 'fss', 'pond'] as const) {
    const depthwise = est({ class_name: 'DepthwiseConv2D', config: { kernel_size: [5, 5], depth_multiplier: 3, strides: [2, 2], padding: 'same', activation: 'relu' } }, protocol);
    // Not the taps: a 3x3 kernel of the same output costs as much; the input and the output do count.
    t.is(depthwise, est({ class_name: 'DepthwiseConv2D', config: { kernel_size: [3, 3], depth_multiplier: 3, strides: [2, 2], padding: 'same', activation: 'relu' } }, protocol), protocol);
    t.true(depthwise - none >= 8 * (64 * 64 * 4 + 32 * 32 * 12), `${protocol}: ${depthwise - none}`);
    t.true(depthwise < est({ class_name: 'Conv2D', config: { filters: 12, kernel_size: [5, 5], strides: [2, 2], padding: 'same', activation: 'relu' } }, protocol), protocol);
    // A Conv2D with one input channel per group (ConvNeXt's) runs as the same depthwise convolution.
    t.is(est({ class_name: 'Conv2D', config: { filters: 12, groups: 4, kernel_size: [5, 5], strides: [2, 2], padding: 'same', activation: 'relu' } }, protocol), depthwise, protocol);
    // A narrow SeparableConv2D (9 x 9 taps, 16 filters: folded by the owner) as the full Conv2D it
    // runs as; a wide one (64 filters: two products) as the depthwise convolution on its dilated
    // kernel (C m = 4 channels), then a 1x1 Conv2D from those to its filters.
    const separable = (filters: number) => est({ class_name: 'SeparableConv2D', config: { filters, kernel_size: [3, 3], dilation_rate: [4, 4], padding: 'valid', activation: 'relu' } }, protocol);
    t.is(separable(16), est({ class_name: 'Conv2D', config: { filters: 16, kernel_size: [9, 9], padding: 'valid', activation: 'relu' } }, protocol), protocol);
    const layers = [
      { class_name: 'DepthwiseConv2D', config: { name: 'd', batch_input_shape: [null, ...IN], kernel_size: [9, 9], padding: 'valid' } },
      { class_name: 'Conv2D', config: { name: 'p', filters: 64, kernel_size: [1, 1], activation: 'relu' } },
      { class_name: 'Flatten', config: { name: 'f' } },
    ];
    t.is(separable(64), estimateQueryBytes({ topology: { class_name: 'Sequential', config: { layers } } as never, protocol, inputShape: IN }, 1), protocol);
  }
  // Without a depth_multiplier (Keras's default, 1): C outputs.
  t.is(est({ class_name: 'DepthwiseConv2D', config: { kernel_size: 3, depth_multiplier: 1 } }), est({ class_name: 'DepthwiseConv2D', config: { kernel_size: 3 } }));
  t.true(est({ class_name: 'DepthwiseConv2D', config: { kernel_size: 3, depth_multiplier: 2 } }) > est({ class_name: 'DepthwiseConv2D', config: { kernel_size: 3 } }));
});

test('a Functional model is estimated along its edges: each input its own shape, each call of a shared layer counted, a concatenation its width', (t) => {
  const ref = (name: string, node = 0) => [name, node, 0, {}];
  const input = (name: string, shape: number[]) => ({ class_name: 'InputLayer', name, config: { name, batch_input_shape: [null, ...shape] }, inbound_nodes: [] });
  const conv = { class_name: 'Conv2D', name: 'c', config: { name: 'c', filters: 8, kernel_size: [3, 3], activation: 'relu' } };
  const functional = (calls: unknown[][], extra: object[] = [], inputs = [['img', 0, 0]], outputs = [['c', calls.length - 1, 0]]) => ({
    class_name: 'Functional',
    config: { name: 'f', layers: [input('img', [16, 16, 3]), input('meta', [5]), { ...conv, inbound_nodes: calls }, ...extra], input_layers: inputs, output_layers: outputs },
  });
  const est = (topology: object, inputShape: number[]) => estimateQueryBytes({ topology: topology as never, protocol: 'securenn', inputShape }, 2);
  const once = est(functional([[ref('img')]]), [16, 16, 3]);
  // The same conv on its own output (8 channels in): counted as two distinct convs of its settings would be.
  const twice = est(functional([[ref('img')], [ref('c')]]), [16, 16, 3]);
  const distinct = est(functional([[ref('img')]], [{ ...conv, name: 'c2', config: { ...conv.config, name: 'c2' }, inbound_nodes: [[ref('c')]] }], [['img', 0, 0]], [['c2', 0, 0]]), [16, 16, 3]);
  t.is(twice, distinct);
  t.true(twice > once, `twice ${twice} vs once ${once}`);
  // Two inputs: the conv reads the image's shape, not the packed [16*16*3 + 5] the servers get.
  const dense = { class_name: 'Dense', name: 'd', config: { name: 'd', units: 4 }, inbound_nodes: [[ref('meta')]] };
  const cat = { class_name: 'Concatenate', name: 'k', config: { name: 'k', axis: -1 }, inbound_nodes: [[ref('f'), ref('d')]] };
  const flat = { class_name: 'Flatten', name: 'f', config: { name: 'f' }, inbound_nodes: [[ref('c')]] };
  const out = { class_name: 'Dense', name: 'o', config: { name: 'o', units: 1000, activation: 'relu' }, inbound_nodes: [[ref('k')]] };
  const two = est(functional([[ref('img')]], [flat, dense, cat, out], [['img', 0, 0], ['meta', 0, 0]], [['o', 0, 0]]), [16 * 16 * 3 + 5]);
  t.true(Number.isFinite(two) && two > once, `two inputs: ${two}`);
});

// A resize changes the shape every later layer is estimated at (it fell to the default case,
// which keeps the input's shape), and a resize keeps its gathers and products per tap and axis.
test('Resizing and UpSampling2D are estimated at their output shape, with what a resize keeps per tap', (t) => {
  const big = est({ class_name: 'Resizing', config: { height: 256, width: 256 } });
  const nearest = est({ class_name: 'Resizing', config: { height: 256, width: 256, interpolation: 'nearest' } });
  // The four weighted corners alone: 256 x 256 x 4 channels, 8 bytes each, four times.
  t.true(big - none >= 4 * 8 * 256 * 256 * 4, `${big - none}`);
  t.true(nearest - none >= 8 * 256 * 256 * 4 && nearest < big, `${nearest - none}`);
  t.is(est({ class_name: 'UpSampling2D', config: { size: [4, 4], interpolation: 'bilinear' } }), big);
  // Four taps per axis (bicubic) keep more; an area shrink by 8 covers 9 input rows per output row.
  const bicubic = est({ class_name: 'Resizing', config: { height: 256, width: 256, interpolation: 'bicubic' } });
  t.true(bicubic - none >= 8 * 8 * 256 * 256 * 4 && bicubic > big, `${bicubic - none}`);
  const area = est({ class_name: 'Resizing', config: { height: 8, width: 8, interpolation: 'area' } });
  t.true(area - none >= 9 * 8 * 8 * 64 * 4, `${area - none}`);
});

test('a Conv3D is estimated as its gathered patches and one product; 3-D pools as their windows', (t) => {
  const vol = [16, 12, 10, 3];
  const est3 = (layer: { class_name: string; config: Record<string, unknown> }) =>
    estimateQueryBytes({ topology: { class_name: 'Sequential', config: { layers: [{ ...layer, config: { name: 'c', batch_input_shape: [null, ...vol], ...layer.config } }, { class_name: 'Flatten', config: { name: 'f' } }] } } as never, protocol: 'securenn', inputShape: vol }, 1);
  const flat = est3({ class_name: 'Flatten', config: {} });
  for (const padding of ['valid', 'same']) {
    const conv = est3({ class_name: 'Conv3D', config: { filters: 4, kernel_size: 3, padding } });
    // The patches alone: (VALID) 14 x 10 x 8 voxels x 27 taps x 3 channels, 8 bytes each.
    const voxels = padding === 'valid' ? 14 * 10 * 8 : 16 * 12 * 10;
    t.true(conv - flat >= 8 * voxels * 27 * 3, `${padding}: ${conv - flat}`);
  }
  // Windows of 8: each gathered (max) or summed (average), above the output alone.
  for (const cls of ['MaxPooling3D', 'AveragePooling3D']) t.true(est3({ class_name: cls, config: { pool_size: 2 } }) - flat >= 8 * 8 * 6 * 5 * 8 * 3, cls);
});

test("a large Conv3D's patches count as the chunks they are gathered in, not the whole im2col", (t) => {
  // keras.io's CT-scan classifier at its size, second convolution: 60 x 60 x 62 voxels x 27 taps x
  // 64 channels = 385 M patch values (3 GB), gathered PATCH_CHUNK_VALUES at a time.
  const vol = [62, 62, 64, 64];
  const est3 = (batch: number) => estimateQueryBytes({ topology: { class_name: 'Sequential', config: { layers: [{ class_name: 'Conv3D', config: { name: 'c', batch_input_shape: [null, ...vol], filters: 64, kernel_size: 3 } }] } } as never, protocol: 'fss', inputShape: vol }, batch);
  const outputs = 60 * 60 * 62 * 64;
  for (const batch of [1, 4]) {
    const e = est3(batch);
    t.true(e >= 8 * batch * 4 * outputs + 8 * 2 * 2 * PATCH_CHUNK_VALUES, `batch ${batch}: ${e} below the products and two chunks`);
    t.true(e < 8 * batch * (60 * 60 * 62 * 27 * 64), `batch ${batch}: ${e} counts the whole patches`);
  }
});
