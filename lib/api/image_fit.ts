// How an image becomes a model's input, shared by `tfe predict --input x.png` (lib/cli/inputs.ts)
// and the clients' ImageData and canvases (client_input.ts), so that all read an
// image alike: the model's input shape gives the size and the channels (one: the gray level, the
// mean of R, G and B; three: R, G and B; values in [0, 1]), and an image of another size is
// resized by area averaging. No Node built-in here: the browser bundle imports it.

/** The image geometry a model input shape asks for: height, width, channels. */
export function imageGeometry(inputShape: readonly number[]): { h: number; w: number; c: number } {
  const s = inputShape;
  if (s.length === 3 && (s[2] === 1 || s[2] === 3)) return { h: s[0], w: s[1], c: s[2] };
  if (s.length === 2) return { h: s[0], w: s[1], c: 1 };
  if (s.length === 1) {
    const side = Math.round(Math.sqrt(s[0])), side3 = Math.round(Math.sqrt(s[0] / 3));
    if (side * side === s[0]) return { h: side, w: side, c: 1 };
    if (3 * side3 * side3 === s[0]) return { h: side3, w: side3, c: 3 };
  }
  throw new Error(`the model's input [${s}] is not an image (expected [h, w, 1 or 3], [h, w], or a flat square [h*w] or [h*w*3]); give the input as JSON`);
}

/** For each output index, the input indices it covers and their weights (summing to 1). */
function areaWeights(inN: number, outN: number): { j: number; w: number }[][] {
  const scale = inN / outN;
  return Array.from({ length: outN }, (_, i) => {
    const start = i * scale, end = (i + 1) * scale;
    const out: { j: number; w: number }[] = [];
    for (let j = Math.floor(start); j < Math.min(Math.ceil(end), inN); j++) {
      const overlap = Math.min(end, j + 1) - Math.max(start, j);
      if (overlap > 1e-12) out.push({ j, w: overlap / scale });
    }
    return out;
  });
}

/** Resizes an [h, w, c] image (row-major, channels last) to [oh, ow, c] by area averaging. */
export function resizeArea(data: Float64Array, h: number, w: number, c: number, oh: number, ow: number): Float64Array {
  if (h === oh && w === ow) return data;
  const ys = areaWeights(h, oh), xs = areaWeights(w, ow);
  const out = new Float64Array(oh * ow * c);
  for (let oy = 0; oy < oh; oy++)
    for (let ox = 0; ox < ow; ox++)
      for (const { j: iy, w: wy } of ys[oy])
        for (const { j: ix, w: wx } of xs[ox])
          for (let k = 0; k < c; k++) out[(oy * ow + ox) * c + k] += wy * wx * data[(iy * w + ix) * c + k];
  return out;
}
