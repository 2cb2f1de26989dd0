"""A self-contained HTML report of one or more ``Analysis`` results: per input a timeline per
modality and fused (absent modalities labelled), conflict scores, shifts, a time axis with
ticks, a valence/arousal chart with its scale, collapsible explanations and frame thumbnails
(inline SVG, no scripts)."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

from ..registry import MODALITIES
from ..schema import LABELS, Analysis, Segment

COLORS = {"neutral": "#9aa0a6", "happy": "#f4b400", "sad": "#4285f4", "angry": "#db4437",
          "fearful": "#8e44ad", "disgusted": "#0f9d58", "surprised": "#ff7f0e", "uncertain": "#e8eaed"}
ROWS = (*MODALITIES, "fused")
MAX_THUMBS = 300
WIDTH, ROW_H, LEFT, RIGHT = 1100, 26, 118, 14
VA_H = 150  # height of the valence/arousal chart

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#202124;max-width:1200px}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:22px 0 8px} section{margin-bottom:40px}
.meta{color:#5f6368} table{border-collapse:collapse;width:100%} td,th{border-bottom:1px solid #e0e0e0;
padding:4px 6px;vertical-align:top;text-align:left;font-size:13px} tr.conflict td{background:#fdecea}
.chip{display:inline-block;padding:0 6px;border-radius:8px;font-size:12px;color:#000}
.legend span{margin-right:10px} .summary{background:#f1f3f4;padding:10px 12px;border-radius:6px}
img.thumb{width:72px;border-radius:4px} .cite{color:#5f6368;font-size:11px}
svg.chart{width:100%;height:auto;display:block} details summary{cursor:pointer;color:#1a73e8}
details ul{margin:4px 0 0 0;padding-left:18px} nav a{margin-right:12px;overflow-wrap:anywhere}
@media (max-width:800px){body{margin:10px} td,th{font-size:12px;padding:3px} img.thumb{width:48px}}
"""


def _chip(label: str, conf: float | None = None) -> str:
    text = label if conf is None else f"{label} {conf:.2f}"
    return f'<span class="chip" style="background:{COLORS.get(label, "#ddd")}">{html.escape(text)}</span>'


def _clock(t: float) -> str:
    m, s = divmod(max(t, 0.0), 60)
    return f"{int(m)}:{s:02.0f}" if abs(s - round(s)) < 1e-6 else f"{int(m)}:{s:04.1f}"


def ticks(t_end: float, target: int = 10) -> list[float]:
    """Round tick positions from 0 to ``t_end`` (about ``target`` of them)."""
    raw = max(t_end, 1e-6) / target
    step = next(s for s in (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)
                if s >= raw) if raw <= 7200 else raw
    n = int(t_end / step + 1e-9)
    return [round(k * step, 6) for k in range(n + 1)]


class _Axis:
    """Maps segment positions to x pixels: media time, or utterance index for text/dialogue."""

    def __init__(self, analysis: Analysis):
        self.segs = analysis.segments
        self.ordinal = analysis.media.kind in ("text", "dialogue")
        self.t_end = float(len(self.segs)) if self.ordinal else (max((s.end for s in self.segs), default=1.0) or 1.0)

    def x(self, t: float) -> float:
        return LEFT + (WIDTH - LEFT - RIGHT) * t / self.t_end

    def span(self, i: int, seg: Segment) -> tuple[float, float]:
        return (i, i + 1) if self.ordinal else (seg.start, seg.end)

    def svg(self, y: float) -> list[str]:
        """Tick marks and labels below ``y``, with the axis title."""
        parts = [f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}" stroke="#5f6368"/>']
        if self.ordinal:
            step = max(1, round(len(self.segs) / 12))
            marks = [(i + 0.5, f"#{i + 1}") for i in range(0, len(self.segs), step)]
            title = "utterance"
        else:
            marks = [(t, _clock(t)) for t in ticks(self.t_end)]
            title = "time (m:ss)"
        for t, label in marks:
            px = self.x(t)
            parts.append(f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{y}" y2="{y + 5}" stroke="#5f6368"/>'
                         f'<text x="{px:.1f}" y="{y + 17}" font-size="13" text-anchor="middle">{label}</text>')
        parts.append(f'<text x="4" y="{y + 17}" font-size="13" fill="#5f6368">{title}</text>')
        return parts


