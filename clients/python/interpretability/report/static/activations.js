// The activation analysis report (ActivationAnalysis of the activations service).
const SITES = {
  ACTIVATION_SITE_MLP_POST: ['MLP activations', 'blocks.L.mlp.hook_post'],
  ACTIVATION_SITE_RESID_POST: ['Residual stream', 'blocks.L.hook_resid_post'],
  ACTIVATION_SITE_ATTN_OUT: ['Attention output', 'blocks.L.hook_attn_out'],
  ACTIVATION_SITE_MLP_OUT: ['MLP output', 'blocks.L.hook_mlp_out']
};
const SITE_NUMBERS = ['ACTIVATION_SITE_UNSPECIFIED', 'ACTIVATION_SITE_MLP_POST', 'ACTIVATION_SITE_RESID_POST',
  'ACTIVATION_SITE_ATTN_OUT', 'ACTIVATION_SITE_MLP_OUT'];
const STAT_SERIES = [
  {key: 'std', label: 'std', color: '#1f77b4'},
  {key: 'max', label: 'max', color: '#d62728'}
];
const LIST_PREVIEW = 64;

// ---- sites (charts.js has the shared helpers) ----
function siteName(s) {
  if (isNum(s) && s >= 0 && s < SITE_NUMBERS.length) return SITE_NUMBERS[s];
  return text(s);
}
function siteLabel(s) {
  const n = siteName(s);
  return Object.prototype.hasOwnProperty.call(SITES, n) ? SITES[n][0] : (n.replace(/^ACTIVATION_SITE_/, '').replace(/_/g, ' ').toLowerCase() || '?');
}
function siteHook(s) {
  const n = siteName(s);
  return Object.prototype.hasOwnProperty.call(SITES, n) ? SITES[n][1] : '';
}
function plural(n, one, many) { return n + ' ' + (n === 1 ? one : many); }

// ---- page ----
function build(D) {
  const R = D.result && typeof D.result === 'object' ? D.result : {};
  const title = typeof D.title === 'string' && D.title ? D.title : 'Activation analysis';
  byId('title').textContent = title;
  document.title = title + (R.model ? ' \u2014 ' + R.model : '');
  const sites = asArray(R.sites).filter(s => s && typeof s === 'object');
  const neurons = asArray(R.neuron_examples).filter(n => n && typeof n === 'object');
  const skipped = asArray(R.skipped).filter(s => s && typeof s === 'object');
  const skippedCount = isNum(num(R.skipped_count)) ? num(R.skipped_count) : skipped.length;

  const meta = byId('meta');
  const addMeta = (k, v, id, tip) => meta.append(el('div', {}, [el('dt', {text: k}), el('dd', {text: v, id: id, title: tip})]));
  addMeta('Model', R.model || '\u2014', 'meta-model');
  addMeta('Texts analysed', fmt(num(R.texts_analyzed), 0), 'meta-texts');
  addMeta('Tokens analysed', fmt(num(R.tokens_analyzed), 0), 'meta-tokens', 'token positions per site and layer');
  addMeta('Sites', sites.map(s => siteLabel(s.site)).join(', ') || '\u2014', 'meta-sites');
  addMeta('Skipped', String(skippedCount), 'meta-skipped');
  addMeta('Zero', isNum(num(R.zero_threshold)) ? '|x| \u2264 ' + short(num(R.zero_threshold)) : '\u2014', 'meta-zero',
    'an entry counts as zero at or below this magnitude');
  addMeta('Time', isNum(num(R.seconds)) ? short(num(R.seconds), 3) + ' s' : '\u2014', 'meta-seconds');

  const toc = byId('toc');
  toc.append(el('a', {href: '#findings-section', text: 'Findings'}));
  sites.forEach((s, i) => toc.append(el('a', {href: '#site-' + i, text: siteLabel(s.site)})));
  toc.append(el('a', {href: '#neurons-section', text: 'Neuron examples'}), el('a', {href: '#skipped-section', text: 'Skipped inputs'}));

  fillFindings(byId('findings'), R.findings);

  const box = byId('sites');
  if (!sites.length) box.append(el('section', {}, el('p', {class: 'notice', text: 'This analysis holds no site statistics.'})));
  sites.forEach((s, i) => box.append(buildSite(s, i)));
  buildNeurons(neurons);
  buildSkipped(skipped, skippedCount);
}

