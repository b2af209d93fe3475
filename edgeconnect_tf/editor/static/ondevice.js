// In-browser mode: the exported EdgeConnect .tflite runs in this page with LiteRT.js
// (WebAssembly/XNNPACK, threaded when the page is cross-origin isolated, or WebGPU), inside a
// Web Worker (inference_worker.js), so the page stays responsive and a run can be cancelled.
// Nothing leaves the page: the model file and the photo are read locally.
//
// A photo larger than the model's fixed input size goes through the Python `crop` strategy
// (edgeconnect_tf/inpaint.py, hole_windows; windows.js here): a window around each hole of
// max(model side, 2 × the hole's box) per axis, centred and clamped into the image, windows
// that overlap or touch merged; a window larger than the model is area-resized to the model's
// side keeping its aspect ratio, a smaller one runs at its size, both padded to the model's
// size, as TFLiteModel.inpaint does (windows.js, inpaintWindow); only hole pixels are pasted
// back, so known pixels stay untouched at full resolution.

const WORKER_URL = new URL("./inference_worker.js", import.meta.url);
const $ = (id) => document.getElementById(id);

// Three slots: `plain` (inputs image, mask: G1 draws the edges), `edges` (a third input for
// lines drawn in the hole, from `edgeconnect export --tflite --drawn-edges`: G2 alone, which
// given a full edge map is the editor's Repaint) and `g1` (the `_g1` file: G1 alone, the edge
// map, the editor's Redraw edges), each {name, size [H, W], hasEdges, bytes}. Inpaint uses
// `edges` when lines are drawn. The bytes stay here: a Cancel ends the worker, and the next
// one compiles them again.
const local = {
  worker: null,     // {worker, started (promise of start's answer), accelerator, generation}
  generation: 0,    // workers started so far
  assets: {},       // runtime files the workers fetched: {path: text or ArrayBuffer}
  slots: { plain: null, edges: null, g1: null },
  compiled: null,   // promise: the slots compiled in the current worker
  accelerator: "wasm",
  runtime: null,    // start's answer {variant, threads, webgpu}
  lastRun: null,    // {seconds, windows, slot, stage} of the last run
  lastEdges: null,  // the edge map of the last run (editor.js's state.edgeMap: 0–65535, 0
                    // outside its windows)
};

let nextId = 0;
const pending = new Map(); // id -> {resolve, reject}

function setProgress(message, fraction) {
  const bar = $("progress");
  bar.hidden = !message;
  if (fraction === undefined) bar.removeAttribute("value");
  else bar.value = fraction;
  $("status").textContent = message || "";
}

// ---- the worker --------------------------------------------------------------------------------

function call(op, payload = {}, transfer = []) {
  const { worker } = local.worker;
  return new Promise((resolve, reject) => {
    const id = ++nextId;
    pending.set(id, { resolve, reject });
    worker.postMessage({ id, op, ...payload }, transfer);
  });
}

function onReply({ data }) {
  const request = pending.get(data.id);
  if (!request) return;
  pending.delete(data.id);
  if (data.error) request.reject(new Error(data.error));
  else request.resolve(data.result);
}

function stopWorker(reason) {
  if (!local.worker) return;
  local.worker.worker.terminate();
  local.worker = null;
  local.compiled = null;
  for (const request of pending.values()) request.reject(reason);
  pending.clear();
}

// A worker with LiteRT.js started for `accelerator` (a new one if the accelerator changed).
async function worker(accelerator) {
  if (local.worker && local.worker.accelerator !== accelerator) {
    stopWorker(new Error("the accelerator changed"));
    for (const key of Object.keys(local.slots)) local.slots[key] = null;
    editor.setLocalInpainter(null);
  }
  if (!local.worker) {
    const w = new Worker(WORKER_URL);
    w.onmessage = onReply;
    local.worker = { worker: w, accelerator, generation: ++local.generation };
    local.worker.started = call("start", { accelerator, assets: local.assets }).then(
      (answer) => {
        Object.assign(local.assets, answer.assets);
        local.runtime = { variant: answer.variant, threads: answer.threads, webgpu: answer.webgpu };
        return local.runtime;
      },
      (err) => { stopWorker(err); throw err; },
    );
  }
  return local.worker.started;
}

