// Dilated convolutions in a GraphModel as TensorFlow writes them (SpaceToBatchND, the
// convolution, BatchToSpaceND: lib/api/graph_model_atrous.ts) become convolutions with a
// dilation_rate. Keras's own predictions on the fixtures (dilated, tcn) are checked in
// graph_model_keras; here, what they become, and a group that is not a dilation refused.
import test from 'ava';

import * as tfe from '../lib';
import { fixtureArtifacts as artifacts, translatedLayers as layersOf } from './helpers/graph_fixtures';

test('space-to-batch convolutions become dilated ones, with the padding and cropping around them', (t) => {
  // TensorFlow pads to whole blocks and crops the excess after: the layers do the same.
  const convs = layersOf(artifacts('dilated')).filter((l) => /Conv|Padding|Cropping/.test(l.class_name));
  t.deepEqual(convs.map((l) => [l.class_name, l.config.dilation_rate ?? l.config.padding ?? l.config.cropping]), [
    ['ZeroPadding2D', [[2, 3], [2, 3]]], ['Conv2D', [2, 2]], ['Cropping2D', [[0, 1], [0, 1]]],
    ['ZeroPadding2D', [[0, 1], [0, 1]]], ['Conv2D', [2, 2]], ['Cropping2D', [[0, 1], [0, 1]]],
    ['ZeroPadding2D', [[2, 3], [2, 3]]], ['DepthwiseConv2D', [2, 2]], ['Cropping2D', [[0, 1], [0, 1]]],
  ]);
  const tcn = layersOf(artifacts('tcn')).filter((l) => /Conv/.test(l.class_name)).map((l) => l.config.dilation_rate);
  t.deepEqual(tcn, [[1, 1], [1, 2], [1, 4], [1, 3]]);
});

test('a space-to-batch group around a strided convolution is refused, naming its op', (t) => {
  const strided = artifacts('dilated', (nodes) => {
    const conv = nodes.find((n) => n.op === 'Conv2D' && (n.input ?? []).some((r) => /SpaceToBatchND/.test(r)))!;
    conv.attr!.strides = { list: { i: ['1', '2', '2', '1'] } };
  });
  t.throws(() => tfe.loadPlainModel(strided), { message: /\((SpaceToBatchND|BatchToSpaceND)\): supported only around one convolution at stride 1, VALID/ });
});
