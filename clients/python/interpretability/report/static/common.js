// Built without a URL literal so that the page source contains no URL at all.
const SVGNS = ['http:', '', 'www.w3.org', '2000', 'svg'].join('/');
function byId(id) { return document.getElementById(id); }
function el(tag, props, children) {
  const e = document.createElement(tag);
  if (props) {
    for (const k of Object.keys(props)) {
      const v = props[k];
      if (v === undefined || v === null || v === false) continue;
      if (k === 'text') e.textContent = String(v);
      else if (k === 'class') e.className = v;
      else if (k === 'dataset') Object.assign(e.dataset, v);
      else if (k === 'vars') { for (const n of Object.keys(v)) e.style.setProperty(n, v[n]); }
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, String(v));
    }
  }
  appendAll(e, children);
  return e;
}
function appendAll(e, children) {
  if (children === undefined || children === null) return;
  for (const c of [].concat(children)) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : String(c));   // strings become text nodes, never markup
  }
}
function svgEl(tag, attrs) {
  const e = document.createElementNS(SVGNS, tag);
  if (attrs) for (const k of Object.keys(attrs)) e.setAttribute(k, String(attrs[k]));
  return e;
}
function readData() { return JSON.parse(byId('report-data').textContent); }
function isNum(v) { return typeof v === 'number' && Number.isFinite(v); }
function fmt(v, d) {
  if (isNum(v)) return Number.isInteger(v) && d === 0 ? String(v) : v.toFixed(d === undefined ? 3 : d);
  if (v === null || v === undefined || v === '') return '\u2014';
  return String(v);
}
function asArray(v) { return Array.isArray(v) ? v : []; }
// One list item per finding (as text, never markup), or a muted "No findings." when there are none.
function fillFindings(list, findings) {
  const items = asArray(findings);
  if (!items.length) list.append(el('li', {class: 'muted', text: 'No findings.'}));
  for (const f of items) list.append(el('li', {text: f === null || f === undefined ? '' : String(f)}));
}

// ---- roles ----
const ROLE_COLORS = {
  previous_token: '#1f77b4', current_token: '#2ca02c', first_token: '#7a7a7a', positional_offset: '#12a4b6',
  broad: '#a6a21a', induction: '#d62728', mixed: '#9467bd', next_token: '#ff7f0e'
};
const ROLE_ABBR = {
  previous_token: 'prev', current_token: 'self', first_token: 'first', positional_offset: 'offset',
  broad: 'broad', induction: 'induct', mixed: 'mixed', next_token: 'next'
};
function roleColor(r) { return Object.prototype.hasOwnProperty.call(ROLE_COLORS, r) ? ROLE_COLORS[r] : '#8c564b'; }
function roleAbbr(r) {
  if (r === null || r === undefined) return '?';
  return Object.prototype.hasOwnProperty.call(ROLE_ABBR, r) ? ROLE_ABBR[r] : String(r).slice(0, 6);
}
function roleLabel(r) { return r === null || r === undefined ? '\u2014' : String(r).replace(/_/g, ' '); }
function roleChip(r) { return el('span', {class: 'role', text: roleLabel(r), vars: {'--rc': roleColor(r)}, title: r == null ? null : String(r)}); }
function roleLegend(roles) {
  const box = el('div', {class: 'rolelegend'});
  for (const r of roles) box.append(roleChip(r));
  return box;
}
function headColor(h) { return 'hsl(' + ((h * 137.508 + 210) % 360).toFixed(1) + ',68%,42%)'; }

// ---- tokens ----
// How a token reads is the server's call, made with the model's own tokenizer: display_tokens[i]
// is tokens[i] decoded, trimmed, with control characters escaped.  The page only shortens it.  An
// analysis without display_tokens (or with a list that does not match the tokens) shows the raw
// pieces instead, as does a single entry that is not a string.
function tokenTexts(tokens, displayTokens) {
  const decoded = Array.isArray(displayTokens) && displayTokens.length === tokens.length;
  const texts = tokens.map((t, i) => (decoded && typeof displayTokens[i] === 'string' ? displayTokens[i] : t));
  return {texts: texts, decoded: decoded};
}
// One line of text at most maxLen characters long.  (Escaping control characters changes nothing
// in a display token, where the server has escaped them already; it keeps raw pieces on one line.)
function tokenLabel(s, maxLen) {
  s = (s === null || s === undefined ? '' : String(s))
    .replace(/[\u0000-\u001f\u007f]/g, c => '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0'));
  if (s === '') return '\u2205';
  if (maxLen) { const cps = Array.from(s); if (cps.length > maxLen) s = cps.slice(0, maxLen - 1).join('') + '\u2026'; }
  return s;
}