function idList(ids) {
  const xs = asArray(ids).map(num).filter(isNum);
  if (!xs.length) return el('span', {text: '0'});
  const shown = xs.slice(0, LIST_PREVIEW).join(', ') + (xs.length > LIST_PREVIEW ? ', \u2026 (' + (xs.length - LIST_PREVIEW) + ' more)' : '');
  return el('span', {class: 'count-list', text: String(xs.length), title: 'neurons ' + shown});
}

function buildSite(s, index) {
  const sec = el('section', {class: 'site', id: 'site-' + index, dataset: {site: siteName(s.site)}});
  const hook = siteHook(s.site);
  sec.append(el('h2', {}, [siteLabel(s.site), hook ? el('span', {class: 'muted', text: ' (' + hook + ')'}) : null]));
  const sums = asArray(s.layer_summaries).filter(x => x && typeof x === 'object');
  const layers = asArray(s.layers).map(num).filter(isNum);
  sec.append(el('p', {class: 'caption', text: plural(layers.length || sums.length, 'layer', 'layers') +
    (isNum(num(s.width)) ? ', ' + num(s.width) + ' neurons each' : '') + '.' +
    (s.statistics_included ? ' The per-neuron statistic tensors were returned too; they are not shown here.' : '')}));
  if (!sums.length) {
    sec.append(el('p', {class: 'notice', text: 'No layer summaries for this site.'}));
    return sec;
  }
  // ---- summaries ----
  sec.append(el('h3', {class: 'sub', text: 'Layer summaries'}));
  const n4 = (label, key, title) => ({label: label, key: key, num: true, title: title,
    render: r => el('span', {text: short(num(r[key]), 4), title: exact(num(r[key]))})});
  const ids = (label, key, title) => ({label: label, num: true, title: title, value: r => asArray(r[key]).length, render: r => idList(r[key])});
  const table = sortableTable([
    {label: 'layer', key: 'layer', num: true, digits: 0},
    n4('mean', 'mean', 'over tokens and neurons'),
    n4('std', 'std', 'over tokens and neurons'),
    n4('fraction zero', 'fraction_zero', 'entries with |x| at or below the zero threshold'),
    n4('fraction positive', 'fraction_positive', 'entries above 0'),
    n4('median kurtosis', 'median_kurtosis', 'median over neurons of the excess kurtosis'),
    n4('max', 'max', 'largest activation'),
    n4('min', 'min', 'smallest activation'),
    ids('dead', 'dead_neurons', '(near) zero on at least 99% of tokens'),
    ids('saturated', 'saturated_neurons', 'positive on at least 99% of tokens'),
    ids('outliers', 'outlier_neurons', 'excess kurtosis above 100')
  ], sums, {rowAttrs: (r, tr) => { tr.dataset.layer = String(num(r.layer)); }});
  table.classList.add('summaries');
  sec.append(el('div', {class: 'tablewrap'}, table));

  // ---- std and max across layers ----
  sec.append(el('h3', {class: 'sub', text: 'Spread and largest activation across layers'}));
  const series = STAT_SERIES.map(c => ({key: c.key, label: c.label, color: c.color,
    points: sums.map(r => [num(r.layer), num(r[c.key])])})).filter(c => c.points.some(p => isNum(p[1])));
  const all = [].concat(...series.map(c => c.points.map(p => p[1]).filter(isNum)));
  const log = all.length > 0 && all.every(v => v > 0);
  if (series.length) sec.append(lineChart(series, {log: log, cls: 'stats-chart', yLabel: 'activation', width: 560, height: 260}));
  else sec.append(el('p', {class: 'muted', text: 'No values to draw.'}));

  // ---- histograms ----
  sec.append(el('h3', {class: 'sub', text: 'Histograms'}));
  const logBox = el('input', {type: 'checkbox', class: 'hist-log', checked: 'checked'});
  sec.append(el('div', {class: 'controls'}, [el('label', {title: 'bar height on a log(1 + count) scale, so the tails stay visible'},
    [logBox, 'logarithmic counts']), el('span', {class: 'caption', text: 'Every entry of the layer (all tokens and neurons). ' +
    'Values outside the bins are counted as underflow and overflow.'})]));
  const grid = el('div', {class: 'hists'});
  const redraws = [];
  for (const r of sums) {
    const h = histogram(r);
    grid.append(h.node);
    if (h.redraw) redraws.push(h.redraw);
  }
  const redraw = () => { for (const f of redraws) f(logBox.checked); grid.dataset.scale = logBox.checked ? 'log' : 'linear'; };
  logBox.addEventListener('change', redraw);
  redraw();
  sec.append(grid);
  return sec;
}

