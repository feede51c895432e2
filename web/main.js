// The page: loads the wasm module (built by scripts/web-build.sh into pkg/), trains with the
// settings of the form on the embedded subset or the visitor's own images (own-images.js),
// draws the loss terms as they come, then k-NN, attention maps and, on own images, the map of
// the teacher's features (feature-map.js).
// URL parameters set the form and can start at once:
// ?settings=small-test&steps=3&knn_bank=200&knn_every=2&autostart=1

import init, { train, train_on_images, named_settings, image_size } from "./pkg/adclr_web.js";
import { decodeAll, describe, droppedFiles, pickedFiles } from "./own-images.js";
import { drawFrame } from "./chart-frame.js";
import { caption as mapCaption, drawFeatureMap, legend as mapLegend } from "./feature-map.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const points = [];
// k-NN top-1 (%) of the teacher and of the random initialisation (the floor) at steps of the run.
const knnPoints = [];
// The adapter is a CPU fallback (SwiftShader, lavapipe): runs are short tests that do not learn.
let fallback = false;
// The visitor's images: the files chosen or dropped, and their pixels at the last side decoded.
const own = { files: [], decoded: null };

function setState(state, text) {
  document.body.dataset.state = state;
  $("status").textContent = text;
}

// Tick values: about `count` round numbers (1, 2 or 5 times a power of ten) across [lo, hi].
function ticks(lo, hi, count) {
  const raw = (hi - lo) / count;
  const unit = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * unit).find((s) => s >= raw) || raw;
  const out = [];
  // Each tick from its index (adding the step up would gather rounding: 1.9999999999999998).
  for (let i = Math.ceil(lo / step); i * step <= hi + step * 1e-9; i++) out.push(Number((i * step).toPrecision(12)));
  return out;
}

// The loss terms over the steps: axes with ticks, their names and units.
function drawChart() {
  const canvas = $("chart");
  const w = canvas.width;
  const left = 62, top = 10;
  const { g, pw, ph } = drawFrame(canvas, { left, right: 58, top, bottom: 42 }, "training step", "loss (nats)");
  if (knnPoints.length) {
    g.save();
    g.translate(w - 10, top + ph / 2);
    g.rotate(Math.PI / 2);
    g.fillStyle = "#2ca02c";
    g.fillText("k-NN top-1 (%)", 0, 0);
    g.restore();
  }
  if (points.length === 0) return;
  const series = [["loss", "#222"], ["global_loss", "#1f77b4"], ["query_loss", "#d62728"]];
  const values = points.flatMap((p) => series.map(([k]) => p[k])).filter(Number.isFinite);
  let lo = Math.min(...values), hi = Math.max(...values);
  if (hi - lo < 1e-9) { hi += 0.5; lo -= 0.5; }
  const pad = (hi - lo) * 0.05;
  lo -= pad; hi += pad;
  const last = Math.max(points[points.length - 1].step, 2);
  const x = (s) => left + ((s - 1) / (last - 1)) * pw;
  const y = (v) => top + (1 - (v - lo) / (hi - lo)) * ph;
  g.font = "11px sans-serif";
  g.strokeStyle = "#ddd";
  g.textAlign = "right";
  for (const v of ticks(lo, hi, 5)) {
    g.beginPath(); g.moveTo(left, y(v)); g.lineTo(left + pw, y(v)); g.stroke();
    g.fillText(Math.abs(v) < 1e-9 ? "0" : v.toPrecision(3), left - 4, y(v) + 4);
  }
  g.textAlign = "center";
  for (const s of ticks(1, last, 6).filter((s) => s >= 1 && Number.isInteger(s))) {
    g.fillText(String(s), x(s), top + ph + 14);
  }
  g.textAlign = "left";
  for (const [key, colour] of series) {
    g.strokeStyle = colour;
    g.lineWidth = 2;
    g.beginPath();
    points.forEach((p, i) => (i ? g.lineTo(x(p.step), y(p[key])) : g.moveTo(x(p.step), y(p[key]))));
    g.stroke();
  }
  drawKnn(g, x, { left, top, pw, ph });
}

