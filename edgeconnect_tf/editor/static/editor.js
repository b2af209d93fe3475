// EdgeConnect editor: paint a hole, sketch guidance edges, inpaint through TF Serving's REST API.
// Everything is kept at the image's native resolution; the view canvas is scaled by CSS.
//
// Lines first, made interactive: after a run, the edges G1 drew in the hole become an editable
// layer (yellow; its alpha is the edge level 0–255), apart from the user's own lines (blue).
// The map itself is kept at 16 bits (0–65535, a 16-bit gray PNG to and from the server:
// graypng.js), so Repaint of an unedited map gives the full run's pixels (within 1 level).
// The Edge eraser removes lines of both, the Edge pen adds the user's; "Repaint" runs G2 alone
// on the edited map (the run's map outside the hole, the layer and the lines inside: signature
// `repaint_bytes`, or the `_edges` .tflite in the page), "Redraw edges" runs G1 again
// (`edges_bytes`, or the `_g1` .tflite). Undo/redo cover strokes, edge edits and new layers;
// the last result stays on screen until a new one replaces it (or Clear).
"use strict";

const MODEL_URL = "/v1/models/edgeconnect";  // TF Serving's REST: status (GET), :predict
const MAX_SIDE = 4096;
const HOLE_COLOR = "#ff2850";
const HOLE_ALPHA = 0.45;
const DRAWN_EDGE_COLOR = "#3cf";
const PREDICTED_EDGE_COLOR = "rgba(255, 230, 0, 0.9)";

const $ = (id) => document.getElementById(id);
const view = $("view");
const viewCtx = view.getContext("2d");
// Every other canvas is read back (holes, lines, results): CPU-backed from the start.
const ctx2d = (canvas) => canvas.getContext("2d", { willReadFrequently: true });

const state = {
  original: null,      // HTMLCanvasElement with the opened image
  originalBytes: null, // base64 PNG of the original
  mask: null,          // canvas: white = hole
  edges: null,         // canvas: lines drawn by the user (opaque where drawn)
  result: null,        // canvas with the inpainted image
  predictedEdges: null,// canvas: the editable layer, G1's edges in the hole (alpha = level)
  edgeMap: null,       // the full edge map of the last run or Redraw: {width, height,
                       // values: Uint16Array [h·w] of 0–65535} (graypng.js)
  holeVersion: 0,      // bumped by every change of the hole
  layerHole: -1,       // holeVersion the layer was drawn for (Repaint needs the same hole)
  resultHole: -1,      // holeVersion of the result on screen
  resultURL: null,     // blob: URL of the result's PNG, for Download
  tool: "hole",
  size: 30,
  comparing: false,
  undo: [],
  redo: [],
  drawing: false,
  last: null,
  running: null,       // {cancel()} while an Inpaint runs
  server: null,        // true when the server runs a model (GET /api/server)
};

