const POS_RGB = [24, 128, 64];    // pushes the target up
const NEG_RGB = [200, 40, 45];    // pushes it down
const SERIES = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#393b79'];
const METHOD_LABELS = {
  saliency: 'Saliency', input_x_gradient: 'Input \u00d7 gradient', integrated_gradients: 'Integrated gradients',
  gradient_shap: 'Gradient SHAP', deeplift: 'DeepLift', deeplift_shap: 'DeepLift SHAP', occlusion: 'Occlusion',
  feature_ablation: 'Feature ablation', lime: 'LIME', kernel_shap: 'Kernel SHAP', shapley_value_sampling: 'Shapley value sampling'
};
function methodLabel(m) {
  const s = m === null || m === undefined ? '?' : String(m);
  return Object.prototype.hasOwnProperty.call(METHOD_LABELS, s) ? METHOD_LABELS[s] : s.replace(/_/g, ' ');
}
// White blended towards the hue of the score's sign; t in [0, 1].
function mix(rgb, t) { return 'rgb(' + rgb.map(v => Math.round(255 + (v - 255) * t)).join(', ') + ')'; }
function intensity(s, scale) { return isNum(s) && scale > 0 ? Math.min(Math.abs(s) / scale, 1) : 0; }
function scoreColor(s, scale) { return mix(isNum(s) && s < 0 ? NEG_RGB : POS_RGB, intensity(s, scale)); }
function maxAbs(values) {
  let m = 0;
  for (const v of values) if (isNum(v) && Math.abs(v) > m) m = Math.abs(v);
  return m;
}
function exact(v) { return isNum(v) ? String(v) : 'n/a'; }
function signed(v, d) { return isNum(v) ? (v >= 0 ? '+' : '') + v.toFixed(d === undefined ? 4 : d) : '\u2014'; }

function build(D) {
  const samples = asArray(D.samples).filter(s => s && typeof s === 'object');
  const title = typeof D.title === 'string' && D.title ? D.title : 'Feature attribution';
  byId('title').textContent = title;
  const models = Array.from(new Set(samples.map(s => s.model).filter(Boolean)));
  document.title = title + (models.length ? ' \u2014 ' + models.join(', ') : '');
  const meta = byId('meta');
  const addMeta = (k, v, id) => meta.append(el('div', {}, [el('dt', {text: k}), el('dd', {text: v, id: id})]));
  addMeta('Model', models.join(', ') || '\u2014', 'meta-model');
  addMeta('Samples', String(samples.length), 'meta-samples');
  const methods = Array.from(new Set([].concat(...samples.map(s => asArray(s.methods).map(m => m && m.method)))).values()).filter(Boolean);
  addMeta('Methods', methods.map(methodLabel).join(', ') || '\u2014', 'meta-methods');

  const toc = byId('toc');
  if (samples.length <= 1) toc.hidden = true;
  const box = byId('samples');
  if (samples.length === 0) box.append(el('p', {class: 'notice', text: 'This report holds no samples.'}));
  samples.forEach((s, i) => {
    toc.append(el('a', {href: '#sample-' + (i + 1), text: '#' + (i + 1), title: String(s.text === undefined ? '' : s.text)}));
    box.append(buildSample(s, i));
  });
}

function tokenInfo(s) {
  const tokens = asArray(s.tokens).map(t => (t === null || t === undefined ? '' : String(t)));
  const tt = tokenTexts(tokens, s.display_tokens);
  const att = asArray(s.attributed);
  const attributed = tokens.map((_, i) => (att.length === tokens.length ? att[i] === true : true));
  return {raw: tokens, shown: tt.texts.map(t => (t === null || t === undefined ? '' : String(t))), attributed: attributed};
}