// k-NN of the teacher (solid, with dots) and the random-init floor (dashed) against the right
// axis, in percent, as the run measures them.
function drawKnn(g, x, { left, top, pw, ph }) {
  g.canvas.dataset.knnPoints = String(knnPoints.length);
  if (knnPoints.length === 0) return;
  const values = knnPoints.flatMap((p) => [p.teacher_top1, p.floor_top1]);
  let lo = Math.min(...values), hi = Math.max(...values);
  if (hi - lo < 2) { lo -= 1; hi += 1; }
  const pad = (hi - lo) * 0.1;
  // Percentages: the axis stays within 0-100.
  lo = Math.max(0, lo - pad); hi = Math.min(100, hi + pad);
  const y = (v) => top + (1 - (v - lo) / (hi - lo)) * ph;
  g.font = "11px sans-serif";
  g.fillStyle = "#2ca02c";
  g.textAlign = "left";
  const marks = ticks(lo, hi, 5);
  // As many decimals as the tick step needs (100.5 is not "101" beside 101).
  const unit = marks.length > 1 ? marks[1] - marks[0] : 1;
  const decimals = Math.max(0, -Math.floor(Math.log10(unit) + 1e-9));
  for (const v of marks) g.fillText(v.toFixed(decimals), left + pw + 4, y(v) + 4);
  g.strokeStyle = "#2ca02c";
  g.lineWidth = 1.5;
  const line = (key) => {
    g.beginPath();
    knnPoints.forEach((p, i) => (i ? g.lineTo(x(p.step), y(p[key])) : g.moveTo(x(p.step), y(p[key]))));
    g.stroke();
  };
  g.setLineDash([5, 4]);
  line("floor_top1");
  g.setLineDash([]);
  g.lineWidth = 2;
  line("teacher_top1");
  for (const p of knnPoints) {
    g.beginPath();
    g.arc(x(p.step), y(p.teacher_top1), 3, 0, 2 * Math.PI);
    g.fill();
  }
}

function onEvent(event) {
  if (event.kind === "knn") {
    knnPoints.push(event.point);
    $("knn").textContent = `k-NN at step ${event.point.step}: ${event.point.teacher_top1.toFixed(1)}% ` +
      `(random-init floor ${event.point.floor_top1.toFixed(1)}%)`;
    drawChart();
    return;
  }
  if (event.kind === "phase") {
    $("status").textContent = event.text + "…";
    if (event.text.startsWith("training on ")) $("kernels").textContent = event.text.slice(12);
    return;
  }
  const log = event.log;
  points.push(log);
  $("step").textContent = `step ${log.step} of ${event.total}: loss ${log.loss.toFixed(4)}`;
  if (log.step > 1) {
    const first = points[0].seconds;
    $("rate").textContent = `${((log.step - 1) / (event.seconds - first)).toFixed(2)} steps/s`;
  }
  points[points.length - 1].seconds = event.seconds;
  drawChart();
}

function putPixels(canvas, rgba, width) {
  canvas.width = width;
  canvas.height = width;
  canvas.getContext("2d").putImageData(new ImageData(new Uint8ClampedArray(rgba), width, width), 0, 0);
}

// Each test image beside the teacher's CLS attention over it, then the colour bar of the maps
// (the heat colours of src/eval/attention_map.rs: blue low, green middle, red high). `what`
// names the images ("Embedded test images", "Your held-out images").
function drawAttention(maps, what) {
  const grid = $("attention-grid");
  // The first map keeps the canvas the page check reads (id "attention").
  const first = $("attention");
  grid.replaceChildren();
  maps.forEach((att, i) => {
    const image = document.createElement("canvas");
    putPixels(image, att.image_rgba, att.width);
    image.setAttribute("aria-label", `${what} ${att.image}`);
    const heat = i === 0 ? first : document.createElement("canvas");
    putPixels(heat, att.rgba, att.width);
    heat.setAttribute("aria-label", `the teacher's attention over image ${att.image}`);
    grid.append(image, heat);
  });
  const bar = $("colour-bar");
  const g = bar.getContext("2d");
  for (let px = 0; px < bar.width; px++) {
    const t = px / (bar.width - 1);
    g.fillStyle = `rgb(${255 * t}, ${255 * (1 - Math.abs(2 * t - 1))}, ${255 * (1 - t)})`;
    g.fillRect(px, 0, 1, bar.height);
  }
  const images = maps.map((a) => a.image).join(", ");
  $("attention-caption").textContent =
    `${what} ${images}, each beside the teacher's CLS attention over it (last block, ` +
    `mean of heads, blended over the image; each map scaled from its lowest to its highest patch).`;
}