function makeCanvas(w, h) {
  const c = document.createElement("canvas");
  c.width = w;
  c.height = h;
  return c;
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

function setStatus(message) { $("status").textContent = message || ""; }

// ---- drawing ---------------------------------------------------------------------------------

function render() {
  if (!state.original) return;
  const base = state.comparing || !state.result ? state.original : state.result;
  viewCtx.globalAlpha = 1;
  viewCtx.drawImage(base, 0, 0);
  if (state.comparing) return;
  // The hole: shown until a result fills it, and again once it differs from the result's.
  if (!state.result || state.resultHole !== state.holeVersion) {
    viewCtx.globalAlpha = HOLE_ALPHA;
    viewCtx.drawImage(state.mask, 0, 0);
    viewCtx.globalAlpha = 1;
  }
  // "Show edges": the editable layer (the model's edges inside the hole) and the lines
  // drawn with the Edge pen; nothing when it is off.
  if (!$("show-edges").checked) return;
  if (state.predictedEdges) viewCtx.drawImage(state.predictedEdges, 0, 0);
  viewCtx.drawImage(state.edges, 0, 0);
}

// An edge map's value 0–65535 -> the level 0–255 the page shows (and the layer's alpha).
const edgeLevel = (value) => Math.round(value / 257);  // never a tie: 257 is odd

// Edge map -> the editable layer: `color` with alpha = the edge level inside the hole (the
// `mask` canvas, opaque where painted), transparent elsewhere.
function holeEdges(map, mask, color) {
  const c = makeCanvas(map.width, map.height);
  const ctx = ctx2d(c);
  const hole = ctx2d(mask).getImageData(0, 0, c.width, c.height).data;
  ctx.fillStyle = color;
  ctx.fillRect(0, 0, 1, 1);
  const [r, g, b] = ctx.getImageData(0, 0, 1, 1).data;
  const data = ctx.createImageData(c.width, c.height);
  const out = data.data;
  for (let i = 0; i < out.length; i += 4) {
    out[i] = r; out[i + 1] = g; out[i + 2] = b;
    out[i + 3] = hole[i + 3] > 127 ? edgeLevel(map.values[i / 4]) : 0;
  }
  ctx.putImageData(data, 0, 0);
  return c;
}

// Edge map -> a gray canvas of its levels (opaque), to look at.
function edgeMapCanvas(map) {
  const c = makeCanvas(map.width, map.height);
  const ctx = ctx2d(c);
  const data = ctx.createImageData(c.width, c.height);
  const out = data.data;
  for (let p = 0; p < map.values.length; p++) {
    out[4 * p] = out[4 * p + 1] = out[4 * p + 2] = edgeLevel(map.values[p]);
    out[4 * p + 3] = 255;
  }
  ctx.putImageData(data, 0, 0);
  return c;
}

// The edge map Repaint sends (an edge map, 0–65535; `from`: the map it was edited from): the
// last map outside the hole; inside it, 65535 under the user's lines, else G1's value where
// the layer is as it was drawn, else the edited layer's level × 257 (erased: 0).
function editedEdgeMap() {
  const { width: w, height: h, values: base } = state.edgeMap;
  const hole = ctx2d(state.mask).getImageData(0, 0, w, h).data;
  const layer = ctx2d(state.predictedEdges).getImageData(0, 0, w, h).data;
  const lines = ctx2d(state.edges).getImageData(0, 0, w, h).data;
  const values = new Uint16Array(w * h);
  for (let p = 0; p < values.length; p++) {
    const alpha = layer[4 * p + 3];
    if (hole[4 * p + 3] <= 127) values[p] = base[p];
    else if (lines[4 * p + 3] > 127) values[p] = 65535;
    else values[p] = alpha === edgeLevel(base[p]) ? base[p] : alpha * 257;
  }
  return { width: w, height: h, values, from: state.edgeMap };
}

// Strokes canvas (opaque where drawn) -> base64 PNG, white where drawn, black elsewhere.
function binaryPNG(canvas) {
  const c = makeCanvas(canvas.width, canvas.height);
  const ctx = ctx2d(c);
  const data = ctx2d(canvas).getImageData(0, 0, c.width, c.height);
  const px = data.data;
  for (let i = 0; i < px.length; i += 4) {
    const v = px[i + 3] > 127 ? 255 : 0;
    px[i] = px[i + 1] = px[i + 2] = v;
    px[i + 3] = 255;
  }
  ctx.putImageData(data, 0, 0);
  return c.toDataURL("image/png").split(",")[1];
}

function toImageCoords(event) {
  const rect = view.getBoundingClientRect();
  return {
    x: ((event.clientX - rect.left) * view.width) / rect.width,
    y: ((event.clientY - rect.top) * view.height) / rect.height,
  };
}

// What each tool paints or erases: the hole brush the hole; the eraser the hole and every
// line on it; the edge pen the user's lines; the edge eraser lines only (the layer's and the
// user's), leaving the hole as it is, so Repaint stays available.
function strokeTargets(tool) {
  const layer = state.predictedEdges ? [state.predictedEdges] : [];
  if (tool === "edge") return [state.edges];
  if (tool === "hole") return [state.mask];
  if (tool === "edge-eraser") return [state.edges, ...layer];
  return [state.mask, state.edges, ...layer];
}

function strokeTo(p) {
  const from = state.last || p;
  const erasing = state.tool === "eraser" || state.tool === "edge-eraser";
  for (const canvas of strokeTargets(state.tool)) {
    const ctx = ctx2d(canvas);
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.globalCompositeOperation = erasing ? "destination-out" : "source-over";
    ctx.strokeStyle = state.tool === "edge" ? DRAWN_EDGE_COLOR : HOLE_COLOR;
    ctx.lineWidth = state.tool === "edge" ? Math.max(1, Math.round(state.size / 15)) : state.size;
    ctx.beginPath();
    ctx.moveTo(from.x, from.y);
    ctx.lineTo(p.x + 0.01, p.y);
    ctx.stroke();
  }
  state.last = p;
}

function copyCanvas(c) {
  if (!c) return null;
  const copy = makeCanvas(c.width, c.height);
  ctx2d(copy).drawImage(c, 0, 0);
  return copy;
}

// Undo/redo entries: the hole, the user's lines, the editable layer and the map it came with.
function snapshot() {
  return {
    mask: copyCanvas(state.mask),
    edges: copyCanvas(state.edges),
    layer: copyCanvas(state.predictedEdges),
    edgeMap: state.edgeMap,  // never drawn on: shared
    holeVersion: state.holeVersion,
    layerHole: state.layerHole,
  };
}

function restore(snap) {
  for (const name of ["mask", "edges"]) {
    const ctx = ctx2d(state[name]);
    ctx.globalCompositeOperation = "source-over";
    ctx.clearRect(0, 0, state[name].width, state[name].height);
    ctx.drawImage(snap[name], 0, 0);
  }
  state.predictedEdges = snap.layer;
  state.edgeMap = snap.edgeMap;
  state.holeVersion = snap.holeVersion;
  state.layerHole = snap.layerHole;
}

function pushUndo() {
  state.undo.push(snapshot());
  if (state.undo.length > 20) state.undo.shift();
  state.redo = [];
}

// Undo and redo change the hole and the lines, never the result on screen.
function undo() {
  if (!state.undo.length || state.running) return;  // the hole stays as the run saw it
  state.redo.push(snapshot());
  restore(state.undo.pop());
  updateInpaint();
  render();
}

function redo() {
  if (!state.redo.length || state.running) return;
  state.undo.push(snapshot());
  restore(state.redo.pop());
  updateInpaint();
  render();
}

function clearResult() {
  state.result = null;
  state.predictedEdges = null;
  state.edgeMap = null;
  state.layerHole = state.resultHole = -1;
  if (state.resultURL) URL.revokeObjectURL(state.resultURL);
  state.resultURL = null;
  $("download").classList.add("disabled");
  render();
}

// Pointer events: mouse, pen and touch alike (the canvas takes no touch panning: editor.css).
view.addEventListener("pointerdown", (e) => {
  if (!state.original || state.running || (e.pointerType === "mouse" && e.button !== 0)) return;
  if (state.tool === "edge" || state.tool === "edge-eraser") {
    $("show-edges").checked = true;  // lines being edited are seen
  }
  view.setPointerCapture(e.pointerId);
  pushUndo();
  if (state.tool === "hole" || state.tool === "eraser") state.holeVersion += 1;
  state.drawing = true;
  state.last = null;
  strokeTo(toImageCoords(e));
  render();
});
view.addEventListener("pointermove", (e) => {
  if (!state.drawing) return;
  strokeTo(toImageCoords(e));
  render();
});
const endStroke = () => {
  if (state.drawing) updateInpaint();
  state.drawing = false;
  state.last = null;
};
view.addEventListener("pointerup", endStroke);
view.addEventListener("pointercancel", endStroke);

// ---- tools and keys --------------------------------------------------------------------------

function setTool(tool) {
  state.tool = tool;
  for (const name of ["hole", "eraser", "edge", "edge-eraser"]) {
    $(`tool-${name}`).classList.toggle("active", name === tool);
  }
}

function setSize(size) {
  state.size = Math.max(2, Math.min(200, Math.round(size)));
  $("size").value = state.size;
  $("size-value").textContent = state.size;
}

$("tool-hole").onclick = () => setTool("hole");
$("tool-eraser").onclick = () => setTool("eraser");
$("tool-edge").onclick = () => setTool("edge");
$("tool-edge-eraser").onclick = () => setTool("edge-eraser");
$("size").oninput = (e) => setSize(Number(e.target.value));
$("undo").onclick = undo;
$("redo").onclick = redo;
$("clear").onclick = () => {
  if (!state.original || state.running) return;
  pushUndo();
  for (const c of [state.mask, state.edges]) ctx2d(c).clearRect(0, 0, c.width, c.height);
  state.holeVersion += 1;
  clearResult();
  updateInpaint();
};
$("show-edges").onchange = render;

document.addEventListener("keydown", (e) => {
  if (e.target instanceof HTMLInputElement && e.target.type !== "checkbox") return;
  const key = e.key.toLowerCase();
  if (e.key === "Escape" && state.running) state.running.cancel();
  else if ((e.ctrlKey || e.metaKey) && key === "z") {
    e.preventDefault();
    if (e.shiftKey) redo(); else undo();
  } else if (e.key === "[") setSize(state.size * 0.8);
  else if (e.key === "]") setSize(state.size * 1.25);
  else if (key === "b") setTool("hole");
  else if (key === "e") setTool("eraser");
  else if (key === "l") setTool("edge");
  else if (key === "x") setTool("edge-eraser");
  else if (key === "c" && !state.comparing) { state.comparing = true; render(); }
});
document.addEventListener("keyup", (e) => {
  if (e.key.toLowerCase() === "c") { state.comparing = false; render(); }
});

// ---- opening an image ------------------------------------------------------------------------

function openFile(file) {
  showError("");
  if (!file || !file.type.startsWith("image/")) {
    showError(`${file ? file.name : "That"} is not an image file.`);
    return;
  }
  const url = URL.createObjectURL(file);
  const img = new Image();
  img.onload = () => {
    URL.revokeObjectURL(url);
    if (Math.max(img.naturalWidth, img.naturalHeight) > MAX_SIDE) {
      showError(`The image is ${img.naturalWidth}×${img.naturalHeight}; the editor takes up to ` +
        `${MAX_SIDE} px a side. Downscale it first.`);
      return;
    }
    loadImage(img);
  };
  img.onerror = () => { URL.revokeObjectURL(url); showError(`Could not decode ${file.name}.`); };
  img.src = url;
}

function loadImage(img) {
  const w = img.naturalWidth, h = img.naturalHeight;
  state.original = makeCanvas(w, h);
  ctx2d(state.original).drawImage(img, 0, 0);
  state.originalBytes = state.original.toDataURL("image/png").split(",")[1];
  state.mask = makeCanvas(w, h);
  state.edges = makeCanvas(w, h);
  state.undo = [];
  state.redo = [];
  state.holeVersion = 0;
  view.width = w;
  view.height = h;
  view.hidden = false;
  fitView();
  $("drop").hidden = true;
  clearResult();
  updateInpaint();
  setStatus(`${w}×${h} image loaded.`);
}

// Shows the image as large as the window allows (small images scaled up, large ones down).
function fitView() {
  if (!state.original) return;
  const maxW = $("stage").clientWidth - 32;
  const maxH = window.innerHeight * 0.72;
  const scale = Math.min(maxW / view.width, maxH / view.height);
  view.style.width = `${Math.floor(view.width * scale)}px`;
  view.style.height = `${Math.floor(view.height * scale)}px`;
}
window.addEventListener("resize", fitView);

$("file").onchange = (e) => openFile(e.target.files[0]);
const stage = $("stage");
stage.addEventListener("dragover", (e) => { e.preventDefault(); $("drop").classList.add("over"); });
stage.addEventListener("dragleave", () => $("drop").classList.remove("over"));
stage.addEventListener("drop", (e) => {
  e.preventDefault();
  $("drop").classList.remove("over");
  openFile(e.dataTransfer.files[0]);
});

// ---- inpainting ------------------------------------------------------------------------------

function hasInk(canvas) {
  const px = ctx2d(canvas).getImageData(0, 0, canvas.width, canvas.height).data;
  for (let i = 3; i < px.length; i += 4) if (px[i] > 127) return true;
  return false;
}

function decodeToCanvas(b64) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => {
      const c = makeCanvas(img.naturalWidth, img.naturalHeight);
      ctx2d(c).drawImage(img, 0, 0);
      resolve(c);
    };
    img.onerror = () => reject(new Error("the server's image could not be decoded"));
    img.src = "data:image/png;base64," + b64;
  });
}

