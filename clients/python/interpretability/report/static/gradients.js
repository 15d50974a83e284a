// The gradient analysis report (GradientAnalysis of the activations service).
const POS_RGB = [24, 128, 64];    // raises the target
const NEG_RGB = [200, 40, 45];    // lowers it
const FLOW_SERIES = [
  {key: 'hidden', field: 'hidden_norms', label: 'residual stream', color: '#1f77b4'},
  {key: 'attention', field: 'attention_norms', label: 'attention weights', color: '#d62728'}
];

// ---- signed colours (charts.js has the shared helpers) ----
function mixWhite(rgb, t) { return 'rgb(' + rgb.map(v => Math.round(255 + (v - 255) * clamp01(t))).join(', ') + ')'; }
function signedColor(v, scale) { return isNum(v) && scale > 0 ? mixWhite(v < 0 ? NEG_RGB : POS_RGB, Math.abs(v) / scale) : '#fff'; }
function maxOf(values, f) {
  let m = 0;
  for (const v of values) if (isNum(v) && f(v) > m) m = f(v);
  return m;
}
function scaleLegend(kind, lo, hi) {
  return el('div', {class: 'scalelegend'}, [el('span', {text: lo}), el('span', {class: 'bar ' + kind}), el('span', {text: hi})]);
}

// ---- page ----
function build(D) {
  const R = D.result && typeof D.result === 'object' ? D.result : {};
  const title = typeof D.title === 'string' && D.title ? D.title : 'Gradient analysis';
  const texts = asArray(R.texts).filter(t => t && typeof t === 'object');
  const flow = R.flow && typeof R.flow === 'object' ? R.flow : {};
  byId('title').textContent = title;
  document.title = title + (R.model ? ' \u2014 ' + R.model : '');
  const meta = byId('meta');
  const addMeta = (k, v, id, tip) => meta.append(el('div', {}, [el('dt', {text: k}), el('dd', {text: v, id: id, title: tip})]));
  addMeta('Model', R.model || '\u2014', 'meta-model');
  addMeta('Texts', String(texts.length), 'meta-texts');
  const layers = asArray(flow.layers).map(num).filter(isNum);
  addMeta('Layers', layers.length ? String(layers.length) + ' (' + layers[0] + '\u2013' + layers[layers.length - 1] + ')' : '\u2014',
    'meta-layers');
  const targets = Array.from(new Set(texts.map(t => text(t.target)).filter(Boolean)));
  addMeta('Target', targets.join(', ') || '\u2014', 'meta-target');
  addMeta('Verdict', flow.verdict ? String(flow.verdict) : '\u2014', 'meta-verdict');

  const toc = byId('toc');
  toc.append(el('a', {href: '#findings-section', text: 'Findings'}), el('a', {href: '#flow-section', text: 'Gradient flow'}));
  texts.forEach((t, i) => toc.append(el('a', {href: '#text-' + (i + 1), text: 'Text ' + (i + 1), title: text(t.text)})));

  fillFindings(byId('findings'), R.findings);

  buildFlow(flow);
  const box = byId('texts');
  if (!texts.length) box.append(el('section', {}, el('p', {class: 'notice', text: 'This analysis holds no texts.'})));
  texts.forEach((t, i) => box.append(buildText(t, i)));
}