// The trained teacher's backbone as a file to download: safetensors with timm's names, what
// `adclr-wgpu export` writes; `adclr-wgpu eval` and `export` read it, timm loads it.
function offerBackbone(bytes, steps) {
  const link = $("download");
  if (link.href) URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(new Blob([bytes], { type: "application/octet-stream" }));
  link.download = `adclr-web-teacher-${steps}-steps.safetensors`;
  link.textContent = `Download the trained teacher backbone (${(bytes.length / 1e6).toFixed(1)} MB, safetensors, timm names)`;
  link.hidden = false;
}

// The visitor's images decoded at the side `settings` train on (again if the model changed).
async function ownImages(settings) {
  const side = image_size(JSON.stringify(settings));
  if (!own.decoded || own.decoded.side !== side) {
    own.decoded = await decodeAll(own.files, side, (done, total) => {
      $("own-count").textContent = `Decoding your images at ${side} px: ${done} of ${total}…`;
    });
    showOwnCount();
  }
  return own.decoded;
}

function showOwnCount() {
  const d = own.decoded;
  const el = $("own-count");
  el.textContent = describe(d);
  el.dataset.count = String(d.count);
  el.dataset.skipped = String(d.skipped.length);
  el.dataset.classes = String(d.classes.length);
}

// New files from the picker or a drop: decode them at the selected model's side, count them,
// and select them as the data.
async function takeFiles(files) {
  own.files = files;
  own.decoded = null;
  document.body.dataset.own = "decoding";
  $("start").disabled = true;
  try {
    const settings = JSON.parse(named_settings($("preset").value));
    const d = await ownImages(settings);
    $("data-own").disabled = d.count === 0;
    $("data-own").checked = d.count > 0;
    $("data-embedded").checked = d.count === 0;
    document.body.dataset.own = d.count > 0 ? "ready" : "empty";
  } catch (e) {
    $("own-count").textContent = `Could not read the files: ${e && e.message ? e.message : e}`;
    document.body.dataset.own = "error";
  } finally {
    $("start").disabled = false;
  }
}

// The k-NN sentence: the teacher against the random-init floor, or why there is none;
// `measured`: the run was the page's default run on the embedded images, to its end.
function knnText(done, onOwn, measured) {
  if (!done.knn) {
    if (onOwn && done.images.classes.length === 0) {
      return "No k-NN: your images have no labels (put them in one sub-folder per class to measure it).";
    }
    return "k-NN skipped (bank 0).";
  }
  const k = done.knn;
  const gain = k.teacher_top1 - k.floor_top1;
  const queries = onOwn ? `${k.queries} of your images held out` : `${k.queries} test images`;
  let text = `k-NN top-1 of the teacher ${k.teacher_top1.toFixed(2)}% against ` +
    `${k.floor_top1.toFixed(2)}% at the random initialisation (${gain >= 0 ? "+" : ""}${gain.toFixed(2)} points; ` +
    `bank ${k.bank}, ${queries}).`;
  if (fallback) {
    text += " On this CPU fallback the run is a short test of the machinery: it will not learn.";
  } else if (measured) {
    text += " This is the page's default run: natively, the same settings beat the floor at two seeds " +
      "(docs/measurements.md in the repository).";
  } else {
    text += " A run shorter than the page's default shows that training works, not that it has learnt.";
  }
  return text;
}

function showMap(map) {
  $("map-figure").hidden = !map;
  if (!map) return;
  drawFeatureMap($("map"), map);
  mapLegend($("map-legend"), map);
  $("map").dataset.points = String(map.points.length);
  $("map-caption").textContent = mapCaption(map);
}

