(function main() {
  let D;
  try { D = readData(); } catch (e) { fail(e); return; }
  try { build(D); } catch (e) { fail(e); return; }
  document.body.dataset.ready = '1';
})();

function safeLink(link) {
  if (typeof link !== 'string' || link === '') return null;
  // Relative paths only: anything with a URL scheme (javascript:, data:, http: ...) or starting with // is refused.
  if (/^[a-z][a-z0-9+.\-]*:/i.test(link.trim()) || /^[\\/]{2}/.test(link.trim())) return null;
  return link;
}

function build(D) {
  const C = D.comparison || {};
  const inputs = asArray(D.inputs);
  const links = asArray(D.links);
  const texts = asArray(C.texts);
  document.title = 'Attention comparison \u2014 ' + (C.model || 'model');
  const heads = asArray(C.heads).filter(Boolean);

  const meta = byId('meta');
  const addMeta = (k, v, id) => meta.append(el('div', {}, [el('dt', {text: k}), el('dd', {text: v, id: id})]));
  addMeta('Model', C.model || '\u2014', 'meta-model');
  const nInputs = Math.max(texts.length, inputs.length, links.length);
  addMeta('Inputs', String(nInputs), 'meta-inputs');
  addMeta('Heads compared', String(heads.length), 'meta-heads');

  fillFindings(byId('findings'), C.findings);

  // ---------- inputs ----------
  const inputRows = [];
  for (let i = 0; i < nInputs; i++) {
    const a = inputs[i] || {};
    const text = texts[i] !== undefined ? texts[i] : a.text;
    inputRows.push({index: i + 1, text: text === null || text === undefined ? '' : String(text), num_tokens: a.num_tokens,
                    findings: asArray(a.findings).length, link: links[i]});
  }
  byId('inputs-table').append(sortableTable([
    {label: '#', key: 'index', num: true, digits: 0},
    {label: 'Text', key: 'text', render: r => {
      const cps = Array.from(r.text);
      return el('span', {text: cps.length > 140 ? cps.slice(0, 139).join('') + '\u2026' : r.text, title: r.text});
    }},
    {label: 'Tokens', key: 'num_tokens', num: true, digits: 0},
    {label: 'Findings', key: 'findings', num: true, digits: 0},
    {label: 'Report', key: 'link', render: r => {
      const href = safeLink(r.link);
      if (href) return el('a', {href: href, text: r.link, class: 'report-link'});
      return el('span', {class: 'muted', text: r.link ? String(r.link) + ' (not a relative link)' : 'no report'});
    }},
  ], inputRows, {}));

  // ---------- per-input roles ----------
  const roleOf = inputs.map(a => {
    const m = new Map();
    for (const h of asArray(a && a.heads)) if (h) m.set(h.layer + ':' + h.head, h.role);
    return m;
  });
  const showInputs = inputs.length > 0 && inputs.length <= 12;

  // ---------- agreement heatmap ----------
  const layers = [...new Set(heads.map(h => h.layer))].sort((a, b) => a - b);
  let maxHead = 0;
  for (const h of heads) if (isNum(h.head)) maxHead = Math.max(maxHead, h.head);
  const rolesPresent = new Set(Object.keys(ROLE_COLORS));
  for (const h of heads) if (h.consensus_role) rolesPresent.add(h.consensus_role);
  byId('role-legend').append(roleLegend([...rolesPresent]));
  const ag = byId('agreement');
  ag.style.gridTemplateColumns = 'auto repeat(' + (maxHead + 1) + ', minmax(46px, 1fr))';
  ag.append(el('div', {class: 'mv-colhead'}));
  for (let h = 0; h <= maxHead; h++) ag.append(el('div', {class: 'mv-colhead', text: 'H' + h}));
  layers.forEach((l, li) => {
    ag.append(el('div', {class: 'mv-rowhead', text: 'L' + l, vars: {'grid-row': String(li + 2), 'grid-column': '1'}}));
    for (const h of heads.filter(x => x.layer === l)) {
      const a = isNum(h.role_agreement) ? Math.max(0, Math.min(1, h.role_agreement)) : null;
      const bg = a === null ? '#eeeeee' : 'rgb(' + Math.round(255 - a * (255 - 35)) + ',' + Math.round(255 - a * (255 - 139)) + ',' + Math.round(255 - a * (255 - 69)) + ')';
      let title = 'Layer ' + l + ', head ' + h.head + ': ' + roleLabel(h.consensus_role) + ', agreement ' + fmt(h.role_agreement, 2) +
                  ', mean entropy ' + fmt(h.mean_entropy, 2) + ' \u00b1 ' + fmt(h.entropy_std, 2);
      if (showInputs) roleOf.forEach((m, i) => { title += '\n  input ' + (i + 1) + ': ' + roleLabel(m.get(l + ':' + h.head)); });
      const cell = el('div', {class: 'ag-cell', title: title, dataset: {layer: String(l), head: String(h.head), agreement: a === null ? '' : String(a)},
                              vars: {'grid-row': String(li + 2), 'grid-column': String((isNum(h.head) ? h.head : 0) + 2), background: bg,
                                     color: a !== null && a > 0.6 ? '#fff' : '#1d232b', 'border-bottom': '3px solid ' + roleColor(h.consensus_role)}},
                      roleAbbr(h.consensus_role));
      cell.addEventListener('click', () => flashRow(document.querySelector('#heads-table tr[data-key="' + l + ':' + h.head + '"]')));
      ag.append(cell);
    }
  });

  // ---------- heads table ----------
  const cols = [
    {label: 'Layer', key: 'layer', num: true, digits: 0},
    {label: 'Head', key: 'head', num: true, digits: 0},
    {label: 'Consensus role', key: 'consensus_role', render: r => roleChip(r.consensus_role)},
    {label: 'Role agreement', key: 'role_agreement', num: true, digits: 2},
    {label: 'Mean entropy', key: 'mean_entropy', num: true, digits: 3},
    {label: 'Entropy std', key: 'entropy_std', num: true, digits: 3},
  ];
  if (showInputs) {
    roleOf.forEach((m, i) => cols.push({label: 'Input ' + (i + 1), value: r => m.get(r.layer + ':' + r.head) ?? null,
                                         render: r => { const v = m.get(r.layer + ':' + r.head); return v === undefined ? '\u2014' : roleChip(v); }}));
  }
  byId('heads-table').append(heads.length ? sortableTable(cols, heads, {rowAttrs: (r, tr) => { tr.dataset.key = r.layer + ':' + r.head; }})
                                         : el('p', {class: 'muted', text: 'No heads compared.'}));
}