function buildFlow(flow) {
  const layers = asArray(flow.layers).map(num);
  const verdict = byId('flow-verdict');
  const ratio = num(flow.first_to_last_ratio);
  const v = flow.verdict ? String(flow.verdict) : '';
  if (v) verdict.append('Verdict: ', el('span', {class: 'verdict v-' + v.replace(/[^a-z]/gi, '').toLowerCase(), id: 'flow-verdict-value', text: v}), '. ');
  if (isNum(ratio)) {
    const first = layers.find(isNum), last = layers.filter(isNum).slice(-1)[0];
    verdict.append('The median gradient norm at the first analysed layer' + (isNum(first) ? ' (' + first + ')' : '') + ' is ',
      el('strong', {id: 'flow-ratio', text: short(ratio, 3) + '\u00d7', title: 'first / last = ' + exact(ratio)}),
      ' the one at the last' + (isNum(last) ? ' (' + last + ')' : '') + ' (above 1: the gradient grows towards the input).');
  }
  if (!v && !isNum(ratio)) verdict.append(el('span', {class: 'muted', text: 'No verdict in this analysis.'}));
  const series = [];
  for (const s of FLOW_SERIES) {
    const ys = asArray(flow[s.field]).map(num);
    if (!ys.some(isNum)) continue;
    series.push({key: s.key, label: s.label, color: s.color, points: layers.map((x, i) => [x, i < ys.length ? ys[i] : null])});
  }
  const chart = byId('flow-chart');
  if (!series.length || !layers.length) {
    chart.append(el('p', {class: 'notice', text: 'No gradient norms across layers in this analysis.'}));
    return;
  }
  chart.append(lineChart(series, {log: true, cls: 'flow-chart', yLabel: 'gradient norm (median)'}));
}

function buildText(t, index) {
  const sec = el('section', {class: 'text', id: 'text-' + (index + 1), dataset: {text: String(index)}});
  sec.append(el('h2', {text: 'Text ' + (index + 1)}));
  const meta = el('dl', {class: 'meta'});
  meta.append(el('div', {}, [el('dt', {text: 'Target'}), el('dd', {class: 't-target', text: text(t.target) || '\u2014'})]));
  meta.append(el('div', {}, [el('dt', {text: 'Value'}), el('dd', {class: 't-value', text: short(num(t.target_value), 4),
    title: exact(num(t.target_value))})]));
  sec.append(meta);
  sec.append(el('div', {class: 'textbox input-text', text: text(t.text)}));
  const tokens = asArray(t.tokens).map(text);
  const shown = tokens.map(s => tokenLabel(s));

  // ---- input tokens ----
  sec.append(el('h3', {class: 'sub', text: 'Input tokens'}));
  const sal = asArray(t.saliency).map(num), ixg = asArray(t.input_x_gradient).map(num);
  if (!tokens.length) {
    sec.append(el('p', {class: 'muted', text: 'No tokens.'}));
  } else {
    sec.append(el('p', {class: 'caption', text: 'Saliency is the L2 norm of the gradient at each token\u2019s embedding (how ' +
      'sensitive the target is to it); input \u00d7 gradient is embedding \u00b7 gradient (green: the token raises the target, ' +
      'red: it lowers it, to first order). Each row is scaled by its own largest value.'}));
    const grid = el('div', {class: 'tokgrid'});
    const salMax = maxOf(sal, Math.abs), ixgMax = maxOf(ixg, Math.abs);
    const salRow = el('div', {class: 'tokens', dataset: {kind: 'saliency'}});
    const ixgRow = el('div', {class: 'tokens', dataset: {kind: 'input_x_gradient'}});
    tokens.forEach((tok, i) => {
      const s = i < sal.length ? sal[i] : null, g = i < ixg.length ? ixg[i] : null;
      const ts = salMax > 0 && isNum(s) ? Math.abs(s) / salMax : 0;
      salRow.append(el('span', {class: 'tok' + (ts > 0.55 ? ' dark' : ''), text: shown[i], dataset: {i: String(i), value: exact(s)},
        title: shown[i] + '\nposition ' + i + '\nsaliency: ' + exact(s), vars: {'background-color': seqColor(ts)}}));
      const tg = ixgMax > 0 && isNum(g) ? Math.abs(g) / ixgMax : 0;
      ixgRow.append(el('span', {class: 'tok' + (tg > 0.6 ? ' dark' : ''), text: shown[i], dataset: {i: String(i), value: exact(g)},
        title: shown[i] + '\nposition ' + i + '\ninput \u00d7 gradient: ' + exact(g), vars: {'background-color': signedColor(g, ixgMax)}}));
    });
    grid.append(el('div', {class: 'rowname'}, ['Saliency', el('small', {text: 'max ' + short(salMax)})]), salRow);
    grid.append(el('div', {class: 'rowname'}, ['Input \u00d7 gradient', el('small', {text: 'max |x| ' + short(ixgMax)})]), ixgRow);
    sec.append(grid);
    const lg = el('div', {class: 'scalelegend'}, [el('span', {text: 'saliency 0'}), el('span', {class: 'bar seq'}), el('span', {text: 'max'}),
      el('span', {class: 'gap'}), el('span', {text: 'lowers'}), el('span', {class: 'bar div'}), el('span', {text: 'raises the target'})]);
    sec.append(lg);
  }

  // ---- hidden-state gradients ----
  sec.append(el('h3', {class: 'sub', text: 'Residual-stream gradient per layer and token'}));
  const hidden = asArray(t.hidden).filter(h => h && typeof h === 'object');
  if (!hidden.length) {
    sec.append(el('p', {class: 'muted hidden-none', text: 'No residual-stream gradients (not requested).'}));
  } else {
    sec.append(hiddenMap(hidden, tokens, shown));
  }

  // ---- attention-weight gradients ----
  sec.append(el('h3', {class: 'sub', text: 'Attention-weight gradient per layer and head'}));
  const attn = asArray(t.attention).filter(h => h && typeof h === 'object');
  if (!attn.length) {
    sec.append(el('p', {class: 'muted attn-none', text: 'No attention-weight gradients (not requested, or the model has no attention pattern hooks).'}));
  } else {
    sec.append(attentionMap(attn));
  }
  return sec;
}