def _timeline_svg(analysis: Analysis) -> str:
    """Label bars per modality and fused, a conflict-score row, a time axis with ticks."""
    ax = _Axis(analysis)
    rows = list(ROWS) + ["conflict"]
    axis_y = len(rows) * ROW_H + 4
    height = axis_y + 26
    parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
             f'width="{WIDTH}" height="{height}" role="img" aria-label="emotion timeline">']
    for r, row in enumerate(rows):
        parts.append(f'<text x="4" y="{r * ROW_H + 17}" font-size="13">{row}</text>')
        status = analysis.modalities.get(row, "present")
        if row in ROWS[:3] and status != "present":  # absent modality: labelled, hatched row
            parts.append(f'<rect x="{LEFT}" y="{r * ROW_H + 3}" width="{WIDTH - LEFT - RIGHT}" height="{ROW_H - 6}" '
                         f'fill="#f1f3f4"/><text x="{LEFT + 8}" y="{r * ROW_H + 17}" font-size="13" '
                         f'fill="#5f6368">absent — {html.escape(status)}</text>')
    conflict_row = len(ROWS) * ROW_H
    for i, seg in enumerate(ax.segs):
        t0, t1 = ax.span(i, seg)
        x0, w = ax.x(t0), max(ax.x(t1) - ax.x(t0) - 1, 1)
        for r, row in enumerate(ROWS):
            est = seg.fused if row == "fused" else seg.estimates.get(row)
            if est is None:
                continue
            opacity = 0.35 + 0.65 * est.confidence
            title = html.escape(f"{row} {est.label} {est.confidence:.2f} ({t0:.1f}-{t1:.1f})")
            parts.append(f'<rect x="{x0:.1f}" y="{r * ROW_H + 3}" width="{w:.1f}" '
                         f'height="{ROW_H - 6}" fill="{COLORS.get(est.label, "#ddd")}" fill-opacity="{opacity:.2f}">'
                         f"<title>{title}</title></rect>")
        if seg.conflict is not None:
            c = seg.conflict
            h = (ROW_H - 6) * c.score
            color = "#d93025" if c.flag else "#9aa0a6"
            parts.append(f'<rect x="{x0:.1f}" y="{conflict_row + ROW_H - 3 - h:.1f}" width="{w:.1f}" height="{h:.1f}" '
                         f'fill="{color}"><title>conflict score {c.score:.2f}{" (flagged)" if c.flag else ""} '
                         f'{html.escape(" vs ".join(c.modalities))}</title></rect>')
            if c.flag:
                parts.append(f'<rect x="{x0:.1f}" y="1" width="{w:.1f}" height="{len(ROWS) * ROW_H - 2}" fill="none" '
                             f'stroke="#d93025" stroke-width="2"><title>conflict: {html.escape(c.detail)}</title></rect>')
        if seg.shift:
            parts.append(f'<line x1="{x0:.1f}" x2="{x0:.1f}" y1="0" y2="{len(ROWS) * ROW_H}" '
                         f'stroke="#202124" stroke-dasharray="3,2"/>')
    parts += ax.svg(axis_y)
    parts.append("</svg>")
    return "".join(parts)