// Inpaint runs in this page when a model is open there (ondevice.js), else on the server when
// it runs a model; with neither it stays disabled and says why.
function updateInpaint() {
  const button = $("inpaint");
  let hint = "";
  if (!localInpainter && state.server === false) {
    hint = "No model: open an exported .tflite (or pick one this server lists) to inpaint in " +
      "this page. This server runs no model (edgeconnect serve --weights DIR runs one).";
  } else if (!localInpainter && state.server === null) {
    hint = "Asking the server whether it runs a model…";
  }
  button.disabled = !state.original || Boolean(state.running) || Boolean(hint);
  button.title = hint || (localInpainter ? "Inpaint in this page" : "Inpaint on the server");
  const where = stageWhere();
  const redraw = $("redraw-edges"), repaint = $("repaint");
  redraw.disabled = button.disabled || !where.edges;
  redraw.title = !where.edges && localInpainter
    ? "Redraw edges in this page needs the *_g1.tflite file as well (edgeconnect export " +
      "--tflite --drawn-edges writes it)"
    : "Run the edge network (G1) again for this hole, discarding the edge edits (Ctrl+Z " +
      "brings them back)";
  let why = "";
  if (!state.predictedEdges) why = "Inpaint (or Redraw edges) first: Repaint follows its edges";
  else if (state.layerHole !== state.holeVersion) {
    why = "The hole changed since its edges were drawn: Redraw edges or Inpaint";
  } else if (!where.repaint) {
    why = "Repaint in this page needs the *_edges.tflite file as well (edgeconnect export " +
      "--tflite --drawn-edges writes it)";
  }
  repaint.disabled = button.disabled || Boolean(why);
  repaint.title = why || "Paint the hole again along the edited edges (the colour network alone)";
  const info = $("model-info");
  if (!localInpainter) {
    info.textContent = hint || "No model in this page: Inpaint runs on the server.";
  }
  $("cancel").hidden = !state.running;
}

