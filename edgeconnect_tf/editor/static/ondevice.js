// In-browser mode: the exported EdgeConnect .tflite runs in this page with LiteRT.js
// (WebAssembly/XNNPACK, threaded when the page is cross-origin isolated, or WebGPU).
// Nothing leaves the page: the model file and the photo are read locally.
//
// A photo larger than the model's fixed input size goes through the Python `crop` strategy
// (edgeconnect_tf/inpaint.py, hole_windows): a window around each hole of
// max(model side, 2 × the hole's box) per axis, centred and clamped into the image, windows
// that overlap or touch merged; each window is resampled to the model size if it differs,
// and only hole pixels are pasted back, so known pixels stay untouched at full resolution.
import {
  getDefaultEnvironment,
  loadAndCompile,
  loadLiteRt,
  supportsFeature,
  Tensor,
  unloadLiteRt,
} from "./litert/core/index.js";

const WASM_DIR = new URL("./litert/wasm/", import.meta.url).href;
const SIGNATURE = "inpaint";
const $ = (id) => document.getElementById(id);

// Two slots: `plain` (inputs image, mask: G1 draws the edges) and `edges` (a third input for
// lines drawn in the hole, from `edgeconnect export --tflite --drawn-edges`), each
// {model (compiled), name, size [H, W], hasEdges}. Inpaint uses `edges` when lines are drawn.
const local = {
  runtime: null,   // promise of {threads, webgpu, variant} for `runtimeFor`
  runtimeFor: "",  // "wasm" or "webgpu": the build loaded (one per page at a time)
  slots: { plain: null, edges: null },
  accelerator: "wasm",
  threads: 1,      // WebAssembly threads the models were compiled for
  lastRun: null,   // {seconds, windows, slot} of the last Inpaint
};

function setProgress(message) {
  $("progress").hidden = !message;
  $("status").textContent = message || "";
}

// Lets the browser paint the progress message before a long synchronous step.
const nextFrame = () => new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve)));

// ---- runtime and model ------------------------------------------------------------------------

// Three of the four LiteRT.js builds ship with the package: for the CPU, threaded (needs
// relaxed SIMD and SharedArrayBuffer, i.e. a cross-origin isolated page) or compat (any
// WebAssembly SIMD); for WebGPU, the JSPI build: the GPU delegate lacks WHILE (Canny's
// hysteresis) and MIRROR_PAD, which then run on the CPU, and only JSPI can switch mid-model.
async function loadRuntime(accelerator) {
  if (typeof WebAssembly !== "object") {
    throw new Error("this browser has no WebAssembly, which the in-page mode needs " +
      "(use `edgeconnect serve --model ...` instead)");
  }
  let variant, threads = false;
  if (accelerator === "webgpu") {
    if (!navigator.gpu) throw new Error("this browser has no WebGPU; choose CPU (WebAssembly)");
    if (!(await supportsFeature("jspi"))) {
      throw new Error("WebGPU in this page needs WebAssembly JSPI (Chrome/Edge 137+); " +
        "choose CPU (WebAssembly)");
    }
    variant = "litert_wasm_jspi_internal.js";
  } else {
    const relaxed = await supportsFeature("relaxedSimd");
    threads = self.crossOriginIsolated === true && relaxed && navigator.hardwareConcurrency > 1;
    variant = threads ? "litert_wasm_threaded_internal.js" : "litert_wasm_compat_internal.js";
  }
  try {
    await loadLiteRt(WASM_DIR + variant);
  } catch (err) {
    throw new Error(`LiteRT.js could not start in this browser (${err.message || err}); ` +
      "it needs WebAssembly with SIMD (Chrome/Edge 91+, Firefox 89+, Safari 16.4+)");
  }
  return { threads, variant, webgpu: Boolean(getDefaultEnvironment().webGpuDevice) };
}

// The runtime for `accelerator`; switching unloads the other one and the models compiled on it.
async function runtime(accelerator = local.runtimeFor || "wasm") {
  if (local.runtime && local.runtimeFor !== accelerator) {
    await local.runtime.catch(() => {});
    for (const key of Object.keys(local.slots)) local.slots[key] = null;
    editor.setLocalInpainter(null);
    unloadLiteRt();
    local.runtime = null;
  }
  if (!local.runtime) {
    local.runtimeFor = accelerator;
    local.runtime = loadRuntime(accelerator).catch((err) => { local.runtime = null; throw err; });
  }
  return local.runtime;
}