function buildSample(s, index) {
  const sec = el('section', {class: 'sample', id: 'sample-' + (index + 1), dataset: {sample: String(index)}});
  const label = s.sample && typeof s.sample === 'object' ? s.sample : {};
  sec.append(el('h2', {text: 'Sample ' + (index + 1) + (label.label !== undefined && label.label !== null && label.label !== '' ?
    ' (label: ' + String(label.label) + ')' : '')}));
  const meta = el('dl', {class: 'meta'});
  const addMeta = (k, v, cls) => meta.append(el('div', {}, [el('dt', {text: k}), el('dd', {text: v, class: cls})]));
  addMeta('Model', s.model || '\u2014', 'm-model');
  addMeta('Prediction', s.prediction || '\u2014', 'm-prediction');
  addMeta('Target', s.target || '\u2014', 'm-target');
  addMeta('f(input)', fmt(s.target_score, 4), 'm-score');
  addMeta('f(baseline)', fmt(s.baseline_score, 4), 'm-baseline-score');
  addMeta('Probability', fmt(s.target_probability, 3), 'm-probability');
  if (s.baseline) addMeta('Baseline', s.baseline, 'm-baseline');
  sec.append(meta);
  sec.append(el('div', {class: 'textbox input-text', text: s.text === undefined || s.text === null ? '' : String(s.text)}));
  if (s.generated_text) {
    sec.append(el('p', {class: 'caption'}, ['Continuation attributed: ', el('span', {class: 'tok-inline generated-text', text: String(s.generated_text)})]));
  }
  const info = tokenInfo(s);
  const methods = asArray(s.methods).filter(m => m && typeof m === 'object');

  // ---- tokens coloured per method ----
  sec.append(el('h3', {class: 'sub', text: 'Token attributions'}));
  sec.append(el('div', {class: 'divlegend'}, [el('span', {text: 'pushes down'}), el('span', {class: 'bar'}),
    el('span', {text: 'pushes up'}), el('span', {class: 'na'}), el('span', {text: 'not attributed'})]));
  const grid = el('div', {class: 'attr-grid'});
  for (const m of methods) {
    const scores = asArray(m.scores);
    const scale = maxAbs(scores.filter((_, i) => info.attributed[i]));
    const name = el('div', {class: 'method-name', dataset: {method: String(m.method)}, title: asArray(m.parameters).join(', ')},
      [methodLabel(m.method)]);
    if (m.has_delta) {
      name.append(el('span', {class: 'delta', title: 'convergence delta: sum of scores - (f(input) - f(baseline))',
        text: '\u03b4 = ' + signed(m.delta, 4) + (isNum(m.relative_delta) ? ' (' + (100 * m.relative_delta).toPrecision(2) + '%)' : '')}));
    }
    const row = el('div', {class: 'tokens', dataset: {method: String(m.method)}});
    info.raw.forEach((raw, i) => {
      const sc = scores[i];
      const shown = tokenLabel(info.shown[i]);
      const rawNote = raw !== info.shown[i] ? ' (' + tokenLabel(raw) + ')' : '';
      if (!info.attributed[i]) {
        row.append(el('span', {class: 'tok na', dataset: {i: String(i)}, text: shown, title: shown + rawNote + '\nnot attributed'}));
        return;
      }
      const t = intensity(sc, scale);
      row.append(el('span', {class: 'tok' + (t > 0.6 ? ' dark' : ''), dataset: {i: String(i), score: exact(sc)}, text: shown,
        title: shown + rawNote + '\n' + methodLabel(m.method) + ': ' + exact(sc), vars: {'background-color': scoreColor(sc, scale)}}));
    });
    grid.append(name, row);
  }
  if (methods.length === 0) sec.append(el('p', {class: 'notice', text: 'No method answered for this sample.'}));
  else sec.append(grid);

  // ---- generation: one heat map per method ----
  const gens = methods.filter(m => asArray(m.generated).length > 0);
  if (gens.length) {
    sec.append(el('h3', {class: 'sub', text: 'Generated tokens'}));
    sec.append(el('p', {class: 'caption', text: 'One row per generated token: how much each input token contributes to ' +
      'that token\u2019s log-probability (colours scaled per method by the table\u2019s largest |score|).'}));
    for (const m of gens) sec.append(genTable(m, info));
  }

  // ---- faithfulness ----
  const faithful = methods.filter(m => m.faithfulness && typeof m.faithfulness === 'object');
  const withDelta = methods.filter(m => m.has_delta);
  sec.append(el('h3', {class: 'sub', text: 'Faithfulness'}));
  if (!faithful.length) {
    sec.append(el('p', {class: 'muted faith-none', text: 'No deletion/insertion curves, infidelity or sensitivity: they are ' +
      'computed at depth detailed.' + (withDelta.length ? ' The convergence deltas are below.' : '')}));
  }
  const rows = methods.map(m => {
    const f = m.faithfulness && typeof m.faithfulness === 'object' ? m.faithfulness : {};
    return {
      method: methodLabel(m.method), key: m.method,
      deletion_auc: f.deletion_auc, random_deletion_auc: f.random_deletion_auc,
      insertion_auc: f.insertion_auc, random_insertion_auc: f.random_insertion_auc,
      infidelity: f.has_infidelity ? f.infidelity : null, sensitivity: f.has_sensitivity ? f.sensitivity_max : null,
      delta: m.has_delta ? m.delta : null, relative_delta: m.has_delta ? m.relative_delta : null,
      seconds: m.seconds, evaluations: m.evaluations, parameters: asArray(m.parameters).join(', ')
    };
  });
  const num = (label, key, digits, title) => ({label: label, key: key, num: true, digits: digits, title: title});
  const table = sortableTable([
    {label: 'method', key: 'method'},
    num('deletion AUC', 'deletion_auc', 3, 'normalised area under the deletion curve; lower is more faithful'),
    num('random del.', 'random_deletion_auc', 3, 'deletion area of random orders'),
    num('insertion AUC', 'insertion_auc', 3, 'normalised area under the insertion curve; higher is more faithful'),
    num('random ins.', 'random_insertion_auc', 3, 'insertion area of random orders'),
    num('infidelity', 'infidelity', 4, 'lower is better'),
    num('sensitivity', 'sensitivity', 4, 'max sensitivity / attribution norm; lower is better'),
    num('delta', 'delta', 4, 'convergence delta'),
    num('relative delta', 'relative_delta', 4, '|delta| / |f(input) - f(baseline)|'),
    num('seconds', 'seconds', 2),
    num('evaluations', 'evaluations', 0),
    {label: 'parameters', key: 'parameters'}
  ], rows, {rowAttrs: (r, tr) => { tr.dataset.method = String(r.key); }});
  table.classList.add('faithfulness');
  sec.append(el('div', {class: 'tablewrap'}, table));

  // ---- curves ----
  if (faithful.length) {
    sec.append(el('h3', {class: 'sub', text: 'Deletion and insertion curves'}));
    sec.append(el('p', {class: 'caption', text: 'The target as the top-ranked tokens are replaced by the baseline (deletion: a ' +
      'faithful ranking drops fast) or put back onto it (insertion: a faithful ranking rises fast). The dashed line is the ' +
      'mean target over random orders, drawn flat with the same area.'}));
    const wrap = el('div', {class: 'curves'});
    const colors = {};
    methods.forEach((m, i) => { colors[m.method] = SERIES[i % SERIES.length]; });
    wrap.append(curveChart('deletion', faithful, colors), curveChart('insertion', faithful, colors));
    sec.append(wrap);
    const legend = el('div', {class: 'series-legend'});
    for (const m of faithful) {
      legend.append(el('span', {}, [el('span', {class: 'sw', vars: {'background': colors[m.method]}}), methodLabel(m.method)]));
    }
    legend.append(el('span', {}, [el('span', {class: 'sw dash'}), 'random order (mean)']));
    sec.append(legend);
  }

  // ---- agreement ----
  const agreement = asArray(s.agreement).filter(a => a && typeof a === 'object');
  if (agreement.length) {
    sec.append(el('h3', {class: 'sub', text: 'Agreement between methods'}));
    sec.append(el('p', {class: 'caption', text: 'Spearman rank correlation of the methods\u2019 scores over the attributed tokens ' +
      '(green: same ranking, red: opposite). Hover a cell for the overlap of their top three tokens.'}));
    sec.append(agreementMatrix(methods.map(m => m.method), agreement));
  }

  // ---- findings ----
  sec.append(el('h3', {class: 'sub', text: 'Findings'}));
  const ul = el('ul', {class: 'findings'});
  fillFindings(ul, s.findings);
  sec.append(ul);
  return sec;
}

