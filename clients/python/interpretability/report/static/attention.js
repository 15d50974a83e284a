(function main() {
  let D;
  try { D = readData(); } catch (e) { fail(e); return; }
  try { build(D); } catch (e) { fail(e); return; }
  document.body.dataset.ready = '1';
})();

function build(D) {
  const tokens = asArray(D.tokens).map(t => (t === null || t === undefined ? '' : String(t)));
  const shown = tokenTexts(tokens, D.display_tokens);   // the readable form of each token
  const causal = D.causal !== false;
  document.title = 'Attention analysis \u2014 ' + (D.model || 'model');

  // ---------- header ----------
  const meta = byId('meta');
  const addMeta = (k, v, id) => meta.append(el('div', {}, [el('dt', {text: k}), el('dd', {text: v, id: id})]));
  addMeta('Model', D.model || '\u2014', 'meta-model');
  addMeta('Tokens', String(tokens.length), 'meta-tokens');
  addMeta('Attention', causal ? 'causal' : 'bidirectional', 'meta-causal');
  if (isNum(D.num_layers) || isNum(D.num_heads)) addMeta('Model size', fmt(D.num_layers, 0) + ' layers \u00d7 ' + fmt(D.num_heads, 0) + ' heads');
  byId('input-text').textContent = D.text === null || D.text === undefined ? '' : String(D.text);

  // ---------- data indexes ----------
  const PAT = new Map();                       // layer -> Map(head -> rows)
  let matSize = tokens.length;
  for (const p of asArray(D.patterns)) {
    if (!p || !Array.isArray(p.matrices)) continue;
    const heads = Array.isArray(p.heads) ? p.heads : p.matrices.map((_, i) => i);
    let m = PAT.get(p.layer);
    if (!m) { m = new Map(); PAT.set(p.layer, m); }
    heads.forEach((h, i) => { if (Array.isArray(p.matrices[i])) { m.set(h, p.matrices[i]); matSize = Math.max(matSize, p.matrices[i].length); } });
  }
  for (const [l, m] of [...PAT]) if (m.size === 0) PAT.delete(l);
  const N = matSize;
  const patLayers = [...PAT.keys()].sort((a, b) => a - b);
  const INFO = new Map();
  for (const h of asArray(D.heads)) if (h) INFO.set(h.layer + ':' + h.head, h);
  const analyzed = new Map();                  // layer -> sorted heads (from the head table and the matrices)
  const addAnalyzed = (l, h) => { if (!analyzed.has(l)) analyzed.set(l, new Set()); analyzed.get(l).add(h); };
  for (const h of asArray(D.heads)) if (h) addAnalyzed(h.layer, h.head);
  for (const [l, m] of PAT) for (const h of m.keys()) addAnalyzed(l, h);
  const analyzedLayers = [...analyzed.keys()].sort((a, b) => a - b);
  const tokLabel = (i, maxLen) => (i < tokens.length ? tokenLabel(shown.texts[i], maxLen) : '#' + i);
  const tokRaw = i => (i < tokens.length ? tokens[i] : '');
  const weight = (rows, q, k) => { const r = rows[q]; return r && k < r.length && isNum(r[k]) ? r[k] : 0; };
  const infoText = (l, h) => {
    const i = INFO.get(l + ':' + h);
    if (!i) return 'Layer ' + l + ', head ' + h;
    return 'Layer ' + l + ', head ' + h + ' \u2014 ' + roleLabel(i.role) + ' (score ' + fmt(i.role_score, 2) + '), entropy ' + fmt(i.entropy, 2);
  };

  const tl = byId('token-legend');
  tl.textContent = shown.decoded ? 'Tokens read as the model\u2019s tokenizer decodes them; the raw token is in the tooltip.'
                                 : 'This analysis has no decoded token text, so the raw tokens are shown.';

  // ---------- findings ----------
  fillFindings(byId('findings'), D.findings);

  // ---------- role legend ----------
  const rolesPresent = new Set(Object.keys(ROLE_COLORS));
  for (const h of asArray(D.heads)) if (h && h.role) rolesPresent.add(h.role);
  byId('role-legend').append(roleLegend([...rolesPresent]));

  // ---------- state ----------
  const state = {layer: null, heads: [], focus: null, minW: 0, sqrt: false};
  const hasPatterns = patLayers.length > 0;
  if (!hasPatterns) {
    byId('no-patterns').hidden = false;
    byId('views-body').hidden = true;
    byId('modelview-caption').textContent = 'The attention matrices were not included: each analyzed head is shown by its role only. Click one to find it in the heads table.';
  } else {
    state.layer = patLayers[0];
    const hs = [...PAT.get(state.layer).keys()].sort((a, b) => a - b);
    state.heads = [hs[0]];
    state.focus = hs[0];
  }

  // ---------- controls ----------
  const layerSel = byId('layer-select');
  for (const l of patLayers) layerSel.append(el('option', {value: String(l), text: 'Layer ' + l}));
  layerSel.addEventListener('change', () => {
    const l = patLayers.find(x => String(x) === layerSel.value);
    const hs = [...PAT.get(l).keys()].sort((a, b) => a - b);
    let keep = state.heads.filter(h => PAT.get(l).has(h));
    if (keep.length === 0) keep = [hs[0]];
    state.layer = l;
    state.heads = keep;
    if (!keep.includes(state.focus)) state.focus = keep[0];
    update();
  });
  byId('all-heads').addEventListener('click', () => {
    state.heads = [...PAT.get(state.layer).keys()].sort((a, b) => a - b);
    if (!state.heads.includes(state.focus)) state.focus = state.heads[0];
    update();
  });
  const mw = byId('min-weight');
  mw.addEventListener('input', () => { state.minW = parseFloat(mw.value) || 0; byId('min-weight-value').textContent = state.minW.toFixed(2); drawHeadView(); });
  byId('sqrt-scale').addEventListener('change', e => { state.sqrt = e.target.checked; drawHeatmap(); drawThumbs(); });

  function select(layer, head, toggle) {
    if (!PAT.has(layer) || !PAT.get(layer).has(head)) return false;
    if (layer !== state.layer) { state.layer = layer; state.heads = []; toggle = false; }
    const hs = new Set(state.heads);
    if (toggle) {
      if (hs.has(head)) { if (hs.size > 1) { hs.delete(head); if (state.focus === head) state.focus = [...hs][0]; } }
      else { hs.add(head); state.focus = head; }
    } else { hs.clear(); hs.add(head); state.focus = head; }
    state.heads = [...hs].sort((a, b) => a - b);
    update();
    return true;
  }

  function renderChips() {
    const box = byId('head-chips');
    box.replaceChildren();
    const hs = [...PAT.get(state.layer).keys()].sort((a, b) => a - b);
    for (const h of hs) {
      const i = INFO.get(state.layer + ':' + h);
      const chip = el('button', {type: 'button', class: 'chip', dataset: {head: String(h)}, vars: {'--hc': headColor(h)},
                                 title: infoText(state.layer, h)}, ['H' + h, i ? el('small', {text: roleAbbr(i.role)}) : null]);
      if (state.heads.includes(h)) chip.classList.add('active');
      if (h === state.focus) chip.classList.add('focus');
      chip.addEventListener('click', ev => select(state.layer, h, ev.shiftKey || ev.ctrlKey || ev.metaKey));
      box.append(chip);
    }
  }

  // ---------- head view ----------
  const hv = byId('headview');
  let hvIndex = null;
  function drawHeadView() {
    hv.replaceChildren();
    hv.classList.remove('focus');
    const rowH = N > 100 ? 12 : 18, top = 30, W = 600;
    const xL = 190, x1 = 196, x2 = 396, xR = 402, xWL = 4, xWR = W - 44;
    const H = top + N * rowH + 8;
    hv.setAttribute('width', W); hv.setAttribute('height', H); hv.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    const y = i => top + i * rowH + rowH / 2;
    const t1 = svgEl('text', {x: xL, y: 12, 'text-anchor': 'end', class: 'colhead'}); t1.textContent = 'query (attending)';
    const t2 = svgEl('text', {x: xR, y: 12, class: 'colhead'}); t2.textContent = 'key (attended)';
    hv.append(t1, t2);
    const gLinks = svgEl('g', {class: 'links'});
    hv.append(gLinks);
    const byQ = Array.from({length: N}, () => []), byK = Array.from({length: N}, () => []);
    const layerMats = PAT.get(state.layer);
    const frag = document.createDocumentFragment();
    for (const h of state.heads) {
      const rows = layerMats.get(h);
      const color = headColor(h);
      for (let q = 0; q < rows.length; q++) {
        const r = rows[q];
        for (let k = 0; k < r.length; k++) {
          if (causal && k > q) break;
          const w = r[k];
          if (!(isNum(w) && w > 0 && w >= state.minW)) continue;
          const ln = svgEl('line', {class: 'link', x1: x1, y1: y(q), x2: x2, y2: y(k), stroke: color,
                                    'stroke-opacity': Math.min(1, w).toFixed(4), 'stroke-width': (0.6 + 2.4 * Math.min(1, w)).toFixed(2),
                                    'data-h': h, 'data-q': q, 'data-k': k, 'data-w': w});
          frag.append(ln);
          byQ[q].push(ln); if (k < N) byK[k].push(ln);
        }
      }
    }
    gLinks.append(frag);
    const gTok = svgEl('g', {class: 'tokens'});
    const mkTok = (side, i) => {
      const g = svgEl('g', {class: 'tok ' + side, 'data-i': i});
      const left = side === 'q';
      g.append(svgEl('rect', {class: 'bg', x: left ? 50 : xR - 4, y: top + i * rowH, width: left ? xL - 46 : xWR - xR, height: rowH}));
      const t = svgEl('text', {x: left ? xL : xR, y: y(i), 'text-anchor': left ? 'end' : 'start'});
      t.textContent = tokLabel(i, 18);
      const title = svgEl('title');
      title.textContent = (left ? 'query ' : 'key ') + i + ': ' + JSON.stringify(tokRaw(i));
      g.append(t, title);
      const lbl = svgEl('text', {x: left ? xWL : xWR + 4, y: y(i), class: 'wlabel'});
      g.append(lbl);
      g.addEventListener('mouseenter', () => highlight(side, i));
      g.addEventListener('mouseleave', clearHighlight);
      gTok.append(g);
      return g;
    };
    const qTok = [], kTok = [];
    for (let i = 0; i < N; i++) { qTok.push(mkTok('q', i)); kTok.push(mkTok('k', i)); }
    hv.append(gTok);
    hvIndex = {byQ, byK, qTok, kTok};
    const nLinks = byQ.reduce((a, b) => a + b.length, 0);
    byId('headview-caption').textContent = 'Layer ' + state.layer + ', head' + (state.heads.length > 1 ? 's ' : ' ') +
      state.heads.join(', ') + ' \u2014 ' + nLinks + ' links' + (state.minW > 0 ? ' with weight \u2265 ' + state.minW.toFixed(2) : '') +
      '. Hover labels show the weights of head ' + state.focus + '.';
  }
  function highlight(side, i) {
    if (!hvIndex) return;
    hv.classList.add('focus');
    const lines = side === 'q' ? hvIndex.byQ[i] : hvIndex.byK[i];
    for (const ln of lines) ln.classList.add('on');
    const own = (side === 'q' ? hvIndex.qTok : hvIndex.kTok)[i];
    own.classList.add('hot');
    const rows = PAT.get(state.layer).get(state.focus);
    const other = side === 'q' ? hvIndex.kTok : hvIndex.qTok;
    for (let j = 0; j < N; j++) {
      const w = side === 'q' ? weight(rows, i, j) : weight(rows, j, i);
      if (w > 0) {
        const rect = other[j].querySelector('rect.bg');
        rect.style.fill = headColor(state.focus);
        rect.style.fillOpacity = String(Math.min(1, w) * 0.6);
        other[j].querySelector('text.wlabel').textContent = w.toFixed(2);
      }
    }
  }
  function clearHighlight() {
    if (!hvIndex) return;
    hv.classList.remove('focus');
    for (const ln of hv.querySelectorAll('line.link.on')) ln.classList.remove('on');
    for (const g of hv.querySelectorAll('g.tok')) {
      g.classList.remove('hot');
      const rect = g.querySelector('rect.bg');
      rect.style.fill = ''; rect.style.fillOpacity = '';
      g.querySelector('text.wlabel').textContent = '';
    }
  }

  // ---------- heatmap ----------
  const STOPS = [[0, 255, 255, 255], [0.25, 198, 219, 239], [0.5, 107, 174, 214], [0.75, 33, 113, 181], [1, 8, 48, 107]];
  function color(w) {
    let v = Math.max(0, Math.min(1, w));
    if (state.sqrt) v = Math.sqrt(v);
    for (let i = 1; i < STOPS.length; i++) {
      if (v <= STOPS[i][0]) {
        const a = STOPS[i - 1], b = STOPS[i], t = (v - a[0]) / (b[0] - a[0]);
        return [a[1] + t * (b[1] - a[1]), a[2] + t * (b[2] - a[2]), a[3] + t * (b[3] - a[3])];
      }
    }
    return STOPS[STOPS.length - 1].slice(1);
  }
  const MASKED = [228, 228, 228];
  const heat = byId('heatmap');
  if (!causal) { byId('masked-swatch').hidden = true; byId('masked-label').hidden = true; }
  function drawHeatmap() {
    const rows = PAT.get(state.layer).get(state.focus);
    byId('heatmap-title').textContent = infoText(state.layer, state.focus);
    const cell = Math.max(4, Math.min(26, Math.floor(520 / Math.max(1, N))));
    const fontPx = Math.max(7, Math.min(12, cell));
    const labelLen = 14;
    const font = fontPx + 'px ui-monospace, Menlo, Consolas, monospace';
    const ctx = heat.getContext('2d');
    ctx.font = font;
    let maxW = 0;
    for (let i = 0; i < N; i++) maxW = Math.max(maxW, ctx.measureText(tokLabel(i, labelLen)).width);
    // Row labels on the left; column labels rotated by 60 degrees above, reaching up and to the right.
    const left = Math.ceil(maxW) + 10, top = Math.ceil(maxW * 0.87) + 12, right = Math.ceil(maxW * 0.5) + 6;
    const W = left + N * cell + right, H = top + N * cell + 4;
    const dpr = window.devicePixelRatio || 1;
    heat.width = Math.round(W * dpr); heat.height = Math.round(H * dpr);
    heat.style.width = W + 'px'; heat.style.height = H + 'px';
    Object.assign(heat.dataset, {left: String(left), top: String(top), cell: String(cell), n: String(N)});
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, W, H);
    for (let q = 0; q < N; q++) {
      for (let k = 0; k < N; k++) {
        const c = causal && k > q ? MASKED : color(weight(rows, q, k));
        ctx.fillStyle = 'rgb(' + (c[0] | 0) + ',' + (c[1] | 0) + ',' + (c[2] | 0) + ')';
        ctx.fillRect(left + k * cell, top + q * cell, cell, cell);
      }
    }
    ctx.strokeStyle = '#c9d1d9'; ctx.lineWidth = 1;
    ctx.strokeRect(left - 0.5, top - 0.5, N * cell + 1, N * cell + 1);
    ctx.fillStyle = '#1d232b';
    ctx.font = font;
    ctx.textBaseline = 'middle';
    ctx.textAlign = 'right';
    for (let q = 0; q < N; q++) ctx.fillText(tokLabel(q, labelLen), left - 4, top + q * cell + cell / 2);
    ctx.textAlign = 'left';
    for (let k = 0; k < N; k++) {
      ctx.save();
      ctx.translate(left + k * cell + cell / 2, top - 4);
      ctx.rotate(-Math.PI / 3);
      ctx.fillText(tokLabel(k, labelLen), 0, 0);
      ctx.restore();
    }
  }
  heat.addEventListener('mousemove', ev => {
    if (!hasPatterns) return;
    const r = heat.getBoundingClientRect();
    const left = +heat.dataset.left, top = +heat.dataset.top, cell = +heat.dataset.cell;
    const k = Math.floor((ev.clientX - r.left - left) / cell), q = Math.floor((ev.clientY - r.top - top) / cell);
    if (q < 0 || k < 0 || q >= N || k >= N) { hideTip(); return; }
    const rows = PAT.get(state.layer).get(state.focus);
    const head = 'L' + state.layer + ' H' + state.focus + '\n';
    const pair = 'query ' + q + ' ' + JSON.stringify(tokRaw(q)) + '\n\u2192 key ' + k + ' ' + JSON.stringify(tokRaw(k)) + '\n';
    showTip(head + pair + (causal && k > q ? 'masked (causal)' : 'weight ' + weight(rows, q, k).toFixed(4)), ev.clientX, ev.clientY);
  });
  heat.addEventListener('mouseleave', hideTip);

  // ---------- model view ----------
  const mv = byId('modelview');
  let maxHead = 0;
  for (const hs of analyzed.values()) for (const h of hs) if (isNum(h)) maxHead = Math.max(maxHead, h);
  mv.style.gridTemplateColumns = 'auto repeat(' + (maxHead + 1) + ', calc(var(--thumb) + 8px))';
  mv.append(el('div', {class: 'mv-colhead'}));
  for (let h = 0; h <= maxHead; h++) mv.append(el('div', {class: 'mv-colhead', text: 'H' + h}));
  const cells = [];
  analyzedLayers.forEach((l, li) => {
    mv.append(el('div', {class: 'mv-rowhead', text: 'L' + l, vars: {'grid-row': String(li + 2), 'grid-column': '1'}}));
    for (const h of [...analyzed.get(l)].sort((a, b) => a - b)) {
      const i = INFO.get(l + ':' + h);
      const role = i ? i.role : null;
      const rows = PAT.has(l) ? PAT.get(l).get(h) : undefined;
      const cell = el('div', {class: 'mv-cell', dataset: {layer: String(l), head: String(h)}, title: infoText(l, h),
                              vars: {'--rc': roleColor(role), 'grid-row': String(li + 2), 'grid-column': String((isNum(h) ? h : 0) + 2)}},
                      [el('div', {class: 'mv-title'}, [el('span', {text: 'H' + h}), el('span', {class: 'r', text: roleAbbr(role)})])]);
      if (rows && N > 0) {
        const c = el('canvas', {class: 'thumb'});
        cell.append(c);
        cells.push([c, rows]);
      } else {
        cell.append(el('div', {class: 'thumb placeholder'}));
      }
      cell.addEventListener('click', () => {
        if (select(l, h, false)) byId('views-section').scrollIntoView();
        else flashRow(document.querySelector('#heads-table tr[data-key="' + l + ':' + h + '"]'));
      });
      cell.tabIndex = 0;
      cell.setAttribute('role', 'button');
      cell.addEventListener('keydown', ev => { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); cell.click(); } });
      mv.append(cell);
    }
  });
  function drawThumbs() {
    for (const [c, rows] of cells) {
      c.width = N; c.height = N;
      const ctx = c.getContext('2d');
      const img = ctx.createImageData(N, N);
      const d = img.data;
      for (let q = 0; q < N; q++) {
        for (let k = 0; k < N; k++) {
          const col = causal && k > q ? MASKED : color(weight(rows, q, k));
          const o = (q * N + k) * 4;
          d[o] = col[0]; d[o + 1] = col[1]; d[o + 2] = col[2]; d[o + 3] = 255;
        }
      }
      ctx.putImageData(img, 0, 0);
    }
  }
  function markModelView() {
    for (const c of mv.querySelectorAll('.mv-cell')) {
      const sel = +c.dataset.layer === state.layer && state.heads.includes(+c.dataset.head);
      c.classList.toggle('selected', sel && +c.dataset.head === state.focus);
      c.classList.toggle('in-selection', sel && +c.dataset.head !== state.focus);
    }
  }

  // ---------- tables ----------
  // A hotspot names its tokens by position (and by text: the display form, or the raw piece in older
  // analyses); the cell shows the display form, its tooltip the raw piece.
  const tokCell = (pos, tok) => {
    const known = isNum(pos) && pos >= 0 && pos < tokens.length;
    const text = tok === null || tok === undefined ? '' : String(tok);
    return [isNum(pos) ? String(pos) + ' ' : '',
            el('span', {class: 'tok-inline', text: known ? tokLabel(pos, 24) : tokenLabel(text, 24),
                        title: JSON.stringify(known ? tokRaw(pos) : text)})];
  };
  const selectFromRow = r => { if (select(r.layer, r.head, false)) byId('views-section').scrollIntoView(); };
  const headRows = asArray(D.heads).filter(Boolean);
  const headsTable = sortableTable([
    {label: 'Layer', key: 'layer', num: true, digits: 0},
    {label: 'Head', key: 'head', num: true, digits: 0},
    {label: 'Role', key: 'role', render: r => roleChip(r.role)},
    {label: 'Role score', key: 'role_score', num: true, digits: 3},
    {label: 'Entropy', key: 'entropy', num: true, digits: 3, title: 'mean attention entropy (nats)'},
    {label: 'Norm. entropy', key: 'normalized_entropy', num: true, digits: 3, title: 'entropy / log(number of visible keys)'},
    {label: 'Mean attn. distance', key: 'mean_attention_distance', num: true, digits: 2, title: 'mean |query - key| weighted by attention'},
    {label: 'Best offset', value: r => (r.scores && isNum(r.scores.best_offset) ? r.scores.best_offset : null), num: true, digits: 0},
    {label: 'Beyond the sink', value: r => (r.role === 'first_token' && r.role_beyond_sink ? r.role_beyond_sink : null),
     render: r => (r.role === 'first_token' && r.role_beyond_sink ? [roleChip(r.role_beyond_sink), ' ' + fmt(r.role_beyond_sink_score, 2)] : ''),
     title: 'for a first-token (sink) head: the role of the attention left once the first token is removed'},
  ], headRows, {rowAttrs: (r, tr) => { tr.dataset.key = r.layer + ':' + r.head; }, onRowClick: selectFromRow});
  byId('heads-table').append(headsTable);
  const roleSel = byId('role-filter');
  const roles = [...new Set(headRows.map(r => r.role).filter(r => r !== null && r !== undefined))].sort();
  for (const r of roles) roleSel.append(el('option', {value: String(r), text: roleLabel(r) + ' (' + headRows.filter(x => x.role === r).length + ')'}));
  const countHeads = () => { byId('heads-count').textContent = headsTable.tBodies[0].rows.length + ' of ' + headRows.length + ' heads'; };
  roleSel.addEventListener('change', () => { const v = roleSel.value; headsTable.setFilter(v ? (r => String(r.role) === v) : null); countHeads(); });
  countHeads();

  const hotRows = asArray(D.hotspots).filter(Boolean);
  byId('hotspots-table').append(hotRows.length ? sortableTable([
    {label: 'Layer', key: 'layer', num: true, digits: 0},
    {label: 'Head', key: 'head', num: true, digits: 0},
    {label: 'Query (attending)', key: 'query_position', render: r => tokCell(r.query_position, r.query_token)},
    {label: 'Key (attended)', key: 'key_position', render: r => tokCell(r.key_position, r.key_token)},
    {label: 'Weight', key: 'weight', num: true, digits: 4},
  ], hotRows, {onRowClick: selectFromRow}) : el('p', {class: 'muted', text: 'No hotspots.'}));

  const layerRows = asArray(D.layers).filter(Boolean);
  byId('layers-table').append(layerRows.length ? sortableTable([
    {label: 'Layer', key: 'layer', num: true, digits: 0},
    {label: 'Mean entropy', key: 'mean_entropy', num: true, digits: 3},
    {label: 'Mean attn. distance', key: 'mean_attention_distance', num: true, digits: 2},
    {label: 'Dominant role', key: 'dominant_role', render: r => roleChip(r.dominant_role)},
    {label: 'Role counts', value: r => null, render: r => {
      const rc = r.role_counts && typeof r.role_counts === 'object' ? r.role_counts : {};
      const span = el('span');
      Object.keys(rc).sort((a, b) => (rc[b] || 0) - (rc[a] || 0)).forEach((k, i) => {
        if (i) span.append(' ');
        span.append(roleChip(k), '\u00d7' + fmt(rc[k], 0));
      });
      return span;
    }},
  ], layerRows, {}) : el('p', {class: 'muted', text: 'No layer summary.'}));

  // ---------- go ----------
  function update() {
    if (!hasPatterns) return;
    layerSel.value = String(state.layer);
    renderChips();
    drawHeadView();
    drawHeatmap();
    markModelView();
  }
  if (hasPatterns) { drawThumbs(); update(); }
}
