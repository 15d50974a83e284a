// The representation similarity report (RepresentationSimilarity of the probing service).
// charts.js (loaded before) has the number formatting, the colour scales, the line chart and the
// heat map.
const METRICS = {
  cosine: {label: 'cosine (aligned)', color: '#1f77b4'},
  cosine_unaligned: {label: 'cosine (unaligned)', color: '#1f77b4', dash: true},
  retrieval_top1: {label: 'retrieval top-1', color: '#2ca02c'},
  cka: {label: 'linear CKA', color: '#d62728'},
  cka_debiased: {label: 'debiased CKA', color: '#ff7f0e'},
  rsa: {label: 'RSA', color: '#9467bd'}
};
const METRIC_ORDER = Object.keys(METRICS);

// ---- small helpers ----
function own(o, k) { return Object.prototype.hasOwnProperty.call(o, k); }
function obj(v) { return v && typeof v === 'object' && !Array.isArray(v) ? v : null; }
function metricLabel(m) { return own(METRICS, m) ? METRICS[m].label : m; }
function pairName(p) { return (text(p.source_a) || '?') + ' \u2194 ' + (text(p.source_b) || '?'); }
function metricsOf(p) { return asArray(p.metrics).filter(obj).map(m => ({name: text(m.name), values: asArray(m.values).map(num)})); }
// Metric names in the canonical order, then any other in the order met.
function metricNames(pairs) {
  const seen = [];
  for (const p of pairs) for (const m of metricsOf(p)) if (!seen.includes(m.name)) seen.push(m.name);
  return METRIC_ORDER.filter(m => seen.includes(m)).concat(seen.filter(m => !own(METRICS, m)));
}
function mean(xs) { const v = xs.filter(isNum); return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null; }
// {last, mean} of one metric of a pair: matched, the value at the last layer and the mean over the
// layers; a grid, the last layer of each source against each other and the mean over the grid.
function summaryOf(p, m) {
  const vs = m.values;
  if (!vs.length) return {last: null, mean: null};
  return {last: isNum(vs[vs.length - 1]) ? vs[vs.length - 1] : null, mean: mean(vs)};
}
// add(term, value, name, tooltip): name is the dd's id in the page's header (asId), its class elsewhere.
function metaList(dl, asId) {
  return (k, v, name, tip) => dl.append(el('div', {}, [el('dt', {text: k}),
    el('dd', {text: v, id: asId ? name : null, class: asId ? null : name, title: tip})]));
}
function layerSpan(ls) {
  ls = ls.filter(isNum);
  if (!ls.length) return '\u2014';
  const contiguous = ls.every((x, i) => i === 0 || x === ls[i - 1] + 1);
  return ls.length + ' (' + (ls.length === 1 ? ls[0] : (contiguous || ls.length > 8 ? ls[0] + '\u2013' + ls[ls.length - 1] : ls.join(', '))) + ')';
}

// ---- page ----
function build(D) {
  const R = obj(D.result) || {};
  const title = typeof D.title === 'string' && D.title ? D.title : 'Representation similarity';
  byId('title').textContent = title;
  const pairs = asArray(R.pairs).filter(obj);
  const sources = [], models = [];
  for (const p of pairs) {
    for (const s of [text(p.source_a), text(p.source_b)]) if (s && !sources.includes(s)) sources.push(s);
    for (const m of [text(p.model_a), text(p.model_b)]) if (m && !models.includes(m)) models.push(m);
  }
  document.title = title + (models.length ? ' \u2014 ' + models.join(', ') : '');
  const add = metaList(byId('meta'), true);
  add('Sources', sources.join(', ') || '\u2014', 'meta-sources');
  add('Models', models.join(', ') || '\u2014', 'meta-models');
  add('Pairs', String(pairs.length), 'meta-pairs');
  add('Texts per source', isNum(num(R.texts)) ? String(num(R.texts)) : '\u2014', 'meta-texts');
  add('Time', isNum(num(R.seconds)) ? short(num(R.seconds), 3) + ' s' : '\u2014', 'meta-seconds');

  const toc = byId('toc');
  toc.append(el('a', {href: '#findings-section', text: 'Findings'}));
  if (pairs.length > 1) toc.append(el('a', {href: '#summary-section', text: 'Summary'}));
  pairs.forEach((p, i) => toc.append(el('a', {href: '#pair-' + i, text: pairName(p)})));

  fillFindings(byId('findings'), R.findings);

  buildSummary(pairs);
  const box = byId('pairs');
  if (!pairs.length) box.append(el('section', {}, el('p', {class: 'notice', text: 'This result holds no pairs of sources.'})));
  pairs.forEach((p, i) => box.append(buildPair(p, i)));
}