def _va_svg(analysis: Analysis) -> str:
    """Fused valence (solid) and arousal (dashed) on a -1..+1 scale over the same axis."""
    ax = _Axis(analysis)
    top, plot_h = 10, VA_H - 40
    y = lambda v: top + plot_h * (1 - v) / 2  # noqa: E731
    parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {VA_H}" width="{WIDTH}" '
             f'height="{VA_H}" role="img" aria-label="valence and arousal">',
             f'<text x="4" y="{y(0) + 4:.1f}" font-size="13">valence /</text>'
             f'<text x="4" y="{y(0) + 18:.1f}" font-size="13">arousal</text>']
    for v in (-1.0, -0.5, 0.0, 0.5, 1.0):
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
                     f'stroke="{"#9aa0a6" if v == 0 else "#e8eaed"}"/>'
                     f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" font-size="13" text-anchor="end">{v:+.1f}</text>')
    for dim, dash, color in (("valence", "", "#1a73e8"), ("arousal", ' stroke-dasharray="6,3"', "#e37400")):
        pts = [(ax.x(sum(ax.span(i, s)) / 2), y(getattr(s.fused, dim))) for i, s in enumerate(ax.segs)
               if s.fused is not None and getattr(s.fused, dim) is not None]
        if pts:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in pts)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"{dash}>'
                         f"<title>{dim}</title></polyline>")
            parts += [f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2.5" fill="{color}"/>' for px, py in pts]
    lx = WIDTH - RIGHT - 190
    parts.append(f'<line x1="{lx}" x2="{lx + 24}" y1="{top + 4}" y2="{top + 4}" stroke="#1a73e8" stroke-width="2"/>'
                 f'<text x="{lx + 28}" y="{top + 8}" font-size="13">valence</text>'
                 f'<line x1="{lx + 90}" x2="{lx + 114}" y1="{top + 4}" y2="{top + 4}" stroke="#e37400" '
                 f'stroke-width="2" stroke-dasharray="6,3"/><text x="{lx + 118}" y="{top + 8}" font-size="13">arousal</text>')
    parts += ax.svg(top + plot_h + 4)
    parts.append("</svg>")
    return "".join(parts)


def thumbnails(analysis: Analysis, height: int = 72) -> dict[int, str]:
    """Base64 JPEG thumbnails of the frame at each segment's midpoint (video/image inputs)."""
    from PIL import Image

    from ..errors import InputError
    from ..media import decode

    path = Path(analysis.media.path)
    if not analysis.media.has_video or not path.is_file():
        return {}
    segs = [(i, (s.start + s.end) / 2) for i, s in enumerate(analysis.segments)][:MAX_THUMBS]
    out: dict[int, str] = {}

    def encode(img) -> str:
        im = Image.fromarray(img)
        im.thumbnail((height * 4, height))
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=70)
        return base64.b64encode(buf.getvalue()).decode()

    try:
        if analysis.media.kind == "image":
            return {0: encode(decode.load_image(path))}
        pending = iter(segs)
        nxt = next(pending, None)
        for t, img in decode.iter_frames(path, fps=2.0, max_side=480):
            while nxt is not None and t + 0.25 >= nxt[1]:
                out[nxt[0]] = encode(img)
                nxt = next(pending, None)
            if nxt is None:
                break
    except InputError:
        return out
    return out


def _explanation_html(seg: Segment) -> str:
    exp = seg.explanation
    if exp is None:
        return ""
    sents = exp.observations + exp.interpretation + ([exp.conclusion] if exp.conclusion else [])
    items = "".join(f"<li>{html.escape(s.text)}</li>" for s in sents)
    return f"<details><summary>explanation ({len(sents)} sentences)</summary><ul>{items}</ul></details>"


def _segment_row(i: int, seg: Segment, thumb: str | None, ordinal: bool) -> str:
    when = f"#{i + 1}" if ordinal else f"{seg.start:.1f}–{seg.end:.1f} s"
    who = " · ".join(html.escape(x) for x in (seg.speaker, seg.track) if x)
    cells = [html.escape(when) + (f"<br>{who}" if who else "")]
    cells.append(f'<img class="thumb" alt="frame" src="data:image/jpeg;base64,{thumb}">' if thumb else "")
    for m in MODALITIES:
        e = seg.estimates.get(m)
        cells.append(_chip(e.label, e.confidence) if e else "–")
    cells.append(_chip(seg.fused.label, seg.fused.confidence) if seg.fused else "–")
    c = seg.conflict
    conflict = "–" if c is None else (f"{c.score:.2f}" + (f" <b>flagged</b><br>{html.escape(c.detail)}" if c.flag else ""))
    text = f"<i>{html.escape(seg.text)}</i>" if seg.text else ""
    cells += [conflict, text + _explanation_html(seg)]
    cls = ' class="conflict"' if c is not None and c.flag else ""
    return f"<tr{cls}>" + "".join(f"<td>{x}</td>" for x in cells) + "</tr>"


