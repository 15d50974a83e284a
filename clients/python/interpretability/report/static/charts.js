// Helpers shared by the reports of the activations and probing services (gradients.js,
// logit_lens.js, activations.js, probing.js and similarity.js), loaded after common.js and before
// the page's own script: number formatting, the sequential and diverging colour scales, a palette,
// an SVG line chart across layers and a heat-map table.
const SEQ_STOPS = [[255, 255, 255], [198, 219, 239], [107, 174, 214], [33, 113, 181], [8, 48, 107]];
// Diverging: negative blue, 0 white, positive red (ColorBrewer RdBu).
const DIV_STOPS = [[33, 102, 172], [146, 197, 222], [247, 247, 247], [244, 165, 130], [178, 24, 43]];
const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];

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
function stopColor(stops, t) {
  t = clamp01(t) * (stops.length - 1);
  const i = Math.min(Math.floor(t), stops.length - 2), f = t - i;
  const a = stops[i], b = stops[i + 1];
  return 'rgb(' + a.map((v, k) => Math.round(v + (b[k] - v) * f)).join(', ') + ')';
}
// t in [0, 1]: white to dark blue.
function seqColor(t) { return stopColor(SEQ_STOPS, t); }
// t in [-1, 1]: blue through white (0) to red.
function divColor(t) { return stopColor(DIV_STOPS, isNum(t) ? (Math.min(Math.max(t, -1), 1) + 1) / 2 : 0.5); }
function niceStep(raw) {
  if (!(raw > 0)) return 0;
  const p = Math.pow(10, Math.floor(Math.log10(raw))), f = raw / p;
  return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * p;
}
function paletteColor(i) { return PALETTE[((i % PALETTE.length) + PALETTE.length) % PALETTE.length]; }
function text(v) { return v === null || v === undefined ? '' : String(v); }