async function compileIn(slot, accelerator = local.accelerator) {
  const info = await call("compile", { bytes: slot.bytes.slice(0), name: slot.name, accelerator });
  return { ...slot, ...info };
}

// After a Cancel: a fresh worker compiles the open models again.
function recompile() {
  const open = Object.values(local.slots).filter(Boolean);
  local.compiled = worker(local.accelerator)
    .then(() => Promise.all(open.map((slot) => compileIn(slot))));
  local.compiled.catch((err) => showModelError(err));
  return local.compiled;
}

function showModelError(err) {
  setProgress("");
  const box = $("model-error");
  box.textContent = `In-page model: ${err.message || err}`;
  box.hidden = false;
}

// ---- opening a model ---------------------------------------------------------------------------

async function openModel(bytes, name) {
  $("model-error").hidden = true;
  try {
    setProgress("Starting LiteRT.js…");
    const accelerator = $("accelerator").value;
    const rt = await worker(accelerator);
    if (accelerator === "webgpu" && !rt.webgpu) {
      throw new Error("this browser offers no WebGPU device; choose CPU (WebAssembly)");
    }
    setProgress(`Compiling ${name} for ${accelerator === "webgpu" ? "WebGPU" : "WebAssembly"}…`);
    if (local.compiled) await local.compiled.catch(() => {});
    const slot = await compileIn({ name, bytes }, accelerator);
    local.slots[slot.key] = slot;
    local.accelerator = accelerator;
    local.compiled = Promise.resolve();
    const how = accelerator === "webgpu" ? "WebGPU"
      : `WebAssembly, ${rt.threads} thread${rt.threads > 1 ? "s" : ""}` +
        (rt.variant.includes("threaded") ? "" : " (serve the page cross-origin isolated for more)");
    const role = (m) => (m.key === "g1" ? ", edges only" : m.hasEdges ? ", drawn lines" : "");
    const names = Object.values(local.slots).filter(Boolean)
      .map((m) => `${m.name} (${m.size[0]}×${m.size[1]}${role(m)})`);
    $("model-info").textContent = `${names.join(" + ")}: in this page, ${how}`;
    editor.setLocalInpainter(inpaintInPage, cancel,
      { edges: Boolean(local.slots.g1), repaint: Boolean(local.slots.edges) });
    setProgress("");
    $("status").textContent = "Model ready: Inpaint now runs in this page; nothing is uploaded.";
  } catch (err) {
    showModelError(err);
    throw err;
  }
}

// ---- running the windows -----------------------------------------------------------------------

function pixels(canvas, x, y, w, h) {
  return canvas.getContext("2d", { willReadFrequently: true }).getImageData(x, y, w, h).data;
}

// One window [y0, y1, x0, x1) through the model in the worker (windows.js, inpaintWindow: at
// its size, or area-resized to the model's side keeping its aspect, padded to the model's
// size): {filled [h·w·3] 0–255, edges [h·w] 0–65535} at the window's size, and `small`.
// `map`: a full edge map ({width, height, values} 0–65535) instead of drawn lines (Repaint);
// when it was edited from a map whose run resized this window (`map.from.windows`), the
// window gets that run's model-size map and the change since (inpaintWindow's `base`).
function runWindow(slot, [y0, y1, x0, x1], photo, hole, drawn, fullW, map = null) {
  const h = y1 - y0, w = x1 - x0;
  const rgba = pixels(photo, x0, y0, w, h);
  const winHole = new Uint8Array(h * w);
  for (let y = 0; y < h; y++) {
    winHole.set(hole.subarray((y0 + y) * fullW + x0, (y0 + y) * fullW + x1), y * w);
  }
  let lines = null;
  let base = null;
  if (map) { // 0–65535 -> [0, 1], as the server reads the map's 16-bit PNG
    const runs = (map.from && map.from.windows) || []; // none: a map from the server
    const earlier = runs.find((r) => `${r.box}` === `${[y0, y1, x0, x1]}`);
    base = earlier && earlier.small && earlier.size === `${slot.size}` ? earlier.small : null;
    lines = new Float32Array(h * w);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const p = (y0 + y) * fullW + x0 + x;
        lines[y * w + x] = (map.values[p] - (base ? map.from.values[p] : 0)) / 65535;
      }
    }
  } else if (drawn && slot.hasEdges) { // opaque where drawn, as the PNG the server gets
    const alpha = pixels(drawn, x0, y0, w, h);
    lines = new Uint8Array(h * w);
    for (let i = 0; i < h * w; i++) lines[i] = alpha[i * 4 + 3] > 127 ? 1 : 0;
  }
  const buffers = [rgba.buffer, winHole.buffer].concat(lines ? [lines.buffer] : []);
  return call("window",  // `base` copied, not moved: the map keeps it for the next Repaint
    { key: slot.key, rgba, hole: winHole, lines, h, w, fullMap: Boolean(map), base }, buffers);
}