// The model's `inpaint` signature: inputs image [1, H, W, 3], mask [1, H, W, 1], optional edges.
function describe(model, name) {
  const runner = model.signatures[SIGNATURE];
  if (!runner) {
    throw new Error(`${name} has no '${SIGNATURE}' signature: expected a file written by ` +
      "`edgeconnect export --tflite`");
  }
  const inputs = Object.fromEntries(runner.getInputDetails().map((d) => [d.name, [...d.shape]]));
  const image = inputs.image, mask = inputs.mask;
  const ok = image && mask && image.length === 4 && image[0] === 1 && image[3] === 3 &&
    mask.length === 4 && mask[1] === image[1] && mask[2] === image[2] && mask[3] === 1;
  if (!ok) {
    const found = Object.entries(inputs).map(([k, s]) => `${k} [${s}]`).join(", ");
    throw new Error(`${name} takes ${found}; expected image [1, H, W, 3] and mask [1, H, W, 1]`);
  }
  return { size: [image[1], image[2]], hasEdges: "edges" in inputs };
}

async function openModel(bytes, name) {
  $("model-error").hidden = true;
  try {
    setProgress("Starting LiteRT.js…");
    const accelerator = $("accelerator").value;
    const rt = await runtime(accelerator);
    if (accelerator === "webgpu" && !rt.webgpu) {
      throw new Error("this browser offers no WebGPU device; choose CPU (WebAssembly)");
    }
    setProgress(`Compiling ${name} for ${accelerator === "webgpu" ? "WebGPU" : "WebAssembly"}…`);
    await nextFrame();
    const threads = rt.threads ? Math.min(navigator.hardwareConcurrency, 4) : 1;
    const model = await loadAndCompile(bytes, { accelerator, cpuOptions: { numThreads: threads } })
      .catch((err) => {
        throw new Error(`${name} is not a model LiteRT.js can run (${err.message || err}); ` +
          "open a file written by `edgeconnect export --tflite`");
      });
    let info;
    try {
      info = describe(model, name);
    } catch (err) {
      model.delete();
      throw err;
    }
    const key = info.hasEdges ? "edges" : "plain";
    if (local.slots[key]) local.slots[key].model.delete();
    local.slots[key] = { model, name, ...info };
    Object.assign(local, { accelerator, threads });
    const how = accelerator === "webgpu" ? "WebGPU"
      : `WebAssembly, ${threads} thread${threads > 1 ? "s" : ""}` +
        (rt.threads ? "" : " (serve the page cross-origin isolated for more)");
    const names = Object.values(local.slots).filter(Boolean)
      .map((m) => `${m.name} (${m.size[0]}×${m.size[1]}${m.hasEdges ? ", drawn lines" : ""})`);
    $("model-info").textContent = `${names.join(" + ")}: in this page, ${how}`;
    editor.setLocalInpainter(inpaintInPage);
    setProgress("");
    $("status").textContent = "Model ready: Inpaint now runs in this page; nothing is uploaded.";
  } catch (err) {
    setProgress("");
    const box = $("model-error");
    box.textContent = `In-page model: ${err.message || err}`;
    box.hidden = false;
    throw err;
  }
}

// ---- windows around the holes (the Python crop strategy) --------------------------------------

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

// ---- running one window -----------------------------------------------------------------------

function pixels(canvas, x, y, w, h) {
  return canvas.getContext("2d", { willReadFrequently: true }).getImageData(x, y, w, h).data;
}

