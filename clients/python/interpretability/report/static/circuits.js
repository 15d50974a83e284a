// The reports of circuit discovery: a circuit (a layered graph in inline SVG and a table of its
// edges), activation/attribution patching (one diverging heat map per component) and causal
// tracing (one tokens x layers heat map per restored state, as in ROME).  charts.js (loaded
// before) has the number formatting, the colour scales and the heat map.
const METHOD_LABELS = {
  eap: 'edge attribution patching (EAP)', eap_ig: 'EAP with integrated gradients (EAP-IG)', acdc: 'ACDC',
  activation_patching: 'activation patching', attribution_patching: 'attribution patching'
};
const COMPONENT_LABELS = {
  resid_pre: 'residual stream (start of each layer)', resid_mid: 'residual stream (between attention and MLP)',
  resid_post: 'residual stream (end of each layer)', attn_out: 'attention output', mlp_out: 'MLP output',
  head_result: 'attention head outputs', z: 'attention head outputs (z)', head_q: 'head queries', head_k: 'head keys',
  head_v: 'head values', pattern: 'attention patterns'
};
const STATE_LABELS = {hidden: 'hidden state', mlp: 'MLP output', attn: 'attention output'};
// ROME's colours: purple for hidden states, green for MLPs, red for attention (ColorBrewer).
const STATE_STOPS = {
  hidden: [[252, 251, 253], [218, 218, 235], [158, 154, 200], [106, 81, 163], [63, 0, 125]],
  mlp: [[247, 252, 245], [199, 233, 192], [116, 196, 118], [35, 139, 69], [0, 68, 27]],
  attn: [[255, 245, 240], [252, 187, 161], [251, 106, 74], [203, 24, 29], [103, 0, 13]]
};
const EDGE_POS = '#b2182b', EDGE_NEG = '#2166ac', EDGE_ZERO = '#98a1ab';
const NODE_FILL = {input: '#e9ecef', logits: '#dff0d8', head: '#dbe9f6', mlp: '#fde6c8'};

function own(o, k) { return Object.prototype.hasOwnProperty.call(o, k); }
function obj(v) { return v && typeof v === 'object' && !Array.isArray(v) ? v : null; }
function label(map, k) { return own(map, k) ? map[k] : (text(k) || '\u2014'); }
function intOr(v, d) { const n = num(v); return n !== null && Number.isInteger(n) ? n : d; }
function pct(v) { return isNum(v) ? (100 * v).toFixed(1) + '%' : '\u2014'; }
function metaAdder(dl) {
  return (k, v, id, tip) => dl.append(el('div', {}, [el('dt', {text: k}), el('dd', {text: v, id: id, title: tip})]));
}