function buildSummary(pairs) {
  const sec = byId('summary-section');
  if (pairs.length < 2) { sec.remove(); return; }
  const names = metricNames(pairs);
  // Two header rows: the metrics, then "last" and "mean" under each.
  const table = el('table', {class: 'data summary'});
  const h1 = el('tr', {}, [el('th', {text: 'pair', rowspan: 2}), el('th', {text: 'layers', rowspan: 2})]);
  const h2 = el('tr');
  for (const m of names) {
    h1.append(el('th', {class: 'metric', text: metricLabel(m), colspan: 2, title: m, dataset: {metric: m}}));
    h2.append(el('th', {class: 'num', text: 'last', title: 'at the last layer'}), el('th', {class: 'num', text: 'mean', title: 'mean over the layers'}));
  }
  table.append(el('thead', {}, [h1, h2]));
  const body = el('tbody');
  pairs.forEach((p, i) => {
    const by = new Map(metricsOf(p).map(m => [m.name, summaryOf(p, m)]));
    const tr = el('tr', {dataset: {pair: String(i)}}, [
      el('td', {class: 'pair'}, el('a', {href: '#pair-' + i, text: pairName(p)})),
      el('td', {text: p.grid ? 'grid' : 'matched'})
    ]);
    for (const m of names) {
      for (const which of ['last', 'mean']) {
        const v = by.has(m) ? by.get(m)[which] : null;
        tr.append(el('td', {class: 'num', text: isNum(v) ? v.toFixed(3) : '\u2014', title: metricLabel(m) + ', ' + which + ': ' + exact(v),
          dataset: {metric: m, which: which, value: exact(v)}}));
      }
    }
    body.append(tr);
  });
  table.append(body);
  byId('summary').append(el('div', {class: 'tablewrap'}, table));
}

function buildPair(p, index) {
  const grid = !!p.grid;
  const sec = el('section', {class: 'pair', id: 'pair-' + index, dataset: {pair: String(index), grid: grid ? '1' : '0'}});
  sec.append(el('h2', {}, [el('span', {class: 'pair-name', text: pairName(p)}),
    el('span', {class: 'pairing', text: grid ? 'every layer \u00d7 every layer' : 'matched layers'})]));
  const la = asArray(p.layers_a).map(num), lb = asArray(p.layers_b).map(num);
  const dl = el('dl', {class: 'meta'});
  const add = metaList(dl);
  const ma = text(p.model_a), mb = text(p.model_b);
  if (ma || mb) add('Models', ma === mb ? ma : (ma || '?') + ' \u2194 ' + (mb || '?'), 'p-models');
  if (grid) {
    add('Layers of ' + (text(p.source_a) || 'A'), layerSpan(la), 'p-layers-a');
    add('Layers of ' + (text(p.source_b) || 'B'), layerSpan(lb), 'p-layers-b');
  } else {
    add('Layers', layerSpan(la), 'p-layers');
  }
  const metrics = metricsOf(p);
  add('Metrics', metrics.map(m => metricLabel(m.name)).join(', ') || '\u2014', 'p-metrics');
  sec.append(dl);
  if (!metrics.length) {
    sec.append(el('p', {class: 'notice', text: 'No metric values for this pair.'}));
    return sec;
  }
  if (grid) buildGrid(sec, p, metrics, la, lb); else buildMatched(sec, metrics, la);
  return sec;
}