function genTable(m, info) {
  const cols = info.raw.map((_, i) => i).filter(i => info.attributed[i]);
  const rows = asArray(m.generated).filter(g => g && typeof g === 'object');
  const scale = maxAbs([].concat(...rows.map(g => cols.map(i => asArray(g.scores)[i]))));
  const table = el('table', {class: 'genmap', dataset: {method: String(m.method)}});
  table.append(el('caption', {class: 'caption', text: methodLabel(m.method)}));
  const head = el('tr', {}, [el('th', {text: 'generated'}), el('th', {text: 'log p'})]);
  for (const i of cols) head.append(el('th', {text: tokenLabel(info.shown[i], 14), title: info.raw[i]}));
  table.append(el('thead', {}, head));
  const body = el('tbody');
  for (const g of rows) {
    const tr = el('tr', {}, [el('th', {text: tokenLabel(g.token, 14), title: 'token id ' + fmt(g.token_id, 0)}),
      el('td', {class: 'num', text: fmt(g.log_prob, 3)})]);
    const scores = asArray(g.scores);
    for (const i of cols) {
      const sc = scores[i];
      tr.append(el('td', {class: intensity(sc, scale) > 0.6 ? 'dark' : null, text: isNum(sc) ? sc.toFixed(2) : '\u2014',
        title: tokenLabel(info.shown[i]) + ' \u2192 ' + tokenLabel(g.token) + ': ' + exact(sc),
        vars: {'background-color': scoreColor(sc, scale), 'color': intensity(sc, scale) > 0.6 ? '#fff' : null}}));
    }
    body.append(tr);
  }
  table.append(body);
  return el('div', {class: 'scroll-x'}, table);
}