async function checkServer() {
  try {
    const response = await fetch("/api/server");  // 200 in both modes: no console error
    state.server = response.ok && (await response.json()).model === true;
  } catch {
    state.server = false;
  }
  updateInpaint();
}

// Where the stages can run: {edges, repaint} true when the server or the page can.
function stageWhere() {
  const local = localInpainter ? localStages : null;
  return {
    edges: local ? Boolean(local.edges) : state.server === true,
    repaint: local ? Boolean(local.repaint) : state.server === true,
  };
}

// One run at a time: {cancel} while it lasts; the hole and lines cannot change meanwhile.
// `work` answers {image (canvas or null: keep the one on screen), edges (an edge map: the new
// editable layer, or null to keep the layer), where, note}.
async function run(work, cancel, what = "Inpainting") {
  state.running = { cancel };
  updateInpaint();
  const started = performance.now();
  try {
    const out = await work();
    if (state.running && state.running.cancelled) return;
    if (out.edges) {  // a new editable layer: undoable, as a stroke
      pushUndo();
      state.edgeMap = out.edges;
      state.predictedEdges = holeEdges(out.edges, state.mask, PREDICTED_EDGE_COLOR);
      state.layerHole = state.holeVersion;
    }
    if (out.image) showResult(out.image);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const tail = out.image ? "Hold C to compare; edit the yellow edges and Repaint." :
      "Edit them and Repaint.";
    setStatus(`Done ${out.where} in ${seconds} s. ${tail} ${out.note || ""}`.trim());
    render();
  } catch (err) {
    if (state.running && state.running.cancelled) return;
    setStatus("");
    showError(`${what} ${localInpainter ? "in this page " : ""}failed: ${err.message || err}`);
  } finally {
    const cancelled = state.running && state.running.cancelled;
    state.running = null;
    if (cancelled) setStatus("Cancelled.");
    updateInpaint();
  }
}