// ---- layered circuit graph (inline SVG) ----
// The node a name stands for when the node list lacks it: a<L>.h<H>, m<L>, input, logits.
function impliedNode(name) {
  let m = /^a(\d+)\.h(\d+)$/.exec(name);
  if (m) return {name: name, kind: 'head', layer: +m[1], head: +m[2], score: null, implied: true};
  m = /^m(\d+)$/.exec(name);
  if (m) return {name: name, kind: 'mlp', layer: +m[1], head: -1, score: null, implied: true};
  if (name === 'input' || name === 'logits') return {name: name, kind: name, layer: -1, head: -1, score: null, implied: true};
  return null;
}
// nodes: [{name, kind (input | head | mlp | logits), layer, head, score}]; edges: [{sender,
// receiver, input (q | k | v | ''), score}]; o: numLayers, numHeads.  The input is drawn at the
// bottom, the logits at the top, each layer on a row of its own: its heads left to right by
// index, its MLP at the right (a little higher, so that an edge from a head to the MLP of its
// own layer stays visible).  One g.node per node (plus one per node an edge names that the list
// lacks, marked implied) and one path.edge per edge: its width 0.6 + 5.4 |score| / max |score|,
// red for a positive score, blue for a negative one, dashed into a key and dotted into a value.
// Returns {box, svg, edges (those drawn), skipped (edges naming an unknown node)}.
function circuitGraph(nodes, edges, o) {
  const byName = new Map();
  for (const n of nodes) if (!byName.has(n.name)) byName.set(n.name, n);
  const drawn = [];
  let skipped = 0;
  for (const e of edges) {
    for (const end of [e.sender, e.receiver]) if (!byName.has(end) && impliedNode(end)) byName.set(end, impliedNode(end));
    if (byName.has(e.sender) && byName.has(e.receiver)) drawn.push(e); else skipped++;
  }
  const all = Array.from(byName.values());
  const inner = all.filter(n => n.kind !== 'input' && n.kind !== 'logits');
  const L = Math.max(intOr(o.numLayers, 0), ...inner.map(n => intOr(n.layer, -1) + 1), 1);
  const H = Math.max(intOr(o.numHeads, 0), ...inner.map(n => intOr(n.head, -1) + 1), 1);
  const slots = H + 1;
  const colW = Math.max(40, Math.min(84, 840 / slots)), rowH = L > 16 ? 56 : 80;
  const left = 64, right = 24, top = 34, bottom = 34;
  const W = left + slots * colW + right, Ht = top + (L + 1) * rowH + bottom;
  const rowY = r => top + (L + 1 - r) * rowH;   // r: 0 the input, l + 1 layer l, L + 1 the logits
  const mid = left + slots * colW / 2;
  const pos = new Map();
  for (const n of all) {
    const layer = intOr(n.layer, 0), head = intOr(n.head, -1);
    let x, y, shape;
    if (n.kind === 'input') { x = mid; y = rowY(0); shape = 'wide'; } else if (n.kind === 'logits') { x = mid; y = rowY(L + 1); shape = 'wide'; } else if (n.kind === 'mlp' || head < 0) {
      x = left + (H + 0.5) * colW; y = rowY(layer + 1) - rowH * 0.36; shape = 'box';
    } else {
      x = left + (head + 0.5) * colW; y = rowY(layer + 1); shape = 'circle';
    }
    const half = shape === 'wide' ? 12 : shape === 'box' ? 10 : 11;
    pos.set(n.name, {x: x, y: y, half: half, shape: shape});
  }
  const svg = svgEl('svg', {class: 'circuit', width: W, height: Ht, viewBox: '0 0 ' + W + ' ' + Ht, role: 'img'});
  const rowLabel = (r, t) => {
    svg.append(svgEl('line', {class: 'row', x1: left, x2: W - right, y1: rowY(r), y2: rowY(r)}));
    const lt = svgEl('text', {class: 'rowlabel', x: 8, y: rowY(r)});
    lt.textContent = t;
    svg.append(lt);
  };
  rowLabel(0, 'input');
  for (let l = 0; l < L; l++) rowLabel(l + 1, 'layer ' + l);
  rowLabel(L + 1, 'logits');
  const maxAbs = Math.max(0, ...drawn.map(e => (isNum(e.score) ? Math.abs(e.score) : 0)));
  const width = e => 0.6 + (maxAbs > 0 && isNum(e.score) ? 5.4 * Math.abs(e.score) / maxAbs : 0);
  const OFFSET = {q: -6, k: 0, v: 6};
  const edgeEls = [];
  // The weakest first, so that the strongest are drawn on top.
  const order = drawn.map((e, i) => [e, i]).sort((a, b) => width(a[0]) - width(b[0]) || a[1] - b[1]);
  for (const [e, i] of order) {
    const s = pos.get(e.sender), r = pos.get(e.receiver);
    const input = text(e.input);
    const x1 = s.x, y1 = s.y - s.half, x2 = r.x + (own(OFFSET, input) ? OFFSET[input] : 0), y2 = r.y + r.half;
    const my = (y1 + y2) / 2;
    const w = width(e);
    const attrs = {class: 'edge', d: 'M ' + [x1, y1].map(v => v.toFixed(1)).join(' ') + ' C ' +
      [x1, my, x2, my, x2, y2].map(v => v.toFixed(1)).join(' '), stroke: !isNum(e.score) || e.score === 0 ? EDGE_ZERO : (e.score > 0 ? EDGE_POS : EDGE_NEG),
      'stroke-width': w.toFixed(2), 'data-index': i, 'data-sender': e.sender, 'data-receiver': e.receiver, 'data-input': input,
      'data-score': exact(e.score)};
    if (input === 'k') attrs['stroke-dasharray'] = (3 * w + 4).toFixed(1) + ' ' + (w + 3).toFixed(1);
    if (input === 'v') attrs['stroke-dasharray'] = '0.1 ' + (w + 4).toFixed(1);
    const p = svgEl('path', attrs);
    const t = svgEl('title');
    t.textContent = e.sender + ' \u2192 ' + e.receiver + (input ? ' (' + input + ')' : '') + '\nscore: ' + exact(e.score);
    p.append(t);
    svg.append(p);
    edgeEls[i] = p;
  }
  const nodeEls = new Map();
  for (const n of all) {
    const p = pos.get(n.name);
    const g = svgEl('g', {class: 'node' + (n.implied ? ' implied' : ''), 'data-name': n.name, 'data-kind': text(n.kind),
      'data-x': p.x.toFixed(1), 'data-y': p.y.toFixed(1), transform: 'translate(' + p.x.toFixed(1) + ' ' + p.y.toFixed(1) + ')'});
    const fill = own(NODE_FILL, n.kind) ? NODE_FILL[n.kind] : '#f1f3f5';
    const shape = p.shape === 'circle' ? svgEl('circle', {class: 'shape', r: p.half, fill: fill})
      : p.shape === 'box' ? svgEl('rect', {class: 'shape', x: -16, y: -p.half, width: 32, height: 2 * p.half, rx: 3, fill: fill})
        : svgEl('rect', {class: 'shape', x: -32, y: -p.half, width: 64, height: 2 * p.half, rx: 6, fill: fill});
    if (n.implied) shape.setAttribute('stroke-dasharray', '3 2');
    const t = svgEl('text', {y: 0.5});
    t.textContent = n.kind === 'head' ? 'h' + text(n.head) : n.kind === 'mlp' ? 'MLP' : tokenLabel(n.name, 9);
    const title = svgEl('title');
    const where = n.kind === 'head' ? ', layer ' + text(n.layer) + ', head ' + text(n.head) : n.kind === 'mlp' ? ', layer ' + text(n.layer) : '';
    title.textContent = n.name + ' (' + text(n.kind) + where + ')' + (n.implied ? '\nnot in the node list' : '\nscore: ' + exact(n.score));
    g.append(shape, t, title);
    svg.append(g);
    nodeEls.set(n.name, g);
  }
  // Hovering a node: its edges and neighbours stand out.
  const focus = name => {
    svg.classList.add('focus');
    nodeEls.get(name).classList.add('on');
    drawn.forEach((e, i) => {
      if (e.sender !== name && e.receiver !== name) return;
      edgeEls[i].classList.add('on');
      nodeEls.get(e.sender).classList.add('on');
      nodeEls.get(e.receiver).classList.add('on');
    });
  };
  const unfocus = () => {
    svg.classList.remove('focus');
    for (const x of svg.querySelectorAll('.on')) x.classList.remove('on');
  };
  for (const [name, g] of nodeEls) {
    g.addEventListener('mouseenter', () => focus(name));
    g.addEventListener('mouseleave', unfocus);
  }
  const flashEdge = i => {
    unfocus();
    const p = edgeEls[i];
    if (!p) return;
    svg.classList.add('focus');
    p.classList.add('on');
    nodeEls.get(drawn[i].sender).classList.add('on');
    nodeEls.get(drawn[i].receiver).classList.add('on');
    svg.scrollIntoView({block: 'nearest'});
    setTimeout(unfocus, 1600);
  };
  const sample = (stroke, dash) => {
    const s = svgEl('svg', {width: 30, height: 8});
    const attrs = {x1: 2, x2: 28, y1: 4, y2: 4, stroke: stroke, 'stroke-width': 3, 'stroke-linecap': 'round'};
    if (dash) attrs['stroke-dasharray'] = dash;
    s.append(svgEl('line', attrs));
    return s;
  };
  const legend = el('div', {class: 'graph-legend'}, [
    el('span', {}, [sample(EDGE_POS), 'positive score']), el('span', {}, [sample(EDGE_NEG), 'negative score']),
    el('span', {}, [sample('#555'), 'into a query, the MLP or the logits']), el('span', {}, [sample('#555', '13 6'), 'into a key']),
    el('span', {}, [sample('#555', '0.1 7'), 'into a value']),
    el('span', {text: 'width \u221d |score| (the widest: ' + short(maxAbs, 3) + ')'})
  ]);
  const box = el('div', {class: 'panel'}, [el('div', {class: 'scroll-x'}, svg), legend]);
  return {box: box, svg: svg, edges: drawn, skipped: skipped, flashEdge: flashEdge};
}