// ---- line chart (x: layers; y: linear or log10) ----
// series: [{key, label, color, points: [[x, y], ...]}], and optionally per series: dash (a dashed
// line), markers: false (no points; the line's tooltip only), band: [[x, lo, hi], ...] (an
// interval drawn as a shaded area behind the line), tip(point) -> text appended to a point's
// tooltip.  o: width, height, log, cls, xLabel, yLabel, xName, include (y values the axis must
// show, e.g. [0]; linear axes only), nice (round tick values; linear axes only) and vlines
// ([{x, label, color}]: dashed vertical markers).
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
    for (const b of asArray(s.band)) {
      if (!isNum(b[0])) continue;
      for (const y of [b[1], b[2]]) if (usable(y)) ys.push(y);
    }
  }
  if (!log && ys.length) for (const y of asArray(o.include)) if (isNum(y)) ys.push(y);
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
  // o.nice: round ticks (1, 2 or 5 times a power of ten) instead of five evenly spaced values.
  const step = o.nice && !log ? niceStep((y1 - y0) / 5) : 0;
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
  } else if (step > 0) {
    for (let k = Math.ceil(y0 / step); k * step <= y1 + 1e-9 * step; k++) yticks.push(Number((k * step).toPrecision(12)));
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
    if (i !== last && (i % xstep !== 0 || last - i < xstep)) return;
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
  for (const v of asArray(o.vlines)) {
    if (!v || !isNum(v.x) || v.x < x0 || v.x > x1) continue;
    const line = svgEl('line', {class: 'vline', x1: sx(v.x), x2: sx(v.x), y1: T, y2: H - B, stroke: v.color || '#98a1ab',
      'stroke-width': 1, 'stroke-dasharray': '2 3', 'data-x': v.x});
    if (v.label) {
      const lt = svgEl('title'); lt.textContent = v.label;
      line.append(lt);
      const right = sx(v.x) > W - R - 60;   // near the right edge: the label goes to the left of the line
      const t = svgEl('text', {class: 'vline-label', x: sx(v.x) + (right ? -3 : 3), y: T + 10, 'text-anchor': right ? 'end' : 'start'});
      t.textContent = v.label;
      svg.append(t);
    }
    svg.append(line);
  }
  // Intervals first, so that every line is drawn over them.
  for (const s of series) {
    const band = asArray(s.band).filter(b => isNum(b[0]) && usable(b[1]) && usable(b[2]));
    if (!band.length) continue;
    // One closed area per run of consecutive layers with an interval.
    const runs = [];
    let run = [];
    const xsOf = s.points.map(p => p[0]).filter(isNum);
    for (const b of band) {
      const prev = run.length ? run[run.length - 1][0] : null;
      const gap = prev !== null && xsOf.some(x => x > prev && x < b[0]);
      if (gap) { runs.push(run); run = []; }
      run.push(b);
    }
    runs.push(run);
    let d = '';
    for (const r of runs) {
      const top = r.map(b => sx(b[0]).toFixed(1) + ' ' + sy(b[2]).toFixed(1));
      const bottom = r.slice().reverse().map(b => sx(b[0]).toFixed(1) + ' ' + sy(b[1]).toFixed(1));
      if (r.length === 1) {   // a lone layer: a short bar
        const x = sx(r[0][0]);
        d += 'M ' + (x - 3).toFixed(1) + ' ' + sy(r[0][2]).toFixed(1) + ' H ' + (x + 3).toFixed(1) + ' V ' + sy(r[0][1]).toFixed(1) +
          ' H ' + (x - 3).toFixed(1) + ' Z ';
      } else {
        d += 'M ' + top.join(' L ') + ' L ' + bottom.join(' L ') + ' Z ';
      }
    }
    const area = svgEl('path', {class: 'band', 'data-series': s.key, d: d.trim(), fill: s.color, 'fill-opacity': 0.16, stroke: 'none'});
    const bt = svgEl('title'); bt.textContent = s.label + ': interval';
    area.append(bt);
    svg.append(area);
  }
  for (const s of series) {
    let d = '', pen = false;
    for (const p of s.points) {
      if (!isNum(p[0]) || !usable(p[1])) { pen = false; continue; }
      d += (pen ? ' L ' : (d ? ' M ' : 'M ')) + sx(p[0]).toFixed(1) + ' ' + sy(p[1]).toFixed(1);
      pen = true;
    }
    const attrs = {class: 'series', 'data-series': s.key, d: d || 'M 0 0', fill: 'none', stroke: s.color,
      'stroke-width': 2, 'stroke-linejoin': 'round'};
    if (s.dash) attrs['stroke-dasharray'] = '6 4';
    const path = svgEl('path', attrs);
    const title = svgEl('title'); title.textContent = s.label;
    path.append(title);
    svg.append(path);
    if (s.markers === false) continue;
    for (const p of s.points) {
      if (!isNum(p[0]) || !usable(p[1])) continue;
      const c = svgEl('circle', {class: 'pt', 'data-series': s.key, 'data-x': p[0], 'data-y': p[1], cx: sx(p[0]).toFixed(1),
        cy: sy(p[1]).toFixed(1), r: 3.5, fill: s.color});
      const ct = svgEl('title');
      ct.textContent = s.label + ', ' + (o.xName || 'layer') + ' ' + p[0] + ': ' + exact(p[1]) + (s.tip ? text(s.tip(p)) : '');
      c.append(ct);
      svg.append(c);
    }
  }
  const box = el('div', {class: 'panel chartbox'}, svg);
  const legend = el('div', {class: 'series-legend'});
  for (const s of series) {
    const sw = s.dash ? {'background': 'repeating-linear-gradient(to right, ' + s.color + ' 0 5px, transparent 5px 8px)'} : {'background': s.color};
    legend.append(el('span', {dataset: {series: s.key}}, [el('span', {class: 'sw', vars: sw}), s.label]));
  }
  box.append(legend);
  if (dropped) box.append(el('p', {class: 'caption', text: dropped + ' value(s) not drawn: zero or negative on a log axis.'}));
  return box;
}