function hiddenMap(hidden, tokens, shown) {
  const wrap = el('div');
  const perToken = hidden.some(h => asArray(h.norms).length > 0);
  const n = perToken ? Math.max(tokens.length, ...hidden.map(h => asArray(h.norms).length)) : 0;
  if (perToken) {
    wrap.append(el('p', {class: 'caption', text: 'Rows: layers; columns: token positions. Each cell is the L2 norm of the gradient ' +
      'at that token\u2019s residual stream after the layer; the last column is the layer\u2019s whole norm.'}));
  } else {
    wrap.append(el('p', {class: 'caption hidden-no-tokens', text: 'Per-token norms were not requested (include_norm_analysis); ' +
      'the layers\u2019 whole norms only.'}));
  }
  const controls = el('div', {class: 'controls'});
  const select = el('select', {class: 'hidden-scale'}, [el('option', {value: 'map', text: 'the whole map'}),
    el('option', {value: 'row', text: 'each layer (row)'})]);
  if (perToken) controls.append(el('label', {}, ['Colour scaled to ', select]));
  const lo = el('span', {text: '0'}), hi = el('span');
  const legend = el('div', {class: 'scalelegend'}, [lo, el('span', {class: 'bar seq'}), hi]);
  if (perToken) { controls.append(legend); wrap.append(controls); }
  const table = el('table', {class: 'heat hidden-map'});
  const head = el('tr', {}, el('th', {text: 'layer'}));
  for (let i = 0; i < n; i++) {
    const s = i < tokens.length ? shown[i] : '';
    head.append(el('th', {text: tokenLabel(s, 10), title: 'position ' + i + ': ' + s}));
  }
  head.append(el('th', {text: 'norm', title: 'the L2 norm of the whole gradient at the layer'}));
  table.append(el('thead', {}, head));
  const body = el('tbody');
  const cells = [];
  for (const h of hidden) {
    const layer = num(h.layer);
    const norms = asArray(h.norms).map(num);
    const tr = el('tr', {dataset: {layer: String(layer)}}, el('th', {text: isNum(layer) ? 'L' + layer : '?'}));
    const row = [];
    for (let i = 0; i < n; i++) {
      const v = i < norms.length ? norms[i] : null;
      const s = i < tokens.length ? shown[i] : '';
      const td = el('td', {class: 'cell' + (isNum(v) ? '' : ' na'), dataset: {layer: String(layer), i: String(i), value: exact(v)},
        title: 'layer ' + (isNum(layer) ? layer : '?') + ', position ' + i + ' (' + s + ')\ngradient norm: ' + exact(v)});
      tr.append(td);
      row.push([td, v]);
    }
    cells.push(row);
    tr.append(el('td', {class: 'total', text: short(num(h.norm)), title: 'layer ' + layer + ': whole gradient norm ' + exact(num(h.norm))}));
    body.append(tr);
  }
  table.append(body);
  function colour() {
    const perRow = select.value === 'row';
    const all = maxOf([].concat(...cells.map(r => r.map(c => c[1]))), Math.abs);
    for (const row of cells) {
      const m = perRow ? maxOf(row.map(c => c[1]), Math.abs) : all;
      for (const [td, v] of row) {
        if (!isNum(v)) continue;
        const t = m > 0 ? Math.abs(v) / m : 0;
        td.style.backgroundColor = seqColor(t);
      }
    }
    table.dataset.scale = perRow ? 'row' : 'map';
    hi.textContent = perRow ? 'the row\u2019s largest' : short(all);
  }
  select.addEventListener('change', colour);
  colour();
  wrap.append(el('div', {class: 'scroll-x'}, table));
  return wrap;
}