// The window of `canvas` drawn at th×tw (smoothed when resampled).
function resampled(canvas, [y0, y1, x0, x1], th, tw) {
  const out = document.createElement("canvas");
  out.width = tw;
  out.height = th;
  const ctx = out.getContext("2d", { willReadFrequently: true });
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(canvas, x0, y0, x1 - x0, y1 - y0, 0, 0, tw, th);
  return out;
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

async function runModel(slot, image, mask, edges) {
  const [h, w] = slot.size;
  const inputs = {
    image: new Tensor(image, [1, h, w, 3]),
    mask: new Tensor(mask, [1, h, w, 1]),
  };
  if (slot.hasEdges) inputs.edges = new Tensor(edges || new Float32Array(h * w), [1, h, w, 1]);
  let outputs = null;
  try {
    outputs = await slot.model.run(SIGNATURE, inputs);
    return {
      inpainted: Float32Array.from(await outputs.inpainted.data()),
      edges: Float32Array.from(await outputs.edges.data()),
    };
  } finally {
    for (const t of Object.values(inputs)) t.delete();
    if (outputs) for (const t of Object.values(outputs)) t.delete();
  }
}

// One window: model-size inputs (resampled if the window is not model-sized), the model,
// results back at the window's size as canvases.
async function runWindow(slot, win, photo, hole, drawn, fullW) {
  const [y0, y1, x0, x1] = win;
  const wh = y1 - y0, ww = x1 - x0;
  const [h, w] = slot.size;
  const native = wh === h && ww === w;
  const rgba = native ? pixels(photo, x0, y0, w, h) : pixels(resampled(photo, win, h, w), 0, 0, w, h);
  const image = new Float32Array(h * w * 3);
  for (let i = 0; i < h * w; i++) {
    for (let c = 0; c < 3; c++) image[i * 3 + c] = rgba[i * 4 + c] / 255;
  }
  const winHole = new Uint8Array(wh * ww);
  for (let y = 0; y < wh; y++) {
    for (let x = 0; x < ww; x++) winHole[y * ww + x] = hole[(y0 + y) * fullW + x0 + x];
  }
  const mask = native ? Float32Array.from(winHole) : resampleHole(winHole, wh, ww, h, w);
  let edges = null;
  if (drawn && slot.hasEdges) {
    const lines = native ? pixels(drawn, x0, y0, w, h) : pixels(resampled(drawn, win, h, w), 0, 0, w, h);
    edges = new Float32Array(h * w);
    for (let i = 0; i < h * w; i++) edges[i] = lines[i * 4 + 3] > (native ? 127 : 0) ? 1 : 0;
  }
  const out = await runModel(slot, image, mask, edges);
  const filled = document.createElement("canvas");
  filled.width = w;
  filled.height = h;
  const fctx = filled.getContext("2d");
  const img = fctx.createImageData(w, h);
  const edgeMap = document.createElement("canvas");
  edgeMap.width = w;
  edgeMap.height = h;
  const ectx = edgeMap.getContext("2d");
  const emap = ectx.createImageData(w, h);
  for (let i = 0; i < h * w; i++) {
    for (let c = 0; c < 3; c++) {
      img.data[i * 4 + c] = Math.round(Math.min(1, Math.max(0, out.inpainted[i * 3 + c])) * 255);
    }
    img.data[i * 4 + 3] = 255;
    const e = Math.round(Math.min(1, Math.max(0, out.edges[i])) * 255);
    emap.data[i * 4] = emap.data[i * 4 + 1] = emap.data[i * 4 + 2] = e;
    emap.data[i * 4 + 3] = 255;
  }
  fctx.putImageData(img, 0, 0);
  ectx.putImageData(emap, 0, 0);
  if (native) return { filled, edgeMap };
  const full = [0, h, 0, w];
  return { filled: resampled(filled, full, wh, ww), edgeMap: resampled(edgeMap, full, wh, ww) };
}

// ---- the Inpaint button in this mode -----------------------------------------------------------

// {image, mask, edges (canvas or null)} at full resolution -> {image, edges} canvases and a
// note for the user (or ""). Known pixels of `image` are copied from the photo unchanged.
async function inpaintInPage({ image, mask, edges }) {
  const W = image.width, H = image.height;
  const started = performance.now();
  const alpha = pixels(mask, 0, 0, W, H);
  const hole = new Uint8Array(W * H);
  for (let i = 0; i < W * H; i++) hole[i] = alpha[i * 4 + 3] > 127 ? 1 : 0;
  const { plain, edges: withLines } = local.slots;
  const slot = edges ? withLines || plain : plain || withLines;
  let note = "";
  if (edges && !slot.hasEdges) {
    note = "The drawn lines were not used: open a *_edges.tflite model " +
      "(edgeconnect export --tflite --drawn-edges) as well to use them.";
  } else if (!edges && slot.hasEdges) {
    note = `${slot.name} fills the hole along drawn lines only, and none were drawn: ` +
      "open the model without _edges as well for automatic edges.";
  }
  const windows = holeWindows(hole, H, W, slot.size);
  const result = document.createElement("canvas");
  result.width = W;
  result.height = H;
  const rctx = result.getContext("2d", { willReadFrequently: true });
  rctx.drawImage(image, 0, 0);
  const out = rctx.getImageData(0, 0, W, H);
  const edgeOut = document.createElement("canvas");
  edgeOut.width = W;
  edgeOut.height = H;
  const ectx = edgeOut.getContext("2d");
  for (let k = 0; k < windows.length; k++) {
    const [y0, y1, x0, x1] = windows[k];
    setProgress(`Inpainting in this page: window ${k + 1} of ${windows.length} ` +
      `(${x1 - x0}×${y1 - y0} px at ${slot.size[1]}×${slot.size[0]})…`);
    await nextFrame();
    const { filled, edgeMap } = await runWindow(slot, windows[k], image, hole, edges, W);
    const px = pixels(filled, 0, 0, x1 - x0, y1 - y0);
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++) {
        if (!hole[y * W + x]) continue;
        const i = (y * W + x) * 4, j = ((y - y0) * (x1 - x0) + (x - x0)) * 4;
        out.data[i] = px[j];
        out.data[i + 1] = px[j + 1];
        out.data[i + 2] = px[j + 2];
      }
    }
    ectx.drawImage(edgeMap, x0, y0);
  }
  rctx.putImageData(out, 0, 0);
  setProgress("");
  local.lastRun = { seconds: (performance.now() - started) / 1000, windows, slot: slot.name };
  return { image: result, edges: edgeOut, note };
}

