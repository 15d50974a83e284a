// Helpers shared by the activations service's reports (gradients.js, logit_lens.js and
// activations.js), loaded after common.js and before the page's own script: number formatting,
// the sequential colour scale and an SVG line chart across layers.
const SEQ_STOPS = [[255, 255, 255], [198, 219, 239], [107, 174, 214], [33, 113, 181], [8, 48, 107]];

// ---- numbers and colours ----
function num(v) {
  if (isNum(v)) return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return null;
}
function exact(v) { return isNum(v) ? String(v) : 'n/a'; }
function short(v, p) {
  if (!isNum(v)) return '\u2014';
  if (v === 0) return '0';
  const a = Math.abs(v);
  p = p || 3;
  if (a >= 1e5 || a < 1e-3) return v.toExponential(p - 1).replace(/\.?0+e/, 'e');
  return String(Number(v.toPrecision(p)));
}
function clamp01(t) { return isNum(t) ? Math.min(Math.max(t, 0), 1) : 0; }
function seqColor(t) {
  t = clamp01(t) * (SEQ_STOPS.length - 1);
  const i = Math.min(Math.floor(t), SEQ_STOPS.length - 2), f = t - i;
  const a = SEQ_STOPS[i], b = SEQ_STOPS[i + 1];
  return 'rgb(' + a.map((v, k) => Math.round(v + (b[k] - v) * f)).join(', ') + ')';
}
function text(v) { return v === null || v === undefined ? '' : String(v); }

// ---- line chart (x: layers; y: linear or log10) ----
// series: [{key, label, color, points: [[x, y], ...]}]
function lineChart(series, o) {
  const W = o.width || 620, H = o.height || 290, L = 70, R = 18, T = 14, B = 42;
  const log = !!o.log;
  const usable = y => isNum(y) && (!log || y > 0);
  const xs = [], ys = [];
  let dropped = 0;
  for (const s of series) {
    for (const p of s.points) {
      if (!isNum(p[0])) continue;
      if (usable(p[1])) { xs.push(p[0]); ys.push(p[1]); } else if (p[1] !== null && p[1] !== undefined) dropped++;
    }
  }
  if (!ys.length) return el('p', {class: 'notice', text: 'Nothing to draw: no ' + (log ? 'positive ' : '') + 'values.'});
  let x0 = Math.min(...xs), x1 = Math.max(...xs);
  if (x1 === x0) { x0 -= 1; x1 += 1; }
  let y0, y1;
  if (log) {
    y0 = Math.floor(Math.log10(Math.min(...ys)));
    y1 = Math.ceil(Math.log10(Math.max(...ys)));
    if (y1 === y0) y1 = y0 + 1;
  } else {
    y0 = Math.min(...ys); y1 = Math.max(...ys);
    if (y1 - y0 < 1e-12) { y0 -= 0.5; y1 += 0.5; }
    const pad = (y1 - y0) * 0.06; y0 -= pad; y1 += pad;
  }
  const tf = y => (log ? Math.log10(y) : y);
  const sx = x => L + (x - x0) / (x1 - x0) * (W - L - R);
  const sy = y => T + (y1 - tf(y)) / (y1 - y0) * (H - T - B);
  const svg = svgEl('svg', {class: 'chart ' + (o.cls || ''), width: W, height: H, viewBox: '0 0 ' + W + ' ' + H, role: 'img',
    'data-scale': log ? 'log' : 'linear'});
  // y grid and ticks
  const yticks = [];
  if (log) {
    const step = Math.max(1, Math.ceil((y1 - y0) / 8));
    for (let k = y0; k <= y1; k += step) yticks.push(Math.pow(10, k));
  } else {
    for (let k = 0; k <= 4; k++) yticks.push(y0 + (y1 - y0) * k / 4);
  }
  for (const yv of yticks) {
    svg.append(svgEl('line', {class: 'grid', x1: L, x2: W - R, y1: sy(yv), y2: sy(yv)}));
    const t = svgEl('text', {x: L - 6, y: sy(yv) + 4, 'text-anchor': 'end'});
    t.textContent = log ? short(yv, 1) : short(yv, 3);
    svg.append(t);
  }
  // x ticks: the layers
  const distinct = Array.from(new Set(xs)).sort((a, b) => a - b);
  const xstep = Math.max(1, Math.ceil(distinct.length / 16));
  distinct.forEach((xv, i) => {
    const last = distinct.length - 1;
    if (i !== last && (i % xstep !== 0 || last - i < xstep / 2)) return;
    const t = svgEl('text', {x: sx(xv), y: H - B + 14, 'text-anchor': 'middle'});
    t.textContent = String(xv);
    svg.append(t);
  });
  svg.append(svgEl('line', {class: 'axis', x1: L, x2: W - R, y1: H - B, y2: H - B}));
  svg.append(svgEl('line', {class: 'axis', x1: L, x2: L, y1: T, y2: H - B}));
  const xl = svgEl('text', {x: (L + W - R) / 2, y: H - 8, 'text-anchor': 'middle'});
  xl.textContent = o.xLabel || 'layer';
  svg.append(xl);
  const ym = (T + H - B) / 2;
  const yl = svgEl('text', {x: 14, y: ym, 'text-anchor': 'middle', transform: 'rotate(-90 14 ' + ym + ')'});
  yl.textContent = (o.yLabel || 'value') + (log ? ' (log scale)' : '');
  svg.append(yl);
  for (const s of series) {
    let d = '', pen = false;
    for (const p of s.points) {
      if (!isNum(p[0]) || !usable(p[1])) { pen = false; continue; }
      d += (pen ? ' L ' : (d ? ' M ' : 'M ')) + sx(p[0]).toFixed(1) + ' ' + sy(p[1]).toFixed(1);
      pen = true;
    }
    const path = svgEl('path', {class: 'series', 'data-series': s.key, d: d || 'M 0 0', fill: 'none', stroke: s.color,
      'stroke-width': 2, 'stroke-linejoin': 'round'});
    const title = svgEl('title'); title.textContent = s.label;
    path.append(title);
    svg.append(path);
    for (const p of s.points) {
      if (!isNum(p[0]) || !usable(p[1])) continue;
      const c = svgEl('circle', {class: 'pt', 'data-series': s.key, 'data-x': p[0], 'data-y': p[1], cx: sx(p[0]).toFixed(1),
        cy: sy(p[1]).toFixed(1), r: 3.5, fill: s.color});
      const ct = svgEl('title'); ct.textContent = s.label + ', ' + (o.xName || 'layer') + ' ' + p[0] + ': ' + exact(p[1]);
      c.append(ct);
      svg.append(c);
    }
  }
  const box = el('div', {class: 'panel chartbox'}, svg);
  const legend = el('div', {class: 'series-legend'});
  for (const s of series) legend.append(el('span', {}, [el('span', {class: 'sw', vars: {'background': s.color}}), s.label]));
  box.append(legend);
  if (dropped) box.append(el('p', {class: 'caption', text: dropped + ' value(s) not drawn: zero or negative on a log axis.'}));
  return box;
}
