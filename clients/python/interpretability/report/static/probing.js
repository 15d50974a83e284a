// The probe analysis report (ProbeAnalysis of the probing service).  charts.js (loaded before)
// has the number formatting, the colour scales, the line chart and the heat map.
const LEVELS = {
  token: ['token level', 'one label per word'],
  sentence: ['sentence level', 'one label per text'],
  depth: ['structural: depth', 'a structural probe of each word\u2019s depth in the dependency tree (Hewitt & Manning 2019)'],
  distance: ['structural: distance', 'a structural probe of the tree distance between every two words (Hewitt & Manning 2019)']
};
const SCORE_SERIES = {score: '#1f77b4', control: '#ff7f0e', selectivity: '#2ca02c', spearman: '#9467bd', baseline: '#7f7f7f'};
const LABELS_SHOWN = 40;

// ---- small helpers ----
function own(o, k) { return Object.prototype.hasOwnProperty.call(o, k); }
function obj(v) { return v && typeof v === 'object' && !Array.isArray(v) ? v : null; }
function levelName(l) { return own(LEVELS, text(l)) ? LEVELS[text(l)][0] : (text(l) || 'unknown level'); }
function levelHelp(l) { return own(LEVELS, text(l)) ? LEVELS[text(l)][1] : ''; }
function isStructural(l) { return l === 'depth' || l === 'distance'; }
function count(v) { return isNum(num(v)) ? Math.round(num(v)).toLocaleString('en-US') : '\u2014'; }
function d3(v) { return isNum(v) ? v.toFixed(3) : '\u2014'; }
function layerSpan(ls) {
  ls = ls.filter(isNum);
  if (!ls.length) return '\u2014';
  const contiguous = ls.every((x, i) => i === 0 || x === ls[i - 1] + 1);
  return ls.length + ' (' + (ls.length === 1 ? ls[0] : (contiguous || ls.length > 8 ? ls[0] + '\u2013' + ls[ls.length - 1] : ls.join(', '))) + ')';
}
function seconds(v) { return isNum(num(v)) ? short(num(v), 3) + ' s' : '\u2014'; }
function scoreOf(r) { return obj(r.task) ? num(r.task.score) : null; }
function controlOf(r) { return obj(r.control) ? num(r.control.score) : null; }
// The 95% interval of a layer's test score, or null when the server sent none.
function intervalOf(r) {
  const s = obj(r.task);
  if (!s) return null;
  const lo = num(s.score_low), hi = num(s.score_high), v = num(s.score);
  if (!isNum(lo) || !isNum(hi) || hi < lo || (lo === 0 && hi === 0 && v !== 0)) return null;
  return [lo, hi];
}
function hasMdl(s) { return !!obj(s) && isNum(num(s.mdl_bits)) && num(s.mdl_bits) > 0; }
function compressionOf(s) { return hasMdl(s) ? num(s.compression) : null; }
function numSpan(v, f) { return el('span', {text: (f || d3)(v), title: exact(v)}); }
// add(term, value, name, tooltip): name is the dd's id in the page's header (asId), its class elsewhere.
function metaList(dl, asId) {
  return (k, v, name, tip) => dl.append(el('div', {}, [el('dt', {text: k}),
    el('dd', {text: v, id: asId ? name : null, class: asId ? null : name, title: tip})]));
}