def _section(k: int, analysis: Analysis, with_thumbnails: bool) -> str:
    """One input's part of the report."""
    thumbs = thumbnails(analysis) if with_thumbnails else {}
    ordinal = analysis.media.kind in ("text", "dialogue")
    m = analysis.media
    dur = f"{m.duration:.1f} s" if m.duration else f"{len(analysis.segments)} {'utterances' if ordinal else 'segments'}"
    status = " · ".join(f"{x}: {html.escape(v)}" for x, v in analysis.modalities.items())
    models = ", ".join(html.escape(f"{x.name} {x.version}") for x in analysis.models) or "none"
    legend = "".join(f"<span>{_chip(x)}</span>" for x in list(LABELS) + ["uncertain"])
    summary = ""
    if analysis.summary:
        extra = ""
        if analysis.summary.open_labels:
            extra += f"<br>open labels: {html.escape(', '.join(analysis.summary.open_labels))}"
        if analysis.summary.reply:
            extra += f"<br>reply: {html.escape(analysis.summary.reply)}"
        summary = (f'<div class="summary">{html.escape(analysis.summary.text())}{extra}'
                   f'<div class="cite">source: {html.escape(analysis.summary.source)}</div></div>')
    n_conf = sum(1 for s in analysis.segments if s.conflict is not None and s.conflict.flag)
    rows = "".join(_segment_row(i, s, thumbs.get(i), ordinal) for i, s in enumerate(analysis.segments))
    return f"""<section id="input{k + 1}"><h1>{html.escape(Path(m.path).name)}</h1>
<div class="meta">{html.escape(m.path)} · {html.escape(m.kind)} · {dur} · {len(analysis.segments)} segments ·
{n_conf} flagged conflicts · models: {models}<br>{status}</div>
<h2>Summary</h2>{summary or "<p>No estimates.</p>"}
<h2>Timeline</h2><div class="legend">{legend}</div>
{_timeline_svg(analysis)}
<div class="meta">Bars: label colour, opacity = confidence; grey rows: modality absent (reason shown);
conflict row: score 0–1 as bar height, red = flagged, which also outlines the segment; dashed line = emotion shift.</div>
<h2>Valence and arousal (fused)</h2>
{_va_svg(analysis)}
<h2>Segments</h2><table><tr><th>{"utterance" if ordinal else "time"}</th><th>frame</th><th>face</th><th>voice</th>
<th>text</th><th>fused</th><th>conflict score</th><th>words · explanation</th></tr>{rows}</table></section>"""


def render(analysis: Analysis | list[Analysis], with_thumbnails: bool = True) -> str:
    """The report of one analysis, or of every analysis in a list, as one HTML string."""
    analyses = analysis if isinstance(analysis, list) else [analysis]
    nav = ""
    if len(analyses) > 1:
        nav = "<nav>" + "".join(f'<a href="#input{k + 1}">{html.escape(Path(a.media.path).name)}</a>'
                                for k, a in enumerate(analyses)) + "</nav>"
    title = Path(analyses[0].media.path).name if len(analyses) == 1 else f"{len(analyses)} inputs"
    body = "".join(_section(k, a, with_thumbnails) for k, a in enumerate(analyses))
    version = analyses[0].affectlens_version if analyses else ""
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>affectlens report — {html.escape(title)}</title><style>{CSS}</style></head><body>
{nav}{body}
<p class="meta">affectlens {html.escape(version)} — estimates are calibrated guesses, not facts.</p>
</body></html>"""


def write_report(result_json: str | Path, out: str | Path) -> Path:
    """Read an ``affectlens analyze`` JSON (a list of analyses, or one) and write HTML for all of them."""
    import json

    from ..errors import InputError

    src = Path(result_json)
    try:
        data = json.loads(src.read_text())
    except FileNotFoundError:
        raise InputError(src, "file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InputError(src, "not a JSON file") from None
    items = data if isinstance(data, list) else [data]
    try:
        analyses = [Analysis.model_validate(x) for x in items]
    except ValueError:
        raise InputError(src, "not an affectlens analysis JSON") from None
    if not analyses:
        raise InputError(src, "holds no analysis")
    out = Path(out)
    out.write_text(render(analyses))
    return out
