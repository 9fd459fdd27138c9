// decodePng (tfe predict --input x.png) on crafted files: a valid image decodes to its exact
// pixels under every filter and colour type; a zlib bomb, a short IHDR, truncated chunks, huge
// dimensions and short image data are refused with errors that say what is wrong, before any large
// allocation.
import * as zlib from 'node:zlib';

import test from 'ava';

import { decodePng, MAX_PIXELS } from '../lib/cli/png';

const SIG = Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]);

/** CRC-32 as PNG uses it (zlib.crc32 is Node 20.15+; a table version for older Node 20). */
function crc32(b: Buffer): number {
  const z = (zlib as unknown as { crc32?: (b: Buffer) => number }).crc32;
  if (z) return z(b);
  let c = ~0;
  for (const x of b) {
    c ^= x;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return ~c >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])));
  return Buffer.concat([head, data, crc]);
}

function ihdr(width: number, height: number, colour = 0, depth = 8): Buffer {
  const h = Buffer.alloc(13);
  h.writeUInt32BE(width, 0);
  h.writeUInt32BE(height, 4);
  h[8] = depth;
  h[9] = colour;
  return h;
}

const CH: Record<number, number> = { 0: 1, 2: 3, 4: 2, 6: 4 };

/** Filtered scanlines of `rows` (bytes per row = width * channels), row y with filter filters[y]. */
function scanlines(rows: number[][], ch: number, filters: number[]): Buffer {
  const raw: number[] = [];
  rows.forEach((row, y) => {
    raw.push(filters[y % filters.length]);
    row.forEach((v, x) => {
      const a = x >= ch ? row[x - ch] : 0, b = y > 0 ? rows[y - 1][x] : 0, c = x >= ch && y > 0 ? rows[y - 1][x - ch] : 0;
      const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
      raw.push((v - [0, a, b, (a + b) >> 1, pa <= pb && pa <= pc ? a : pb <= pc ? b : c][filters[y % filters.length]]) & 255);
    });
  });
  return Buffer.from(raw);
}

function png(width: number, height: number, colour: number, idat: Buffer, opts: { header?: Buffer; idatChunks?: number } = {}): Buffer {
  const n = opts.idatChunks ?? 1;
  const parts = Array.from({ length: n }, (_, i) => idat.subarray(Math.floor((i * idat.length) / n), Math.floor(((i + 1) * idat.length) / n)));
  return Buffer.concat([SIG, chunk('IHDR', opts.header ?? ihdr(width, height, colour)), ...parts.map((p) => chunk('IDAT', p)), chunk('IEND', Buffer.alloc(0))]);
}

const randomRows = (h: number, bytesPerRow: number) => Array.from({ length: h }, () => Array.from({ length: bytesPerRow }, () => Math.floor(Math.random() * 256)));

test('valid images decode to their exact pixels: every filter, every colour type, split IDAT', (t) => {
  const w = 7, h = 5;
  for (const colour of [0, 2, 4, 6]) {
    const ch = CH[colour];
    const rows = randomRows(h, w * ch);
    const img = decodePng(png(w, h, colour, zlib.deflateSync(scanlines(rows, ch, [0, 1, 2, 3, 4])), { idatChunks: 3 }), 'c.png');
    t.deepEqual([img.width, img.height], [w, h]);
    const colours = ch >= 3 ? 3 : 1; // alpha is ignored
    const want = rows.flat().filter((_, i) => i % ch < colours);
    const sums = Array.from({ length: w * h }, (_, i) => want.slice(i * colours, (i + 1) * colours).reduce((a, b) => a + b, 0));
    t.deepEqual([...img.gray].map((g) => Math.round(g * 255 * colours)), sums, `colour type ${colour}`);
  }
  // A 28x28 MNIST-sized digit: the gray levels come back exactly.
  const digit = randomRows(28, 28);
  t.deepEqual([...decodePng(png(28, 28, 0, zlib.deflateSync(scanlines(digit, 1, [4]))), 'd.png').gray], digit.flat().map((v) => v / 255));
});