// The result on screen and its PNG for Download (encoded off the main thread, toBlob, so a
// large result does not freeze the page).
function showResult(image) {
  state.result = image;
  state.resultHole = state.holeVersion;
  if (state.resultURL) URL.revokeObjectURL(state.resultURL);
  state.resultURL = null;
  $("download").classList.add("disabled");
  image.toBlob((blob) => {
    if (state.result !== image || !blob) return;
    state.resultURL = URL.createObjectURL(blob);
    const link = $("download");
    link.href = state.resultURL;
    link.classList.remove("disabled");
  }, "image/png");
}

// One of the server's file signatures -> its first prediction.
async function predict(body, signal) {
  const response = await fetch(`${MODEL_URL}:predict`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
    signal,
  });
  let payload;
  try { payload = await response.json(); } catch { payload = {}; }
  if (!response.ok || payload.error) {
    throw new Error(payload.error || `the server answered ${response.status}`);
  }
  return payload.predictions[0];
}

// stage: "all" (Inpaint: G1 then G2), "edges" (Redraw edges: G1 alone, the result on screen
// stays) or "repaint" (G2 alone along the edited map; the layer stays as edited).
async function inpaint(stage = "all") {
  if (!state.original || state.running) return;
  showError("");
  if (!hasInk(state.mask)) {
    showError("Paint the hole first: nothing is marked for removal.");
    return;
  }
  const what = { all: "Inpainting", edges: "Drawing edges", repaint: "Repainting" }[stage];
  const edges = stage === "all" && hasInk(state.edges) ? state.edges : null;
  const edited = stage === "repaint" ? editedEdgeMap() : null;
  if (localInpainter) {
    const cancelInPage = localCancel;
    await run(async () => {
      setStatus(`${what} in this page…`);
      const out = await localInpainter({
        image: state.original, mask: state.mask, edges, stage, edgeMap: edited,
      });
      return { ...out, edges: stage === "repaint" ? null : out.edges, where: "in this page" };
    }, () => { state.running.cancelled = true; cancelInPage(); }, what);
    return;
  }
  const instance = {
    image_bytes: { b64: state.originalBytes },
    mask_bytes: { b64: binaryPNG(state.mask) },
  };
  if (edges) instance.edges_bytes = { b64: binaryPNG(edges) };
  const signature = { all: edges ? "inpaint_bytes_with_edges" : "inpaint_bytes",
    edges: "edges_bytes", repaint: "repaint_bytes" }[stage];
  const abort = new AbortController();
  await run(async () => {
    setStatus(`${what} on the server…`);
    if (edited) instance.edges_bytes = { b64: bytesToBase64(await encodeGray16PNG(edited)) };
    const prediction = await predict({ signature_name: signature, instances: [instance] },
      abort.signal);
    // TF Serving's row format names the outputs only when there are several (edges_bytes
    // has one: edges_png_bytes).
    const single = typeof prediction.b64 === "string";
    const file = (name) => (single ? prediction : prediction[name]).b64;
    return {
      image: stage === "edges" ? null : await decodeToCanvas(file("inpainted_png_bytes")),
      edges: stage === "repaint" ? null
        : await decodeGrayPNG(base64ToBytes(file("edges_png_bytes"))),  // 16 bits
      where: "on the server",
    };
  }, () => { state.running.cancelled = true; abort.abort(); }, what);
}