// ---- tooltip ----
function showTip(text, x, y) {
  const t = byId('tooltip');
  t.textContent = text;
  t.style.display = 'block';
  const w = t.offsetWidth, h = t.offsetHeight;
  let left = x + 14, top = y + 14;
  if (left + w > window.innerWidth - 4) left = Math.max(4, x - w - 10);
  if (top + h > window.innerHeight - 4) top = Math.max(4, y - h - 10);
  t.style.left = left + 'px';
  t.style.top = top + 'px';
}
function hideTip() { const t = byId('tooltip'); t.style.display = 'none'; }

// ---- sortable table ----
// columns: [{label, key | value(row), num, digits, render(row) -> Node|string, title}]
function sortableTable(columns, rows, opts) {
  opts = opts || {};
  const table = el('table', {class: 'data'});
  const thead = el('thead');
  const htr = el('tr');
  const tbody = el('tbody');
  let sortCol = opts.sortCol === undefined ? null : opts.sortCol;
  let sortDir = opts.sortDir || 1;
  let filter = null;
  const ths = columns.map((c, i) => {
    const th = el('th', {text: c.label, title: (c.title ? c.title + ' \u2014 ' : '') + 'click to sort', class: c.num ? 'num' : null});
    th.addEventListener('click', () => {
      if (sortCol === i) sortDir = -sortDir; else { sortCol = i; sortDir = c.num ? -1 : 1; }
      render();
    });
    htr.append(th);
    return th;
  });
  thead.append(htr);
  table.append(thead, tbody);
  const val = (r, c) => (c.value ? c.value(r) : r[c.key]);
  function cmp(a, b) {
    const an = a === null || a === undefined || (typeof a === 'number' && !Number.isFinite(a));
    const bn = b === null || b === undefined || (typeof b === 'number' && !Number.isFinite(b));
    if (an || bn) return an && bn ? 0 : (an ? 1 : -1);
    if (typeof a === 'number' && typeof b === 'number') return a - b;
    return String(a).localeCompare(String(b), undefined, {numeric: true});
  }
  function render() {
    let rs = rows.map((r, i) => [r, i]);
    if (filter) rs = rs.filter(([r]) => filter(r));
    if (sortCol !== null) {
      const c = columns[sortCol];
      rs.sort((x, y) => {
        const va = val(x[0], c), vb = val(y[0], c);
        const nullish = v => v === null || v === undefined;
        if (nullish(va) !== nullish(vb)) return nullish(va) ? 1 : -1;   // missing values last either way
        return cmp(va, vb) * sortDir || x[1] - y[1];
      });
    }
    ths.forEach((th, i) => { if (i === sortCol) th.dataset.sort = sortDir > 0 ? 'asc' : 'desc'; else delete th.dataset.sort; });
    tbody.replaceChildren(...rs.map(([r]) => {
      const tr = el('tr');
      if (opts.rowAttrs) opts.rowAttrs(r, tr);
      for (const c of columns) {
        const content = c.render ? c.render(r) : fmt(val(r, c), c.digits);
        tr.append(el('td', {class: c.num ? 'num' : null}, content));
      }
      if (opts.onRowClick) { tr.classList.add('clickable'); tr.addEventListener('click', () => opts.onRowClick(r, tr)); }
      return tr;
    }));
  }
  table.setFilter = f => { filter = f; render(); };
  render();
  return table;
}
function flashRow(tr) {
  if (!tr) return;
  tr.scrollIntoView({block: 'center'});
  tr.classList.add('flash');
  setTimeout(() => tr.classList.remove('flash'), 1600);
}
function fail(e) {
  console.error(e);
  document.body.prepend(el('div', {class: 'error', text: 'The report could not be displayed: ' + (e && e.message ? e.message : e)}));
}
