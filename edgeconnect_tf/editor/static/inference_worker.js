// The editor's in-page inference: LiteRT.js and the compiled .tflite models, off the page's
// main thread, so the page keeps drawing while a model runs (ondevice.js drives it).
//
// A classic worker: LiteRT.js loads its WebAssembly build with importScripts, which module
// workers lack. Requests are {id, op, ...}; every one is answered {id, result} or {id, error}.
//   start   {accelerator, assets}  -> {variant, threads, webgpu, assets (the files fetched now)}
//   compile {bytes, name}          -> {key: "plain" | "edges" | "g1", size [H, W], hasEdges}
//           ("g1": the G1-only file, signature `edges`: image, mask -> edges)
//   windows {hole, h, w, key}      -> the windows [y0, y1, x0, x1) of the crop rule
//   window  {key, rgba, hole, lines, h, w, fullMap, base} -> one h×w window through the model
//           (windows.js, inpaintWindow): {filled [h·w·3] 0–255 (null for g1),
//           edges [h·w] 0–65535, small (the model-size map of a resized window, or null)}
//   run     {key, image, mask, edges} -> {inpainted [H·W·3], edges [H·W]} float32
//   time    {key, runs, image, mask}  -> seconds of each model call (tensors in, run, read back)
// The runtime files (core module, loader script, .wasm) are fetched once per page: the worker
// hands them back in `start`, and the page passes them to the next worker (after a Cancel).
"use strict";

importScripts("windows.js");

const LITERT_DIR = new URL("third_party/litert/", self.location.href).href;
const SIGNATURE = "inpaint";
const EDGES_SIGNATURE = "edges"; // the G1-only file (edgeconnect export --tflite --drawn-edges)
const debug = (...args) => console.debug("[LiteRT]", ...args);
// LiteRT.js's own notes (e.g. "Failed to create default WebGPU device" on a CPU-only page) are
// chatter for a developer, not errors for the page's user: debug level, as its C++ output.
console.warn = console.info = console.log = debug;

let litert = null; // the @litertjs/core module
let threads = 1;
const slots = { plain: null, edges: null, g1: null }; // {model, name, size, hasEdges, stage}

async function fetched(path, kind) {
  const response = await fetch(LITERT_DIR + path);
  if (!response.ok) throw new Error(`${path}: the server answered ${response.status}`);
  return kind === "text" ? response.text() : response.arrayBuffer();
}

const blobUrl = (text) => URL.createObjectURL(new Blob([text], { type: "text/javascript" }));

// @litertjs/core imports "@litertjs/wasm-utils" by its bare name, which a worker (no import
// maps) cannot resolve: the module is imported from a copy naming the helper's own URL.
async function importCore(assets) {
  const utils = blobUrl(assets["wasm-utils/index.js"]);
  const source = assets["core/index.js"];
  const specifier = 'from "@litertjs/wasm-utils"';
  if (source.split(specifier).length !== 2) {
    throw new Error(`core/index.js does not import ${specifier} once: a LiteRT.js version ` +
      "this page was not written for");
  }
  return import(blobUrl(source.replace(specifier, `from ${JSON.stringify(utils)}`)));
}

// The CPU builds: threaded (relaxed SIMD, SharedArrayBuffer: a cross-origin isolated page) or
// compat (any WebAssembly SIMD). WebGPU: the JSPI build, which lets the operations the GPU
// delegate lacks (Canny's WHILE, MIRROR_PAD) run on the CPU mid-model.
async function start({ accelerator, assets: given }) {
  if (typeof WebAssembly !== "object") {
    throw new Error("this browser has no WebAssembly, which the in-page mode needs " +
      "(run the model on a server instead: `edgeconnect serve --weights DIR`)");
  }
  const assets = { ...given };
  const got = {};
  const need = async (path, kind) => {
    if (!(path in assets)) assets[path] = got[path] = await fetched(path, kind);
    return assets[path];
  };
  await need("core/index.js", "text");
  await need("wasm-utils/index.js", "text");
  litert = await importCore(assets);
  let variant, threaded = false;
  if (accelerator === "webgpu") {
    if (!navigator.gpu) throw new Error("this browser has no WebGPU; choose CPU (WebAssembly)");
    if (!(await litert.supportsFeature("jspi"))) {
      throw new Error("WebGPU in this page needs WebAssembly JSPI (Chrome/Edge 137+); " +
        "choose CPU (WebAssembly)");
    }
    variant = "litert_wasm_jspi_internal";
  } else {
    const relaxed = await litert.supportsFeature("relaxedSimd");
    threaded = self.crossOriginIsolated === true && relaxed && navigator.hardwareConcurrency > 1;
    variant = threaded ? "litert_wasm_threaded_internal" : "litert_wasm_compat_internal";
  }
  const script = await need(`wasm/${variant}.js`, "text");
  const wasm = await need(`wasm/${variant}.wasm`, "binary");
  // Emscripten's options (LiteRT.js passes `self.Module` to the build's factory): the .wasm
  // bytes already here, pthreads started from the loader already here, output at debug level.
  const loader = new Blob([script], { type: "text/javascript" });
  self.Module = {
    wasmBinary: wasm.slice(0),
    mainScriptUrlOrBlob: loader,
    locateFile: (path) => LITERT_DIR + "wasm/" + path,
    print: debug,
    printErr: debug,
  };
  try {
    // The fragment names the file (LiteRT.js picks a build by the name's suffix);
    // a blob URL ignores it.
    await litert.loadLiteRt(`${URL.createObjectURL(loader)}#${variant}.js`);
  } catch (err) {
    throw new Error(`LiteRT.js could not start in this browser (${err.message || err}); ` +
      "it needs WebAssembly with SIMD (Chrome/Edge 91+, Firefox 89+, Safari 16.4+)");
  }
  // One core is left to the page (its frames and input): at most 4 threads.
  threads = threaded ? Math.max(1, Math.min(navigator.hardwareConcurrency - 1, 4)) : 1;
  return {
    variant: `${variant}.js`,
    threads,
    webgpu: Boolean(litert.getDefaultEnvironment().webGpuDevice),
    assets: got,
  };
}

