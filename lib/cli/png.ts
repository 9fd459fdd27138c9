// A small PNG reader for `tfe predict --input digit.png`: 8-bit grayscale, gray+alpha, RGB and RGBA,
// non-interlaced (what image editors and MNIST exporters write). Returns gray levels in [0, 1].
import * as zlib from 'node:zlib';

const SIGNATURE = Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]);
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 4: 2, 6: 4 };

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

export function decodePng(buf: Buffer, name = 'image'): { width: number; height: number; gray: Float64Array } {
  if (buf.byteLength < 8 || !buf.subarray(0, 8).equals(SIGNATURE)) throw new Error(`${name} is not a PNG file`);
  let off = 8;
  let width = 0, height = 0, depth = 0, colour = 0, interlace = 0;
  const idat: Buffer[] = [];
  while (off + 8 <= buf.byteLength) {
    const len = buf.readUInt32BE(off);
    const type = buf.toString('latin1', off + 4, off + 8);
    if (off + 12 + len > buf.byteLength) throw new Error(`${name}: chunk ${type} is truncated`);
    const data = buf.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      depth = data[8];
      colour = data[9];
      interlace = data[12];
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    off += 12 + len;
  }
  const channels = CHANNELS[colour];
  if (!width || !height) throw new Error(`${name}: no IHDR chunk`);
  if (depth !== 8 || !channels || interlace !== 0)
    throw new Error(`${name}: only 8-bit, non-interlaced grayscale/RGB(A) PNGs are supported (depth ${depth}, colour type ${colour}, interlace ${interlace})`);
  if (width * height > 1 << 24) throw new Error(`${name}: ${width}x${height} is too large`);
  let raw: Buffer;
  try {
    raw = zlib.inflateSync(Buffer.concat(idat));
  } catch (e) {
    throw new Error(`${name}: image data is corrupt (${(e as Error).message})`);
  }
  const stride = width * channels;
  if (raw.byteLength < height * (stride + 1)) throw new Error(`${name}: image data is truncated`);
  const px = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? px[y * stride + x - channels] : 0;
      const b = y > 0 ? px[(y - 1) * stride + x] : 0;
      const c = x >= channels && y > 0 ? px[(y - 1) * stride + x - channels] : 0;
      const pred = filter === 0 ? 0 : filter === 1 ? a : filter === 2 ? b : filter === 3 ? (a + b) >> 1 : filter === 4 ? paeth(a, b, c) : -1;
      if (pred < 0) throw new Error(`${name}: unknown PNG filter ${filter} on row ${y}`);
      px[y * stride + x] = (line[x] + pred) & 255;
    }
  }
  const gray = new Float64Array(width * height);
  const colourChannels = channels >= 3 ? 3 : 1;
  for (let i = 0; i < width * height; i++) {
    let s = 0;
    for (let k = 0; k < colourChannels; k++) s += px[i * channels + k];
    gray[i] = s / colourChannels / 255;
  }
  return { width, height, gray };
}
