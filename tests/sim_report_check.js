// sim_report_check.js - put into a copy of a `tinylarge sim --report` page by
// test_sim_report.sh: records the page's errors, then draws each plot's SVG
// on a canvas and counts its pixels, so the test can tell a plot that
// rendered data from a blank or broken one. Writes its findings into
// <pre id="plot-check"> for `chromium --dump-dom`.
window.pageErrors = [];
window.addEventListener('error', (e) => window.pageErrors.push('error: ' + e.message));
window.addEventListener('unhandledrejection', (e) => window.pageErrors.push('rejection: ' + e.reason));
const consoleError = console.error;
console.error = function (...args) {
  window.pageErrors.push('console: ' + args.join(' '));
  consoleError.apply(console, args);
};

async function checkPlot(figure) {
  const svg = figure.querySelector('svg');
  if (!svg) return figure.id + ' missing';
  const box = svg.getBoundingClientRect();
  const image = new Image();
  const loaded = new Promise((resolve, reject) => { image.onload = resolve; image.onerror = reject; });
  image.src = 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(new XMLSerializer().serializeToString(svg));
  try {
    await loaded;
  } catch (e) {
    return figure.id + ' unloadable';
  }
  const canvas = document.createElement('canvas');
  canvas.width = Math.max(1, Math.round(box.width));
  canvas.height = Math.max(1, Math.round(box.height));
  const context = canvas.getContext('2d');
  context.drawImage(image, 0, 0, canvas.width, canvas.height);
  const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
  let coloured = 0, ink = 0;
  for (let i = 0; i < pixels.length; i += 4) {
    const high = Math.max(pixels[i], pixels[i + 1], pixels[i + 2]);
    const low = Math.min(pixels[i], pixels[i + 1], pixels[i + 2]);
    if (high - low > 60) coloured++;   // the data: gnuplot draws it in colour
    if (high < 160) ink++;             // axes, ticks and text
  }
  return `${figure.id} ${canvas.width}x${canvas.height} coloured=${coloured} ink=${ink}`;
}

window.addEventListener('load', async () => {
  const lines = [];
  for (const figure of document.querySelectorAll('figure.plot')) lines.push(await checkPlot(figure));
  lines.push('plots=' + document.querySelectorAll('figure.plot').length);
  lines.push('errors=' + window.pageErrors.length);
  for (const e of window.pageErrors) lines.push(e);
  const out = document.createElement('pre');
  out.id = 'plot-check';
  out.textContent = lines.join('\n');
  document.body.appendChild(out);
});