function histogram(r) {
  const layer = num(r.layer);
  const node = el('div', {class: 'hist', dataset: {layer: String(layer)}}, el('h4', {text: 'Layer ' + (isNum(layer) ? layer : '?')}));
  const h = r.histogram && typeof r.histogram === 'object' ? r.histogram : {};
  const edges = asArray(h.edges).map(num), counts = asArray(h.counts).map(num);
  const nb = Math.min(counts.length, edges.length - 1);
  const under = num(h.underflow), over = num(h.overflow);
  const range = 'min ' + short(num(r.min), 4) + ', max ' + short(num(r.max), 4);
  if (nb < 1 || !isNum(edges[0]) || !isNum(edges[nb]) || edges[nb] <= edges[0]) {
    node.append(el('p', {class: 'hist-note', text: 'No histogram. ' + range}));
    return {node: node, redraw: null};
  }
  const W = 250, H = 96, L = 4, Rm = 4, T = 4, B = 16;
  const e0 = edges[0], e1 = edges[nb];
  const sx = e => L + (e - e0) / (e1 - e0) * (W - L - Rm);
  const svg = svgEl('svg', {class: 'hist', width: W, height: H, viewBox: '0 0 ' + W + ' ' + H, role: 'img'});
  const maxC = Math.max(1, ...counts.slice(0, nb).filter(isNum));
  const bars = [];
  for (let i = 0; i < nb; i++) {
    const c = isNum(counts[i]) ? counts[i] : 0;
    const a = edges[i], b = edges[i + 1];
    const x = isNum(a) ? sx(a) : 0, w = isNum(a) && isNum(b) ? Math.max(sx(b) - sx(a) - 0.3, 0.4) : 0;
    const rect = svgEl('rect', {class: 'bar', x: x.toFixed(2), width: w.toFixed(2), y: H - B, height: 0, 'data-count': c, 'data-i': i});
    const t = svgEl('title');
    t.textContent = '[' + exact(a) + ', ' + exact(b) + '): ' + c;
    rect.append(t);
    svg.append(rect);
    bars.push([rect, c]);
  }
  svg.append(svgEl('line', {class: 'axis', x1: L, x2: W - Rm, y1: H - B, y2: H - B}));
  if (e0 < 0 && e1 > 0) {
    const zl = svgEl('line', {class: 'zero', x1: sx(0), x2: sx(0), y1: T, y2: H - B});
    const zt = svgEl('title'); zt.textContent = '0';
    zl.append(zt);
    svg.append(zl);
  }
  const lo = svgEl('text', {x: L, y: H - 4, 'text-anchor': 'start'}); lo.textContent = short(e0, 3);
  const hi = svgEl('text', {x: W - Rm, y: H - 4, 'text-anchor': 'end'}); hi.textContent = short(e1, 3);
  svg.append(lo, hi);
  node.append(svg);
  node.append(el('p', {class: 'hist-note', text: 'underflow ' + (isNum(under) ? under : 0) + ' below ' + short(e0, 4) + ', overflow ' +
    (isNum(over) ? over : 0) + ' at or above ' + short(e1, 4) + '; ' + range,
    title: 'bins ' + nb + ', edges ' + exact(e0) + ' to ' + exact(e1) + '; underflow ' + exact(under) + ', overflow ' + exact(over)}));
  const redraw = log => {
    const f = c => (log ? Math.log1p(c) / Math.log1p(maxC) : c / maxC);
    for (const [rect, c] of bars) {
      const hh = f(c) * (H - B - T);
      rect.setAttribute('y', (H - B - hh).toFixed(2));
      rect.setAttribute('height', hh.toFixed(2));
    }
  };
  return {node: node, redraw: redraw};
}