// ---- the circuit page ----
function nodesOf(R) {
  return asArray(R.nodes).filter(obj).filter(n => text(n.name) !== '')
    .map(n => ({name: text(n.name), kind: text(n.kind), layer: num(n.layer), head: num(n.head), score: num(n.score)}));
}
function edgesOf(R) {
  return asArray(R.edges).filter(obj)
    .map(e => ({sender: text(e.sender), receiver: text(e.receiver), input: text(e.input), score: num(e.score), minimality: num(e.minimality)}));
}

function buildCircuit(R, add) {
  const nodes = nodesOf(R), edges = edgesOf(R);
  add('Method', label(METHOD_LABELS, R.method), 'meta-method', text(R.method));
  const types = asArray(R.circuit_types).map(text).filter(Boolean);
  if (types.length) add('Circuit types', types.join(', '), 'meta-types');
  add('Ablation', text(R.ablation) || '\u2014', 'meta-ablation', 'how the edges outside the circuit were ablated');
  add('Threshold', short(num(R.threshold), 3), 'meta-threshold', exact(num(R.threshold)));
  const kept = num(R.edges_kept), total = num(R.edges_total);
  add('Edges kept', (isNum(kept) ? String(kept) : String(edges.length)) + (isNum(total) ? ' of ' + total +
    (total > 0 && isNum(kept) ? ' (' + pct(kept / total) + ')' : '') : ''), 'meta-edges');
  add('Nodes', String(nodes.length), 'meta-nodes');
  add('Clean metric', short(num(R.clean_metric), 4), 'meta-clean', exact(num(R.clean_metric)));
  add('Corrupted metric', short(num(R.corrupted_metric), 4), 'meta-corrupted', exact(num(R.corrupted_metric)));
  add('Circuit metric', short(num(R.circuit_metric), 4), 'meta-circuit', exact(num(R.circuit_metric)));
  add('Metric recovered', pct(num(R.metric_recovered)), 'meta-recovered',
    '(circuit \u2212 corrupted) / (clean \u2212 corrupted): ' + exact(num(R.metric_recovered)));
  byId('intro').textContent = 'The circuit found for the task: the edges whose score passed the threshold, every other edge ablated ' +
    '(' + (text(R.ablation) || 'ablation not given') + '). Metric recovered is how much of the gap from the corrupted to the clean ' +
    'metric the circuit alone restores (1 = all of it). Hover a node to see its edges, an edge for its score.';
  const content = byId('content');
  const sec = el('section', {id: 'graph-section'}, el('h2', {text: 'Circuit'}));
  content.append(sec);
  if (!nodes.length && !edges.length) {
    sec.append(el('p', {class: 'notice', text: 'This circuit has no nodes and no edges.'}));
    return [['graph-section', 'Circuit']];
  }
  const g = circuitGraph(nodes, edges, {numLayers: R.num_layers, numHeads: R.num_heads});
  if (g.skipped) sec.append(el('p', {class: 'notice', text: g.skipped + ' edge(s) name a node the circuit does not have; not drawn.'}));
  sec.append(g.box);
  const tsec = el('section', {id: 'edges-section'}, el('h2', {text: 'Strongest edges'}));
  content.append(tsec);
  const ranked = edges.map((e, i) => Object.assign({index: i, abs: isNum(e.score) ? Math.abs(e.score) : null}, e))
    .sort((a, b) => (b.abs === null ? -1 : b.abs) - (a.abs === null ? -1 : a.abs) || a.index - b.index);
  const shown = ranked.slice(0, 100);
  tsec.append(el('p', {class: 'caption', text: shown.length < ranked.length ? 'The ' + shown.length + ' strongest of the ' + ranked.length +
    ' edges, by |score|.' : 'All ' + ranked.length + ' edges, by |score|. Click a row to find the edge in the graph.'}));
  const drawnIndex = new Map(g.edges.map((e, i) => [e, i]));
  const cols = [
    {label: '#', num: true, value: r => r.rank, digits: 0},
    {label: 'sender', key: 'sender'}, {label: 'receiver', key: 'receiver'}, {label: 'input', value: r => r.input || '\u2014'},
    {label: 'score', num: true, value: r => r.score, render: r => el('span', {text: short(r.score, 4), title: exact(r.score)})},
    {label: '|score|', num: true, value: r => r.abs, render: r => el('span', {text: short(r.abs, 4), title: exact(r.abs)})}
  ];
  if (edges.some(e => isNum(e.minimality))) {
    cols.push({label: 'minimality', num: true, value: r => r.minimality, title: 'the normalised metric drop when this edge alone is removed',
      render: r => el('span', {text: short(r.minimality, 3), title: exact(r.minimality)})});
  }
  shown.forEach((r, k) => { r.rank = k + 1; });
  const table = sortableTable(cols, shown, {
    rowAttrs: (r, tr) => { tr.dataset.sender = r.sender; tr.dataset.receiver = r.receiver; tr.dataset.input = r.input; },
    onRowClick: r => g.flashEdge(drawnIndex.get(edges[r.index]))
  });
  table.classList.add('edges');
  tsec.append(el('div', {class: 'tablewrap'}, table));
  return [['graph-section', 'Circuit'], ['edges-section', 'Edges']];
}

