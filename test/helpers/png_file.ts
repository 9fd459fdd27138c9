// An 8-bit PNG written by hand for the input tests (zero CRCs: decodePng does not check them),
// every row unfiltered (filter 0). colour: 0 gray, 2 RGB, 6 RGBA; px row-major, channels last.
import * as zlib from 'node:zlib';

export function pngFile(width: number, height: number, colour: 0 | 2 | 6, px: ArrayLike<number>): Buffer {
  const ch = colour === 0 ? 1 : colour === 2 ? 3 : 4;
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    return Buffer.concat([len, Buffer.from(type, 'latin1'), data, Buffer.alloc(4)]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = colour;
  const rows = Buffer.alloc(height * (1 + width * ch));
  for (let y = 0; y < height; y++) for (let i = 0; i < width * ch; i++) rows[y * (1 + width * ch) + 1 + i] = px[y * width * ch + i];
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(rows)), chunk('IEND', Buffer.alloc(0))]);
}