function context(ex) {
  const left = text(ex.left_context), right = text(ex.right_context);
  const td = el('td', {class: 'context'});
  if (left) td.append(el('span', {class: 'side left', text: tokenLabel(left)}), ' ');
  td.append(el('mark', {class: 'focus', text: tokenLabel(text(ex.token))}));
  if (right) td.append(' ', el('span', {class: 'side right', text: tokenLabel(right)}));
  return td;
}

function buildNeurons(neurons) {
  const box = byId('neurons');
  if (!neurons.length) {
    box.append(el('p', {class: 'muted neurons-none', text: 'No neuron examples: none were requested (neurons, top_neurons_per_layer).'}));
    return;
  }
  neurons.forEach((n, k) => {
    const id = n.neuron && typeof n.neuron === 'object' ? n.neuron : {};
    const layer = num(id.layer), index = num(id.index);
    const mean = num(n.mean), max = num(n.max);
    const div = el('div', {class: 'neuron', id: 'neuron-' + k, dataset: {site: siteName(id.site), layer: String(layer), index: String(index)}});
    div.append(el('h3', {}, [
      el('span', {class: 'neuron-id', text: siteLabel(id.site) + ' \u00b7 layer ' + fmt(layer, 0) + ' \u00b7 neuron ' + fmt(index, 0)}),
      n.chosen_as ? el('span', {class: 'chosen', text: text(n.chosen_as), title: 'why this neuron is reported'}) : null,
      el('span', {class: 'stats'}, [el('span', {text: 'mean ' + short(mean, 4), title: 'mean over the dataset: ' + exact(mean)}),
        ' \u00b7 ', el('span', {text: 'max ' + short(max, 4), title: 'largest activation: ' + exact(max)})])
    ]));
    const examples = asArray(n.examples).filter(e => e && typeof e === 'object');
    if (!examples.length) {
      div.append(el('p', {class: 'muted', text: 'No examples.'}));
      box.append(div);
      return;
    }
    const scale = Math.max(0, ...examples.map(e => num(e.activation)).filter(isNum).map(Math.abs), isNum(max) ? Math.abs(max) : 0);
    const table = el('table', {class: 'data examples'});
    table.append(el('thead', {}, el('tr', {}, [el('th', {class: 'num', text: 'activation'}), el('th', {class: 'num', text: 'text'}),
      el('th', {class: 'num', text: 'position'}), el('th', {text: 'context'})])));
    const body = el('tbody');
    for (const ex of examples) {
      const a = num(ex.activation);
      const t = scale > 0 && isNum(a) ? Math.abs(a) / scale : 0;
      body.append(el('tr', {class: 'example'}, [
        el('td', {class: 'num act' + (t > 0.55 ? ' dark' : ''), text: short(a, 4), title: 'activation ' + exact(a),
          vars: {'background-color': seqColor(t)}}),
        el('td', {class: 'num', text: fmt(num(ex.text_index), 0), title: 'index of the text in the request'}),
        el('td', {class: 'num', text: fmt(num(ex.position), 0)}),
        context(ex)
      ]));
    }
    table.append(body);
    div.append(el('div', {class: 'scroll-x'}, table));
    box.append(div);
  });
}

function buildSkipped(skipped, count) {
  const summary = byId('skipped-summary');
  if (!count && !skipped.length) {
    summary.textContent = 'No text was skipped.';
    return;
  }
  summary.textContent = (count === 1 ? '1 text was' : count + ' texts were') + ' skipped' +
    (skipped.length < count ? ' (the first ' + skipped.length + ' are listed).' : '.');
  if (!skipped.length) return;
  const table = sortableTable([
    {label: 'index', key: 'index', num: true, digits: 0, title: 'index of the text in the request'},
    {label: 'reason', value: r => text(r.reason)},
    {label: 'excerpt', value: r => text(r.excerpt), render: r => (text(r.excerpt) ? el('span', {class: 'tok-inline', text: text(r.excerpt)}) : el('span', {class: 'muted', text: '(empty)'}))}
  ], skipped);
  table.classList.add('skipped');
  byId('skipped').append(el('div', {class: 'tablewrap'}, table));
}

// Last, once every constant above is initialised.
(function main() {
  let D;
  try { D = readData(); } catch (e) { fail(e); return; }
  try { build(D); } catch (e) { fail(e); return; }
  document.body.dataset.ready = '1';
})();