// ---- the patching page ----
function gridOf(m) {
  const values = asArray(m.values).map(row => asArray(row).map(num));
  let rows = asArray(m.rows).map(text), cols = asArray(m.cols).map(text);
  if (!rows.length) rows = values.map((_, i) => String(i));
  if (!cols.length) cols = Array.from({length: Math.max(0, ...values.map(r => r.length))}, (_, j) => String(j));
  const ragged = values.length !== rows.length || values.some(r => r.length !== cols.length);
  return {rows: rows, cols: cols, values: values, ragged: ragged,
    at: (i, j) => (i < values.length && j < values[i].length ? values[i][j] : null)};
}

function buildPatching(R, add) {
  add('Method', label(METHOD_LABELS, R.method), 'meta-method', text(R.method));
  add('Clean metric', short(num(R.clean_metric), 4), 'meta-clean', exact(num(R.clean_metric)));
  add('Corrupted metric', short(num(R.corrupted_metric), 4), 'meta-corrupted', exact(num(R.corrupted_metric)));
  const maps = asArray(R.maps).filter(obj);
  add('Maps', String(maps.length), 'meta-maps');
  byId('intro').textContent = 'Each cell patches one activation of the clean run into the corrupted run (or, for attribution ' +
    'patching, estimates that by a gradient) and shows the metric normalised: 0 is the corrupted behaviour, 1 the clean behaviour ' +
    'fully restored, negative values push the other way. Hover a cell for its exact value.';
  const content = byId('content');
  const sec = el('section', {id: 'maps-section'}, el('h2', {text: 'Patching maps'}));
  content.append(sec);
  if (!maps.length) {
    sec.append(el('p', {class: 'notice', text: 'This result holds no maps.'}));
    return [['maps-section', 'Maps']];
  }
  const select = el('select', {id: 'scale'}, [el('option', {value: 'unit', text: '\u00b11 for every map (1 = clean restored)'}),
    el('option', {value: 'map', text: '\u00b1 each map\u2019s largest |value|'})]);
  sec.append(el('div', {class: 'controls'}, el('label', {}, ['Colour scale', select])));
  const box = el('div', {class: 'maps'});
  sec.append(box);
  const grids = maps.map(gridOf);
  const holders = maps.map((m, k) => {
    const comp = text(m.component);
    const rl = text(m.row_label) || 'row', cl = text(m.col_label) || 'column';
    const div = el('div', {class: 'map', id: 'map-' + k, dataset: {component: comp}}, [
      el('h3', {text: label(COMPONENT_LABELS, comp), title: comp}),
      el('p', {class: 'caption', text: comp + ': rows ' + rl + ', columns ' + cl})]);
    if (grids[k].ragged) div.append(el('p', {class: 'notice', text: 'The values do not form a ' + grids[k].rows.length + ' \u00d7 ' +
      grids[k].cols.length + ' grid; missing cells are hatched.'}));
    const holder = el('div', {class: 'holder'});
    div.append(holder);
    box.append(div);
    return holder;
  });
  const draw = () => {
    const unit = select.value === 'unit';
    maps.forEach((m, k) => {
      const G = grids[k], comp = text(m.component);
      const rl = text(m.row_label) || 'row', cl = text(m.col_label) || 'column';
      holders[k].replaceChildren(heatMap({
        rows: G.rows.map(r => ({label: tokenLabel(r, 12), title: rl + ' ' + r})),
        cols: G.cols.map(c => ({label: tokenLabel(c, 10), title: cl + ' ' + c})),
        value: G.at, scale: 'div', hi: unit ? 1 : undefined, cls: 'patch-map', corner: rl + ' \\ ' + cl,
        tip: (i, j, v) => comp + '\n' + rl + ' ' + G.rows[i] + ' \u00d7 ' + cl + ' ' + G.cols[j] + '\nnormalised metric: ' + exact(v)
      }));
    });
  };
  select.addEventListener('change', draw);
  draw();
  // The strongest cells of all maps.
  const cells = [];
  maps.forEach((m, k) => {
    const G = grids[k];
    G.rows.forEach((r, i) => G.cols.forEach((c, j) => {
      const v = G.at(i, j);
      if (isNum(v)) cells.push({component: text(m.component), row: (text(m.row_label) || 'row') + ' ' + r,
        col: (text(m.col_label) || 'column') + ' ' + c, value: v, abs: Math.abs(v)});
    }));
  });
  cells.sort((a, b) => b.abs - a.abs);
  const tsec = el('section', {id: 'cells-section'}, [el('h2', {text: 'Strongest cells'}),
    el('p', {class: 'caption', text: 'The ' + Math.min(20, cells.length) + ' cells of largest |value| over all maps.'})]);
  content.append(tsec);
  const table = sortableTable([
    {label: 'component', key: 'component'}, {label: 'row', key: 'row'}, {label: 'column', key: 'col'},
    {label: 'value', num: true, key: 'value', render: r => el('span', {text: short(r.value, 3), title: exact(r.value)})}
  ], cells.slice(0, 20));
  table.classList.add('top-cells');
  tsec.append(el('div', {class: 'tablewrap'}, table));
  return [['maps-section', 'Maps'], ['cells-section', 'Strongest cells']];
}

