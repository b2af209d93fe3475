// The Python `crop` strategy's windows (edgeconnect_tf/inpaint.py, hole_windows) and hole
// resampling, shared by the editor page and its inference worker (a classic script: it
// defines `holeWindows` and `resampleHole` on the global object of whoever loads it).
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

// Hole [h×w] -> [th×tw]: a target pixel is hole if any source pixel it covers is (as the
// Python `_run_scaled`), so no hole content reaches the networks.
function resampleHole(hole, h, w, th, tw) {
  const sum = new Int32Array((h + 1) * (w + 1));
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      sum[(y + 1) * (w + 1) + x + 1] = hole[y * w + x] + sum[y * (w + 1) + x + 1] +
        sum[(y + 1) * (w + 1) + x] - sum[y * (w + 1) + x];
    }
  }
  const out = new Float32Array(th * tw);
  for (let y = 0; y < th; y++) {
    const a = Math.floor((y * h) / th), b = Math.max(a + 1, Math.ceil(((y + 1) * h) / th));
    for (let x = 0; x < tw; x++) {
      const c = Math.floor((x * w) / tw), d = Math.max(c + 1, Math.ceil(((x + 1) * w) / tw));
      const n = sum[b * (w + 1) + d] - sum[a * (w + 1) + d] - sum[b * (w + 1) + c] + sum[a * (w + 1) + c];
      out[y * tw + x] = n > 0 ? 1 : 0;
    }
  }
  return out;
}