// In-browser mode: ondevice.js registers a function {image, mask, edges, stage, edgeMap} ->
// {image, edges, note} (image: a canvas at the image's size; edgeMap, edges: edge maps, as
// state.edgeMap), a cancel function and the stages its
// files can run ({edges: a _g1 file is open, repaint: an _edges file is open}) once a .tflite
// model is open; Inpaint, Redraw edges and Repaint then never leave the page.
let localInpainter = null;
let localCancel = null;
let localStages = {};

$("inpaint").onclick = () => inpaint("all");
$("redraw-edges").onclick = () => inpaint("edges");
$("repaint").onclick = () => inpaint("repaint");
$("cancel").onclick = () => state.running && state.running.cancel();
$("max-side").textContent = MAX_SIDE;
checkServer();

// For tests and scripting.
window.editor = {
  state,
  maskPNG: () => state.mask && binaryPNG(state.mask),
  edgesPNG: () => state.edges && binaryPNG(state.edges),
  resultDataURL: () => state.result && state.result.toDataURL("image/png"),
  predictedEdgesPNG: () => state.predictedEdges && binaryPNG(state.predictedEdges),
  // The editable layer's levels (0–255, its alpha) as a gray PNG data URL.
  layerLevelsURL: () => {
    if (!state.predictedEdges) return null;
    const c = copyCanvas(state.predictedEdges), ctx = ctx2d(c);
    const data = ctx.getImageData(0, 0, c.width, c.height);
    for (let i = 0; i < data.data.length; i += 4) {
      data.data[i] = data.data[i + 1] = data.data[i + 2] = data.data[i + 3];
      data.data[i + 3] = 255;
    }
    ctx.putImageData(data, 0, 0);
    return c.toDataURL("image/png");
  },
  // The map Repaint sends: its levels (0–255) as a gray PNG data URL, or (PNG16) the 16-bit
  // gray PNG itself, base64.
  editedEdgeMapURL: () => state.edgeMap && edgeMapCanvas(editedEdgeMap()).toDataURL("image/png"),
  editedEdgeMapPNG16: async () => state.edgeMap &&
    bytesToBase64(await encodeGray16PNG(editedEdgeMap())),
  setTool,
  setSize,
  undo,
  redo,
  setLocalInpainter: (fn, cancel = null, stages = {}) => {
    localInpainter = fn;
    localCancel = cancel;
    localStages = stages;
    updateInpaint();
  },
};
