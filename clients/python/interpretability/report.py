"""Self-contained HTML reports of an attention analysis.

``render_attention_report(analysis)`` turns the JSON document written by
``interp analyze-attention`` into one HTML page; ``render_comparison_report`` turns the JSON of
``interp compare-attention`` into an index page that links to one such report per input.

The pages work offline: no CDN, no web font, no external request of any kind (a
Content-Security-Policy in the page forbids them); all CSS and JavaScript is inline, vanilla, and
draws with inline SVG and ``<canvas>``.  The data travels as JSON inside a
``<script type="application/json">`` element.  ``<``, ``>``, ``&`` and ``/`` are written as JSON
escapes there, so no token (tokens are untrusted text) can close the element, and the script only
ever puts tokens into the page through ``textContent``, SVG ``<title>`` text or canvas
``fillText``, never as markup.

To keep a 30-layer x 9-head x 64-token analysis down to a few MB, attention weights are rounded to
4 decimals and the trailing zero weights of each matrix row (the causal mask) are left out of the
embedded JSON; the page treats a missing weight as 0.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["render_attention_report", "render_comparison_report", "embedded_json"]

#: The id of the ``<script type="application/json">`` element that holds a page's data.
DATA_ELEMENT_ID = "report-data"

_WEIGHT_DECIMALS = 4

# Everything is inline; nothing may be fetched.  ('unsafe-inline' is what lets the inline script
# and style run; there is no other script or style to allow.)
_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data:; base-uri 'none'; form-action 'none'"
)


# --------------------------------------------------------------------------------------------
# Data preparation
# --------------------------------------------------------------------------------------------


def _clean(obj: Any) -> Any:
    """A JSON-safe copy: numpy values become plain Python, NaN/inf become ``None``."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "tolist"):  # numpy arrays and scalars, torch tensors
        return _clean(obj.tolist())
    return str(obj)


def _weight(x: Any) -> float | int:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return 0
    if not math.isfinite(v):
        return 0
    v = round(v, _WEIGHT_DECIMALS)
    if v == 0:
        return 0
    if v == 1:
        return 1
    return v


def _compact_matrix(matrix: Any) -> list[list[float | int]]:
    if hasattr(matrix, "tolist"):
        matrix = matrix.tolist()
    rows: list[list[float | int]] = []
    for row in matrix or []:
        if hasattr(row, "tolist"):
            row = row.tolist()
        r = [_weight(x) for x in row]
        while r and r[-1] == 0:
            r.pop()
        rows.append(r)
    return rows


