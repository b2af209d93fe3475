// The Python `crop` strategy, shared by the editor page and its inference worker (a classic
// script: it defines its functions on the global object of whoever loads it):
//   holeWindows    the windows around the holes (edgeconnect_tf/inpaint.py, hole_windows);
//   inpaintWindow  one window through a model of side S, as TFLiteModel.inpaint runs it
//                  (inpaint.py, _run_scaled, then TFLiteModel.__call__ in deploy/tflite_runner.py).
"use strict";

// [lo, hi) of length min(limit, max(window, 2·size)) centred on [start, start + size).
function span(start, size, limit, window) {
  const length = Math.min(limit, Math.max(window, 2 * size));
  let lo = start + Math.floor(size / 2) - Math.floor(length / 2);
  lo = Math.min(Math.max(lo, 0), limit - length);
  return [lo, lo + length];
}

// Bounding boxes [y0, y1, x0, x1) of the 8-connected components of `hole` (Uint8Array h×w).
function components(hole, h, w) {
  const seen = new Uint8Array(h * w);
  const stack = new Int32Array(h * w);
  const boxes = [];
  for (let start = 0; start < h * w; start++) {
    if (!hole[start] || seen[start]) continue;
    let top = 0, y0 = h, y1 = 0, x0 = w, x1 = 0;
    stack[top++] = start;
    seen[start] = 1;
    while (top) {
      const p = stack[--top], y = (p / w) | 0, x = p - y * w;
      y0 = Math.min(y0, y); y1 = Math.max(y1, y + 1); x0 = Math.min(x0, x); x1 = Math.max(x1, x + 1);
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const yy = y + dy, xx = x + dx, q = yy * w + xx;
          if (yy >= 0 && yy < h && xx >= 0 && xx < w && hole[q] && !seen[q]) {
            seen[q] = 1;
            stack[top++] = q;
          }
        }
      }
    }
    boxes.push([y0, y1, x0, x1]);
  }
  return boxes;
}

// Two boxes whose union is 4-connected: overlapping on one axis, overlapping or touching on the other.
function connected(a, b) {
  const overlapY = a[0] < b[1] && b[0] < a[1], touchY = a[0] <= b[1] && b[0] <= a[1];
  const overlapX = a[2] < b[3] && b[2] < a[3], touchX = a[2] <= b[3] && b[2] <= a[3];
  return (overlapY && touchX) || (overlapX && touchY);
}

// Windows [y0, y1, x0, x1) around each hole; merged until none overlap or touch.
function holeWindows(hole, h, w, size) {
  let boxes = components(hole, h, w).map(([y0, y1, x0, x1]) =>
    [...span(y0, y1 - y0, h, size[0]), ...span(x0, x1 - x0, w, size[1])]);
  for (;;) {
    const group = boxes.map((_, i) => i);
    const find = (i) => (group[i] === i ? i : (group[i] = find(group[i])));
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        if (connected(boxes[i], boxes[j])) group[find(i)] = find(j);
      }
    }
    const merged = new Map();
    boxes.forEach((b, i) => {
      const m = merged.get(find(i));
      merged.set(find(i), m ? [Math.min(m[0], b[0]), Math.max(m[1], b[1]),
        Math.min(m[2], b[2]), Math.max(m[3], b[3])] : b);
    });
    const next = [...merged.values()];
    if (next.length === boxes.length) return next.sort((a, b) => a[0] - b[0] || a[2] - b[2]);
    boxes = next;
  }
}

// ---- one window --------------------------------------------------------------------------------

const MIN_SIDE = 9; // inpaint.py MIN_SIDE: the smallest side a network call takes