// ---- page ----
function build(D) {
  const R = obj(D.result) || {};
  const title = typeof D.title === 'string' && D.title ? D.title : 'Probe analysis';
  byId('title').textContent = title;
  document.title = title + (R.model ? ' \u2014 ' + R.model : '');
  const tasks = asArray(R.tasks).filter(obj);
  const bias = obj(R.bias);

  const add = metaList(byId('meta'), true);
  add('Model', text(R.model) || '\u2014', 'meta-model');
  add('Layers probed', layerSpan(asArray(R.layers).map(num)), 'meta-layers');
  add('Tasks', String(tasks.length), 'meta-tasks');
  const tokens = num(R.tokens), ext = num(R.extraction_seconds), fit = num(R.fitting_seconds);
  add('Tokens', count(tokens), 'meta-tokens', 'tokens run through the model');
  const total = (isNum(ext) ? ext : 0) + (isNum(fit) ? fit : 0);
  const share = v => (total > 0 && isNum(v) ? ' (' + Math.round(100 * v / total) + '% of the time)' : '');
  add('Extraction', seconds(ext), 'meta-extraction', 'getting the representations from the model host' + share(ext) +
    (isNum(ext) && ext > 0 && isNum(tokens) ? '; ' + short(tokens / ext, 3) + ' tokens/s' : ''));
  add('Fitting', seconds(fit), 'meta-fitting', 'fitting and scoring the probes' + share(fit));
  add('Bias analysis', bias ? 'protected task: ' + (text(bias.protected_task) || '?') : 'not requested', 'meta-bias');

  const toc = byId('toc');
  toc.append(el('a', {href: '#findings-section', text: 'Findings'}), el('a', {href: '#overview-section', text: 'Overview'}));
  tasks.forEach((t, i) => toc.append(el('a', {href: '#task-' + i, text: text(t.name) || 'task ' + (i + 1)})));
  if (bias) toc.append(el('a', {href: '#bias-section', text: 'Bias'}));

  fillFindings(byId('findings'), R.findings);

  buildOverview(tasks);
  const box = byId('tasks');
  if (!tasks.length) box.append(el('section', {}, el('p', {class: 'notice', text: 'This analysis holds no tasks.'})));
  tasks.forEach((t, i) => box.append(buildTask(t, i)));
  buildBias(bias);
}

function layerRows(t) { return asArray(t.layers).filter(obj); }
function bestRow(t) {
  const best = num(t.best_layer);
  return layerRows(t).find(r => num(r.layer) === best) || null;
}

function buildOverview(tasks) {
  const box = byId('overview');
  if (!tasks.length) { box.append(el('p', {class: 'muted', text: 'No tasks.'})); return; }
  const best = tasks.map(bestRow);
  const rows = tasks.map((t, i) => ({i: i, t: t, r: best[i] || {}}));
  const table = sortableTable([
    {label: 'task', value: x => text(x.t.name), render: x => el('a', {href: '#task-' + x.i, text: text(x.t.name) || '(unnamed)'})},
    {label: 'level', value: x => levelName(x.t.level)},
    {label: 'metric', value: x => text(x.t.metric) || '\u2014'},
    {label: 'best layer', num: true, value: x => (layerRows(x.t).length ? num(x.t.best_layer) : null), digits: 0,
      title: 'the layer with the highest selectivity'},
    {label: 'score [95%]', num: true, value: x => scoreOf(x.r), render: x => scoreCell(x.r)},
    {label: 'control', num: true, value: x => controlOf(x.r), render: x => numSpan(controlOf(x.r))},
    {label: 'selectivity', num: true, value: x => num(x.r.selectivity), render: x => numSpan(num(x.r.selectivity))},
    {label: 'baseline', num: true, value: x => num(x.t.baseline_score), render: x => el('span', {text: d3(num(x.t.baseline_score)),
      title: (text(x.t.baseline) || 'baseline') + ': ' + exact(num(x.t.baseline_score))})},
    {label: 'compression', num: true, value: x => compressionOf(x.r.task), title: 'MDL: uniform / online codelength, at the best layer',
      render: x => numSpan(compressionOf(x.r.task), v => (isNum(v) ? v.toFixed(2) + '\u00d7' : '\u2014'))}
  ], rows, {rowAttrs: (x, tr) => { tr.dataset.task = text(x.t.name); }});
  table.classList.add('overview');
  box.append(el('div', {class: 'tablewrap'}, table));
}

function scoreCell(r) {
  const v = scoreOf(r), iv = intervalOf(r);
  return el('span', {text: d3(v) + (iv ? ' [' + d3(iv[0]) + ', ' + d3(iv[1]) + ']' : ''),
    title: 'score ' + exact(v) + (iv ? '; 95% interval ' + exact(iv[0]) + ' to ' + exact(iv[1]) : '')});
}

