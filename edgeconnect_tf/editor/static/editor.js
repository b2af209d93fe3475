// EdgeConnect editor: paint a hole, sketch guidance edges, inpaint through TF Serving's REST API.
// Everything is kept at the image's native resolution; the view canvas is scaled by CSS.
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
  edges: null,         // canvas: white lines drawn by the user
  result: null,        // canvas with the inpainted image
  predictedEdges: null,// canvas: the edges the fill followed, inside the hole only
  resultURL: null,     // blob: URL of the result's PNG, for Download
  tool: "hole",
  size: 30,
  comparing: false,
  undo: [],
  redo: [],
  drawing: false,
  last: null,
  running: null,       // {cancel()} while an Inpaint runs
  server: null,        // true when the server runs a model (GET MODEL_URL answered 200)
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
  if (!state.result) {
    viewCtx.globalAlpha = HOLE_ALPHA;
    viewCtx.drawImage(state.mask, 0, 0);
    viewCtx.globalAlpha = 1;
  }
  // "Show edges": what the fill followed (the model's edges inside the hole) and the lines
  // drawn with the Edge pen; nothing when it is off.
  if (!$("show-edges").checked) return;
  if (state.result && state.predictedEdges) viewCtx.drawImage(state.predictedEdges, 0, 0);
  viewCtx.drawImage(state.edges, 0, 0);
}

