// The logit lens report (LogitLensResponse of the activations service).
// The number formatting and the colour scale are charts.js's, loaded before this script.
function quoted(s) { return '\u2018' + tokenLabel(s) + '\u2019'; }

function build(D) {
  const R = D.result && typeof D.result === 'object' ? D.result : {};
  const title = typeof D.title === 'string' && D.title ? D.title : 'Logit lens';
  byId('title').textContent = title;
  document.title = title + (R.model ? ' \u2014 ' + R.model : '');
  const tokens = asArray(R.tokens).map(text);
  const targets = asArray(R.targets).map(text);
  const targetIds = asArray(R.target_ids).map(num);
  const layers = asArray(R.layers).filter(l => l && typeof l === 'object');
  const n = Math.max(tokens.length, 0, ...layers.map(l => asArray(l.cells).length));

  const meta = byId('meta');
  const addMeta = (k, v, id) => meta.append(el('div', {}, [el('dt', {text: k}), el('dd', {text: v, id: id})]));
  addMeta('Model', R.model || '\u2014', 'meta-model');
  addMeta('Tokens', String(tokens.length), 'meta-tokens');
  const ls = layers.map(l => num(l.layer)).filter(isNum);
  addMeta('Layers read', ls.length ? ls.length + ' (' + (ls.length > 6 ? ls[0] + '\u2013' + ls[ls.length - 1] : ls.join(', ')) + ')' : '0',
    'meta-layers');
  const distinct = Array.from(new Set(targets));
  addMeta('Tracked', !targets.length ? '\u2014' : (distinct.length === 1 && targets.length > 1 ? quoted(distinct[0]) + ' at every position' :
    (targets.length === 1 ? quoted(targets[0]) : 'per position (under each column)')), 'meta-tracked');
  const box = byId('input-text');
  tokens.forEach((t, i) => {
    box.append(el('span', {class: 'tok-inline', text: tokenLabel(t), title: 'position ' + i}));
    if (i < tokens.length - 1) box.append(' ');
  });

  fillFindings(byId('findings'), R.findings);

  if (!layers.length) {
    byId('lens-map').append(el('p', {class: 'notice', text: 'This lens holds no layers.'}));
    byId('lens-table').append(el('p', {class: 'notice', text: 'This lens holds no layers.'}));
    byId('lens-colour').disabled = true;
    return;
  }
  const tokenAt = i => (i < tokens.length ? tokens[i] : '');
  const targetAt = i => (i < targets.length ? targets[i] : '');
  const cellTip = (layer, i, c) => {
    const lines = ['layer ' + (isNum(layer) ? layer : '?') + ', position ' + i + ' (' + quoted(tokenAt(i)) + ')'];
    const top = asArray(c.top).filter(p => p && typeof p === 'object');
    lines.push(top.length ? 'top ' + top.length + ':' : 'no predictions');
    top.forEach((p, k) => lines.push('  ' + (k + 1) + '. ' + quoted(p.token) + '  ' + exact(num(p.probability)) +
      (isNum(num(p.token_id)) ? '  (id ' + num(p.token_id) + ')' : '')));
    const id = i < targetIds.length && isNum(targetIds[i]) ? ' (id ' + targetIds[i] + ')' : '';
    lines.push('tracked ' + quoted(targetAt(i)) + id + ': rank ' + exact(num(c.target_rank)) + ', probability ' +
      exact(num(c.target_probability)));
    return lines.join('\n');
  };

  // ---- heat map ----
  const table = el('table', {class: 'heat lens-map'});
  const head = el('tr', {class: 'tokens'}, el('th', {class: 'corner', text: 'input'}));
  const head2 = el('tr', {class: 'targets'}, el('th', {class: 'corner', text: 'tracked'}));
  for (let i = 0; i < n; i++) {
    head.append(el('th', {class: 'col', text: tokenLabel(tokenAt(i), 12), title: 'position ' + i + ': ' + tokenLabel(tokenAt(i)),
      dataset: {i: String(i)}}));
    const id = i < targetIds.length && isNum(targetIds[i]) ? ' (id ' + targetIds[i] + ')' : '';
    head2.append(el('th', {class: 'target', text: tokenLabel(targetAt(i), 12),
      title: 'tracked at position ' + i + ': ' + tokenLabel(targetAt(i)) + id, dataset: {i: String(i)}}));
  }
  table.append(el('thead', {}, [head, head2]));
  const body = el('tbody');
  const cells = [];
  let maxRank = 1;
  const rows = [];
  for (const l of layers) {
    const layer = num(l.layer);
    const lc = asArray(l.cells);
    const tr = el('tr', {dataset: {layer: String(layer)}}, el('th', {text: isNum(layer) ? 'L' + layer : '?'}));
    for (let i = 0; i < n; i++) {
      const c = lc[i] && typeof lc[i] === 'object' ? lc[i] : null;
      if (!c) {
        tr.append(el('td', {class: 'cell empty', dataset: {layer: String(layer), i: String(i)}, title: 'layer ' + layer + ', position ' + i + ': no data'}));
        continue;
      }
      const top = asArray(c.top).filter(p => p && typeof p === 'object');
      const prob = num(c.target_probability), rank = num(c.target_rank);
      if (isNum(rank) && rank > maxRank) maxRank = rank;
      const td = el('td', {class: 'cell' + (rank === 0 ? ' hit' : ''), text: top.length ? tokenLabel(top[0].token, 10) : '\u2014',
        dataset: {layer: String(layer), i: String(i), prob: exact(prob), rank: exact(rank)}, title: cellTip(layer, i, c)});
      tr.append(td);
      cells.push({td: td, prob: prob, rank: rank});
      rows.push({layer: layer, position: i, token: tokenAt(i), tracked: targetAt(i), top: top, p: prob, rank: rank});
    }
    body.append(tr);
  }
  table.append(body);
  byId('lens-map').append(table);
  const select = byId('lens-colour');
  const rankT = r => (isNum(r) ? 1 - Math.log1p(Math.max(r, 0)) / Math.log1p(maxRank) : 0);
  function colour() {
    const mode = select.value === 'rank' ? 'rank' : 'probability';
    for (const c of cells) {
      const t = mode === 'rank' ? rankT(c.rank) : clamp01(c.prob);
      c.td.style.backgroundColor = seqColor(t);
      c.td.classList.toggle('dark', t > 0.55);
    }
    table.dataset.colour = mode;
    byId('legend-lo').textContent = mode === 'rank' ? 'rank ' + maxRank : 'p = 0';
    byId('legend-hi').textContent = mode === 'rank' ? 'rank 0 (top)' : 'p = 1';
  }
  select.addEventListener('change', colour);
  colour();

  // ---- table ----
  const topCell = top => {
    const span = el('span', {class: 'top-list', title: top.map(p => tokenLabel(p.token) + ': ' + exact(num(p.probability))).join('\n')});
    top.forEach((p, k) => span.append(k ? '  ' : '', el('span', {class: 'tok-inline', text: tokenLabel(p.token)}),
      ' ' + short(num(p.probability), 3)));
    return span;
  };
  const t = sortableTable([
    {label: 'layer', key: 'layer', num: true, digits: 0},
    {label: 'position', key: 'position', num: true, digits: 0},
    {label: 'input token', value: r => r.token, render: r => el('span', {class: 'tok-inline', text: tokenLabel(r.token)})},
    {label: 'tracked', value: r => r.tracked, render: r => el('span', {class: 'tok-inline', text: tokenLabel(r.tracked)})},
    {label: 'top predictions', value: r => (r.top.length ? text(r.top[0].token) : null),
      render: r => topCell(r.top)},
    {label: 'p(tracked)', key: 'p', num: true, render: r => el('span', {text: short(r.p, 3), title: exact(r.p)})},
    {label: 'rank', key: 'rank', num: true, digits: 0, title: 'rank of the tracked token (0: the most likely)'}
  ], rows, {rowAttrs: (r, tr) => { tr.dataset.layer = String(r.layer); tr.dataset.i = String(r.position); }});
  t.classList.add('lens-rows');
  byId('lens-table').append(t);
}

// Last, once every constant above is initialised.
(function main() {
  let D;
  try { D = readData(); } catch (e) { fail(e); return; }
  try { build(D); } catch (e) { fail(e); return; }
  document.body.dataset.ready = '1';
})();