// ---- the Inpaint and Cancel buttons in this mode -----------------------------------------------

// {image, mask, edges (canvas or null), stage, edgeMap} at full resolution -> {image (canvas),
// edges (an edge map: {width, height, values} 0–65535, 0 outside the windows, and `windows`:
// [{box [y0, y1, x0, x1], size (the model's, "H,W"), small}] for Repaint)} and a note for
// the user (or ""). Known pixels of `image` are copied from the photo unchanged. `stage`
// "edges": the `g1` file alone, `image` null; "repaint": the `edges` file on `edgeMap` (a
// full, edited edge map). Rejects with the error `cancel` gave when the run is
// cancelled.
async function inpaintInPage({ image, mask, edges, stage = "all", edgeMap = null }) {
  const W = image.width, H = image.height;
  const started = performance.now();
  setProgress("Inpainting in this page…");
  const alpha = pixels(mask, 0, 0, W, H);
  const hole = new Uint8Array(W * H);
  for (let i = 0; i < W * H; i++) hole[i] = alpha[i * 4 + 3] > 127 ? 1 : 0;
  if (!local.compiled) recompile();
  const compiled = await local.compiled;
  if (compiled) for (const slot of compiled) local.slots[slot.key] = slot;
  const { plain, edges: withLines, g1 } = local.slots;
  let slot = edges ? withLines || plain : plain || withLines;
  if (stage === "edges") slot = g1;
  if (stage === "repaint") slot = withLines;
  if (!slot) {
    const missing = { all: "the model without _edges or _g1", edges: "its *_g1.tflite file",
      repaint: "its *_edges.tflite file" }[stage];
    throw new Error(`open ${missing} as well (edgeconnect export --tflite --drawn-edges ` +
      "writes all three)");
  }
  let note = "";
  if (stage !== "all") {
    // the edited map (Repaint) or G1 alone (Redraw edges): nothing to note
  } else if (edges && !slot.hasEdges) {
    note = "The drawn lines were not used: open a *_edges.tflite model " +
      "(edgeconnect export --tflite --drawn-edges) as well to use them.";
  } else if (!edges && slot.hasEdges) {
    note = `${slot.name} fills the hole along drawn lines only, and none were drawn: ` +
      "open the model without _edges as well for automatic edges.";
  }
  const windows = await call("windows", { hole: hole.slice(), h: H, w: W, key: slot.key });
  const result = document.createElement("canvas");
  result.width = W;
  result.height = H;
  const rctx = result.getContext("2d", { willReadFrequently: true });
  rctx.drawImage(image, 0, 0);
  const out = rctx.getImageData(0, 0, W, H);
  const edgeOut = { width: W, height: H, values: new Uint16Array(W * H), windows: [] };
  for (let k = 0; k < windows.length; k++) {
    const [y0, y1, x0, x1] = windows[k], h = y1 - y0, w = x1 - x0;
    const { th, tw, scale } = scaledSize(h, w, Math.min(...slot.size));
    setProgress(`Inpainting in this page: window ${k + 1} of ${windows.length} ` +
      `(${w}×${h} px${scale < 1 ? ` at ${tw}×${th}` : ""})…`, k / windows.length);
    const { filled, edges: edgeValues, small } = await runWindow(
      slot, windows[k], image, hole, stage === "all" ? edges : null, W, edgeMap);
    edgeOut.windows.push({ box: windows[k], size: `${slot.size}`, small });
    const px = out.data;
    for (let y = 0; y < h; y++) {
      edgeOut.values.set(edgeValues.subarray(y * w, (y + 1) * w), (y0 + y) * W + x0);
      for (let x = 0; x < w; x++) {
        const j = y * w + x;
        const i = ((y0 + y) * W + x0 + x) * 4;
        if (!hole[i / 4] || !filled) continue;
        px[i] = filled[j * 3];
        px[i + 1] = filled[j * 3 + 1];
        px[i + 2] = filled[j * 3 + 2];
      }
    }
  }
  rctx.putImageData(out, 0, 0);
  setProgress("");
  local.lastRun = { seconds: (performance.now() - started) / 1000, windows, slot: slot.name,
    stage };
  local.lastEdges = edgeOut;
  return { image: stage === "edges" ? null : result, edges: edgeOut, note };
}