// White-on-black edge map -> canvas coloured `color` where white inside the hole (the
// `mask` canvas, opaque where painted), transparent elsewhere.
function holeEdges(source, mask, color) {
  const c = makeCanvas(source.width, source.height);
  const ctx = ctx2d(c);
  ctx.drawImage(source, 0, 0);
  const data = ctx.getImageData(0, 0, c.width, c.height);
  const px = data.data;
  const hole = ctx2d(mask).getImageData(0, 0, c.width, c.height).data;
  for (let i = 0; i < px.length; i += 4) px[i + 3] = hole[i + 3] > 127 ? px[i] : 0;
  ctx.putImageData(data, 0, 0);
  ctx.globalCompositeOperation = "source-in";
  ctx.fillStyle = color;
  ctx.fillRect(0, 0, c.width, c.height);
  return c;
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

function strokeTo(p) {
  const from = state.last || p;
  const targets = state.tool === "edge" ? [state.edges]
    : state.tool === "hole" ? [state.mask] : [state.mask, state.edges];
  for (const canvas of targets) {
    const ctx = ctx2d(canvas);
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.globalCompositeOperation = state.tool === "eraser" ? "destination-out" : "source-over";
    ctx.strokeStyle = state.tool === "edge" ? DRAWN_EDGE_COLOR : HOLE_COLOR;
    ctx.lineWidth = state.tool === "edge" ? Math.max(1, Math.round(state.size / 15)) : state.size;
    ctx.beginPath();
    ctx.moveTo(from.x, from.y);
    ctx.lineTo(p.x + 0.01, p.y);
    ctx.stroke();
  }
  state.last = p;
}

function snapshot() {
  return [state.mask, state.edges].map((c) => {
    const copy = makeCanvas(c.width, c.height);
    ctx2d(copy).drawImage(c, 0, 0);
    return copy;
  });
}

function restore(snap) {
  [state.mask, state.edges].forEach((c, i) => {
    const ctx = ctx2d(c);
    ctx.globalCompositeOperation = "source-over";
    ctx.clearRect(0, 0, c.width, c.height);
    ctx.drawImage(snap[i], 0, 0);
  });
}

function pushUndo() {
  state.undo.push(snapshot());
  if (state.undo.length > 20) state.undo.shift();
  state.redo = [];
}

function undo() {
  if (!state.undo.length || state.running) return;  // the hole stays as the run saw it
  state.redo.push(snapshot());
  restore(state.undo.pop());
  clearResult();
}

function redo() {
  if (!state.redo.length || state.running) return;
  state.undo.push(snapshot());
  restore(state.redo.pop());
  clearResult();
}

function clearResult() {
  state.result = null;
  state.predictedEdges = null;
  if (state.resultURL) URL.revokeObjectURL(state.resultURL);
  state.resultURL = null;
  $("download").classList.add("disabled");
  render();
}

view.addEventListener("pointerdown", (e) => {
  if (!state.original || state.running) return;
  if (state.tool === "edge") $("show-edges").checked = true;  // lines being drawn are seen
  view.setPointerCapture(e.pointerId);
  pushUndo();
  clearResult();
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
const endStroke = () => { state.drawing = false; state.last = null; };
view.addEventListener("pointerup", endStroke);
view.addEventListener("pointercancel", endStroke);

// ---- tools and keys --------------------------------------------------------------------------

function setTool(tool) {
  state.tool = tool;
  for (const name of ["hole", "eraser", "edge"]) {
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
$("size").oninput = (e) => setSize(Number(e.target.value));
$("undo").onclick = undo;
$("redo").onclick = redo;
$("clear").onclick = () => {
  if (!state.original || state.running) return;
  pushUndo();
  for (const c of [state.mask, state.edges]) ctx2d(c).clearRect(0, 0, c.width, c.height);
  clearResult();
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
  const info = $("model-info");
  if (!localInpainter) {
    info.textContent = hint || "No model in this page: Inpaint runs on the server.";
  }
  $("cancel").hidden = !state.running;
}

async function checkServer() {
  try {
    const response = await fetch(MODEL_URL);
    state.server = response.ok;
  } catch {
    state.server = false;
  }
  updateInpaint();
}

// One run at a time: {cancel} while it lasts; the hole and lines cannot change meanwhile.
async function run(work, cancel) {
  state.running = { cancel };
  updateInpaint();
  const started = performance.now();
  try {
    const out = await work();
    if (state.running && state.running.cancelled) return;
    state.result = out.image;
    state.predictedEdges = out.edges && holeEdges(out.edges, state.mask, PREDICTED_EDGE_COLOR);
    // The PNG for Download is encoded off the main thread (toBlob), so a large result does
    // not freeze the page.
    const result = state.result;
    result.toBlob((blob) => {
      if (state.result !== result || !blob) return;
      state.resultURL = URL.createObjectURL(blob);
      const link = $("download");
      link.href = state.resultURL;
      link.classList.remove("disabled");
    }, "image/png");
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    setStatus(`Done ${out.where} in ${seconds} s. Hold C to compare. ${out.note || ""}`.trim());
    render();
  } catch (err) {
    if (state.running && state.running.cancelled) return;
    setStatus("");
    showError(`Inpainting ${localInpainter ? "in this page " : ""}failed: ${err.message || err}`);
  } finally {
    const cancelled = state.running && state.running.cancelled;
    state.running = null;
    if (cancelled) setStatus("Cancelled.");
    updateInpaint();
  }
}

async function inpaint() {
  if (!state.original || state.running) return;
  showError("");
  if (!hasInk(state.mask)) {
    showError("Paint the hole first: nothing is marked for removal.");
    return;
  }
  const edges = hasInk(state.edges) ? state.edges : null;
  if (localInpainter) {
    const cancelInPage = localCancel;
    await run(async () => {
      setStatus("Inpainting in this page…");
      const out = await localInpainter({ image: state.original, mask: state.mask, edges });
      return { ...out, where: "in this page" };
    }, () => { state.running.cancelled = true; cancelInPage(); });
    return;
  }
  const instance = {
    image_bytes: { b64: state.originalBytes },
    mask_bytes: { b64: binaryPNG(state.mask) },
  };
  if (edges) instance.edges_bytes = { b64: binaryPNG(edges) };
  const body = {
    signature_name: edges ? "inpaint_bytes_with_edges" : "inpaint_bytes",
    instances: [instance],
  };
  const abort = new AbortController();
  await run(async () => {
    setStatus("Inpainting on the server…");
    const response = await fetch(`${MODEL_URL}:predict`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      signal: abort.signal,
    });
    let payload;
    try { payload = await response.json(); } catch { payload = {}; }
    if (!response.ok || payload.error) {
      throw new Error(payload.error || `the server answered ${response.status}`);
    }
    const prediction = payload.predictions[0];
    return {
      image: await decodeToCanvas(prediction.inpainted_png_bytes.b64),
      edges: prediction.edges_png_bytes ? await decodeToCanvas(prediction.edges_png_bytes.b64) : null,
      where: "on the server",
    };
  }, () => { state.running.cancelled = true; abort.abort(); });
}

// In-browser mode: ondevice.js registers a function {image, mask, edges} -> {image, edges, note}
// (canvases at the image's size) and a cancel function once a .tflite model is open; Inpaint
// then never leaves the page.
let localInpainter = null;
let localCancel = null;

$("inpaint").onclick = inpaint;
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
  setTool,
  setSize,
  setLocalInpainter: (fn, cancel = null) => {
    localInpainter = fn;
    localCancel = cancel;
    updateInpaint();
  },
};