function attentionMap(attn) {
  const wrap = el('div');
  const nHeads = Math.max(0, ...attn.map(a => Math.max(asArray(a.weight_x_gradient).length, asArray(a.norms).length)));
  const all = [].concat(...attn.map(a => asArray(a.weight_x_gradient).map(num)));
  const scale = maxOf(all, Math.abs);
  wrap.append(el('p', {class: 'caption', text: 'Rows: layers; columns: heads. Each cell is the sum over the head\u2019s attention ' +
    'weights of weight \u00d7 gradient, the first-order effect of its attention pattern on the target (green raises it, red lowers ' +
    'it; scaled by the map\u2019s largest |value|). The tooltip also gives the norm of the head\u2019s weight gradient.'}));
  wrap.append(scaleLegend('div', '\u2212' + short(scale), '+' + short(scale)));
  const table = el('table', {class: 'heat attn-map'});
  const head = el('tr', {}, el('th', {text: 'layer'}));
  for (let h = 0; h < nHeads; h++) head.append(el('th', {text: 'H' + h}));
  head.append(el('th', {text: 'norm', title: 'the L2 norm of the whole attention-weight gradient at the layer'}));
  table.append(el('thead', {}, head));
  const body = el('tbody');
  for (const a of attn) {
    const layer = num(a.layer);
    const wxg = asArray(a.weight_x_gradient).map(num), norms = asArray(a.norms).map(num);
    const tr = el('tr', {dataset: {layer: String(layer)}}, el('th', {text: isNum(layer) ? 'L' + layer : '?'}));
    for (let h = 0; h < nHeads; h++) {
      const v = h < wxg.length ? wxg[h] : null, nv = h < norms.length ? norms[h] : null;
      const t = scale > 0 && isNum(v) ? Math.abs(v) / scale : 0;
      tr.append(el('td', {class: 'cell' + (isNum(v) ? '' : ' na') + (t > 0.6 ? ' dark' : ''), text: isNum(v) ? short(v, 2) : '',
        dataset: {layer: String(layer), head: String(h), value: exact(v)},
        title: 'layer ' + (isNum(layer) ? layer : '?') + ', head ' + h + '\nweight \u00d7 gradient: ' + exact(v) +
          '\ngradient norm: ' + exact(nv),
        vars: {'background-color': isNum(v) ? signedColor(v, scale) : null}}));
    }
    tr.append(el('td', {class: 'total', text: short(num(a.norm)), title: 'layer ' + layer + ': whole gradient norm ' + exact(num(a.norm))}));
    body.append(tr);
  }
  table.append(body);
  wrap.append(el('div', {class: 'scroll-x'}, table));
  return wrap;
}

// Last, once every constant above is initialised.
(function main() {
  let D;
  try { D = readData(); } catch (e) { fail(e); return; }
  try { build(D); } catch (e) { fail(e); return; }
  document.body.dataset.ready = '1';
})();