// Python's round(): halves to even.
function roundHalfEven(x) {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

// The size an h×w window runs at in a model of side `side` (_run_scaled): native when it fits,
// else scaled by side / max(h, w) (aspect kept, the long side = `side`).
function scaledSize(h, w, side) {
  const scale = side / Math.max(h, w);
  if (scale >= 1) return { th: h, tw: w, scale: 1 };
  return {
    th: Math.max(MIN_SIDE, roundHalfEven(h * scale)),
    tw: Math.max(MIN_SIDE, roundHalfEven(w * scale)),
    scale,
  };
}

// OpenCV's INTER_AREA weights along one axis, size -> target <= size (computeResizeAreaTab):
// [target, source, weight] triples, each target's weights (its covered fraction of each
// source pixel, float32) summing to 1.
function areaTaps(size, target) {
  const scale = 1 / (target / size), taps = [];
  for (let d = 0; d < target; d++) {
    const f1 = d * scale, f2 = f1 + scale, cell = Math.min(scale, size - f1);
    const s2 = Math.min(Math.floor(f2), size - 1), s1 = Math.min(Math.ceil(f1), s2);
    if (s1 - f1 > 1e-3) taps.push([d, s1 - 1, Math.fround((s1 - f1) / cell)]);
    for (let s = s1; s < s2; s++) taps.push([d, s, Math.fround(1 / cell)]);
    if (f2 - s2 > 1e-3) taps.push([d, s2, Math.fround(Math.min(f2 - s2, 1, cell) / cell)]);
  }
  return taps;
}

// OpenCV's INTER_LINEAR along one axis, size -> target: [source, next source, weight of next]
// per target (pixel centres aligned, clamped at the borders; the coordinate in float32).
function linearTaps(size, target) {
  const scale = 1 / (target / size), taps = [];
  for (let d = 0; d < target; d++) {
    const f = Math.fround((d + 0.5) * scale - 0.5);
    let s = Math.floor(f), a = Math.fround(f - s);
    if (s < 0) [s, a] = [0, 0];
    if (s >= size - 1) [s, a] = [size - 1, 0];
    taps.push([s, Math.min(s + 1, size - 1), a]);
  }
  return taps;
}

// Interleaved [h×w×c] values -> Float32Array [th×tw×c], INTER_AREA (a downscale), in
// OpenCV's float32 arithmetic and order; `levels`: uint8 input and output, rounded as OpenCV's.
function areaResize(src, h, w, c, th, tw, levels = false) {
  const out = new Float32Array(th * tw * c);
  const fx = w / tw, fy = h / th;
  if (Number.isInteger(fx) && Number.isInteger(fy)) { // OpenCV's resizeAreaFast: block means
    const norm = Math.fround(1 / (fx * fy));
    for (let d = 0; d < th * tw; d++) {
      const y0 = Math.floor(d / tw) * fy, x0 = (d % tw) * fx;
      for (let i = 0; i < c; i++) {
        let sum = 0;
        for (let y = y0; y < y0 + fy; y++) {
          for (let x = x0; x < x0 + fx; x++) sum += src[(y * w + x) * c + i];
        }
        // uint8 2×2 blocks: (sum + 2) >> 2, as OpenCV's vector code; else sum · (1/area)
        out[d * c + i] = !levels ? sum * norm : fx === 2 && fy === 2 ? (sum + 2) >> 2
          : roundHalfEven(Math.fround(sum * norm));
      }
    }
    return out;
  }
  const rows = new Float32Array(h * tw * c);
  const xs = areaTaps(w, tw), ys = areaTaps(h, th);
  for (let y = 0; y < h; y++) {
    for (const [d, s, k] of xs) {
      for (let i = 0; i < c; i++) {
        rows[(y * tw + d) * c + i] += Math.fround(src[(y * w + s) * c + i] * k);
      }
    }
  }
  for (const [d, s, k] of ys) {
    for (let j = 0; j < tw * c; j++) out[d * tw * c + j] += Math.fround(rows[s * tw * c + j] * k);
  }
  return levels ? out.map(roundHalfEven) : out;
}

// Interleaved [h×w×c] values -> Float32Array [th×tw×c], INTER_LINEAR (an upscale here).
function linearResize(src, h, w, c, th, tw) {
  const xs = linearTaps(w, tw), ys = linearTaps(h, th);
  const rows = new Float64Array(h * tw * c);
  for (let y = 0; y < h; y++) {
    xs.forEach(([s0, s1, a], d) => {
      for (let i = 0; i < c; i++) {
        const p = src[(y * w + s0) * c + i], q = src[(y * w + s1) * c + i];
        rows[(y * tw + d) * c + i] = p * (1 - a) + q * a;
      }
    });
  }
  const out = new Float32Array(th * tw * c);
  ys.forEach(([s0, s1, a], d) => {
    for (let j = 0; j < tw * c; j++) {
      out[d * tw * c + j] = rows[s0 * tw * c + j] * (1 - a) + rows[s1 * tw * c + j] * a;
    }
  });
  return out;
}

// [h×w×c] -> [H×W×c] (H >= h, W >= w), the new rows and columns after the old ones: mirrored
// with the edge pixel repeated (numpy's "symmetric", tiled when wider than the source), or 0.
function padded(src, h, w, c, H, W, mirror) {
  const at = (i, n) => { const j = i % (2 * n); return j < n ? j : 2 * n - 1 - j; };
  const out = new Float32Array(H * W * c);
  for (let y = 0; y < (mirror ? H : h); y++) {
    for (let x = 0; x < (mirror ? W : w); x++) {
      const from = (at(y, h) * w + at(x, w)) * c;
      for (let i = 0; i < c; i++) out[(y * W + x) * c + i] = src[from + i];
    }
  }
  return out;
}

// The top-left [h×w×c] of [?×W×c].
function cropped(src, W, c, h, w) {
  const out = new Float32Array(h * w * c);
  for (let y = 0; y < h; y++) out.set(src.subarray(y * W * c, (y * W + w) * c), y * w * c);
  return out;
}

const toLevel = (v) => roundHalfEven(Math.min(1, Math.max(0, v)) * 255);
// An edge value in [0, 1] -> 0–65535, as the server's 16-bit edge PNGs (encode_edge_png).
const toEdgeValue = (v) => roundHalfEven(Math.min(1, Math.max(0, v)) * 65535);

// One window of the crop rule (Python: _run_scaled, TFLiteModel.__call__ and the paste):
// `rgba` Uint8ClampedArray [h×w×4], `hole` Uint8Array [h×w] (1 = hole), `lines` Uint8Array
// [h×w] (1 = drawn) or null, a model of [H, W] run by `runModel({image, mask, edges})`
// (Float32Arrays [H·W·3], [H·W], [H·W] or null -> {inpainted, edges} of the same sizes).
// A window larger than S = min(H, W) is area-resized to a long side of S (the small mask:
// any covered hole pixel; the lines: area-averaged, then divided by the scale and clipped);
// the inputs are padded to H×W (image mirrored, mask and lines with 0) and the outputs cropped
// back, then upsampled (INTER_LINEAR) to h×w when resized. Returns {filled [h×w×3]
// Uint8ClampedArray of 0–255 levels (only its hole pixels are meant to be pasted), edges
// [h×w] Uint16Array of 0–65535 (toEdgeValue: the map Repaint gets back)}. `fullMap`: `lines`
// is a full edge map (Float32Array [h×w] in [0, 1], the editor's Repaint), area-averaged when
// resized but not thickened (inpaint.py, edge_map). A model without an image output (the
// G1-only file) answers `filled` null. A resized window also answers `small`, the edge map at
// the size the model ran (Float32Array [th×tw], before the upsampling; else null): given
// back as `base` to Repaint that window, `lines` is then the change made to the map since
// (Float32Array [h×w] in [-1, 1]), area-averaged and added to `base`, so an unedited map
// reaches the model as the map it drew, not as its upsampled and re-averaged copy.
async function inpaintWindow(runModel, rgba, hole, lines, h, w, [H, W], fullMap = false,
  base = null) {
  const { th, tw, scale } = scaledSize(h, w, Math.min(H, W));
  const rgb = new Uint8Array(h * w * 3);
  for (let i = 0; i < h * w; i++) for (let c = 0; c < 3; c++) rgb[i * 3 + c] = rgba[i * 4 + c];
  let image = rgb, mask = hole, edges = lines;
  if (scale < 1) {
    image = areaResize(rgb, h, w, 3, th, tw, true);
    mask = areaResize(hole, h, w, 1, th, tw).map((v) => (v > 0 ? 1 : 0));
    if (lines && fullMap) {
      edges = areaResize(lines, h, w, 1, th, tw)
        .map((v, i) => Math.min(1, Math.max(0, (base ? base[i] : 0) + v)));
    } else if (lines) {
      const f32 = Math.fround(scale); // numpy: float32 / a Python float, in float32
      edges = areaResize(lines, h, w, 1, th, tw).map((v) => Math.min(1, Math.fround(v / f32)));
    }
  }
  const out = await runModel({
    image: padded(Float32Array.from(image, (v) => v / 255), th, tw, 3, H, W, true),
    mask: padded(mask, th, tw, 1, H, W, false),
    edges: edges && padded(edges, th, tw, 1, H, W, false),
  });
  let filled = out.inpainted ? cropped(out.inpainted, W, 3, th, tw) : null;
  let edgeMap = cropped(out.edges, W, 1, th, tw);
  const small = scale < 1 ? edgeMap : null;
  if (scale < 1) {
    filled = filled && linearResize(filled, th, tw, 3, h, w);
    edgeMap = linearResize(edgeMap, th, tw, 1, h, w);
  }
  return {
    filled: filled && Uint8ClampedArray.from(filled, toLevel),
    edges: Uint16Array.from(edgeMap, toEdgeValue),
    small,
  };
}