async function run() {
  $("start").disabled = true;
  points.length = 0;
  knnPoints.length = 0;
  drawChart();
  $("results").hidden = true;
  const settings = JSON.parse(named_settings($("preset").value));
  settings.knn_bank = Number($("knn-bank").value);
  if (params.has("knn_every")) settings.knn_every = Number(params.get("knn_every"));
  const onOwn = $("data-own").checked;
  setState("running", "Starting…");
  try {
    const steps = Number($("steps").value);
    let done;
    if (onOwn) {
      const d = await ownImages(settings);
      done = await train_on_images(steps, JSON.stringify(settings), d.bytes, d.count, JSON.stringify(d.labels), onEvent);
    } else {
      done = await train(steps, JSON.stringify(settings), onEvent);
    }
    const r = done.record;
    const last = r.steps[r.steps.length - 1];
    if (done.knn) {
      knnPoints.push({ step: last.step, ...done.knn });
      drawChart();
    }
    $("rate").textContent = `${r.steps_per_second.toFixed(2)} steps/s (first step ${r.first_step_seconds.toFixed(1)} s)`;
    const pageRun = JSON.parse(named_settings("page"));
    const measured = !onOwn && $("preset").value === "page" && last.step >= pageRun.steps &&
      settings.knn_bank === pageRun.knn_bank;
    $("knn").textContent = knnText(done, onOwn, measured);
    const shown = !onOwn ? "Embedded test images" : done.images.held_out > 0 ? "Your held-out images" : "Your images";
    drawAttention(done.attention, shown);
    showMap(done.map);
    $("trained-on").textContent = onOwn
      ? `Trained on ${done.images.train} of your images` +
        (done.images.held_out ? ` (${done.images.held_out} more held out for k-NN).` : ".")
      : "Trained on the embedded Fashion-MNIST subset.";
    offerBackbone(done.backbone, last.step);
    $("result").textContent = `final loss ${last.loss.toFixed(6)} after ${last.step} steps on ${r.adapter}`;
    $("result").dataset.loss = String(last.loss);
    $("result").dataset.stepsPerSecond = String(r.steps_per_second);
    $("results").hidden = false;
    setState("done", `Done: ${last.step} steps.`);
  } catch (e) {
    setState("error", `Failed: ${e && e.message ? e.message : e}`);
  } finally {
    $("start").disabled = false;
  }
}

async function main() {
  if (!navigator.gpu) {
    setState("error", "This browser has no WebGPU (navigator.gpu). Chrome and Edge 113+ have it; " +
      "Firefox 141+ on Windows; Safari 26. Chromium on Linux needs --enable-unsafe-webgpu.");
    return;
  }
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) {
    setState("error", "WebGPU is there but offers no adapter: is the GPU blocklisted? (chrome://gpu tells)");
    return;
  }
  const info = adapter.info || {};
  fallback = Boolean(info.isFallbackAdapter || adapter.isFallbackAdapter);
  const name = [info.vendor, info.architecture, info.description].filter(Boolean).join(" ");
  $("adapter").textContent = `${name || "WebGPU adapter"}${fallback ? " (a CPU fallback)" : ""}`;
  await init();
  for (const [key, id] of [["settings", "preset"], ["steps", "steps"], ["knn_bank", "knn-bank"]]) {
    if (params.has(key)) $(id).value = params.get(key);
  }
  // The steps field follows the model chosen (each named setting has its own run length).
  const presetSteps = () => { $("steps").value = JSON.parse(named_settings($("preset").value)).steps; };
  if (!params.has("steps")) presetSteps();
  $("preset").addEventListener("change", presetSteps);
  $("settings").addEventListener("submit", (e) => { e.preventDefault(); run(); });
  $("folder").addEventListener("change", (e) => { if (e.target.files.length) takeFiles(pickedFiles(e.target.files)); });
  const zone = $("drop-zone");
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", async (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    takeFiles(await droppedFiles(e.dataTransfer));
  });
  $("start").disabled = false;
  if (fallback && !params.has("settings")) {
    // The page's run is 2,000 steps of the laptop ViT: about 1 s a step natively on lavapipe
    // (2 cores), hours on a CPU adapter in a browser.
    $("preset").value = "small-test";
    $("knn-bank").value = "500";
    if (!params.has("steps")) presetSteps();
    setState("ready", "WebGPU runs on the CPU here (a fallback adapter), so the 16-px test model is selected: " +
      `the page's ${JSON.parse(named_settings("page")).steps}-step run, which learns on a GPU, would take hours on ` +
      "such an adapter. This is a short test that shows the training works; it will not learn (k-NN stays near " +
      "the random-init floor). Press Train.");
  } else {
    setState("ready", "Ready: press Train.");
  }
  drawChart();
  if (params.get("autostart") === "1") run();
}

main().catch((e) => setState("error", `Failed to load: ${e && e.message ? e.message : e}`));