function curveChart(kind, methods, colors) {
  const W = 400, H = 250, L = 58, R = 12, T = 24, B = 36;
  const series = methods.map(m => {
    const f = m.faithfulness;
    const xs = asArray(f.fractions), ys = asArray(f[kind]);
    const pts = [];
    for (let i = 0; i < Math.min(xs.length, ys.length); i++) if (isNum(xs[i]) && isNum(ys[i])) pts.push([xs[i], ys[i]]);
    // The areas are normalised by f(input) (deletion at 0) and f(baseline) (insertion at 0).
    const hi = asArray(f.deletion)[0], lo = asArray(f.insertion)[0];
    const auc = kind === 'deletion' ? f.random_deletion_auc : f.random_insertion_auc;
    const randomY = isNum(hi) && isNum(lo) && isNum(auc) ? lo + auc * (hi - lo) : null;
    return {method: m.method, pts: pts, randomY: randomY};
  });
  const ys = [].concat(...series.map(s => s.pts.map(p => p[1]))).concat(series.map(s => s.randomY).filter(isNum));
  let y0 = ys.length ? Math.min(...ys) : 0, y1 = ys.length ? Math.max(...ys) : 1;
  if (y1 - y0 < 1e-9) { y0 -= 0.5; y1 += 0.5; }
  const pad = (y1 - y0) * 0.06; y0 -= pad; y1 += pad;
  const sx = x => L + x * (W - L - R), sy = y => T + (y1 - y) / (y1 - y0) * (H - T - B);
  const svg = svgEl('svg', {class: 'curve-chart', width: W, height: H, viewBox: '0 0 ' + W + ' ' + H, 'data-kind': kind, role: 'img'});
  const t = svgEl('text', {x: L, y: 14, 'font-weight': 600});
  t.textContent = kind === 'deletion' ? 'Deletion (lower area is better)' : 'Insertion (higher area is better)';
  svg.append(t);
  for (let k = 0; k <= 4; k++) {
    const yv = y0 + (y1 - y0) * k / 4, x = k / 4;
    svg.append(svgEl('line', {class: 'grid', x1: L, x2: W - R, y1: sy(yv), y2: sy(yv)}));
    const ty = svgEl('text', {x: L - 6, y: sy(yv) + 4, 'text-anchor': 'end'}); ty.textContent = yv.toPrecision(3); svg.append(ty);
    const tx = svgEl('text', {x: sx(x), y: H - B + 14, 'text-anchor': 'middle'}); tx.textContent = String(x); svg.append(tx);
  }
  svg.append(svgEl('line', {class: 'axis', x1: L, x2: W - R, y1: H - B, y2: H - B}));
  svg.append(svgEl('line', {class: 'axis', x1: L, x2: L, y1: T, y2: H - B}));
  const xl = svgEl('text', {x: (L + W - R) / 2, y: H - 6, 'text-anchor': 'middle'});
  xl.textContent = kind === 'deletion' ? 'fraction of tokens removed' : 'fraction of tokens present';
  svg.append(xl);
  const yl = svgEl('text', {x: 12, y: (T + H - B) / 2, 'text-anchor': 'middle', transform: 'rotate(-90 12 ' + (T + H - B) / 2 + ')'});
  yl.textContent = 'target';
  svg.append(yl);
  // Random orders: one grey line when every method saw the same random orders (the usual case).
  const randoms = series.filter(s => isNum(s.randomY));
  const same = randoms.length > 0 && randoms.every(s => Math.abs(s.randomY - randoms[0].randomY) <= 1e-6 * Math.max(1, Math.abs(randoms[0].randomY)));
  for (const s of (same ? [randoms[0]] : randoms)) {
    const line = svgEl('line', {class: 'random', x1: sx(0), x2: sx(1), y1: sy(s.randomY), y2: sy(s.randomY),
      stroke: same ? '#777' : colors[s.method], 'stroke-width': 1.5, 'stroke-dasharray': '5 4', 'data-method': same ? '' : String(s.method)});
    const title = svgEl('title'); title.textContent = 'random order (mean target ' + s.randomY.toPrecision(4) + ')';
    line.append(title);
    svg.append(line);
  }
  for (const s of series) {
    const pl = svgEl('polyline', {class: 'curve ' + kind, 'data-method': String(s.method), fill: 'none', stroke: colors[s.method],
      'stroke-width': 2, points: s.pts.map(p => sx(p[0]).toFixed(1) + ',' + sy(p[1]).toFixed(1)).join(' ')});
    const title = svgEl('title'); title.textContent = methodLabel(s.method);
    pl.append(title);
    svg.append(pl);
  }
  return el('div', {class: 'panel'}, svg);
}

