// tfjs-encrypted: private machine learning on secret-shared tensors.
//
// The top level mirrors tf-encrypted: define private inputs, compute with tfe ops, define
// outputs. `ring` holds the ring-tensor core the protocols are built on.
export * as ring from './ring';
export { RingTensor } from './tensor/ring_tensor';
export { info, cpuInfo, memory, setNumThreads, type BackendInfo } from './info';
export { randomSeed } from './prg/prg';

export { local, getCluster, setProtocol, getProtocol, type ProtocolName } from './api/session';
export { definePrivateInput, definePrivateVariable, definePublicInput, defineOutput, type Decoded, type Provider } from './api/define';
export { PrivateTensor, PublicTensor, type AnyTensor } from './api/tensor';
export { tidy } from './api/tidy';
export { loadLayersModel, loadPlainModel, PrivateModel, type LayersModelJson, type LoadOptions, type ModelArtifacts, type ModelSource, type ReadOptions } from './api/model';
export type { InputShapes } from './api/input_shapes';
export type { ClientInput, OneInput } from './api/client_input';
export { plainModel, applyFinal, type PlainModel, type PlainTensor } from './api/plain_forward';
export { compareOutputs, rangeCheck, type Samples, type VerifyOptions, type VerifyReport, type LayerRange } from './api/verify';
export type { TensorValue, NestedArray } from './api/values';
export { add, sub, neg, reshape, flatten, transpose, slice, pad, reduceSum, concat } from './api/ops';
export { mul, square, matmul, conv2d, depthwiseConv2d, avgPool2d, polynomial, relu, sigmoid, tanh, swish, softplus, elu, selu, gelu, mish, reveal, type Conv2DOptions } from './api/ops_nonlinear';
export { conv3d, conv3dTranspose, type Conv3DOptions } from './api/ops_conv3d';
export { softsign } from './api/ops_softsign';
export { softmax } from './api/ops_softmax';
export { less, greater, greaterEqual, equalZero, reduceMax, argmax, maxPool2d } from './api/comparison_ops';
export { reluPolynomial, SIGMOID_POLY, TANH_POLY, evalPolynomial, type Polynomial } from './protocol/pond/activations';

export { Cluster, type ClusterOptions, DEFAULT_PLAYERS } from './protocol/cluster';
export type { FssGate, SecureNNDrelu } from './protocol/protocols';
export { type DeviceOption, resolveDevice } from './backend/backends';
export { Party, SERVER0, SERVER1, SERVER2, type FixedPointConfig } from './protocol/party';
export { SeededProvider, type CorrelatedRandomness } from './protocol/correlated';
export { Transport, type Payload, type Tag, type TrafficReport, type OpTraffic, type PartyName } from './net/transport';
export { MemoryTransport } from './net/memory_transport';
export { WebSocketTransport } from './net/ws_transport';
export { WsEndpoint, type WsEndpointOptions, type PeerAddress } from './net/ws_endpoint';

export { PredictionClient, type Prediction, type ClientOptions } from './serve/client';
export type { FinalActivation } from './browser/outputs';
export { TfeServer } from './serve/server';
export { loadClusterConfig, parseClusterConfig, type ClusterConfig } from './serve/config';
export { writeLocalConfig, spawnCluster, stopCluster, startLocalCluster, waitReady, ServerExitedError } from './serve/local_cluster';
export type { LocalCluster, LocalClusterOptions, ServerProcess } from './serve/local_cluster';