function buildMatched(sec, metrics, layers) {
  const n = Math.max(layers.length, ...metrics.map(m => m.values.length));
  const xs = [];
  for (let i = 0; i < n; i++) xs.push(i < layers.length && isNum(layers[i]) ? layers[i] : i);
  const ordered = METRIC_ORDER.map(k => metrics.find(m => m.name === k)).filter(Boolean)
    .concat(metrics.filter(m => !own(METRICS, m.name)));
  const series = ordered.map((m, k) => ({key: m.name, label: metricLabel(m.name),
    color: own(METRICS, m.name) ? METRICS[m.name].color : paletteColor(k + 5), dash: own(METRICS, m.name) && !!METRICS[m.name].dash,
    points: xs.map((x, i) => [x, i < m.values.length ? m.values[i] : null])}));
  if (metrics.some(m => m.values.length !== layers.length)) {
    sec.append(el('p', {class: 'notice', text: 'Some metrics do not hold one value per layer; they are drawn against the first layers.'}));
  }
  sec.append(lineChart(series, {nice: true, cls: 'pair-chart', yLabel: 'similarity', include: [0]}));
  const details = el('details', {class: 'values'}, el('summary', {text: 'Values per layer'}));
  const cols = [{label: 'layer', num: true, value: r => r.x, digits: 0}].concat(ordered.map(m => ({label: metricLabel(m.name), num: true,
    value: r => (r.i < m.values.length ? m.values[r.i] : null),
    render: r => { const v = r.i < m.values.length ? m.values[r.i] : null; return el('span', {text: isNum(v) ? v.toFixed(3) : '\u2014', title: exact(v)}); }})));
  const table = sortableTable(cols, xs.map((x, i) => ({x: x, i: i})), {rowAttrs: (r, tr) => { tr.dataset.layer = String(r.x); }});
  table.classList.add('pair-values');
  details.append(el('div', {class: 'tablewrap'}, table));
  sec.append(details);
}

function buildGrid(sec, p, metrics, la, lb) {
  const a = text(p.source_a) || 'A', b = text(p.source_b) || 'B';
  sec.append(el('p', {class: 'caption', text: 'Rows: layers of ' + a + '; columns: layers of ' + b + '. The outlined cell of each row is ' +
    'the layer of ' + b + ' most similar to that layer of ' + a + '. Each map has its own colour scale (its lowest to its highest ' +
    'value, or symmetric around 0 when it has negative values).'}));
  const box = el('div', {class: 'grids'});
  const ordered = METRIC_ORDER.map(k => metrics.find(m => m.name === k)).filter(Boolean)
    .concat(metrics.filter(m => !own(METRICS, m.name)));
  for (const m of ordered) {
    const div = el('div', {class: 'grid-metric', dataset: {metric: m.name}}, el('h4', {text: metricLabel(m.name)}));
    if (!la.length || !lb.length || m.values.length !== la.length * lb.length) {
      div.append(el('p', {class: 'notice', text: 'Not a ' + la.length + ' \u00d7 ' + lb.length + ' grid: ' + m.values.length + ' values.'}));
      box.append(div);
      continue;
    }
    const finite = m.values.filter(isNum);
    const signed = finite.some(v => v < 0);
    div.append(heatMap({
      rows: la.map(l => ({label: String(l), title: a + ' layer ' + l, key: l})),
      cols: lb.map(l => ({label: String(l), title: b + ' layer ' + l})),
      value: (i, j) => m.values[i * lb.length + j],
      scale: signed ? 'div' : 'seq', rowMax: true, cls: 'grid-map', corner: a + ' \\ ' + b,
      tip: (i, j, v) => a + ' layer ' + la[i] + ' \u00d7 ' + b + ' layer ' + lb[j] + '\n' + metricLabel(m.name) + ': ' + exact(v)
    }));
    box.append(div);
  }
  sec.append(box);
}

// Last, once every constant above is initialised.
(function main() {
  let D;
  try { D = readData(); } catch (e) { fail(e); return; }
  try { build(D); } catch (e) { fail(e); return; }
  document.body.dataset.ready = '1';
})();