// ---- controls ----------------------------------------------------------------------------------

$("model-file").onchange = async (e) => {
  for (const file of e.target.files) {
    if (!file.name.toLowerCase().endsWith(".tflite")) {
      $("model-error").textContent = `${file.name} is not a .tflite file.`;
      $("model-error").hidden = false;
      return;
    }
    await openModel(new Uint8Array(await file.arrayBuffer()), file.name).catch(() => {});
  }
};

$("accelerator").onchange = () => {
  const open = Object.values(local.slots).some(Boolean);
  $("model-info").textContent = open ? "Open the model(s) again to run them there." : "";
};

// A model shipped beside the page: index.html?model=edgeconnect_256x256_float32.tflite
async function openModelFromPage(url) {
  const name = url.split("/").pop();
  try {
    setProgress(`Reading ${name}…`);
    const response = await fetch(new URL(url, location.href));
    if (!response.ok) throw new Error(`${url}: the server answered ${response.status}`);
    await openModel(new Uint8Array(await response.arrayBuffer()), name);
  } catch (err) {
    setProgress("");
    $("model-error").textContent = `In-page model: ${err.message || err}`;
    $("model-error").hidden = false;
  }
}

if (!navigator.gpu) {
  const option = $("accelerator").querySelector('option[value="webgpu"]');
  option.disabled = true;
  option.textContent += " (not in this browser)";
}
const shipped = new URLSearchParams(location.search).get("model");
if (shipped) openModelFromPage(shipped);

// For tests and the bench.
window.ondevice = {
  openModelFromPage,
  ready: () => Object.values(local.slots).some(Boolean),
  info: () => ({ models: Object.fromEntries(Object.entries(local.slots).filter(([, m]) => m)
    .map(([k, m]) => [k, { name: m.name, size: m.size }])),
    accelerator: local.accelerator, threads: local.threads,
    isolated: self.crossOriginIsolated === true }),
  lastRun: () => local.lastRun,
  holeWindows,
  runtime: async () => { const r = await runtime(); return { ...r }; },
  // Seconds of each of `runs` model calls on image [H·W·3] and mask [H·W] in [0, 1] (arrays).
  async time(runs, imageValues, maskValues) {
    const image = Float32Array.from(imageValues);
    const mask = Float32Array.from(maskValues);
    const seconds = [];
    const slot = local.slots.plain || local.slots.edges;
    for (let k = 0; k < runs; k++) {
      const t0 = performance.now();
      await runModel(slot, image, mask, null);
      seconds.push((performance.now() - t0) / 1000);
    }
    return seconds;
  },
};
