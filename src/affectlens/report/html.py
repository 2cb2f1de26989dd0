"""A self-contained HTML report of an ``Analysis``: timeline per modality and fused, conflicts,
shifts, valence/arousal curve, explanations and frame thumbnails (inline SVG, no scripts)."""

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
WIDTH, ROW_H, LEFT = 1100, 26, 70

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#202124;max-width:1200px}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:22px 0 8px}
.meta{color:#5f6368} table{border-collapse:collapse;width:100%} td,th{border-bottom:1px solid #e0e0e0;
padding:4px 6px;vertical-align:top;text-align:left;font-size:13px} tr.conflict td{background:#fdecea}
.chip{display:inline-block;padding:0 6px;border-radius:8px;font-size:12px;color:#000}
.legend span{margin-right:10px} .summary{background:#f1f3f4;padding:10px 12px;border-radius:6px}
img.thumb{width:72px;border-radius:4px} .cite{color:#5f6368;font-size:11px}
"""


def _chip(label: str, conf: float | None = None) -> str:
    text = label if conf is None else f"{label} {conf:.2f}"
    return f'<span class="chip" style="background:{COLORS.get(label, "#ddd")}">{html.escape(text)}</span>'


def _timeline_svg(analysis: Analysis) -> str:
    segs = analysis.segments
    t_end = max((s.end for s in segs), default=1.0) or 1.0
    ordinal = analysis.media.kind in ("text", "dialogue")
    if ordinal:  # utterances are shown side by side
        t_end = float(len(segs))
    x = lambda t: LEFT + (WIDTH - LEFT - 10) * t / t_end  # noqa: E731
    va_top = len(ROWS) * ROW_H + 20
    height = va_top + 90
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" role="img" '
             f'aria-label="emotion timeline">']
    for r, row in enumerate(ROWS):
        parts.append(f'<text x="4" y="{r * ROW_H + 17}" font-size="12">{row}</text>')
    span = lambda i, s: (i, i + 1) if ordinal else (s.start, s.end)  # noqa: E731
    for i, seg in enumerate(segs):
        t0, t1 = span(i, seg)
        for r, row in enumerate(ROWS):
            est = seg.fused if row == "fused" else seg.estimates.get(row)
            if est is None:
                continue
            opacity = 0.35 + 0.65 * est.confidence
            title = html.escape(f"{row} {est.label} {est.confidence:.2f} ({t0:.1f}-{t1:.1f})")
            parts.append(f'<rect x="{x(t0):.1f}" y="{r * ROW_H + 3}" width="{max(x(t1) - x(t0) - 1, 1):.1f}" '
                         f'height="{ROW_H - 6}" fill="{COLORS.get(est.label, "#ddd")}" fill-opacity="{opacity:.2f}">'
                         f"<title>{title}</title></rect>")
        if seg.conflict is not None and seg.conflict.flag:
            parts.append(f'<rect x="{x(t0):.1f}" y="1" width="{max(x(t1) - x(t0) - 1, 1):.1f}" '
                         f'height="{len(ROWS) * ROW_H - 2}" fill="none" stroke="#d93025" stroke-width="2">'
                         f"<title>conflict: {html.escape(seg.conflict.detail)}</title></rect>")
        if seg.shift:
            parts.append(f'<line x1="{x(t0):.1f}" x2="{x(t0):.1f}" y1="0" y2="{len(ROWS) * ROW_H}" '
                         f'stroke="#202124" stroke-dasharray="3,2"/>')
    # fused valence (solid) and arousal (dashed) in [-1, 1]
    y = lambda v: va_top + 40 - 38 * v  # noqa: E731
    parts.append(f'<text x="4" y="{va_top + 44}" font-size="12">V / A</text>'
                 f'<line x1="{LEFT}" x2="{WIDTH - 10}" y1="{y(0)}" y2="{y(0)}" stroke="#ccc"/>')
    for dim, dash in (("valence", ""), ("arousal", ' stroke-dasharray="5,3"')):
        pts = [(x(sum(span(i, s)) / 2), y(getattr(s.fused, dim))) for i, s in enumerate(segs)
               if s.fused is not None and getattr(s.fused, dim) is not None]
        if len(pts) >= 2:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in pts)
            parts.append(f'<polyline points="{path}" fill="none" stroke="#3c4043" stroke-width="1.5"{dash}>'
                         f"<title>{dim}</title></polyline>")
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


def _segment_row(i: int, seg: Segment, thumb: str | None, ordinal: bool) -> str:
    when = f"#{i + 1}" if ordinal else f"{seg.start:.1f}–{seg.end:.1f} s"
    cells = [html.escape(when) + (f"<br>{html.escape(seg.speaker)}" if seg.speaker else "")]
    cells.append(f'<img class="thumb" alt="frame" src="data:image/jpeg;base64,{thumb}">' if thumb else "")
    for m in MODALITIES:
        e = seg.estimates.get(m)
        cells.append(_chip(e.label, e.confidence) if e else "–")
    cells.append(_chip(seg.fused.label, seg.fused.confidence) if seg.fused else "–")
    conflict = seg.conflict.detail if seg.conflict is not None and seg.conflict.flag else ""
    text = f"<i>{html.escape(seg.text)}</i><br>" if seg.text else ""
    if seg.explanation:
        text += html.escape(seg.explanation.text())
    cells += [html.escape(conflict), text]
    cls = ' class="conflict"' if conflict else ""
    return f"<tr{cls}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def render(analysis: Analysis, with_thumbnails: bool = True) -> str:
    """The report as one HTML string."""
    thumbs = thumbnails(analysis) if with_thumbnails else {}
    ordinal = analysis.media.kind in ("text", "dialogue")
    m = analysis.media
    dur = f"{m.duration:.1f} s" if m.duration else f"{len(analysis.segments)} utterances"
    status = " · ".join(f"{k}: {html.escape(v)}" for k, v in analysis.modalities.items())
    models = ", ".join(html.escape(f"{x.name} {x.version}") for x in analysis.models) or "none"
    legend = "".join(f"<span>{_chip(k)}</span>" for k in list(LABELS) + ["uncertain"])
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
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>affectlens report — {html.escape(Path(m.path).name)}</title><style>{CSS}</style></head><body>
<h1>{html.escape(Path(m.path).name)}</h1>
<div class="meta">{html.escape(m.kind)} · {dur} · {len(analysis.segments)} segments · {n_conf} conflicts ·
models: {models}<br>{status}</div>
<h2>Summary</h2>{summary or "<p>No estimates.</p>"}
<h2>Timeline</h2><div class="legend">{legend}</div>
{_timeline_svg(analysis)}
<div class="meta">Bars: label colour, opacity = confidence; red outline = modalities disagree; dashed line = emotion shift;
curves: fused valence (solid) and arousal (dashed).</div>
<h2>Segments</h2><table><tr><th>time</th><th>frame</th><th>face</th><th>voice</th><th>text</th><th>fused</th>
<th>conflict</th><th>words · explanation</th></tr>{rows}</table>
<p class="meta">affectlens {html.escape(analysis.affectlens_version)} — estimates are calibrated guesses, not facts.</p>
</body></html>"""


def write_report(result_json: str | Path, out: str | Path) -> Path:
    """Read an ``affectlens analyze`` JSON (one analysis, or the first of a list) and write HTML."""
    import json

    from ..errors import InputError

    src = Path(result_json)
    try:
        data = json.loads(src.read_text())
    except FileNotFoundError:
        raise InputError(src, "file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InputError(src, "not a JSON file") from None
    if isinstance(data, list):
        data = data[0] if data else {}
    try:
        analysis = Analysis.model_validate(data)
    except ValueError:
        raise InputError(src, "not an affectlens analysis JSON") from None
    out = Path(out)
    out.write_text(render(analysis))
    return out