// ---- heat map (an HTML table: one row per row label, one cell per column) ----
// o: rows, cols ([{label, title, key}]: the row and column headers, shown as text), value(r, c)
// -> number or null (r, c: indices), scale ('seq': lo..hi white to blue; 'div': -m..+m blue to
// red, m = the largest |value| unless o.hi), lo, hi (the scale's ends; default the values'),
// cls (class of the table), corner (top-left header), tip(r, c, v) -> the cell's tooltip,
// showValues (the number in each cell, o.digits significant digits), rowMax (outline each row's
// largest value), caption (text above the legend), loLabel/hiLabel (the legend's ends), stops
// (the colours of a 'seq' scale from lo to hi, [[r, g, b], ...]; default white to blue).
function heatMap(o) {
  const rows = asArray(o.rows), cols = asArray(o.cols);
  const vals = rows.map((_, r) => cols.map((__, c) => { const v = o.value(r, c); return isNum(v) ? v : null; }));
  const all = [].concat(...vals).filter(isNum);
  const div = o.scale === 'div';
  let lo, hi;
  if (div) {
    hi = isNum(o.hi) ? Math.abs(o.hi) : Math.max(0, ...all.map(Math.abs));
    lo = -hi;
  } else {
    lo = isNum(o.lo) ? o.lo : (all.length ? Math.min(...all) : 0);
    hi = isNum(o.hi) ? o.hi : (all.length ? Math.max(...all) : 1);
  }
  const position = v => (div ? (hi > 0 ? v / hi : 0) : (hi > lo ? (v - lo) / (hi - lo) : 0.5));
  const seq = t => (Array.isArray(o.stops) && o.stops.length > 1 ? stopColor(o.stops, t) : seqColor(t));
  const colour = v => (div ? divColor(position(v)) : seq(position(v)));
  const dark = v => (div ? Math.abs(position(v)) > 0.6 : position(v) > 0.6);
  const wrap = el('div', {class: 'heatwrap-box'});
  if (o.caption) wrap.append(el('p', {class: 'caption', text: o.caption}));
  // legend: the scale's colours from lo to hi
  const steps = [];
  for (let k = 0; k <= 10; k++) steps.push((div ? divColor(-1 + k / 5) : seq(k / 10)) + ' ' + (k * 10) + '%');
  wrap.append(el('div', {class: 'heat-legend', dataset: {lo: String(lo), hi: String(hi)}}, [
    el('span', {class: 'lo', text: o.loLabel || short(lo, 3)}),
    el('span', {class: 'bar', vars: {'display': 'inline-block', 'width': '160px', 'height': '10px', 'border': '1px solid #d8dee4',
      'background': 'linear-gradient(to right, ' + steps.join(', ') + ')'}}),
    el('span', {class: 'hi', text: o.hiLabel || short(hi, 3)})
  ]));
  const table = el('table', {class: 'heatmap ' + (o.cls || ''), dataset: {scale: div ? 'div' : 'seq'}});
  const head = el('tr', {}, el('th', {class: 'corner', text: o.corner || ''}));
  cols.forEach((c, j) => head.append(el('th', {class: 'col', text: text(c.label), title: c.title || text(c.label), dataset: {col: String(j)}})));
  table.append(el('thead', {}, head));
  const body = el('tbody');
  rows.forEach((rw, i) => {
    const tr = el('tr', {dataset: {row: String(i), key: rw.key === undefined ? null : String(rw.key)}},
      el('th', {class: 'row', text: text(rw.label), title: rw.title || text(rw.label)}));
    let best = -1;
    if (o.rowMax) vals[i].forEach((v, j) => { if (isNum(v) && (best < 0 || v > vals[i][best])) best = j; });
    cols.forEach((c, j) => {
      const v = vals[i][j];
      const td = el('td', {class: 'cell' + (isNum(v) ? '' : ' na') + (isNum(v) && dark(v) ? ' dark' : '') + (j === best ? ' rowmax' : ''),
        text: o.showValues && isNum(v) ? short(v, o.digits || 2) : null,
        dataset: {row: String(i), col: String(j), value: exact(v)},
        title: o.tip ? o.tip(i, j, v) : text(rw.label) + ' \u00d7 ' + text(c.label) + ': ' + exact(v),
        vars: isNum(v) ? {'background-color': colour(v), 'color': dark(v) ? '#fff' : null} : null});
      if (j === best) td.style.setProperty('outline', '2px solid #f59f00');
      tr.append(td);
    });
    body.append(tr);
  });
  table.append(body);
  wrap.append(el('div', {class: 'scroll-x'}, table));
  return wrap;
}