// The model's `inpaint` signature: inputs image [1, H, W, 3], mask [1, H, W, 1], optional edges;
// or the G1-only file's `edges` signature: image, mask -> edges.
function describe(model, name) {
  const stage = model.signatures[SIGNATURE] ? null : model.signatures[EDGES_SIGNATURE] ? "edges"
    : undefined;
  if (stage === undefined) {
    throw new Error(`${name} has no '${SIGNATURE}' signature: expected a file written by ` +
      "`edgeconnect export --tflite`");
  }
  const runner = model.signatures[stage === "edges" ? EDGES_SIGNATURE : SIGNATURE];
  const inputs = Object.fromEntries(runner.getInputDetails().map((d) => [d.name, [...d.shape]]));
  const image = inputs.image, mask = inputs.mask;
  const ok = image && mask && image.length === 4 && image[0] === 1 && image[3] === 3 &&
    mask.length === 4 && mask[1] === image[1] && mask[2] === image[2] && mask[3] === 1;
  if (!ok) {
    const found = Object.entries(inputs).map(([k, s]) => `${k} [${s}]`).join(", ");
    throw new Error(`${name} takes ${found}; expected image [1, H, W, 3] and mask [1, H, W, 1]`);
  }
  return { size: [image[1], image[2]], hasEdges: "edges" in inputs, stage };
}

async function compile({ bytes, name, accelerator }) {
  const model = await litert
    .loadAndCompile(new Uint8Array(bytes), { accelerator, cpuOptions: { numThreads: threads } })
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
  const key = info.stage === "edges" ? "g1" : info.hasEdges ? "edges" : "plain";
  if (slots[key]) slots[key].model.delete();
  slots[key] = { model, name, ...info };
  return { key, ...info };
}

async function run({ key, image, mask, edges }) {
  const slot = slots[key];
  const [h, w] = slot.size;
  const inputs = {
    image: new litert.Tensor(image, [1, h, w, 3]),
    mask: new litert.Tensor(mask, [1, h, w, 1]),
  };
  if (slot.hasEdges) {
    inputs.edges = new litert.Tensor(edges || new Float32Array(h * w), [1, h, w, 1]);
  }
  let outputs = null;
  try {
    outputs = await slot.model.run(slot.stage === "edges" ? EDGES_SIGNATURE : SIGNATURE, inputs);
    return {
      inpainted: outputs.inpainted ? Float32Array.from(await outputs.inpainted.data()) : null,
      edges: Float32Array.from(await outputs.edges.data()),
    };
  } finally {
    for (const t of Object.values(inputs)) t.delete();
    if (outputs) for (const t of Object.values(outputs)) t.delete();
  }
}

async function time({ key, runs, image, mask }) {
  const seconds = [];
  for (let k = 0; k < runs; k++) {
    const t0 = performance.now();
    await run({ key, image, mask, edges: null });
    seconds.push((performance.now() - t0) / 1000);
  }
  return seconds;
}

const ops = {
  start,
  compile,
  run,
  time,
  windows: ({ hole, h, w, key }) => {
    const side = Math.min(...slots[key].size); // as TFLiteModel: window = max_side = S
    return holeWindows(hole, h, w, [side, side]);
  },
  window: ({ key, rgba, hole, lines, h, w, fullMap, base }) => inpaintWindow(
    (inputs) => run({ key, ...inputs }), rgba, hole, lines, h, w, slots[key].size, fullMap, base),
};

// One request at a time, in order (LiteRT.js's WebAssembly module is single-entry).
let queue = Promise.resolve();
self.onmessage = ({ data }) => {
  queue = queue.then(async () => {
    try {
      const result = await ops[data.op](data);
      const arrays = data.op === "run" ? [result.inpainted, result.edges]
        : data.op === "window" ? [result.filled, result.edges, result.small] : [];
      const transfer = arrays.filter(Boolean).map((a) => a.buffer);
      self.postMessage({ id: data.id, result }, transfer);
    } catch (err) {
      self.postMessage({ id: data.id, error: String(err && err.message ? err.message : err) });
    }
  });
};