function buildTask(t, index) {
  const name = text(t.name);
  const level = text(t.level);
  const structural = isStructural(level);
  const sec = el('section', {class: 'task', id: 'task-' + index, dataset: {task: name, level: level}});
  sec.append(el('h2', {}, [el('span', {class: 'task-name', text: name || '(unnamed task)'}),
    el('span', {class: 'level', text: levelName(level), title: levelHelp(level) || null})]));
  const dl = el('dl', {class: 'meta'});
  const add = metaList(dl);
  const metric = text(t.metric) || 'score';
  add('Metric', text(t.metric) || '\u2014', 't-metric');
  add('Examples', count(t.examples), 't-examples', 'texts used');
  add('Train / validation / test', count(t.train_items) + ' / ' + count(t.validation_items) + ' / ' + count(t.test_items), 't-split',
    structural ? 'words in each split' : (level === 'token' ? 'words in each split' : 'texts in each split'));
  const bs = num(t.baseline_score);
  add('Baseline', d3(bs) + (text(t.baseline) ? ' (' + text(t.baseline) + ')' : ''), 't-baseline',
    'on the test split: ' + exact(bs));
  add('Best layer', isNum(num(t.best_layer)) && layerRows(t).length ? String(num(t.best_layer)) : '\u2014', 't-best', 'the layer with the highest selectivity');
  const skippedCount = isNum(num(t.skipped_count)) ? num(t.skipped_count) : asArray(t.skipped).length;
  add('Skipped', String(skippedCount), 't-skipped', 'examples that could not be used');
  const dir = obj(t.directions);
  if (dir && asArray(dir.shape).length) {
    add('Directions', asArray(dir.shape).join(' \u00d7 '), 't-directions',
      '[' + asArray(dir.dim_names).map(text).join(', ') + '] difference-of-means directions, returned ' +
      (dir.where === 'object store' ? 'in the tensor store' : text(dir.where)) + '; not shown in this page');
  }
  sec.append(dl);
  if (text(t.control_description)) {
    sec.append(el('p', {class: 'caption control-desc'}, [el('strong', {text: 'Control task: '}), text(t.control_description)]));
  }
  const labels = asArray(t.labels).map(text);
  if (labels.length) {
    const p = el('p', {class: 'labels'}, [labels.length + ' labels: ']);
    labels.slice(0, LABELS_SHOWN).forEach(l => p.append(el('span', {class: 'tok-inline label', text: tokenLabel(l)})));
    if (labels.length > LABELS_SHOWN) p.append('\u2026 (' + (labels.length - LABELS_SHOWN) + ' more)');
    sec.append(p);
  }

  const rows = layerRows(t);
  if (!rows.length) {
    sec.append(el('p', {class: 'notice', text: 'No layers were probed for this task.'}));
    buildSkipped(sec, t, skippedCount);
    return sec;
  }
  const best = num(t.best_layer);
  const vlines = rows.some(r => num(r.layer) === best) ? [{x: best, label: 'best ' + best}] : [];
  const charts = el('div', {class: 'charts'});

  // ---- scores across layers ----
  const intervals = new Map(rows.map(r => [num(r.layer), intervalOf(r)]));
  const at = f => rows.map(r => [num(r.layer), f(r)]);
  const scoreSeries = [
    {key: 'score', label: metric + ' (test)', color: SCORE_SERIES.score, points: at(scoreOf),
      band: rows.map(r => { const iv = intervalOf(r); return iv ? [num(r.layer), iv[0], iv[1]] : [num(r.layer), null, null]; }),
      tip: p => { const iv = intervals.get(p[0]); return iv ? ' (95% interval ' + exact(iv[0]) + ' to ' + exact(iv[1]) + ')' : ''; }},
    {key: 'control', label: 'control task', color: SCORE_SERIES.control, points: at(controlOf)},
    {key: 'selectivity', label: 'selectivity', color: SCORE_SERIES.selectivity, points: at(r => num(r.selectivity))},
    {key: 'spearman', label: 'Spearman (' + (level === 'depth' ? 'depths' : 'distances') + ')', color: SCORE_SERIES.spearman,
      points: structural ? at(r => (obj(r.task) ? num(r.task.spearman) : null)) : []},
    {key: 'baseline', label: 'baseline' + (text(t.baseline) ? ': ' + text(t.baseline) : '') + ' (' + d3(bs) + ')',
      color: SCORE_SERIES.baseline, dash: true, markers: false, points: isNum(bs) ? at(() => bs) : []}
  ].filter(s => s.points.some(p => isNum(p[1])));
  charts.append(el('div', {}, [el('p', {class: 'chart-title', text: metric + ' across layers'}),
    lineChart(scoreSeries, {nice: true, cls: 'score-chart', yLabel: structural ? metric + ' / Spearman' : metric, include: [0], vlines: vlines})]));

  // ---- MDL ----
  const mdl = rows.some(r => hasMdl(r.task));
  if (mdl) {
    const mdlSeries = [
      {key: 'task', label: 'task', color: SCORE_SERIES.score, points: at(r => compressionOf(r.task))},
      {key: 'control', label: 'control task', color: SCORE_SERIES.control, points: at(r => compressionOf(r.control))},
      {key: 'uniform', label: 'no compression (uniform code)', color: SCORE_SERIES.baseline, dash: true, markers: false, points: at(() => 1)}
    ].filter(s => s.points.some(p => isNum(p[1])));
    charts.append(el('div', {}, [el('p', {class: 'chart-title', text: 'MDL compression across layers'}),
      lineChart(mdlSeries, {nice: true, cls: 'mdl-chart', yLabel: 'compression (\u00d7)', width: 520, vlines: vlines})]));
  }
  sec.append(charts);
  if (!mdl) sec.append(el('p', {class: 'muted mdl-none', text: 'No MDL figure for this task (not computed: skip_mdl, or not available for this task).'}));

  // ---- per layer ----
  sec.append(el('h3', {class: 'sub', text: 'Per layer'}));
  const n3 = (label, f, title) => ({label: label, num: true, title: title, value: f, render: r => numSpan(f(r))});
  const cols = [
    {label: 'layer', num: true, value: r => num(r.layer), digits: 0},
    {label: metric + ' [95%]', num: true, value: scoreOf, render: scoreCell, title: 'test score and its 95% Wilson interval'},
    n3('control', controlOf, 'the same probe on the control task'),
    n3('selectivity', r => num(r.selectivity), 'score \u2212 control score'),
    n3('train', r => (obj(r.task) ? num(r.task.train_score) : null), 'score on the training split'),
    n3('validation', r => (obj(r.task) ? num(r.task.validation_score) : null), 'score on the validation split, at the chosen C')
  ];
  if (structural) {
    cols.push(n3('spearman', r => (obj(r.task) ? num(r.task.spearman) : null),
      'mean Spearman correlation of predicted and gold ' + (level === 'depth' ? 'depths' : 'distances') + ' per sentence'));
  } else {
    cols.push({label: 'C', num: true, title: 'the inverse L2 strength chosen on the validation split',
      value: r => (obj(r.task) ? num(r.task.regularization) : null),
      render: r => numSpan(obj(r.task) ? num(r.task.regularization) : null, v => (isNum(v) && v > 0 ? short(v, 3) : '\u2014'))});
  }
  if (mdl) {
    cols.push({label: 'MDL bits', num: true, title: 'online codelength of the labels (uniform code in the tooltip)',
      value: r => (hasMdl(r.task) ? num(r.task.mdl_bits) : null),
      render: r => el('span', {text: hasMdl(r.task) ? count(r.task.mdl_bits) : '\u2014',
        title: hasMdl(r.task) ? exact(num(r.task.mdl_bits)) + ' bits; uniform code ' + exact(num(r.task.uniform_bits)) + ' bits' : null})});
    const cx = v => (isNum(v) ? v.toFixed(2) + '\u00d7' : '\u2014');
    cols.push({label: 'compression', num: true, value: r => compressionOf(r.task), render: r => numSpan(compressionOf(r.task), cx)});
    cols.push({label: 'control compr.', num: true, title: 'compression of the control task', value: r => compressionOf(r.control),
      render: r => numSpan(compressionOf(r.control), cx)});
  }
  const table = sortableTable(cols, rows, {rowAttrs: (r, tr) => {
    tr.dataset.layer = String(num(r.layer));
    if (num(r.layer) === best) { tr.classList.add('best'); tr.title = 'the best layer (highest selectivity)'; }
  }});
  table.classList.add('layers');
  sec.append(el('div', {class: 'tablewrap'}, table));
  buildSkipped(sec, t, skippedCount);
  return sec;
}

