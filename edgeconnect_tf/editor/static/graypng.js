// The editor's edge maps as gray PNG files, at 16 bits (a canvas decodes any PNG to 8 bits):
// the server sends its edge map as a 16-bit gray PNG and Repaint sends the edited map back as
// one (edgeconnect_tf/deploy/saved_model.py: encode_edge_png, decode_edge_png). A classic
// script: it defines its functions on the page's global object.
//   decodeGrayPNG(bytes)   an 8- or 16-bit gray, non-interlaced PNG -> an edge map
//   encodeGray16PNG(map)   an edge map -> a 16-bit gray PNG (Uint8Array; filter 0, deflate)
// An edge map is {width, height, values: Uint16Array [height·width] of 0–65535}; 8-bit
// files are scaled by 257 (255 -> 65535), as TensorFlow's decode_png(dtype=uint16) does.
"use strict";

const PNG_SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

// CRC-32 (ISO 3309, as PNG's chunks use) of `bytes` (Uint8Array), an unsigned 32-bit number.
const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c;
});
function crc32(bytes) {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// Uint8Array through a CompressionStream or DecompressionStream -> Uint8Array.
async function throughStream(bytes, transform) {
  return new Uint8Array(await new Response(new Blob([bytes]).stream().pipeThrough(transform))
    .arrayBuffer());
}

// PNG's Paeth predictor of a pixel from its left (a), upper (b) and upper-left (c) bytes.
function paeth(a, b, c) {
  const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

// PNG file bytes (Uint8Array) -> edge map. Throws on any other kind of PNG.
async function decodeGrayPNG(bytes) {
  if (PNG_SIGNATURE.some((b, i) => bytes[i] !== b)) throw new Error("not a PNG file");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let header = null;
  const parts = [];
  for (let at = 8; at + 8 <= bytes.length;) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    const data = bytes.subarray(at + 8, at + 8 + length);
    if (type === "IHDR") {
      header = { width: view.getUint32(at + 8), height: view.getUint32(at + 12), depth: data[8],
        color: data[9], interlace: data[12] };
    } else if (type === "IDAT") parts.push(data);
    else if (type === "IEND") break;
    at += 12 + length;  // length, type, data, CRC
  }
  if (!header || header.color !== 0 || header.interlace !== 0 || ![8, 16].includes(header.depth)) {
    throw new Error("the edge map is not an 8- or 16-bit gray, non-interlaced PNG");
  }
  const { width, height, depth } = header;
  const raw = await throughStream(new Blob(parts), new DecompressionStream("deflate"));
  const bpp = depth / 8, stride = width * bpp;  // bytes per pixel and per row (no filter byte)
  if (raw.length < height * (stride + 1)) throw new Error("the edge map's PNG is truncated");
  const rows = new Uint8Array(height * stride);  // unfiltered, row after row
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)], line = raw.subarray(y * (stride + 1) + 1);
    if (filter > 4) throw new Error(`unknown PNG row filter ${filter}`);
    const row = rows.subarray(y * stride, (y + 1) * stride);
    const up = y ? rows.subarray((y - 1) * stride, y * stride) : new Uint8Array(stride);
    for (let i = 0; i < stride; i++) {  // the five filters: none, sub, up, average, Paeth
      const a = i >= bpp ? row[i - bpp] : 0, b = up[i], c = i >= bpp ? up[i - bpp] : 0;
      const predicted = filter === 0 ? 0 : filter === 1 ? a : filter === 2 ? b
        : filter === 3 ? (a + b) >> 1 : paeth(a, b, c);
      row[i] = line[i] + predicted;  // modulo 256: `row` is a Uint8Array
    }
  }
  const values = new Uint16Array(width * height);
  for (let p = 0; p < values.length; p++) {
    values[p] = depth === 16 ? (rows[2 * p] << 8) | rows[2 * p + 1] : rows[p] * 257;
  }
  return { width, height, values };
}

// One PNG chunk: length, type, data, CRC of type and data.
function pngChunk(type, data) {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

// Edge map -> 16-bit gray PNG bytes (Uint8Array): each row filter 0, samples big-endian.
async function encodeGray16PNG({ width, height, values }) {
  const raw = new Uint8Array(height * (1 + 2 * width));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = values[y * width + x], at = y * (1 + 2 * width) + 1 + 2 * x;
      raw[at] = v >> 8;
      raw[at + 1] = v & 0xff;
    }
  }
  const header = new Uint8Array(13);  // width, height, depth 16, gray, deflate, filter 0, none
  new DataView(header.buffer).setUint32(0, width);
  new DataView(header.buffer).setUint32(4, height);
  header[8] = 16;
  const idat = await throughStream(raw, new CompressionStream("deflate"));
  const chunks = [Uint8Array.from(PNG_SIGNATURE), pngChunk("IHDR", header), pngChunk("IDAT", idat),
    pngChunk("IEND", new Uint8Array(0))];
  return new Uint8Array(await new Blob(chunks).arrayBuffer());
}

// File bytes <-> base64, as TF Serving's REST bodies carry them ({"b64": ...}).
function bytesToBase64(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}
function base64ToBytes(b64) {
  return Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
}
