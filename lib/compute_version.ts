// The version of what the three servers compute together: the PRG streams' layouts (ring, bits,
// z<p>, permutations), the DCF key layout, and the order and content of the messages the
// protocols' steps exchange. Two servers that differ in any of these give wrong answers without
// any error, and operators upgrade their servers one at a time, so every server link states it
// both ways (lib/net/handshake.ts for the accepting side, lib/net/dialer.ts for the dialing side)
// and a mismatch is refused, naming both versions. Bump it with any such change.
//   1: releases before 2026-11-30 (they send no version).
//   2: z<p> streams from 16-bit words (native/src/prg/streams.cc).
//   3: FSS gates of FSS_STEPS.compactFrom elements or more in the compact form (one-bit DCF keys
//      and a second opening; lib/protocol/fss/compact_gate.ts).
//   4: a relu, relu6 or leaky relu that feeds only a max pool runs after it, and a BatchNormalization right
//      after a linear layer has its scale folded into that layer (lib/api/layers_spec.ts,
//      poolFirst and foldBatchNorms): such models' parameters and op sequence changed.
//   5: SecureNN's DReLU takes one PrivateCompare, and its relu no Beaver product
//      (lib/protocol/securenn/drelu_one_compare.ts), instead of ShareConvert and ComputeMSB: other
//      messages in another order.
//   6: DCF keys, 64-bit and one-bit, stored in tiles of eight elements (native/src/fss/dcf.h
//      "Tiles") instead of row-major.
//   7: every query's session reserves its first op for the input's mask, and a leased query may
//      send its input masked (lib/serve/input_mask.ts): op ids shift, new messages.
//   8: server1 waits for the lease a query asked for (leaseNext) before it sends its mask share,
//      and server0 says in the query's session when it granted none (lib/serve/server.ts,
//      NEXT_LEASE_KEY): a new message.
//   9: a model deployed under FSS may carry a comparison width (fssBits) below 64, which every server
//      must apply alike (lib/protocol/fss/gate_common.ts, lowBits): a new deploy field.
//  10: the 'folded' FSS gate form, whose products right after a one-round relu fold into that
//      relu's keys (lib/protocol/fss/folded_product.ts): a new deploy value, other messages.
//  11: FSS gates compare only the bits their inputs can take, from bounds the model's structure
//      gives (lib/api/bounds.ts, lib/protocol/fss/gate_common.ts gateBits): other key sizes.
//  12: a query of an FSS model deployed with 'auto' gates starts with server2 announcing its gate
//      form, compact while queries find it busy dealing (lib/serve/gate_form.ts): a new message.
//  13: server2 asks server0 to reserve anew the indices of compact recordings a passed load left
//      (lib/serve/pool.ts, reservations.ts redeal): a new notice; and over far links a query
//      under load takes the form 'compact-large' (lib/serve/gate_form.ts): a new announced value.
//  14: a folded product's keys are one many-payload DCF key per gate element (and group of at
//      most 128 columns) instead of a two-payload key per cell (native/src/fss/dcf_many.cc,
//      lib/protocol/fss/folded_product.ts): other key messages.
//  15: server0's start notice names the request it admitted (lib/serve/messages.ts requestKey:
//      server1 and server2 run only that one), and server0 voids leases on server1 and server2 that
//      ended without a query there (notice 'unlease', lib/serve/leases.ts): new notice fields.
//  16: output shares re-randomised by a fresh sharing of zero before they go to their receiver
//      (lib/protocol/pond/share.ts output): a server without it, beside one with it, gave the
//      client x + R; and TfePolynomial's private coefficients (weights, { degree }): a new form.
//  17: under a narrowed fssBits, the comparisons of values the library makes from an activation's
//      input (the smooth activations' |x| less their knots, the clips' x - m) take the width
//      their structure gives, not fssBits (lib/api/ops_smooth.ts, layers_activations.ts): other
//      DCF keys for such a model. At every width, a smooth activation's knot comparisons take
//      their clamp's width (21 bits at fracBits 16), not 64: other keys for every such model. And a Keras 3 Sequential config without keras_version is known
//      as Keras 3 by its batch_shape or DTypePolicy dtypes (lib/api/layers_graph.ts): its
//      hard_sigmoid is Keras 3's.
//  18: a BatchNormalization whose scale is not folded into a linear layer before it, and Keras's
//      Normalization, share their per-channel scale with the part its encoding rounds away
//      (lib/api/layers_spec.ts scaleLow, layers_norm.ts scaled): one more parameter and product.
//      And a product with a small public constant (below 2^-6 at fracBits 16: Rescaling, Average)
//      takes the constant to 10 significant bits and truncates by as many more (ops_nonlinear.ts
//      mulConstant): other values in the shares.
//  19: a DepthwiseConv2D (and a Conv2D with one input channel per group) is a private depthwise
//      convolution on its own filter, not a Conv2D on a kernel expanded to every channel; a grouped
//      Conv2D or Conv1D a private grouped convolution; a wide SeparableConv2D or SeparableConv1D
//      two products (lib/api/layers_conv.ts, conv_kernels.ts separableInTwo); a resize one
//      truncation per axis (lib/api/ops_resize.ts); LayerNormalization's scale thresholds follow
//      epsilon (lib/api/ops_norm.ts); ConvNeXt's LayerScale is folded into the Dense before it
//      (lib/api/layers_spec.ts foldBatchNorms): such models' parameters and op sequence changed.
export const COMPUTE_VERSION = 19;

/** Why a server link between two compute versions is refused (`theirs`: what the peer stated, if anything). */
export function computeMismatch(peer: string, theirs: string | undefined): string {
  const v = theirs === undefined ? '1 or older (it states none)' : JSON.stringify(theirs.slice(0, 20));
  return `${peer} runs compute version ${v} and this server ${COMPUTE_VERSION} (PRG stream and DCF key layouts, protocol messages): the three servers must run releases of one compute version; upgrade them together`;
}