def _compact_patterns(patterns: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in patterns or []:
        if not isinstance(p, dict):
            continue
        mats = p.get("matrices")
        if mats is None:
            mats = []
        if hasattr(mats, "tolist"):
            mats = mats.tolist()
        mats = list(mats)
        heads = p.get("heads")
        heads = list(range(len(mats))) if heads is None else _clean(list(heads))
        out.append(
            {
                "layer": _clean(p.get("layer")),
                "heads": heads,
                "matrices": [_compact_matrix(m) for m in mats],
            }
        )
    return out


def embedded_json(obj: Any) -> str:
    """``obj`` as JSON that is safe to place between ``<script type="application/json">`` tags.

    The result is plain JSON (``json.loads`` reads it back unchanged): ``<``, ``>``, ``&`` and
    ``/`` only ever occur inside JSON strings, where they are written as escapes, so neither
    ``</script>`` nor ``<!--`` nor a URL can appear in the page's source.
    """
    s = json.dumps(_clean(obj), ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return (
        s.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("/", "\\/")
    )


def _page(title: str, data: Any, body: str, script: str) -> str:
    return "".join(
        [
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{_CSP}\">\n",
            "<meta name=\"referrer\" content=\"no-referrer\">\n",
            "<link rel=\"icon\" href=\"data:,\">\n",
            f"<title>{title}</title>\n<style>\n",
            _CSS,
            "</style>\n</head>\n<body>\n",
            "<noscript><p class=\"notice\">This report needs JavaScript to display its data "
            "(it is embedded in this file as JSON).</p></noscript>\n",
            body,
            f"\n<script type=\"application/json\" id=\"{DATA_ELEMENT_ID}\">",
            embedded_json(data),
            "</script>\n<script>\n'use strict';\n",
            _COMMON_JS,
            script,
            "</script>\n</body>\n</html>\n",
        ]
    )


def render_attention_report(analysis: dict) -> str:
    """One self-contained HTML page for one ``analyze-attention`` result (the CLI's JSON dict)."""
    if not isinstance(analysis, dict):
        raise TypeError(f"analysis must be a dict, got {type(analysis).__name__}")
    data = {k: v for k, v in analysis.items() if k != "patterns"}
    data = _clean(data)
    data["patterns"] = _compact_patterns(analysis.get("patterns"))
    data["_encoding"] = (
        f"attention weights rounded to {_WEIGHT_DECIMALS} decimals; "
        "trailing zero weights of each matrix row are omitted"
    )
    return _page("Attention analysis", data, _ATTENTION_BODY, _ATTENTION_JS)


def _input_summary(analysis: Any) -> dict[str, Any]:
    if not isinstance(analysis, dict):
        return {}
    tokens = analysis.get("tokens")
    heads = []
    for h in analysis.get("heads") or []:
        if isinstance(h, dict):
            heads.append(
                {
                    "layer": h.get("layer"),
                    "head": h.get("head"),
                    "role": h.get("role"),
                    "role_score": h.get("role_score"),
                    "entropy": h.get("entropy"),
                }
            )
    return {
        "model": analysis.get("model"),
        "text": analysis.get("text"),
        "num_tokens": len(tokens) if isinstance(tokens, (list, tuple)) else None,
        "causal": analysis.get("causal"),
        "findings": list(analysis.get("findings") or []),
        "heads": heads,
    }


def render_comparison_report(
    comparison: dict, analyses: list[dict], report_links: list[str]
) -> str:
    """The ``compare-attention`` index page.

    ``analyses`` are the per-input analyses (matrices are not embedded here) and
    ``report_links`` the relative file names of the per-input reports, in the same order as
    ``comparison["texts"]``.  Links with a URL scheme (``javascript:``, ``http:`` ...) are shown
    as text, not as links.
    """
    if not isinstance(comparison, dict):
        raise TypeError(f"comparison must be a dict, got {type(comparison).__name__}")
    data = {
        "comparison": _clean(comparison),
        "inputs": [_clean(_input_summary(a)) for a in (analyses or [])],
        "links": [None if link is None else str(link) for link in (report_links or [])],
    }
    return _page("Attention comparison", data, _COMPARISON_BODY, _COMPARISON_JS)



# --------------------------------------------------------------------------------------------
# CSS (shared by both pages)
# --------------------------------------------------------------------------------------------

_CSS = r"""
:root { --fg:#1d232b; --muted:#5f6b7a; --bg:#ffffff; --panel:#f6f8fa; --line:#d8dee4; --accent:#0b5cad;
        --thumb:48px; font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: var(--bg); font-size: 14px; line-height: 1.4; }
header.top { padding: 18px 24px 10px; border-bottom: 1px solid var(--line); background: var(--panel); }
h1 { font-size: 22px; margin: 0 0 8px; }
h2 { font-size: 18px; margin: 0 0 10px; }
h3 { font-size: 15px; margin: 0 0 6px; }
section { padding: 16px 24px; border-bottom: 1px solid var(--line); scroll-margin-top: 34px; }
.meta { display: flex; flex-wrap: wrap; gap: 6px 28px; margin: 0 0 8px; }
.meta div { display: flex; gap: 6px; }
.meta dt { color: var(--muted); }
.meta dd { margin: 0; font-weight: 600; }
.textbox { white-space: pre-wrap; max-height: 8em; overflow: auto; padding: 6px 10px; background: #fff;
           border: 1px solid var(--line); border-radius: 4px; font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 13px; }
nav.toc { padding: 6px 24px; font-size: 13px; border-bottom: 1px solid var(--line); position: sticky; top: 0; background: #fff; z-index: 5; }
nav.toc a { margin-right: 14px; color: var(--accent); text-decoration: none; }
ul.findings { margin: 0; padding-left: 20px; }
ul.findings li { margin: 2px 0; }
.muted { color: var(--muted); }
.notice { padding: 10px 14px; background: #fff8e1; border: 1px solid #f0d58a; border-radius: 4px; margin: 8px 0; }
.error { padding: 10px 14px; background: #fdecea; border: 1px solid #f5b7b1; border-radius: 4px; margin: 8px 24px; }
.controls { display: flex; flex-wrap: wrap; gap: 10px 18px; align-items: center; margin-bottom: 10px; }
.controls label { display: inline-flex; gap: 6px; align-items: center; }
.chips { display: inline-flex; flex-wrap: wrap; gap: 4px; }
.chip { --hc:#555; border: 2px solid var(--hc); background: #fff; color: var(--fg); border-radius: 12px; padding: 1px 8px;
        cursor: pointer; font-size: 12px; font-family: inherit; }
.chip.active { background: var(--hc); color: #fff; }
.chip.focus { box-shadow: 0 0 0 2px #fff, 0 0 0 4px var(--hc); }
.chip small { opacity: .8; margin-left: 3px; }
button.small { font-size: 12px; padding: 2px 8px; cursor: pointer; }
.views { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
.panel { border: 1px solid var(--line); border-radius: 6px; padding: 8px; background: #fff; }
.caption { font-size: 13px; color: var(--muted); margin: 0 0 6px; }
#headview { display: block; font-size: 12px; }
#headview text { fill: var(--fg); dominant-baseline: middle; cursor: default; font-family: ui-monospace, Menlo, Consolas, monospace; }
#headview text.colhead { font-family: inherit; fill: var(--muted); font-weight: 600; }
#headview text.wlabel { fill: var(--muted); font-size: 10px; }
#headview .tok rect.bg { fill: transparent; }
#headview .tok.hot rect.bg { fill: #ffe08a; }
#headview .tok.hot text { font-weight: 700; }
#headview line.link { stroke-linecap: round; pointer-events: none; }
#headview.focus line.link { opacity: 0.07; }
#headview.focus line.link.on { opacity: 1; }
.heatwrap { position: sticky; top: 40px; }
#heatmap { display: block; cursor: crosshair; }
.legend { display: flex; align-items: center; gap: 6px; font-size: 12px; color: var(--muted); margin-top: 6px; }
.legend .bar { width: 160px; height: 10px; border: 1px solid var(--line);
               background: linear-gradient(to right, #ffffff, #c6dbef, #6baed6, #2171b5, #08306b); }
.legend .masked { width: 12px; height: 10px; background: #e4e4e4; border: 1px solid var(--line); }
.scroll-x { overflow-x: auto; }
#modelview { display: inline-grid; gap: 4px; align-items: start; }
.mv-colhead, .mv-rowhead { font-size: 11px; color: var(--muted); text-align: center; align-self: center; }
.mv-rowhead { text-align: right; padding-right: 4px; font-weight: 600; }
.mv-cell { --rc:#888; border: 1px solid var(--line); border-top: 4px solid var(--rc); border-radius: 3px; padding: 2px;
           cursor: pointer; background: #fff; width: calc(var(--thumb) + 8px); }
.mv-cell:hover { border-color: #888; border-top-color: var(--rc); }
.mv-cell.selected { outline: 2px solid var(--accent); outline-offset: 1px; }
.mv-cell.in-selection { outline: 2px dashed var(--accent); outline-offset: 1px; }
.mv-title { font-size: 10px; line-height: 12px; white-space: nowrap; overflow: hidden; display: flex; justify-content: space-between; }
.mv-title .r { color: var(--rc); font-weight: 700; }
canvas.thumb, .thumb { width: var(--thumb); height: var(--thumb); display: block; image-rendering: pixelated; }
.thumb.placeholder { background: repeating-linear-gradient(45deg, #f2f2f2, #f2f2f2 4px, #e6e6e6 4px, #e6e6e6 8px); }
table.data { border-collapse: collapse; font-size: 13px; }
table.data th, table.data td { border-bottom: 1px solid var(--line); padding: 3px 10px; text-align: left; vertical-align: top; }
table.data th { background: var(--panel); cursor: pointer; user-select: none; white-space: nowrap; position: sticky; top: 0; z-index: 1; }
table.data th.num, table.data td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.data th[data-sort="asc"]::after { content: " \25B2"; font-size: 9px; }
table.data th[data-sort="desc"]::after { content: " \25BC"; font-size: 9px; }
table.data tr.clickable { cursor: pointer; }
table.data tbody tr:hover { background: #f0f6ff; }
table.data tr.flash { background: #ffe08a; }
.tablewrap { max-height: 520px; overflow: auto; border: 1px solid var(--line); border-radius: 4px; display: inline-block; max-width: 100%; }
.role { --rc:#888; display: inline-block; padding: 0 7px; border-radius: 9px; background: var(--rc); color: #fff; font-size: 12px; white-space: nowrap; }
.tok-inline { font-family: ui-monospace, Menlo, Consolas, monospace; background: #f1f3f5; padding: 0 3px; border-radius: 3px; white-space: pre; }
.rolelegend { display: flex; flex-wrap: wrap; gap: 6px; margin: 6px 0; }
#agreement { display: inline-grid; gap: 2px; align-items: stretch; }
.ag-cell { min-width: 46px; height: 30px; border: 1px solid var(--line); border-radius: 3px; font-size: 10px; display: flex;
           align-items: center; justify-content: center; cursor: pointer; }
#tooltip { position: fixed; pointer-events: none; background: rgba(20,24,30,.92); color: #fff; padding: 4px 8px; border-radius: 4px;
           font-size: 12px; white-space: pre; z-index: 20; display: none; max-width: 520px; }
footer { padding: 12px 24px; color: var(--muted); font-size: 12px; }
"""

# --------------------------------------------------------------------------------------------
# JavaScript shared by both pages
# --------------------------------------------------------------------------------------------

_COMMON_JS = r"""
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
// GPT-2 style byte-level BPE maps every byte to a printable character (space -> 'Ġ', '\n' -> 'Ċ').
const BYTE_DECODER = (function () {
  const bs = [];
  for (let i = 33; i <= 126; i++) bs.push(i);
  for (let i = 161; i <= 172; i++) bs.push(i);
  for (let i = 174; i <= 255; i++) bs.push(i);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) if (!bs.includes(b)) { bs.push(b); cs.push(256 + n); n++; }
  const m = new Map();
  bs.forEach((b, i) => m.set(String.fromCharCode(cs[i]), b));
  return m;
})();
function makeTokenFormatter(tokens) {
  const byteLevel = tokens.some(t => /[\u0100-\u0143]/.test(t));
  const fatal = new TextDecoder('utf-8', {fatal: true});
  const lenient = new TextDecoder('utf-8');
  function decode(t) {
    if (byteLevel) {
      const bytes = [];
      let ok = true;
      for (const ch of t) { const b = BYTE_DECODER.get(ch); if (b === undefined) { ok = false; break; } bytes.push(b); }
      if (ok) {
        try { return fatal.decode(new Uint8Array(bytes)); }
        catch (e) { return lenient.decode(new Uint8Array(bytes)); }   // a piece of a multi-byte character
      }
      return t.replace(/\u0120/g, ' ').replace(/\u010a/g, '\n').replace(/\u0109/g, '\t');
    }
    if (t.length > 2 && t.startsWith('##')) return '\u00b7' + t.slice(2);   // WordPiece continuation
    return t.replace(/\u2581/g, ' ');                                          // SentencePiece word start
  }
  const cache = new Map();
  return function display(t, maxLen) {
    t = t === null || t === undefined ? '' : String(t);
    const key = t + '\u0000' + (maxLen || 0);
    if (cache.has(key)) return cache.get(key);
    let s = decode(t)
      .replace(/ /g, '\u2423').replace(/\r/g, '\u240d').replace(/\n/g, '\u21b5').replace(/\t/g, '\u21e5')
      .replace(/[\u0000-\u001f\u007f]/g, c => '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0'));
    if (s === '') s = '\u2205';
    if (maxLen) { const cps = Array.from(s); if (cps.length > maxLen) s = cps.slice(0, maxLen - 1).join('') + '\u2026'; }
    cache.set(key, s);
    return s;
  };
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
"""

# --------------------------------------------------------------------------------------------
# Attention report
# --------------------------------------------------------------------------------------------

_ATTENTION_BODY = r"""
<header class="top">
  <h1>Attention analysis</h1>
  <dl class="meta" id="meta"></dl>
  <div class="textbox" id="input-text" title="analyzed text"></div>
</header>
<nav class="toc">
  <a href="#findings-section">Findings</a><a href="#views-section">Head view</a><a href="#modelview-section">Model view</a>
  <a href="#heads-section">Heads</a><a href="#hotspots-section">Hotspots</a><a href="#layers-section">Layers</a>
</nav>
<section id="findings-section"><h2>Findings</h2><ul class="findings" id="findings"></ul></section>
<section id="views-section">
  <h2>Head view</h2>
  <div id="no-patterns" class="notice" hidden>The attention matrices were not included in this analysis, so the head view,
    the heatmap and the model view thumbnails are not available. The tables below are complete.</div>
  <div id="views-body">
    <div class="controls" id="controls">
      <label>Layer <select id="layer-select"></select></label>
      <span>Heads <span class="chips" id="head-chips"></span></span>
      <button type="button" class="small" id="all-heads">all heads</button>
      <label title="hide links whose weight is below this value">min weight
        <input type="range" id="min-weight" min="0" max="0.5" step="0.01" value="0"><span id="min-weight-value">0.00</span></label>
      <label title="show weights on a square-root scale in the heatmaps, so small weights stay visible"><input type="checkbox" id="sqrt-scale"> &#8730; scale</label>
    </div>
    <p class="caption">Click a head chip to show it alone; shift- or ctrl-click to add or remove heads. Hover a token to
      highlight its links: left = query (attending) token, right = key (attended) token. Line opacity and width are the
      attention weight. <span id="token-legend"></span></p>
    <div class="views">
      <div class="panel">
        <p class="caption" id="headview-caption"></p>
        <svg id="headview" role="img" aria-label="head view"></svg>
      </div>
      <div class="panel heatwrap">
        <h3 id="heatmap-title"></h3>
        <p class="caption">Rows: query tokens, columns: key tokens. Hover a cell for its weight.</p>
        <div class="scroll-x"><canvas id="heatmap"></canvas></div>
        <div class="legend"><span>0</span><span class="bar"></span><span>1</span>
          <span class="masked" id="masked-swatch"></span><span id="masked-label">masked (causal)</span></div>
      </div>
    </div>
  </div>
</section>
<section id="modelview-section">
  <h2>Model view</h2>
  <p class="caption" id="modelview-caption">One thumbnail per analyzed head (rows: layers, columns: heads), framed in
    the color of its role. Click one to show it in the head view.</p>
  <div id="role-legend"></div>
  <div class="scroll-x"><div id="modelview"></div></div>
</section>
<section id="heads-section">
  <h2>Heads</h2>
  <div class="controls"><label>Role <select id="role-filter"><option value="">all roles</option></select></label>
    <span class="muted" id="heads-count"></span></div>
  <div class="tablewrap" id="heads-table"></div>
</section>
<section id="hotspots-section"><h2>Hotspots</h2><p class="caption">The strongest single query&#8594;key weights.</p>
  <div class="tablewrap" id="hotspots-table"></div></section>
<section id="layers-section"><h2>Layer summary</h2><div class="tablewrap" id="layers-table"></div></section>
<footer>Self-contained report: all data, styles and scripts are in this file and it makes no network request.</footer>
<div id="tooltip"></div>
"""

_ATTENTION_JS = r"""
(function main() {
  let D;
  try { D = readData(); } catch (e) { fail(e); return; }
  try { build(D); } catch (e) { fail(e); return; }
  document.body.dataset.ready = '1';
})();

function build(D) {
  const tokens = asArray(D.tokens).map(t => (t === null || t === undefined ? '' : String(t)));
  const display = makeTokenFormatter(tokens);
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
  const tokLabel = (i, maxLen) => (i < tokens.length ? display(tokens[i], maxLen) : '#' + i);
  const tokRaw = i => (i < tokens.length ? tokens[i] : '');
  const weight = (rows, q, k) => { const r = rows[q]; return r && k < r.length && isNum(r[k]) ? r[k] : 0; };
  const infoText = (l, h) => {
    const i = INFO.get(l + ':' + h);
    if (!i) return 'Layer ' + l + ', head ' + h;
    return 'Layer ' + l + ', head ' + h + ' \u2014 ' + roleLabel(i.role) + ' (score ' + fmt(i.role_score, 2) + '), entropy ' + fmt(i.entropy, 2);
  };

  const tl = byId('token-legend');
  tl.textContent = '\u2423 = space, \u21b5 = newline, \u00b7 = word continuation (##); the raw token is in the tooltip.';

  // ---------- findings ----------
  const fl = byId('findings');
  const findings = asArray(D.findings);
  if (findings.length === 0) fl.append(el('li', {class: 'muted', text: 'No findings.'}));
  for (const f of findings) fl.append(el('li', {text: f}));

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
  const tokCell = (pos, tok) => [isNum(pos) ? String(pos) + ' ' : '',
    el('span', {class: 'tok-inline', text: display(tok === null || tok === undefined ? (isNum(pos) ? tokRaw(pos) : '') : String(tok), 24),
                title: JSON.stringify(tok === null || tok === undefined ? (isNum(pos) ? tokRaw(pos) : '') : String(tok))})];
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
"""

# --------------------------------------------------------------------------------------------
# Comparison report
# --------------------------------------------------------------------------------------------

_COMPARISON_BODY = r"""
<header class="top">
  <h1>Attention comparison</h1>
  <dl class="meta" id="meta"></dl>
</header>
<nav class="toc">
  <a href="#findings-section">Findings</a><a href="#inputs-section">Inputs</a><a href="#agreement-section">Role agreement</a>
  <a href="#heads-section">Heads</a>
</nav>
<section id="findings-section"><h2>Findings</h2><ul class="findings" id="findings"></ul></section>
<section id="inputs-section"><h2>Inputs</h2><p class="caption">Each input has its own report with the attention views.</p>
  <div class="tablewrap" id="inputs-table"></div></section>
<section id="agreement-section">
  <h2>Role agreement</h2>
  <p class="caption">Layer &#215; head: the color is the fraction of inputs on which the head takes its consensus role
    (white = 0, green = 1); the label is the consensus role. Click a cell to find the head in the table.</p>
  <div id="role-legend"></div>
  <div class="scroll-x"><div id="agreement"></div></div>
</section>
<section id="heads-section"><h2>Heads</h2><div class="tablewrap" id="heads-table"></div></section>
<footer>Self-contained report: all data, styles and scripts are in this file and it makes no network request.</footer>
<div id="tooltip"></div>
"""

_COMPARISON_JS = r"""
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

  const fl = byId('findings');
  const findings = asArray(C.findings);
  if (findings.length === 0) fl.append(el('li', {class: 'muted', text: 'No findings.'}));
  for (const f of findings) fl.append(el('li', {text: f}));

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
"""
