"""Command line: ``affectlens analyze | eval | bench | schema`` (thin: parse, call the library)."""

from __future__ import annotations

import argparse
import json
from contextlib import contextmanager
from pathlib import Path

from .version import __version__
from .config import data_root
from .registry import MODALITIES, SPECS

#: ``affectlens eval`` task -> analyzer key, from the modality specs (``av`` is the fused task)
ANALYZER_FOR_TASK = {task: key for spec in SPECS.values() for task, key in spec.eval_tasks.items()}
EVAL_TASKS = (*ANALYZER_FOR_TASK, "av")


def _console(stderr: bool = False):
    import os

    from rich.console import Console

    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 160  # pipes and files: do not wrap at 80 columns
    return console


def _fail(msg: str) -> None:
    from rich.markup import escape

    _console(stderr=True).print(f"[red]error:[/red] {escape(msg)}", highlight=False, soft_wrap=True)


@contextmanager
def _progress(label: str):
    """A rich progress bar on stderr (only when it is a terminal); yields ``update(done, total)``."""
    with _bar() as bar:
        task = bar.add_task(label, total=None)

        def update(done: float, total: float) -> None:
            bar.update(task, completed=done, total=total or None)

        yield update


def _bar():
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    console = _console(stderr=True)
    return Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                    TimeRemainingColumn(), console=console, transient=True, disable=not console.is_terminal)


class _ProgressHook:
    """An ``Engine`` hook drawing one progress bar per input (on a terminal's stderr)."""

    def __init__(self, bar) -> None:
        self.bar, self.task = bar, None

    def __call__(self, step: str, payload, completed: float | None = None, total: float | None = None) -> None:
        if step == "probe":
            self.task = self.bar.add_task(f"analyzing {Path(payload.path).name}", total=None)
        elif step == "segments" and self.task is not None:
            self.bar.update(self.task, completed=completed, total=total or None)
        elif step == "done" and self.task is not None:
            self.bar.remove_task(self.task)
            self.task = None


# ------------------------------------------------------------------ analyze
def _timeline_table(analysis):
    from rich.table import Table

    table = Table(title=f"{analysis.media.path} ({analysis.media.kind})", title_justify="left")
    table.add_column("time", no_wrap=True, min_width=15)
    table.add_column("kind", no_wrap=True, min_width=6)
    mods = [m for m, s in analysis.modalities.items() if s == "present"]
    for m in mods:
        table.add_column(m)
    table.add_column("fused")
    table.add_column("V/A", no_wrap=True)
    has_text = any(s.text for s in analysis.segments)
    if has_text:
        table.add_column("text", overflow="fold", max_width=48)
    ordinal = analysis.media.kind in ("text", "dialogue")
    for seg in analysis.segments:
        when = f"#{int(seg.start) + 1}" if ordinal else f"{_clock(seg.start)}–{_clock(seg.end)}"
        cells = [when, seg.kind + (f" {seg.speaker}" if seg.speaker else "")]
        for m in mods:
            e = seg.estimates.get(m)
            cells.append(f"{e.label} {e.confidence:.2f}" if e else "–")
        f = seg.fused
        cells.append(f"{f.label} {f.confidence:.2f}" if f else "–")
        va = f"{f.valence:+.2f}/{f.arousal:+.2f}" if f and f.valence is not None and f.arousal is not None else "–"
        cells.append(va)
        if has_text:
            cells.append(seg.text or "")
        table.add_row(*cells)
    return table


def _clock(t: float) -> str:
    m, s = divmod(t, 60)
    return f"{int(m):02d}:{s:04.1f}"


def _request(args):
    """The ``AnalysisRequest`` of ``analyze``'s options, or ``None`` after printing why not."""
    from pydantic import ValidationError

    from .engine import AnalysisRequest

    llm_cfg = None
    if args.llm:
        from .reason.llm import LLMConfig

        if not args.llm_model:
            _fail("--llm needs --llm-model NAME")
            return None
        llm_cfg = LLMConfig(url=args.llm, model=args.llm_model, timeout=args.llm_timeout)
    try:
        return AnalysisRequest(fps=args.fps, modalities=args.modalities, transcript=args.transcript,
                               asr=not args.no_asr, llm=llm_cfg)
    except ValidationError as exc:
        err = exc.errors()[0]
        _fail(f"--{err['loc'][0]}: {err['msg'].removeprefix('Value error, ')}")
        return None


