// A small PNG reader for `tfe predict --input digit.png`: 8-bit grayscale, gray+alpha, RGB and RGBA,
// non-interlaced (what image editors and MNIST exporters write). Returns gray levels in [0, 1] (the
// mean of R, G and B) and the RGB values in [0, 1] (gray repeated for grayscale images); alpha is
// ignored. lib/cli/inputs.ts fits an image to a model's input shape (channels, resizing).
//
// The file may come from anyone, so every length is checked before it is used: chunk lengths
// against the file, IHDR's size, the declared dimensions against MAX_PIXELS, and the inflated
// image data against what IHDR declares (zlib stops at that many bytes, so a small "zlib bomb"
// cannot make us allocate hundreds of megabytes). Chunk CRCs are not checked: they guard against
// accidental corruption only (anyone crafting a file computes them), the image data has zlib's own
// Adler-32 check, and test/service_config.test.ts writes PNGs with zero CRCs.
import * as zlib from 'node:zlib';

const SIGNATURE = Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]);
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 4: 2, 6: 4 };
/** 2^24 pixels (4096 x 4096): far above any model input, and the buffers stay under ~200 MB. */
export const MAX_PIXELS = 2 ** 24;
/** The PNG spec's bound on a chunk's length (2^31 - 1). */
const MAX_CHUNK = 2 ** 31 - 1;

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

interface Header {
  width: number;
  height: number;
  channels: number;
}

function parseIhdr(data: Buffer, name: string): Header {
  if (data.byteLength !== 13) throw new Error(`${name}: IHDR is ${data.byteLength} bytes, expected 13`);
  const width = data.readUInt32BE(0), height = data.readUInt32BE(4);
  const [depth, colour, compression, filter, interlace] = data.subarray(8, 13);
  if (!width || !height) throw new Error(`${name}: PNG declares ${width}x${height}, an empty image`);
  if (width * height > MAX_PIXELS) throw new Error(`${name}: PNG declares ${width}x${height}, over the limit of ${MAX_PIXELS} pixels`);
  const channels = CHANNELS[colour];
  if (depth !== 8 || !channels || interlace !== 0)
    throw new Error(`${name}: only 8-bit, non-interlaced grayscale/RGB(A) PNGs are supported (depth ${depth}, colour type ${colour}, interlace ${interlace})`);
  if (compression !== 0 || filter !== 0) throw new Error(`${name}: unknown PNG compression method ${compression} or filter method ${filter}`);
  return { width, height, channels };
}

export function decodePng(buf: Buffer, name = 'image'): { width: number; height: number; gray: Float64Array; rgb: Float64Array } {
  if (buf.byteLength < 8 || !buf.subarray(0, 8).equals(SIGNATURE)) throw new Error(`${name} is not a PNG file`);
  let off = 8;
  let header: Header | undefined;
  let ended = false;
  const idat: Buffer[] = [];
  while (off < buf.byteLength) {
    if (off + 8 > buf.byteLength) throw new Error(`${name}: chunk header is truncated (at byte ${off}: ${buf.byteLength - off} bytes left, 8 needed)`);
    const len = buf.readUInt32BE(off);
    const type = buf.toString('latin1', off + 4, off + 8);
    if (!/^[A-Za-z]{4}$/.test(type)) throw new Error(`${name}: bad chunk type ${JSON.stringify(type)} at byte ${off}`);
    if (len > MAX_CHUNK) throw new Error(`${name}: chunk ${type} declares ${len} bytes, over the PNG limit of 2^31-1`);
    if (off + 12 + len > buf.byteLength)
      throw new Error(`${name}: chunk ${type} is truncated (at byte ${off}: it declares ${len} bytes of data and a 4-byte CRC, ${buf.byteLength - off - 8} bytes are left)`);
    const data = buf.subarray(off + 8, off + 8 + len);
    if (!header && type !== 'IHDR') throw new Error(`${name}: the first chunk is ${type}, expected IHDR`);
    if (type === 'IHDR') {
      if (header) throw new Error(`${name}: more than one IHDR chunk`);
      header = parseIhdr(data, name);
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') {
      ended = true;
      break;
    }
    off += 12 + len;
  }
  if (!header) throw new Error(`${name}: no IHDR chunk`);
  if (!ended) throw new Error(`${name}: no IEND chunk (the file is truncated)`);
  if (!idat.length) throw new Error(`${name}: no IDAT chunk (no image data)`);
  const { width, height, channels } = header;
  const stride = width * channels;
  // Exactly what IHDR declares: one filter byte per row plus the row's bytes. zlib refuses to
  // produce more (ERR_BUFFER_TOO_LARGE), so the output, not just the input, is bounded.
  const expected = height * (stride + 1);
  let raw: Buffer;
  try {
    raw = zlib.inflateSync(Buffer.concat(idat), { maxOutputLength: expected });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE')
      throw new Error(`${name}: image data inflates to more than the ${expected} bytes a ${width}x${height} image with ${channels} channel(s) holds`);
    throw new Error(`${name}: image data is corrupt (${(e as Error).message})`);
  }
  if (raw.byteLength < expected) throw new Error(`${name}: image data is truncated (${raw.byteLength} of ${expected} bytes)`);
  const px = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    if (filter > 4) throw new Error(`${name}: unknown PNG filter ${filter} on row ${y}`);
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? px[y * stride + x - channels] : 0;
      const b = y > 0 ? px[(y - 1) * stride + x] : 0;
      const c = x >= channels && y > 0 ? px[(y - 1) * stride + x - channels] : 0;
      const pred = filter === 0 ? 0 : filter === 1 ? a : filter === 2 ? b : filter === 3 ? (a + b) >> 1 : paeth(a, b, c);
      px[y * stride + x] = (line[x] + pred) & 255;
    }
  }
  const gray = new Float64Array(width * height);
  const rgb = new Float64Array(width * height * 3);
  const colourChannels = channels >= 3 ? 3 : 1;
  for (let i = 0; i < width * height; i++) {
    let s = 0;
    for (let k = 0; k < colourChannels; k++) s += px[i * channels + k];
    gray[i] = s / colourChannels / 255;
    for (let k = 0; k < 3; k++) rgb[i * 3 + k] = px[i * channels + (colourChannels === 3 ? k : 0)] / 255;
  }
  return { width, height, gray, rgb };
}
