// The demo page: draw, shrink to the model's 28x28 (MNIST-style: the drawing's bounding box fitted
// into 20x20 and centred), and predict with the browser client. window.tfeDemo exposes the state
// for the browser test (test/browser_chromium.test.ts).
import { connect, imageToGray } from './tfe-browser.js';

const $ = (id) => document.getElementById(id);
const pad = $('pad');
const ctx = pad.getContext('2d', { willReadFrequently: true });
const preview = $('preview');
const pctx = preview.getContext('2d', { willReadFrequently: true });
const demo = (window.tfeDemo = { state: 'loading', predictions: 0 });

function clearPad() {
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, pad.width, pad.height);
  pctx.fillStyle = '#000';
  pctx.fillRect(0, 0, 28, 28);
}
clearPad();

let drawing = false;
pad.addEventListener('pointerdown', (e) => {
  drawing = true;
  pad.setPointerCapture(e.pointerId);
  ctx.strokeStyle = '#fff';
  ctx.lineWidth = 26; // ~2.5 px after shrinking: MNIST's stroke width
  ctx.lineCap = ctx.lineJoin = 'round';
  ctx.beginPath();
  ctx.moveTo(e.offsetX, e.offsetY);
  ctx.lineTo(e.offsetX + 0.1, e.offsetY);
  ctx.stroke();
});
pad.addEventListener('pointermove', (e) => {
  if (!drawing) return;
  ctx.lineTo(e.offsetX, e.offsetY);
  ctx.stroke();
});
const finish = () => {
  if (!drawing) return;
  drawing = false;
  void predict();
};
pad.addEventListener('pointerup', finish);
pad.addEventListener('pointercancel', finish);
$('clear').addEventListener('click', () => {
  clearPad();
  $('digit').textContent = '–';
  $('latency').textContent = 'draw a digit';
  $('bars').replaceChildren();
  for (const id of ['s0', 's1']) $(id).textContent = '';
});

/** The drawing as a 28x28 ImageData as MNIST digits are made: bounding box scaled into 20x20, centre of mass at the centre. */
function shrink() {
  const { data, width, height } = ctx.getImageData(0, 0, pad.width, pad.height);
  let x0 = width, y0 = height, x1 = -1, y1 = -1, mass = 0, mx = 0, my = 0;
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      if (data[4 * (y * width + x)] > 0) {
        const v = data[4 * (y * width + x)];
        mass += v;
        mx += v * x;
        my += v * y;
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
  if (x1 < 0) return undefined;
  const w = x1 - x0 + 1, h = y1 - y0 + 1, s = 20 / Math.max(w, h);
  pctx.fillStyle = '#000';
  pctx.fillRect(0, 0, 28, 28);
  pctx.imageSmoothingEnabled = true;
  pctx.imageSmoothingQuality = 'high';
  pctx.drawImage(pad, x0, y0, w, h, 14 - (mx / mass - x0) * s, 14 - (my / mass - y0) * s, w * s, h * s);
  return pctx.getImageData(0, 0, 28, 28);
}

const hex = (b) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(' ');

let config;
let client;
async function getClient() {
  config ??= await (await fetch('config.json')).json();
  client ??= await connect(config.endpoints, { fracBits: config.fracBits, requestTimeoutMs: 30_000 }).catch((e) => {
    client = undefined;
    throw e;
  });
  return client;
}

let busy = false;
let again = false;
async function predict() {
  if (busy) return void (again = true); // one query at a time; the latest drawing wins
  const image = shrink();
  if (!image) return;
  busy = true;
  demo.state = 'busy';
  $('error').textContent = '';
  try {
    const c = await getClient();
    demo.lastInput = Array.from(imageToGray(image));
    const p = await c.predict(config.model, image);
    const k = p.classes[0];
    $('digit').textContent = String(k);
    $('latency').textContent = `${p.latencyMs.toFixed(0)} ms, encrypted end to end`;
    $('bars').replaceChildren(...[...p.probabilities].map((q, j) => {
      const row = document.createElement('div');
      row.className = j === k ? 'bar top' : 'bar';
      const label = document.createElement('span');
      label.textContent = String(j);
      const bar = document.createElement('div');
      bar.style.width = `${Math.max(1, q * 120)}px`;
      row.append(label, bar);
      return row;
    }));
    $('s0').textContent = hex(p.sent.server0);
    $('s1').textContent = hex(p.sent.server1);
    demo.lastPrediction = { classes: p.classes, data: Array.from(p.data), latencyMs: p.latencyMs };
    demo.predictions++;
    demo.state = 'done';
  } catch (e) {
    demo.state = 'error';
    demo.error = e.message;
    $('error').textContent = `The prediction failed: ${e.message}`;
  } finally {
    busy = false;
    if (again) {
      again = false;
      void predict();
    }
  }
}

demo.state = 'ready';