def cmd_analyze(args) -> int:
    from . import output
    from .engine import Engine
    from .errors import InputError

    if args.output:
        try:
            output.output_format(args.output)
        except ValueError as exc:
            _fail(str(exc))
            return 2
    request = _request(args)
    if request is None:
        return 2
    if args.transcript:
        try:
            from .media.transcript import load_transcript

            load_transcript(args.transcript)
        except InputError as exc:
            _fail(str(exc))
            return 2
    out = _console()
    done, failed = [], []

    def on_error(exc: InputError) -> None:
        _fail(str(exc))
        failed.append(exc)

    with _bar() as bar:
        for _, analysis in Engine().analyze_many(args.inputs, request, hook=_ProgressHook(bar), on_error=on_error):
            done.append(analysis)
            if not args.quiet:
                _print_analysis(out, analysis)
            if args.output:
                try:  # rewrite after every input: earlier results are never lost
                    output.write(done, args.output)
                except (OSError, ValueError) as exc:
                    _fail(f"{args.output}: cannot write ({exc})")
                    return 1
    if args.output and done:
        _console(stderr=True).print(f"wrote {args.output} ({len(done)} input{'s' * (len(done) != 1)})")
    return 1 if failed else 0


def _print_analysis(out, analysis) -> None:
    out.print(_timeline_table(analysis))
    absent = {m: s for m, s in analysis.modalities.items() if s != "present"}
    for m, reason in absent.items():
        out.print(f"  {m}: absent — {reason}", highlight=False, soft_wrap=True)
    if analysis.summary:
        out.print(f"  summary ({analysis.summary.source}): {analysis.summary.text()}", soft_wrap=True)
        if analysis.summary.open_labels:
            out.print(f"  open labels: {', '.join(analysis.summary.open_labels)}", soft_wrap=True)
        if analysis.summary.reply:
            out.print(f"  reply: {analysis.summary.reply}", soft_wrap=True)


# ------------------------------------------------------------------ eval
def _resolve_data(data: str, root: str | None) -> Path:
    p = Path(data)
    if not p.exists() and not p.is_absolute():
        alt = data_root(root) / p
        if alt.exists():
            return alt
    return p


def cmd_eval(args) -> int:
    from .analyzers import ModelUnavailable
    from .registry import get_analyzer
    from .errors import InputError
    from .evaluate import corpora
    from .evaluate.run import evaluate

    data = _resolve_data(args.data, args.data_root)
    if args.task == "av":
        return _eval_av(data, args)
    kw = {"cropped": args.cropped} if args.task == "face" else {}
    if args.task == "vad" and args.split:
        kw["split"] = args.split
    try:
        es = corpora.read(args.task, data, **kw)
    except InputError as exc:
        _fail(str(exc))
        return 2
    _console(stderr=True).print(f"read {len(es.items)} items from {data} ({es.fmt})")
    try:
        analyzer = get_analyzer(ANALYZER_FOR_TASK[args.task])
    except ModelUnavailable as exc:
        _fail(str(exc))
        return 3
    with _progress(f"eval {args.task}") as update:
        result = evaluate(es, analyzer, batch=args.batch, limit=args.limit, progress=update)
    return _emit_checked(result, args)


#: exit code when --strict refuses a score measured on a model's training data
EXIT_TRAIN_OVERLAP = 4


def _overlap_refused(result: dict, args) -> bool:
    """Warn in one line about training/tuning overlap; True when ``--strict`` refuses the
    result because an item was in a model's training data."""
    from .evaluate.overlap import warning

    line = warning(result)
    if line:
        _console(stderr=True).print(line, markup=False, highlight=False)
    if args.strict and result.get("train_overlap"):
        _fail(f"--strict: {result['train_overlap']} item(s) were in a model's training data; result refused")
        return True
    return False