// ---- the causal tracing page ----
function buildTracing(R, add) {
  const tokens = asArray(R.tokens).map(text);
  const texts = tokenTexts(tokens, R.display_tokens).texts;
  const subject = new Set(asArray(R.subject_positions).map(num).filter(isNum));
  const clean = num(R.clean_probability), corrupted = num(R.corrupted_probability);
  add('Target', tokenLabel(R.target), 'meta-target', text(R.target));
  add('Clean p(target)', short(clean, 3), 'meta-clean', exact(clean));
  add('Corrupted p(target)', short(corrupted, 3), 'meta-corrupted', exact(corrupted));
  add('Noise std', short(num(R.noise_std), 3), 'meta-noise', exact(num(R.noise_std)));
  add('Samples', isNum(num(R.samples)) ? String(num(R.samples)) : '\u2014', 'meta-samples');
  const subj = tokens.map((t, i) => i).filter(i => subject.has(i)).map(i => texts[i]).join('');
  add('Subject', subj || '\u2014', 'meta-subject', 'positions ' + Array.from(subject).join(', '));
  const intro = byId('intro');
  intro.textContent = 'The subject\u2019s token embeddings are corrupted with Gaussian noise; each cell restores one state of the clean ' +
    'run (at that token, at that layer, or a window of layers around it) in the corrupted run and shows the probability of the ' +
    'target then. Subject tokens are marked *. Colours run from the corrupted probability to the clean one.';
  const header = intro.parentNode;
  header.insertBefore(el('div', {class: 'textbox', id: 'prompt', text: text(R.prompt)}), intro);
  const content = byId('content');
  const sec = el('section', {id: 'maps-section'}, el('h2', {text: 'Restored states'}));
  content.append(sec);
  const maps = asArray(R.maps).filter(obj);
  if (!maps.length || !tokens.length) {
    sec.append(el('p', {class: 'notice', text: !tokens.length ? 'This result holds no tokens.' : 'This result holds no maps.'}));
    return [['maps-section', 'Maps']];
  }
  const box = el('div', {class: 'maps'});
  sec.append(box);
  const ranged = isNum(clean) && isNum(corrupted) && clean > corrupted;
  maps.forEach((m, k) => {
    const state = text(m.state), win = num(m.window);
    const values = asArray(m.values).map(row => asArray(row).map(num));   // values[layer][token]
    const layers = values.length;
    const at = (i, j) => (j < values.length && i < values[j].length ? values[j][i] : null);
    const what = label(STATE_LABELS, state);
    const winText = isNum(win) && win > 1 ? ' (window of ' + win + ' layers)' : '';
    const div = el('div', {class: 'map', id: 'trace-' + k, dataset: {state: state}}, [
      el('h3', {text: 'Restoring the ' + what + winText, title: state})]);
    if (values.some(r => r.length !== tokens.length)) {
      div.append(el('p', {class: 'notice', text: 'Some layers do not hold one value per token; missing cells are hatched.'}));
    }
    let best = null;
    tokens.forEach((t, i) => { for (let j = 0; j < layers; j++) { const v = at(i, j); if (isNum(v) && (!best || v > best.v)) best = {i: i, j: j, v: v}; } });
    if (best) {
      div.append(el('p', {class: 'strongest', text: 'Highest: ' + short(best.v, 3) + ' at ' + JSON.stringify(texts[best.i]) +
        (subject.has(best.i) ? '*' : '') + ' (position ' + best.i + '), layer ' + best.j +
        (isNum(corrupted) ? '; indirect effect ' + short(best.v - corrupted, 3) : '')}));
    }
    const stops = own(STATE_STOPS, state) ? STATE_STOPS[state] : null;
    const heat = heatMap({
      rows: texts.map((t, i) => ({label: tokenLabel(t, 14) + (subject.has(i) ? '*' : ''), title: 'position ' + i + ': ' + tokens[i], key: i})),
      cols: Array.from({length: layers}, (_, j) => ({label: String(j), title: 'layer ' + j})),
      value: at, scale: 'seq', stops: stops, lo: ranged ? corrupted : undefined, hi: ranged ? clean : undefined,
      loLabel: ranged ? short(corrupted, 3) + ' (corrupted)' : null, hiLabel: ranged ? short(clean, 3) + ' (clean)' : null,
      cls: 'trace-map', corner: 'token \\ layer',
      tip: (i, j, v) => JSON.stringify(tokens[i]) + (subject.has(i) ? ' (subject)' : '') + ', position ' + i + '\nrestoring the ' + what +
        ' at layer ' + j + winText + '\np(' + text(R.target) + ') = ' + exact(v)
    });
    for (const tr of heat.querySelectorAll('tbody tr')) if (subject.has(Number(tr.dataset.row))) tr.classList.add('subject');
    div.append(heat);
    box.append(div);
  });
  return [['maps-section', 'Maps']];
}

// ---- page ----
const PAGES = {circuit: buildCircuit, patching: buildPatching, causal_tracing: buildTracing};
function build(D) {
  const R = obj(D.result) || {};
  const page = own(PAGES, D.page) ? D.page : 'circuit';
  const title = typeof D.title === 'string' && D.title ? D.title : 'Circuit discovery';
  const model = text(R.model), task = text(R.task);
  byId('title').textContent = title;
  document.title = [title, task, model].filter(Boolean).join(' \u2014 ');
  const add = metaAdder(byId('meta'));
  add('Model', model || '\u2014', 'meta-model');
  if (page !== 'causal_tracing') add('Task', task || '\u2014', 'meta-task');
  fillFindings(byId('findings'), R.findings);
  const sections = PAGES[page](R, add);
  const toc = byId('toc');
  toc.append(el('a', {href: '#findings-section', text: 'Findings'}));
  for (const [id, name] of sections) toc.append(el('a', {href: '#' + id, text: name}));
}

// Last, once every constant above is initialised.
(function main() {
  let D;
  try { D = readData(); } catch (e) { fail(e); return; }
  try { build(D); } catch (e) { fail(e); return; }
  document.body.dataset.ready = '1';
})();