test('a zlib bomb is refused at the size IHDR declares, without inflating it', (t) => {
  // 64 MiB of zeros deflate to ~64 KB; IHDR says 28x28 gray, which is 812 bytes of scanlines.
  const bomb = zlib.deflateSync(Buffer.alloc(64 * 2 ** 20), { level: 9 });
  t.true(bomb.length < 100_000, `${bomb.length}-byte bomb`);
  const file = png(28, 28, 0, bomb);
  const before = process.memoryUsage().arrayBuffers;
  t.throws(() => decodePng(file, 'bomb.png'), { message: 'bomb.png: image data inflates to more than the 812 bytes a 28x28 image with 1 channel(s) holds' });
  // Had it inflated, 64 MiB would have been allocated (and freed later by GC); zlib stopped at 812.
  const grew = process.memoryUsage().arrayBuffers - before;
  t.true(grew < 16 * 2 ** 20, `array buffers grew by ${grew} bytes`);
  // A big image whose IHDR matches its data (1024 x 1024 of zeros, 1 MiB + 1024 filter bytes) decodes.
  const zeros = decodePng(png(1024, 1024, 0, zlib.deflateSync(Buffer.alloc(1024 * 1025)))).gray;
  t.true(zeros.length === 1024 * 1024 && zeros.every((g) => g === 0));
  // One byte more than IHDR declares is already refused: the bound is exact.
  t.throws(() => decodePng(png(1024, 1024, 0, zlib.deflateSync(Buffer.alloc(1024 * 1025 + 1))), 'y.png'), { message: /^y\.png: image data inflates to more than the 1049600 bytes/ });
});

test('short IHDR, truncated chunks and out-of-limit dimensions give clear errors', (t) => {
  const rows = randomRows(4, 4);
  const good = png(4, 4, 0, zlib.deflateSync(scanlines(rows, 1, [0])));
  const err = (b: Buffer) => {
    try {
      decodePng(b, 'x.png');
    } catch (e) {
      t.false(e instanceof RangeError, `a raw RangeError: ${(e as Error).message}`);
      return (e as Error).message;
    }
    return 'decoded';
  };
  // IHDR of 5 bytes (the old reader threw a raw RangeError reading past it).
  t.is(err(png(4, 4, 0, Buffer.alloc(0), { header: ihdr(4, 4).subarray(0, 5) })), 'x.png: IHDR is 5 bytes, expected 13');
  t.is(err(png(4, 4, 0, Buffer.alloc(0), { header: Buffer.concat([ihdr(4, 4), Buffer.alloc(3)]) })), 'x.png: IHDR is 16 bytes, expected 13');
  // Cut inside the IDAT chunk, inside a chunk header, and before IEND.
  t.is(err(good.subarray(0, 8 + 25 + 10)), 'x.png: chunk IDAT is truncated (at byte 33: it declares ' + (good.readUInt32BE(33)) + ' bytes of data and a 4-byte CRC, 2 bytes are left)');
  t.is(err(good.subarray(0, 8 + 25 + 3)), 'x.png: chunk header is truncated (at byte 33: 3 bytes left, 8 needed)');
  t.is(err(good.subarray(0, good.length - 12)), 'x.png: no IEND chunk (the file is truncated)');
  // A chunk that claims 4 GB.
  const huge = Buffer.from(good);
  huge.writeUInt32BE(0xfffffff0, 33);
  t.regex(err(huge), /^x\.png: chunk IDAT declares 4294967280 bytes, over the PNG limit of 2\^31-1$/);
  // Dimensions: zero, over 2^24 pixels, and 2^32-1 (the product would overflow 32-bit arithmetic).
  t.is(err(png(0, 4, 0, Buffer.alloc(0))), 'x.png: PNG declares 0x4, an empty image');
  t.is(err(png(8192, 8192, 0, Buffer.alloc(0))), `x.png: PNG declares 8192x8192, over the limit of ${MAX_PIXELS} pixels`);
  t.is(err(png(0xffffffff, 0xffffffff, 0, Buffer.alloc(0))), `x.png: PNG declares 4294967295x4294967295, over the limit of ${MAX_PIXELS} pixels`);
  // Image data shorter than IHDR declares, corrupt, or with an unknown row filter.
  t.is(err(png(4, 4, 0, zlib.deflateSync(scanlines(rows.slice(0, 3), 1, [0])))), 'x.png: image data is truncated (15 of 20 bytes)');
  t.regex(err(png(4, 4, 0, Buffer.from('not zlib data'))), /^x\.png: image data is corrupt \(/);
  t.is(err(png(4, 4, 0, zlib.deflateSync(scanlines(rows, 1, [0]).fill(9, 0, 1)))), 'x.png: unknown PNG filter 9 on row 0');
  // Unsupported formats and chunk order.
  t.regex(err(png(4, 4, 0, Buffer.alloc(0), { header: ihdr(4, 4, 0, 16) })), /only 8-bit, non-interlaced grayscale\/RGB\(A\) PNGs are supported \(depth 16/);
  t.is(err(Buffer.concat([SIG, chunk('IDAT', Buffer.alloc(1)), good.subarray(8)])), 'x.png: the first chunk is IDAT, expected IHDR');
  t.is(err(Buffer.concat([SIG, chunk('IHDR', ihdr(4, 4)), chunk('IEND', Buffer.alloc(0))])), 'x.png: no IDAT chunk (no image data)');
  t.is(err(Buffer.from('GIF89a')), 'x.png is not a PNG file');
  t.is(err(good), 'decoded');
});