def _emit_checked(result: dict, args) -> int:
    if _overlap_refused(result, args):
        return EXIT_TRAIN_OVERLAP
    _emit(result, args)
    return 0


def _eval_av(data: Path, args) -> int:
    from .analyzers import ModelUnavailable
    from .errors import InputError
    from .evaluate.av import evaluate_av

    try:
        result = evaluate_av(data, limit=args.limit, asr=args.asr)
    except InputError as exc:
        _fail(str(exc))
        return 2
    except ModelUnavailable as exc:
        _fail(str(exc))
        return 3
    return _emit_checked(result, args)


def _json_safe(x):
    """NaN/inf are not JSON: write them as null."""
    if isinstance(x, float) and x != x or x in (float("inf"), float("-inf")):
        return None
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    return x


def _emit(result: dict, args) -> None:
    result = _json_safe(result)
    text = json.dumps(result, indent=1)
    if args.json == "-":
        print(text)
    else:
        if args.json:
            Path(args.json).write_text(text)
        _print_metrics(result)


def _print_metrics(result: dict) -> None:
    from rich.table import Table

    model = result["model"].get("name") or result["model"].get("fusion")
    table = Table(title=f"{result['task']} on {result['data']} (n={result['n']}, model {model})",
                  title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for k, v in result["metrics"].items():
        table.add_row(k, f"{v:.4f}" if isinstance(v, float) else str(v))
    speed = result.get("speed", {}).get("items_per_s")
    if speed:
        table.add_row("items/s", f"{speed:.1f}")
    _console().print(table)


# ------------------------------------------------------------------ bench
def cmd_bench(args) -> int:
    from .analyzers import ModelUnavailable
    from .errors import InputError
    from .evaluate.bench import run

    data = _resolve_data(args.data, args.data_root) if args.data else data_root(args.data_root)
    try:
        result = run(args.task, data, limit=args.limit, video=Path(args.video) if args.video else None)
    except ModelUnavailable as exc:
        _fail(str(exc))
        return 3
    except (InputError, RuntimeError, FileNotFoundError, ValueError) as exc:
        _fail(f"bench {args.task}: {exc}")
        return 1
    if _overlap_refused(result, args):
        return EXIT_TRAIN_OVERLAP
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


# ------------------------------------------------------------------ report
def cmd_report(args) -> int:
    from .errors import InputError
    from .report.html import write_report

    try:
        out = write_report(args.result, args.output)
    except InputError as exc:
        _fail(str(exc))
        return 2
    _console(stderr=True).print(f"wrote {out}")
    return 0


# ------------------------------------------------------------------ serve
def cmd_serve(args) -> int:
    try:
        from .serve import server as serve
    except ImportError as exc:
        _fail(f"serve needs the 'serve' extra: pip install 'affectlens[serve]' ({exc.name} is missing)")
        return 3
    try:
        token = serve.read_token(args.token_file)
        serve.run(args.host, args.port, args.data_dir, args.db, args.workers, args.max_upload_mb,
                  args.max_queue, token, args.max_streams)
    except serve.ServeError as exc:
        _fail(str(exc))
        return 2
    except ImportError as exc:
        _fail(f"serve needs the 'serve' extra: pip install 'affectlens[serve]' ({exc.name} is missing)")
        return 3
    return 0


# ------------------------------------------------------------------ schema
def cmd_schema(args) -> int:
    from .schema import json_schema

    text = json.dumps(json_schema(), indent=1)
    if args.output:
        Path(args.output).write_text(text)
    else:
        print(text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="affectlens", description="Offline multimodal emotion understanding.")
    parser.add_argument("--version", action="version", version=f"affectlens {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    a = sub.add_parser("analyze", help="emotion timeline of video, audio, image, text or dialogue files")
    a.add_argument("inputs", nargs="+", metavar="INPUT")
    a.add_argument("-o", "--output", help="write OUT.json|jsonl|csv|parquet|vtt")
    a.add_argument("--fps", type=float, default=5.0, help="video frames analysed per second (default 5)")
    a.add_argument("--modalities", default=",".join(MODALITIES), help=f"comma list of {','.join(MODALITIES)}")
    a.add_argument("--transcript", help="timed transcript (.srt/.vtt) for the media")
    a.add_argument("--no-asr", action="store_true", help="do not transcribe speech")
    a.add_argument("-q", "--quiet", action="store_true", help="do not print the timeline")
    a.add_argument("--llm", metavar="URL", help="OpenAI-compatible endpoint for explanations (cues only are sent)")
    a.add_argument("--llm-model", metavar="NAME", help="model name at the --llm endpoint")
    a.add_argument("--llm-timeout", type=float, default=30.0, help="seconds before falling back to offline")
    a.set_defaults(func=cmd_analyze)

    e = sub.add_parser("eval", help="score a model on a corpus in its published format")
    e.add_argument("task", choices=EVAL_TASKS)
    e.add_argument("data", help="corpus file or folder (relative paths also tried under --data-root)")
    e.add_argument("--json", nargs="?", const="-", help="write the result JSON to a file, or stdout without a value")
    e.add_argument("--cropped", action="store_true", help="face images are already face crops (FER2013)")
    e.add_argument("--split", help="EmoBank split to use when the CSV holds several (default test, else dev)")
    e.add_argument("--limit", type=int, help="evaluate only the first N items")
    e.add_argument("--asr", action="store_true",
                   help="av: transcribe rows with audio and no text offline, so their words join the fusion")
    e.add_argument("--batch", type=int, default=64)
    e.add_argument("--data-root", help="corpus root (default $AFFECTLENS_DATA or ../shared/data)")
    e.add_argument("--strict", action="store_true",
                   help="exit 4 without a score when any item was in a shipped model's training data "
                        "(overlap with tuning splits is reported, not refused)")
    e.set_defaults(func=cmd_eval)

    b = sub.add_parser("bench", help="ours vs peer tools on the same data, in the same run")
    b.add_argument("task", choices=MODALITIES)
    b.add_argument("data", nargs="?", help="corpus file or folder")
    b.add_argument("--limit", type=int)
    b.add_argument("--json", help="write the comparison JSON here")
    b.add_argument("--video", help="face: also time the whole face path on this clip (frames/s)")
    b.add_argument("--data-root")
    b.add_argument("--strict", action="store_true",
                   help="exit 4 without a score when any item was in a shipped model's training data "
                        "(overlap with tuning splits is reported, not refused)")
    b.set_defaults(func=cmd_bench)

    r = sub.add_parser("report", help="HTML report of an analyze JSON result")
    r.add_argument("result", metavar="RESULT.json")
    r.add_argument("-o", "--output", default="report.html")
    r.set_defaults(func=cmd_report)

    v = sub.add_parser("serve", help="HTTP API, live WebSocket stream and web UI (needs the serve extra)")
    v.add_argument("--host", default="127.0.0.1", help="address to bind (non-loopback needs a token)")
    v.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    v.add_argument("--db", help="job store URL: sqlite:///PATH or postgresql://… (default: SQLite in --data-dir)")
    v.add_argument("--data-dir", default="affectlens-data", help="uploads and the default SQLite store")
    v.add_argument("--workers", type=int, default=1, help="jobs analysed at once (0: accept jobs, run none)")
    v.add_argument("--max-upload-mb", type=int, default=500, help="larger uploads get 413")
    v.add_argument("--max-queue", type=int, default=100, help="queued jobs before new ones get 429")
    v.add_argument("--max-streams", type=int, default=4, help="live WebSocket streams at once")
    v.add_argument("--token-file", help="file whose first line is the bearer token (else $AFFECTLENS_TOKEN)")
    v.set_defaults(func=cmd_serve)

    s = sub.add_parser("schema", help="print the JSON Schema of the analysis output")
    s.add_argument("-o", "--output")
    s.set_defaults(func=cmd_schema)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        _fail("interrupted")
        return 130