// Ends the run now: the worker (and the model call inside it) is terminated, and a new one
// compiles the open models in the background for the next Inpaint.
function cancel() {
  stopWorker(new Error("cancelled"));
  setProgress("");
  recompile();
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

// A model fetched from the server: one of /api/models (`edgeconnect serve --models DIR`), or
// a file beside the page (index.html?model=edgeconnect_256x256_float32.tflite).
async function openModelFromPage(url, name = url.split("/").pop()) {
  try {
    setProgress(`Reading ${name}…`);
    const response = await fetch(new URL(url, location.href));
    if (!response.ok) throw new Error(`${url}: the server answered ${response.status}`);
    await openModel(new Uint8Array(await response.arrayBuffer()), name);
  } catch (err) {
    showModelError(err);
  }
}

// The server's models ({models: [{name, url, bytes}]}, GET /api/models) in the select; a
// name's `_edges` companion (lines drawn in the hole) opens with it.
let listed = [];
async function listModels() {
  try {
    const response = await fetch("/api/models");
    listed = response.ok ? (await response.json()).models || [] : [];
  } catch {
    listed = [];
  }
  const select = $("model-list");
  for (const m of listed) {
    const option = document.createElement("option");
    option.value = m.name;
    option.textContent = `${m.name} (${(m.bytes / 1e6).toFixed(1)} MB)`;
    select.append(option);
  }
  select.hidden = !listed.length;
  return listed;
}

// A listed model and its companions: NAME_edges.tflite (drawn lines, Repaint) and
// NAME_g1.tflite (Redraw edges), when the server lists them.
async function openWithCompanions(chosen) {
  await openModelFromPage(chosen.url, chosen.name);
  for (const suffix of ["_edges.tflite", "_g1.tflite"]) {
    const name = chosen.name.replace(/\.tflite$/, suffix);
    const companion = listed.find((m) => m.name === name);
    if (companion && companion !== chosen) await openModelFromPage(companion.url, companion.name);
  }
}

$("model-list").onchange = async (e) => {
  const chosen = listed.find((m) => m.name === e.target.value);
  if (chosen) await openWithCompanions(chosen);
};

if (!navigator.gpu) {
  const option = $("accelerator").querySelector('option[value="webgpu"]');
  option.disabled = true;
  option.textContent += " (not in this browser)";
}
const modelsListed = listModels();
const shipped = new URLSearchParams(location.search).get("model");
if (shipped) {
  modelsListed.then((models) => {
    const m = models.find((x) => x.name === shipped);
    return m ? openWithCompanions(m) : openModelFromPage(shipped);
  });
}

// For tests and the bench.
window.ondevice = {
  openModelFromPage,
  ready: () => Object.values(local.slots).some(Boolean),
  listed: () => modelsListed,
  info: () => ({ models: Object.fromEntries(Object.entries(local.slots).filter(([, m]) => m)
    .map(([k, m]) => [k, { name: m.name, size: m.size }])),
    accelerator: local.accelerator, threads: local.runtime ? local.runtime.threads : 1,
    isolated: self.crossOriginIsolated === true, workers: local.generation }),
  lastRun: () => local.lastRun,
  lastEdgesURL: () => local.lastEdges && edgeMapCanvas(local.lastEdges).toDataURL(),
  holeWindows,
  runtime: async () => ({ ...(await worker(local.accelerator)) }),
  // Seconds of each of `runs` model calls on image [H·W·3] and mask [H·W] in [0, 1] (arrays),
  // timed inside the worker.
  async time(runs, imageValues, maskValues) {
    const slot = local.slots.plain || local.slots.edges;
    return call("time", {
      key: slot.key, runs, image: Float32Array.from(imageValues), mask: Float32Array.from(maskValues),
    });
  },
};