function buildSkipped(sec, t, skippedCount) {
  const skipped = asArray(t.skipped).filter(obj);
  if (!skippedCount && !skipped.length) return;
  sec.append(el('h3', {class: 'sub', text: 'Skipped examples'}));
  sec.append(el('p', {class: 'skipped-summary', text: (skippedCount === 1 ? '1 example was' : skippedCount + ' examples were') +
    ' skipped' + (skipped.length && skipped.length < skippedCount ? ' (the first ' + skipped.length + ' are listed).' : '.')}));
  if (!skipped.length) return;
  const table = sortableTable([
    {label: 'index', key: 'index', num: true, digits: 0, title: 'index of the example in the task'},
    {label: 'reason', value: r => text(r.reason)},
    {label: 'excerpt', value: r => text(r.excerpt), render: r => (text(r.excerpt) ? el('span', {class: 'tok-inline', text: text(r.excerpt)}) :
      el('span', {class: 'muted', text: '(empty)'}))}
  ], skipped);
  table.classList.add('skipped');
  sec.append(el('div', {class: 'tablewrap'}, table));
}

// ---- bias ----
function buildBias(bias) {
  const box = byId('bias');
  if (!bias) {
    box.append(el('p', {class: 'muted bias-none', text: 'No bias analysis in this result (it runs when the request names a protected task).'}));
    return;
  }
  const protectedTask = text(bias.protected_task);
  box.append(el('p', {class: 'caption'}, ['Protected attribute: the labels of the task ', el('strong', {class: 'protected-task',
    text: protectedTask || '?'}), '.']));

  // ---- direction alignments ----
  box.append(el('h3', {class: 'sub', text: 'Direction alignments'}));
  const alignments = asArray(bias.alignments).filter(obj);
  if (!alignments.length) {
    box.append(el('p', {class: 'muted alignments-none', text: 'No direction alignments.'}));
  } else {
    const keys = new Map(), layers = new Set();
    for (const a of alignments) {
      const k = JSON.stringify([text(a.task), text(a.label), text(a.protected_label)]);
      if (!keys.has(k)) keys.set(k, {task: text(a.task), label: text(a.label), protected: text(a.protected_label), byLayer: new Map()});
      if (isNum(num(a.layer))) { layers.add(num(a.layer)); keys.get(k).byLayer.set(num(a.layer), num(a.cosine)); }
    }
    const rows = Array.from(keys.values());
    const cols = Array.from(layers).sort((a, b) => a - b);
    const rowLabel = r => r.task + ': ' + r.label + ' \u2194 ' + r.protected;
    box.append(heatMap({
      rows: rows.map(r => ({label: rowLabel(r), key: rowLabel(r)})),
      cols: cols.map(l => ({label: String(l), title: 'layer ' + l})),
      value: (i, j) => (rows[i].byLayer.has(cols[j]) ? rows[i].byLayer.get(cols[j]) : null),
      scale: 'div', cls: 'alignments', corner: 'task: label \u2194 ' + (protectedTask || 'protected') + ' / layer',
      caption: 'Cosine between each label\u2019s difference-of-means direction and each protected label\u2019s, per layer (red: ' +
        'aligned, blue: opposed; the scale is symmetric around 0 up to the largest |cosine|). A label direction aligned with a ' +
        'protected one means a probe for the label can read the protected attribute too.',
      tip: (i, j, v) => rowLabel(rows[i]) + '\nlayer ' + cols[j] + '\ncosine: ' + exact(v)
    }));
    // The strongest cells, as a table.
    const top = alignments.filter(a => isNum(num(a.cosine))).sort((a, b) => Math.abs(num(b.cosine)) - Math.abs(num(a.cosine))).slice(0, 12);
    box.append(el('p', {class: 'caption', text: 'The strongest alignments (largest |cosine|):'}));
    const t = sortableTable([
      {label: 'task', value: a => text(a.task)},
      {label: 'label', value: a => text(a.label)},
      {label: 'protected label', value: a => text(a.protected_label)},
      {label: 'layer', num: true, value: a => num(a.layer), digits: 0},
      {label: 'cosine', num: true, value: a => num(a.cosine), render: a => numSpan(num(a.cosine))}
    ], top);
    t.classList.add('top-alignments');
    box.append(el('div', {class: 'tablewrap'}, t));
  }

  // ---- counterfactual effects ----
  box.append(el('h3', {class: 'sub', text: 'Counterfactual effects'}));
  const effects = asArray(bias.effects).filter(obj);
  if (!effects.length) {
    box.append(el('p', {class: 'muted effects-none', text: 'No counterfactual pairs were given: only the direction alignments are reported.'}));
    return;
  }
  const byTask = new Map();
  for (const e of effects) {
    const k = text(e.task);
    if (!byTask.has(k)) byTask.set(k, []);
    byTask.get(k).push(e);
  }
  const pairs = Math.max(0, ...effects.map(e => num(e.pairs)).filter(isNum));
  box.append(el('p', {class: 'caption', text: 'What swapping the protected attribute (' + pairs + ' counterfactual pair' +
    (pairs === 1 ? '' : 's') + ') does to each task\u2019s probe: the fraction of pairs whose predicted label changes, and the mean ' +
    'absolute change of the projections on the task\u2019s label directions in standard deviations of its own projections. The ' +
    'protected task is included as a check that the swap registers.'}));
  const tasks = Array.from(byTask.keys());
  const seriesOf = f => tasks.map((k, i) => ({key: k, label: k + (k === protectedTask ? ' (protected)' : ''), color: paletteColor(i),
    dash: k === protectedTask, points: byTask.get(k).map(e => [num(e.layer), f(e)]).sort((a, b) => a[0] - b[0])}));
  box.append(el('div', {class: 'charts'}, [
    el('div', {}, [el('p', {class: 'chart-title', text: 'Flip rate'}),
      lineChart(seriesOf(e => num(e.flip_rate)), {nice: true, cls: 'flip-chart', yLabel: 'fraction of pairs flipped', include: [0], width: 520})]),
    el('div', {}, [el('p', {class: 'chart-title', text: 'Projection shift'}),
      lineChart(seriesOf(e => num(e.mean_shift_sd)), {nice: true, cls: 'shift-chart', yLabel: 'mean |shift| (SD)', include: [0], width: 520})])
  ]));
  const table = sortableTable([
    {label: 'task', value: e => text(e.task)},
    {label: 'layer', num: true, value: e => num(e.layer), digits: 0},
    {label: 'flip rate', num: true, value: e => num(e.flip_rate), render: e => numSpan(num(e.flip_rate))},
    {label: 'shift (SD)', num: true, value: e => num(e.mean_shift_sd), render: e => numSpan(num(e.mean_shift_sd))},
    {label: 'pairs', num: true, value: e => num(e.pairs), digits: 0}
  ], effects.slice().sort((a, b) => tasks.indexOf(text(a.task)) - tasks.indexOf(text(b.task)) || num(a.layer) - num(b.layer)),
  {rowAttrs: (e, tr) => { tr.dataset.task = text(e.task); tr.dataset.layer = String(num(e.layer)); }});
  table.classList.add('effects');
  box.append(el('div', {class: 'tablewrap'}, table));
}

// Last, once every constant above is initialised.
(function main() {
  let D;
  try { D = readData(); } catch (e) { fail(e); return; }
  try { build(D); } catch (e) { fail(e); return; }
  document.body.dataset.ready = '1';
})();
