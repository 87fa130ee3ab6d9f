"""One self-contained HTML page for the zoo's leaderboard: `write_report`.

The page opens without a network: its CSS and its small sorting script are inline, the
scatter plots are inline SVG drawn here, and pictures are embedded as base64 data URIs. Every
string taken from the rows is escaped, since model names and error messages come from users.
"""

from __future__ import annotations

import base64
import html
import math
import os
from pathlib import Path

from genzoo._files import atomic_write_text

__all__ = ["BITS_PER_DIM_NOTE", "KIND_EXPLANATIONS", "METRICS", "write_report"]

KIND_EXPLANATIONS = {
    "exact": "comparable with the other exact values",
    "lower bound": "an ELBO or similar: understates the true log-likelihood",
    "estimate": "stochastic (AIS, importance sampling): noisy, compare with care",
    "none": "the model has no likelihood, compare it by sample quality",
}
BITS_PER_DIM_NOTE = (
    "Bits per dimension is the negative log-likelihood in bits divided by the number of "
    "dimensions: lower is better. Continuous models on discrete data are scored on uniformly "
    "dequantized data, which gives a lower bound on their discrete likelihood (Theis et al., "
    "2016, A note on the evaluation of generative models)."
)
# key: (column label, the better direction or None, what it measures), in column order
METRICS = {
    "log_likelihood": ("log-lik.", "higher", "mean held-out nats per example (discrete data)"),
    "log_likelihood_per_token": ("log-lik./token", "higher", "held-out nats per token"),
    "log_density": ("log-density", "higher", "mean held-out nats per example (continuous)"),
    "bits_per_dim": ("bits/dim", "lower", "negative log-likelihood in bits per dimension"),
    "bayes_accuracy": ("Bayes acc.", "higher", "the model as a Bayes-rule classifier"),
    "logistic_accuracy": ("logistic acc.", "higher", "logistic regression, same split"),
    "fid": ("FID", "lower", "Fréchet distance of sample and real features"),
    "precision": ("precision", "higher", "share of samples near real data"),
    "recall": ("recall", "higher", "share of real data near samples"),
    "density": ("density", "higher", "how densely samples fill the real data's neighbourhoods"),
    "coverage": ("coverage", "higher", "share of real neighbourhoods holding a sample"),
    "mmd": ("MMD", "lower", "maximum mean discrepancy of samples and held-out data"),
    "sliced_wasserstein": ("sliced W.", "lower", "sliced Wasserstein distance to held-out data"),
    "memorization": ("memorization", None, "about 0.5 for fresh samples, 1 for copies"),
    "fit_seconds": ("fit s", "lower", "seconds the fit took"),
    "seeds": ("seeds", None, "repeats; figures are mean ± standard deviation over them"),
}
_ARROWS = {"higher": "↑", "lower": "↓", None: ""}
_NOT_COLUMNS = {"dataset", "support", "picture"}  # shown elsewhere on the page
# Likelihood against sample quality: the first pair with 2 or more models is plotted.
_PLOT_X = ("bits_per_dim", "log_density", "log_likelihood")
_PLOT_Y = ("fid", "mmd")
_PALETTE = (  # matplotlib's tab10
    "#1f77b4 #ff7f0e #2ca02c #d62728 #9467bd #8c564b #e377c2 #7f7f7f #bcbd22 #17becf".split()
)
_WIDTH, _HEIGHT = 640, 400
_LEFT, _RIGHT, _TOP, _BOTTOM = 70, 610, 20, 350  # the plot area inside the SVG
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em auto;max-width:1400px;padding:0 1em;
color:#222}
h2{border-bottom:2px solid #ccc;margin-top:2em}h2 small{color:#666;font-weight:normal}
table{border-collapse:collapse;margin:.5em 0}th,td{padding:3px 8px;border-bottom:1px solid #ddd}
th{background:#f0f0f0;cursor:pointer;user-select:none;white-space:nowrap;text-align:left}
th[aria-sort=ascending]::after{content:" ▲"}th[aria-sort=descending]::after{content:" ▼"}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.std,.floor{color:#777;font-size:90%}.empty{color:#bbb;text-align:center}
tr.failed td{color:#999}td.failed{color:#b00}
.pictures{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:12px}
figure{margin:0}figure img{width:100%;border:1px solid #ddd}
figcaption{text-align:center;font-size:90%}.missing div{border:1px dashed #bbb;color:#999;
padding:3em 0;text-align:center}.scatter text{font-size:11px}.scatter .frame{fill:none;
stroke:#999}.scatter line{stroke:#999}.swatch{display:inline-block;width:10px;height:10px;
border-radius:5px;margin:0 4px 0 12px}.legend{background:#f8f8f8;padding:.5em 1em}
"""
# Sort a table by the clicked column: ascending, then descending; empty cells always last.
_SCRIPT = """
function sortTable(table, th) {
  var col = Array.prototype.indexOf.call(th.parentNode.children, th);
  var asc = th.getAttribute("aria-sort") !== "ascending";
  var numeric = th.dataset.type === "number";
  table.querySelectorAll("thead th").forEach(function (h) { h.removeAttribute("aria-sort"); });
  th.setAttribute("aria-sort", asc ? "ascending" : "descending");
  var rows = Array.from(table.tBodies[0].rows).map(function (row) {
    var cell = row.cells[col];
    var key = cell.dataset.sort !== undefined ? cell.dataset.sort : cell.textContent.trim();
    return {row: row, key: numeric && key !== "" ? Number(key) : key};
  });
  rows.sort(function (a, b) {
    if (a.key === "" || b.key === "") { return (a.key === "") - (b.key === ""); }
    var order = numeric ? a.key - b.key : String(a.key).localeCompare(String(b.key));
    return asc ? order : -order;
  });
  rows.forEach(function (item) { table.tBodies[0].appendChild(item.row); });
}
document.querySelectorAll("table.board thead th").forEach(function (th) {
  var table = th.closest("table");
  th.addEventListener("click", function () { sortTable(table, th); });
  th.addEventListener("keydown", function (event) {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      sortTable(table, th);
    }
  });
});
"""


def write_report(rows: list[dict], out: str | os.PathLike, *, title: str = "genzoo zoo") -> Path:
    """Write the leaderboard `rows` as one self-contained page, ``out/report.html``.

    Per data set the page has a table sortable by any column (click a header), a scatter of
    likelihood against sample quality coloured by family, and each model's sample picture
    beside the real data's (``real_<dataset>.png`` in `out`); then a list of the failed runs.
    The file is written atomically, so a reader finds the old page or the new one.

    Parameters
    ----------
    rows : list of dict
        Leaderboard rows as `genzoo.zoo.run_zoo` returns them (or as read back from
        leaderboard.json). Only "model", "family", "dataset" and "status" are expected;
        any value may be None. ``<metric>_std`` and ``<metric>_floor`` are shown in the cell
        of ``<metric>``; "picture" names a PNG in `out`.
    out : str or path-like
        The folder of the zoo's output; created if missing.
    title : str, default="genzoo zoo"

    Returns
    -------
    Path
        ``out/report.html``.

    Examples
    --------
    >>> import tempfile
    >>> row = {"model": "gmm", "family": "mixture", "dataset": "moons", "status": "ok"}
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     write_report([row], folder).name
    'report.html'
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = [_without_nan(row) for row in rows]
    families = sorted({_text(row.get("family")) for row in rows})
    colours = {family: _PALETTE[i % len(_PALETTE)] for i, family in enumerate(families)}
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(_text(row.get("dataset")), []).append(row)
    sections = [
        _dataset_section(i, name, group, out, colours)
        for i, (name, group) in enumerate(groups.items())
    ]
    page = [
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<link rel="icon" href="data:,"><title>{_esc(title)}</title><style>{_STYLE}</style>',
        f"</head><body><h1>{_esc(title)}</h1>",
        _summary(rows, groups),
        _legend(rows),
        *sections,
        _failures(rows),
        f"<script>{_SCRIPT}</script></body></html>\n",
    ]
    return atomic_write_text(out / "report.html", "\n".join(page))


# --- text and numbers


def _esc(value) -> str:
    return html.escape(str(value), quote=True)


def _text(value) -> str:
    return "—" if value is None else str(value)


def _without_nan(row: dict) -> dict:
    """The row with NaN values as None: both mean that nothing was measured."""
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _fmt(value) -> str:
    """A number to 4 significant digits (integers in full)."""
    return str(value) if isinstance(value, int) else f"{value:.4g}"


def _sort_key(value) -> str:
    """The number as JavaScript's Number() reads it."""
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(value)


def _failed(row: dict) -> bool:
    return row.get("status") != "ok"


# --- page parts


def _summary(rows: list[dict], groups: dict[str, list[dict]]) -> str:
    models = {row.get("model") for row in rows}
    links = ", ".join(f'<a href="#dataset-{i}">{_esc(name)}</a>' for i, name in enumerate(groups))
    n_failed = sum(_failed(row) for row in rows)
    return (
        f"<p>{len(rows)} runs of {len(models)} models on {len(groups)} data sets "
        f'(<a href="#failures">{n_failed} failed</a>): {links}.</p>'
    )


def _legend(rows: list[dict]) -> str:
    """How to read the figures: likelihood kinds, bits/dim, and each metric's direction."""
    kinds = "; ".join(f"<b>{k}</b>: {_esc(v)}" for k, v in KIND_EXPLANATIONS.items())
    present = {key for row in rows for key, value in row.items() if value is not None}
    metrics = "; ".join(
        f"<b>{_esc(label)}</b> {_ARROWS[better]} {_esc(note)}"
        for key, (label, better, note) in METRICS.items()
        if key in present
    )
    return (
        '<section class="legend"><h3>How to read this page</h3>'
        f"<p><i>Likelihood kinds</i>: {kinds}</p><p>{_esc(BITS_PER_DIM_NOTE)}</p>"
        f"<p><i>Columns</i> (↑ higher is better, ↓ lower is better): {metrics}.</p>"
        "<p>A figure shown as <i>mean ± std</i> is over seeds; <i>(floor x)</i> is the same "
        "metric for real data: held-out real rows (from the training part, as many as the "
        "samples) against the test part, which is what a model drawing from the data's own "
        "distribution would score. Click a column header to sort by it.</p></section>"
    )


def _dataset_section(index: int, name: str, rows: list[dict], out: Path, colours) -> str:
    supports = sorted({str(row["support"]) for row in rows if row.get("support") is not None})
    support = f" <small>{_esc(', '.join(supports))}</small>" if supports else ""
    return "\n".join(
        [
            f'<section class="dataset"><h2 id="dataset-{index}">{_esc(name)}{support}</h2>',
            _table(rows),
            _scatter(rows, colours),
            _pictures(name, rows, out),
            "</section>",
        ]
    )


def _columns(rows: list[dict]) -> list[str]:
    """Keys with a value in some row, in METRICS order then first seen; std and floor fold in."""
    keys = list(dict.fromkeys(key for row in rows for key in row))
    with_value = {key for row in rows for key, value in row.items() if value is not None}

    def folded(key: str) -> bool:
        base, _, suffix = key.rpartition("_")
        return suffix in ("std", "floor") and base in keys

    fixed = {"model", "family", "status", *_NOT_COLUMNS}
    shown = [k for k in keys if k in with_value and k not in fixed and not folded(k)]
    order = {key: i for i, key in enumerate(["likelihood_kind", *METRICS])}
    return ["model", "family", *sorted(shown, key=lambda k: order.get(k, len(order))), "status"]


def _table(rows: list[dict]) -> str:
    columns = _columns(rows)
    head = []
    for key in columns:
        label, better, note = METRICS.get(key, (key.replace("_", " "), None, ""))
        numeric = all(_is_number(row.get(key)) for row in rows if row.get(key) is not None)
        kind = ' data-type="number"' if numeric and key != "status" else ""
        tip = f"{note}; {better} is better" if better else note
        head.append(
            f'<th data-key="{_esc(key)}"{kind} title="{_esc(tip)}" tabindex="0">'
            f"{_esc(label)} {_ARROWS[better]}</th>"
        )
    body = [
        ('<tr class="failed">' if _failed(row) else "<tr>")
        + "".join(_cell(row, key) for key in columns)
        + "</tr>"
        for row in rows
    ]
    return (
        f'<table class="board"><thead><tr>{"".join(head)}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _cell(row: dict, key: str) -> str:
    value = row.get(key)
    if key == "likelihood_kind" and (value is not None or not _failed(row)):
        return f"<td>{_esc('none' if value is None else str(value).replace('_', ' '))}</td>"
    if key == "status" and _failed(row):
        reason = _text(value)
        return (
            f'<td class="failed" title="{_esc(reason)}">'
            f'<a href="#failures">{_esc(reason.split(":")[0][:40])}</a></td>'
        )
    if value is None:
        return '<td class="empty" data-sort="">—</td>'
    if not _is_number(value):
        return f"<td>{_esc(value)}</td>"
    parts = [_fmt(value)]
    std, floor = row.get(f"{key}_std"), row.get(f"{key}_floor")
    if _is_number(std):
        parts.append(f'<span class="std">± {_fmt(std)}</span>')
    if _is_number(floor):
        parts.append(f'<span class="floor">(floor {_fmt(floor)})</span>')
    return f'<td class="num" data-sort="{_sort_key(value)}">{" ".join(parts)}</td>'


def _failures(rows: list[dict]) -> str:
    items = "".join(
        f"<li><b>{_esc(_text(row.get('model')))}</b> on {_esc(_text(row.get('dataset')))}: "
        f"<code>{_esc(row.get('status') or 'no status recorded')}</code></li>"
        for row in rows
        if _failed(row)
    )
    listing = f"<ul>{items}</ul>" if items else "<p>None: every run finished.</p>"
    return f'<section id="failures"><h2>Failed runs</h2>{listing}</section>'


# --- pictures


def _data_uri(out: Path, name) -> str | None:
    """The PNG `name` inside `out` as a data URI; None if missing, outside `out` or no PNG."""
    try:
        path = (out / str(name)).resolve()
        inside = path.is_relative_to(out.resolve())
        data = path.read_bytes() if inside and path.is_file() else b""
    except (OSError, ValueError):  # unreadable, or a name the file system refuses
        return None
    if not data.startswith(_PNG_MAGIC):
        return None
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _figure(uri: str | None, caption: str) -> str:
    if uri is None:
        shown, kind = "<div>picture missing</div>", ' class="missing"'
    else:
        shown, kind = f'<img src="{uri}" alt="{caption}">', ""
    return f"<figure{kind}>{shown}<figcaption>{caption}</figcaption></figure>"


def _pictures(dataset: str, rows: list[dict], out: Path) -> str:
    """The real data's picture, if the zoo wrote one, then each model's samples."""
    real = _data_uri(out, f"real_{dataset}.png")
    figures = [_figure(real, "real data")] if real else []
    figures += [
        _figure(_data_uri(out, row["picture"]), _esc(_text(row.get("model"))))
        for row in rows
        if row.get("picture") is not None
    ]
    return f'<h3>Samples</h3><div class="pictures">{"".join(figures)}</div>' if figures else ""


# --- scatter of likelihood against sample quality, as inline SVG


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About `n` round numbers (steps of 1, 2, 2.5 or 5 times a power of 10) in [lo, hi]."""
    raw = (hi - lo) / n
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _axis(values: list[float]):
    """Map values to [0, 1] (on a log scale when positive over 2+ decades); return the ticks."""
    log = min(values) > 0 and max(values) >= 100 * min(values)
    scaled = [math.log10(v) for v in values] if log else values
    lo, hi = min(scaled), max(scaled)
    pad = (hi - lo) * 0.08 or abs(lo) * 0.1 or 1.0
    lo, hi = lo - pad, hi + pad

    def fraction(value: float) -> float:
        value = math.log10(max(value, 1e-300)) if log else value
        return min(max((value - lo) / (hi - lo), 0.0), 1.0)

    if log:  # one tick per power of 10
        ticks = [(10.0**k, f"{10.0**k:g}") for k in range(math.ceil(lo), math.floor(hi) + 1)]
    else:
        ticks = [(t, _fmt(t)) for t in _nice_ticks(lo, hi)]
    return fraction, ticks, log


def _axis_title(key: str, log: bool) -> str:
    label, better, _ = METRICS[key]
    return f"{label} ({better} is better{', log scale' if log else ''})"


def _scatter(rows: list[dict], colours: dict[str, str]) -> str:
    """The first (likelihood, quality) pair that 2 or more finished runs have, plotted."""
    for x_key in _PLOT_X:
        for y_key in _PLOT_Y:
            points = [
                row
                for row in rows
                if not _failed(row)
                and all(_is_number(row.get(k)) and math.isfinite(row[k]) for k in (x_key, y_key))
            ]
            if len(points) >= 2:
                return _svg(points, x_key, y_key, colours)
    return ""


def _svg(points: list[dict], x_key: str, y_key: str, colours: dict[str, str]) -> str:
    fx, x_ticks, x_log = _axis([row[x_key] for row in points])
    fy, y_ticks, y_log = _axis([row[y_key] for row in points])

    def px(value: float) -> float:
        return round(_LEFT + (_RIGHT - _LEFT) * fx(value), 1)

    def py(value: float) -> float:
        return round(_BOTTOM - (_BOTTOM - _TOP) * fy(value), 1)

    parts = [
        f'<svg class="scatter" viewBox="0 0 {_WIDTH} {_HEIGHT}" width="{_WIDTH}" '
        f'height="{_HEIGHT}" role="img" aria-label="{x_key} against {y_key}">',
        f'<rect class="frame" x="{_LEFT}" y="{_TOP}" width="{_RIGHT - _LEFT}" '
        f'height="{_BOTTOM - _TOP}"/>',
    ]
    for value, label in x_ticks:
        x = px(value)
        parts.append(f'<line x1="{x}" x2="{x}" y1="{_BOTTOM}" y2="{_BOTTOM + 5}"/>')
        parts.append(f'<text x="{x}" y="{_BOTTOM + 18}" text-anchor="middle">{label}</text>')
    for value, label in y_ticks:
        y = py(value)
        parts.append(f'<line x1="{_LEFT - 5}" x2="{_LEFT}" y1="{y}" y2="{y}"/>')
        parts.append(f'<text x="{_LEFT - 8}" y="{y + 4}" text-anchor="end">{label}</text>')
    parts.append(
        f'<text x="{(_LEFT + _RIGHT) / 2}" y="{_HEIGHT - 12}" text-anchor="middle">'
        f"{_esc(_axis_title(x_key, x_log))}</text>"
        f'<text transform="translate(16 {(_TOP + _BOTTOM) / 2}) rotate(-90)" '
        f'text-anchor="middle">{_esc(_axis_title(y_key, y_log))}</text>'
    )
    for row in points:
        parts.append(_point(row, x_key, y_key, px, py, colours))
    parts.append("</svg>")
    families = sorted({_text(row.get("family")) for row in points})
    legend = "".join(
        f'<span class="swatch" style="background:{colours[f]}"></span>{_esc(f)}' for f in families
    )
    return f"<h3>Likelihood against sample quality</h3>{''.join(parts)}<p>{legend}</p>"


def _point(row: dict, x_key: str, y_key: str, px, py, colours: dict[str, str]) -> str:
    """One model: a dot, its name, and whiskers of ± one standard deviation over seeds."""
    x, y = px(row[x_key]), py(row[y_key])
    colour = colours[_text(row.get("family"))]
    parts = []
    x_std, y_std = row.get(f"{x_key}_std"), row.get(f"{y_key}_std")
    if _is_number(x_std):
        left, right = px(row[x_key] - x_std), px(row[x_key] + x_std)
        parts.append(f'<line x1="{left}" x2="{right}" y1="{y}" y2="{y}" stroke="{colour}"/>')
    if _is_number(y_std):
        low, high = py(row[y_key] - y_std), py(row[y_key] + y_std)
        parts.append(f'<line x1="{x}" x2="{x}" y1="{low}" y2="{high}" stroke="{colour}"/>')
    name = _esc(_text(row.get("model")))
    anchor, dx = ("end", -7) if x > _LEFT + 0.75 * (_RIGHT - _LEFT) else ("start", 7)
    parts.append(
        f'<circle cx="{x}" cy="{y}" r="5" fill="{colour}"><title>{name}: {x_key} '
        f"{_fmt(row[x_key])}, {y_key} {_fmt(row[y_key])}</title></circle>"
        f'<text x="{x + dx}" y="{y - 6}" text-anchor="{anchor}">{name}</text>'
    )
    return "".join(parts)