function agreementMatrix(names, agreement) {
  const find = (a, b) => agreement.find(x => (x.first === a && x.second === b) || (x.first === b && x.second === a));
  const table = el('table', {class: 'matrix agreement'});
  const head = el('tr', {}, el('th'));
  for (const n of names) head.append(el('th', {text: methodLabel(n)}));
  table.append(el('thead', {}, head));
  const body = el('tbody');
  for (const a of names) {
    const tr = el('tr', {}, el('th', {text: methodLabel(a)}));
    for (const b of names) {
      if (a === b) { tr.append(el('td', {class: 'muted', text: '1'})); continue; }
      const x = find(a, b);
      const rho = x ? x.spearman : null;
      tr.append(el('td', {text: fmt(rho, 2), dataset: {first: String(a), second: String(b)},
        title: x ? methodLabel(a) + ' ~ ' + methodLabel(b) + ': Spearman ' + exact(rho) + '; top-3 overlap ' + fmt(x.top_k_overlap, 2) : 'not computed',
        vars: {'background-color': scoreColor(rho, 1), 'color': intensity(rho, 1) > 0.6 ? '#fff' : null}}));
    }
    body.append(tr);
  }
  table.append(body);
  return el('div', {class: 'scroll-x'}, table);
}

// Last, once every constant above is initialised.
(function main() {
  let D;
  try { D = readData(); } catch (e) { fail(e); return; }
  try { build(D); } catch (e) { fail(e); return; }
  document.body.dataset.ready = '1';
})();
