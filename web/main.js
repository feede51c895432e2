// The page: loads the wasm module (built by scripts/web-build.sh into pkg/), trains with the
// settings of the form, draws the loss terms as they come, then k-NN and an attention map.
// URL parameters set the form and can start at once: ?settings=small-test&steps=3&knn_bank=200&autostart=1

import init, { train, named_settings } from "./pkg/adclr_web.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const points = [];

function setState(state, text) {
  document.body.dataset.state = state;
  $("status").textContent = text;
}

function drawChart() {
  const canvas = $("chart");
  const g = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, pad = 36;
  g.clearRect(0, 0, w, h);
  g.strokeStyle = "#999";
  g.strokeRect(pad, 8, w - pad - 8, h - pad - 8);
  if (points.length === 0) return;
  const series = [["loss", "#222"], ["global_loss", "#1f77b4"], ["query_loss", "#d62728"]];
  const values = points.flatMap((p) => series.map(([k]) => p[k])).filter(Number.isFinite);
  let lo = Math.min(...values), hi = Math.max(...values);
  if (hi - lo < 1e-9) { hi += 0.5; lo -= 0.5; }
  const last = Math.max(points[points.length - 1].step, 2);
  const x = (s) => pad + ((s - 1) / (last - 1)) * (w - pad - 8);
  const y = (v) => 8 + (1 - (v - lo) / (hi - lo)) * (h - pad - 8);
  g.fillStyle = "#444";
  g.font = "11px sans-serif";
  g.fillText(hi.toFixed(2), 2, 16);
  g.fillText(lo.toFixed(2), 2, h - pad);
  g.fillText(`step ${last}`, w - 60, h - pad + 18);
  for (const [key, colour] of series) {
    g.strokeStyle = colour;
    g.lineWidth = 2;
    g.beginPath();
    points.forEach((p, i) => (i ? g.lineTo(x(p.step), y(p[key])) : g.moveTo(x(p.step), y(p[key]))));
    g.stroke();
  }
}

function onEvent(event) {
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

function drawAttention(att) {
  const canvas = $("attention");
  canvas.width = att.width;
  canvas.height = att.width;
  const pixels = new ImageData(new Uint8ClampedArray(att.rgba), att.width, att.width);
  canvas.getContext("2d").putImageData(pixels, 0, 0);
  $("attention-caption").textContent =
    `The teacher's CLS attention over embedded test image ${att.image} (last block, mean of heads).`;
}

async function run() {
  $("start").disabled = true;
  points.length = 0;
  drawChart();
  $("results").hidden = true;
  const settings = JSON.parse(named_settings($("preset").value));
  settings.knn_bank = Number($("knn-bank").value);
  setState("running", "Starting…");
  try {
    const done = await train(Number($("steps").value), JSON.stringify(settings), onEvent);
    const r = done.record;
    const last = r.steps[r.steps.length - 1];
    $("rate").textContent = `${r.steps_per_second.toFixed(2)} steps/s (first step ${r.first_step_seconds.toFixed(1)} s)`;
    if (done.knn) {
      const k = done.knn;
      const gain = k.teacher_top1 - k.floor_top1;
      $("knn").textContent = `k-NN top-1 of the teacher ${k.teacher_top1.toFixed(2)}% against ` +
        `${k.floor_top1.toFixed(2)}% at the random initialisation (${gain >= 0 ? "+" : ""}${gain.toFixed(2)} points; ` +
        `bank ${k.bank}, ${k.queries} test images). A short run shows that training works, not that it has learnt.`;
    } else {
      $("knn").textContent = "k-NN skipped (bank 0).";
    }
    drawAttention(done.attention);
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
  const fallback = Boolean(info.isFallbackAdapter || adapter.isFallbackAdapter);
  const name = [info.vendor, info.architecture, info.description].filter(Boolean).join(" ");
  $("adapter").textContent = `${name || "WebGPU adapter"}${fallback ? " (a CPU fallback)" : ""}`;
  await init();
  for (const [key, id] of [["settings", "preset"], ["steps", "steps"], ["knn_bank", "knn-bank"]]) {
    if (params.has(key)) $(id).value = params.get(key);
  }
  $("settings").addEventListener("submit", (e) => { e.preventDefault(); run(); });
  $("start").disabled = false;
  if (fallback && !params.has("settings")) {
    // The tiny model takes about half a minute a step on a CPU (SwiftShader, lavapipe).
    $("preset").value = "small-test";
    $("knn-bank").value = "500";
    setState("ready", "WebGPU runs on the CPU here (a fallback adapter), so the 16-px test model is selected: " +
      "the tiny ViT takes about 30 s a step on such an adapter. Press Train.");
  } else {
    setState("ready", "Ready: press Train.");
  }
  drawChart();
  if (params.get("autostart") === "1") run();
}

main().catch((e) => setState("error", `Failed to load: ${e && e.message ? e.message : e}`));
