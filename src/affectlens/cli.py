"""Command line: ``affectlens analyze | eval | bench | schema`` (thin: parse, call the library)."""

from __future__ import annotations

import argparse
import json
import threading
from contextlib import contextmanager
from pathlib import Path

from .version import __version__
from .config import data_root
from .registry import MODALITIES, SPECS

#: ``affectlens eval`` task -> analyzer key, from the modality specs (``av`` is the fused task)
ANALYZER_FOR_TASK = {task: key for spec in SPECS.values() for task, key in spec.eval_tasks.items()}
EVAL_TASKS = (*ANALYZER_FOR_TASK, "av")


#: the exit-code table (README "Exit codes")
EXIT_OK, EXIT_INPUT, EXIT_USAGE, EXIT_NO_MODEL, EXIT_OVERLAP, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130


class UsageError(Exception):
    """A bad command line (exit code 2)."""


def _console(stderr: bool = False):
    import os

    from rich.console import Console

    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 160  # pipes and files: do not wrap at 80 columns
    return console


def _esc(value) -> str:
    """A user-controlled string made safe for rich: brackets are text, never markup."""
    from rich.markup import escape

    return escape(str(value))


def _one_line(msg) -> str:
    return str(msg).replace("\r", "\\r").replace("\n", "\\n")


def _stderr_line(text: str) -> None:
    """One message line on stderr (waiting while another thread has it silenced)."""
    from .config import stderr_free

    with stderr_free():
        _console(stderr=True).print(text, highlight=False, soft_wrap=True)


def _fail(msg) -> None:
    _stderr_line(f"[red]error:[/red] {_esc(_one_line(msg))}")


def _warn(msg) -> None:
    _stderr_line(f"[yellow]warning:[/yellow] {_esc(_one_line(msg))}")


def _note(msg) -> None:
    _stderr_line(_esc(_one_line(msg)))


def _number(lo: float, hi: float, integer: bool = False):
    """argparse type: a finite number in ``(lo, hi]`` (a usage error otherwise)."""
    import math

    def parse(text: str):
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a{'n integer' if integer else ' number'}") from None
        if not math.isfinite(value) or not lo < value <= hi:
            raise argparse.ArgumentTypeError(f"{text!r} must be {'an integer' if integer else 'a number'} "
                                             f"above {lo:g} and at most {hi:g}")
        return value

    return parse


def _writable(path: str) -> str | None:
    """Why ``path`` cannot be written (None when it can); creates missing folders."""
    import os
    import tempfile

    p = Path(path)
    if p.is_dir():
        return "is a directory"
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        return f"cannot write there ({exc.strerror or type(exc).__name__})"
    return None


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
        _check_interrupted()
        if step == "probe":
            self.clear()
            self.task = self.bar.add_task(f"analyzing {_esc(Path(payload.path).name)}", total=None)
        elif step == "segments" and self.task is not None:
            self.bar.update(self.task, completed=completed, total=total or None)
        elif step == "done":
            self.clear()

    def clear(self) -> None:
        """Drop the current input's bar (done, or failed part-way)."""
        if self.task is not None:
            self.bar.remove_task(self.task)
            self.task = None


# ------------------------------------------------------------------ analyze
def _timeline_table(analysis):
    from rich.table import Table

    table = Table(title=f"{_esc(analysis.media.path)} ({analysis.media.kind})", title_justify="left")
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
        cells = [when, _esc(seg.kind + (f" {seg.speaker}" if seg.speaker else ""))]
        for m in mods:
            e = seg.estimates.get(m)
            cells.append(_esc(f"{e.label} {e.confidence:.2f}") if e else "–")
        f = seg.fused
        cells.append(_esc(f"{f.label} {f.confidence:.2f}") if f else "–")
        va = f"{f.valence:+.2f}/{f.arousal:+.2f}" if f and f.valence is not None and f.arousal is not None else "–"
        cells.append(va)
        if has_text:
            cells.append(_esc(seg.text or ""))
        table.add_row(*cells)
    return table


def _clock(t: float) -> str:
    m, s = divmod(t, 60)
    return f"{int(m):02d}:{s:04.1f}"


def _request(args):
    """The ``AnalysisRequest`` of the analysis options; ``UsageError`` when they are invalid."""
    from pydantic import ValidationError

    from .engine import AnalysisRequest

    llm_cfg = None
    if args.llm:
        from .reason.llm import LLMConfig

        if not args.llm_model:
            raise UsageError("--llm needs --llm-model NAME")
        llm_cfg = LLMConfig(url=args.llm, model=args.llm_model, timeout=args.llm_timeout)
    try:
        return AnalysisRequest(fps=args.fps, modalities=args.modalities, transcript=args.transcript,
                               asr=not args.no_asr, llm=llm_cfg, batch=args.batch,
                               per_frame=getattr(args, "per_frame", False))
    except ValidationError as exc:
        err = exc.errors()[0]
        raise UsageError(f"--{err['loc'][0]}: {err['msg'].removeprefix('Value error, ')}") from None


def cmd_analyze(args) -> int:
    from . import output
    from .engine import Engine
    from .errors import InputError

    if args.output:
        try:
            output.output_format(args.output)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    request = _request(args)
    failed = 0
    write_to = args.output
    if write_to and (problem := _writable(write_to)):
        _fail(f"{write_to}: {problem}")
        failed, write_to = 1, None
        if args.quiet:  # nothing else to produce
            return EXIT_INPUT
    if args.transcript:
        try:
            from .media.transcript import load_transcript

            load_transcript(args.transcript)
        except InputError as exc:
            _fail(exc)
            _warn(f"{args.transcript}: analyzing without this transcript")
            failed, request = 1, request.model_copy(update={"transcript": None})
    out = _console()
    done = []
    engine = Engine()
    with _bar() as bar:
        hook = _ProgressHook(bar)
        for path in args.inputs:
            _check_interrupted()
            analysis = _analyze_one(engine, path, request, hook)
            if analysis is None:
                failed += 1
                continue
            done.append(analysis)
            for note in analysis.media.warnings:
                _warn(f"{path}: {note}")
            if not args.quiet:
                _print_analysis(out, analysis)
            if write_to:
                try:  # rewrite after every input: earlier results are never lost
                    output.write(done, write_to, per_frame=args.per_frame)
                except (OSError, ValueError) as exc:
                    _fail(f"{write_to}: cannot write ({getattr(exc, 'strerror', None) or exc})")
                    failed, write_to = failed + 1, None
    if write_to and done:
        _note(f"wrote {write_to} ({len(done)} input{'s' * (len(done) != 1)})")
    return EXIT_INPUT if failed else EXIT_OK


def _analyze_one(engine, path: str, request, hook):
    """One input's ``Analysis``, or ``None`` after its one-line error: a bad input never ends the call."""
    from .errors import InputError

    try:
        return engine.analyze(path, request, hook=hook)
    except InputError as exc:
        _check_interrupted()
        _fail(exc)
    except MemoryError:
        _fail(f"{path}: out of memory while analyzing")
    except Exception as exc:  # noqa: BLE001 - reported in one line, the call goes on
        _check_interrupted()  # an interrupt that surfaced as another error (e.g. inside an import)
        _fail(f"{path}: {_internal(exc)}")
    hook.clear()
    return None


def _internal(exc: BaseException) -> str:
    import os

    if os.environ.get("AFFECTLENS_DEBUG"):
        import traceback

        traceback.print_exc()
    text = str(exc).splitlines()[0][:160] if str(exc) else ""
    return f"unexpected {type(exc).__name__}{': ' + text if text else ''} (AFFECTLENS_DEBUG=1 shows the traceback)"


def _print_analysis(out, analysis) -> None:
    out.print(_timeline_table(analysis))
    absent = {m: s for m, s in analysis.modalities.items() if s != "present"}
    for m, reason in absent.items():
        out.print(f"  {m}: absent — {_esc(reason)}", highlight=False, soft_wrap=True)
    if analysis.summary:
        out.print(f"  summary ({_esc(analysis.summary.source)}): {_esc(analysis.summary.text())}", soft_wrap=True)
        if analysis.summary.open_labels:
            out.print(f"  open labels: {_esc(', '.join(analysis.summary.open_labels))}", soft_wrap=True)
        if analysis.summary.reply:
            out.print(f"  reply: {_esc(analysis.summary.reply)}", soft_wrap=True)


# ------------------------------------------------------------------ batch
def cmd_batch(args) -> int:
    from .batching import batch
    from .errors import InputError

    request = _request(args)
    if args.workers is not None and args.workers < 0:
        raise UsageError("--workers must be 0 or more")
    if args.transcript:
        from .media.transcript import load_transcript

        try:
            load_transcript(args.transcript)
        except InputError as exc:
            raise UsageError(str(exc)) from None
    console = _console(stderr=True)
    try:
        with _batch_progress(console, disable=args.quiet) as on_progress:
            result = batch(args.inputs, args.output, workers=args.workers, ray=args.ray, json=args.json,
                           retry_failed=args.retry_failed, max_worker_mb=args.max_worker_mb,
                           on_progress=on_progress, request=request)
    except InputError as exc:
        raise UsageError(str(exc)) from None
    if not args.quiet:
        speed = f", {result.media_s / result.wall_s:.1f}x real time" if result.media_s and result.wall_s else ""
        before = f" ({result.skipped_failed} of them failed)" if result.skipped_failed else ""
        console.print(f"{args.output}: {result.done} done, {result.failed} failed, {result.skipped} already "
                      f"finished{before}; {result.media_s / 3600:.2f} media h in {result.wall_s:.0f} s{speed}",
                      soft_wrap=True)
    return EXIT_INPUT if result.failed or result.skipped_failed else EXIT_OK


@contextmanager
def _batch_progress(console, disable: bool):
    """Two bars on stderr (terminal only): files, and media hours with the ETA."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[extra]}"), TimeRemainingColumn(), console=console,
                   disable=disable or not console.is_terminal)
    with bar:
        files = bar.add_task("files", total=None, extra="")
        media = bar.add_task("media s", total=None, extra="")

        def update(t) -> None:
            bar.update(files, completed=t.files_done, total=t.files_total,
                       extra=f"{t.failed} failed" if t.failed else "")
            bar.update(media, completed=round(t.media_now), total=round(t.media_total) or None,
                       extra=f"{t.media_now / 3600:.2f}/{t.media_total / 3600:.2f} h")

        yield update


# ------------------------------------------------------------------ eval
def _resolve_data(data: str, root: str | None) -> Path:
    p = Path(data)
    if not p.exists() and not p.is_absolute():
        alt = data_root(root) / p
        if alt.exists():
            return alt
    return p


def cmd_eval(args) -> int:
    from .registry import get_analyzer
    from .evaluate import corpora
    from .evaluate.run import evaluate

    data = _resolve_data(args.data, args.data_root)
    if args.task == "av":
        return _eval_av(data, args)
    kw = {"cropped": args.cropped} if args.task == "face" else {}
    if args.task == "vad" and args.split:
        kw["split"] = args.split
    es = corpora.read(args.task, data, **kw)  # InputError -> exit 1 (main)
    _note(f"read {len(es.items)} items from {data} ({es.fmt})")
    analyzer = get_analyzer(ANALYZER_FOR_TASK[args.task])  # ModelUnavailable -> exit 3 (main)
    with _progress(f"eval {args.task}") as update:
        result = evaluate(es, analyzer, batch=args.batch, limit=args.limit, progress=update)
    _warn_skipped(data, result)
    return _emit_checked(result, args)


def _overlap_refused(result: dict, args) -> bool:
    """Warn in one line about training/tuning overlap; True when ``--strict`` refuses the
    result because an item was in a model's training data."""
    from .evaluate.overlap import warning

    line = warning(result)
    if line:
        _warn(line.removeprefix("warning: "))
    if args.strict and result.get("train_overlap"):
        _fail(f"--strict: {result['train_overlap']} item(s) were in a model's training data; result refused")
        return True
    return False


def _emit_checked(result: dict, args) -> int:
    """Emit an eval result unless ``--strict`` refuses it (exit 4)."""
    if _overlap_refused(result, args):
        return EXIT_OVERLAP
    _emit(result, args)
    return EXIT_OK


def _warn_skipped(data, result: dict) -> None:
    skipped = result.get("skipped") or {}
    if skipped.get("n"):
        reasons = "; ".join(f"{n}x {r}" for r, n in list(skipped["by_reason"].items())[:3])
        _warn(f"{data}: skipped {skipped['n']} of {skipped['n'] + result['n']} items ({reasons})")


def _eval_av(data: Path, args) -> int:
    from .evaluate.av import evaluate_av

    result = evaluate_av(data, limit=args.limit, asr=args.asr)  # errors: see main
    _warn_skipped(data, result)
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
            from .output import atomic_write_text

            atomic_write_text(args.json, text)
        _print_metrics(result)


def _print_metrics(result: dict) -> None:
    from rich.table import Table

    model = result["model"].get("name") or result["model"].get("fusion")
    table = Table(title=_esc(f"{result['task']} on {result['data']} (n={result['n']}, model {model})"),
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
        return EXIT_OVERLAP
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return EXIT_OK


# ------------------------------------------------------------------ report
def cmd_report(args) -> int:
    from .errors import InputError
    from .media.decode import check_file
    from .report.html import write_report

    if problem := _writable(args.output):
        raise InputError(args.output, problem)
    out = write_report(check_file(args.result), args.output)  # InputError -> exit 1 (main)
    _note(f"wrote {out}")
    return EXIT_OK


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


class _Help(argparse.HelpFormatter):
    """Shows each argument's default when it has a real one (not None/False) and the help
    does not already name it."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default not in (None, False, argparse.SUPPRESS) and "(default" not in text \
                and action.option_strings:
            text += " (default: %(default)s)"
        return text


def _add_request_options(p: argparse.ArgumentParser) -> None:
    """The analysis options shared by ``analyze`` and ``batch``."""
    p.add_argument("--fps", type=_number(0, 120), default=5.0, help="video frames analysed per second, above 0 and at most 120")
    p.add_argument("--modalities", default=",".join(MODALITIES), help=f"comma list of {','.join(MODALITIES)}")
    p.add_argument("--transcript", metavar="FILE", help="timed transcript (.srt/.vtt) for the media (default: ASR)")
    p.add_argument("--no-asr", action="store_true", help="do not transcribe speech")
    p.add_argument("--batch", type=_number(0, 4096, integer=True), default=16,
                   help="segments handed to the models at once")
    p.add_argument("--llm", metavar="URL", help="OpenAI-compatible endpoint for explanations (cues only are sent)")
    p.add_argument("--llm-model", metavar="NAME", help="model name at the --llm endpoint")
    p.add_argument("--llm-timeout", type=_number(0, 3600), default=30.0, metavar="S",
                   help="seconds before falling back to offline")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="affectlens", description="Offline multimodal emotion understanding.")
    parser.add_argument("--version", action="version", version=f"affectlens {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    a = sub.add_parser("analyze", help="emotion timeline of video, audio, image, text or dialogue files",
                       formatter_class=_Help,
                       description="Analyze each INPUT and print its timeline; -o writes all results to one file.")
    a.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="video, audio, image, .txt text, or dialogue table (.csv/.tsv); several allowed")
    a.add_argument("-o", "--output", metavar="OUT",
                   help="write OUT.json (a list of analyses), .jsonl (a segment per line), .csv/.parquet "
                        "(long format: a row per segment, modality and measure) or .vtt (one input)")
    _add_request_options(a)
    a.add_argument("--per-frame", action="store_true",
                   help="with -o .csv/.parquet/.jsonl: one row per analysed frame per face (time, track, box, "
                        "key landmarks, cues, probabilities) instead of segments; .json keeps them as 'frames'")
    a.add_argument("-q", "--quiet", action="store_true", help="do not print the timeline")
    a.set_defaults(func=cmd_analyze)

    bt = sub.add_parser("batch", help="analyze a whole collection into a resumable Parquet dataset",
                        formatter_class=_Help)
    bt.add_argument("inputs", nargs="+", metavar="INPUT",
                    help="files, folders (recursive), glob patterns or a CSV manifest (path[,transcript] columns)")
    bt.add_argument("-o", "--output", required=True, metavar="OUT_DIR",
                    help="output folder: segments/ (Parquet dataset), files.parquet, json/ (with --json)")
    _add_request_options(bt)
    bt.add_argument("--workers", type=int,
                    help="worker processes, each loading the models once (default 1; 0 = in this process); "
                         "with --ray, Ray tasks in flight (default: the cluster's CPUs)")
    bt.add_argument("--ray", nargs="?", const=True, default=False, metavar="ADDRESS",
                    help="run on Ray: a new local Ray without ADDRESS, else the cluster at ADDRESS ('auto', host:port)")
    bt.add_argument("--json", action="store_true", help="also write each input's full JSON under OUT_DIR/json")
    bt.add_argument("--retry-failed", action="store_true", help="redo inputs that failed in an earlier run")
    bt.add_argument("--max-worker-mb", type=float, help="replace a worker whose memory passed this after an input")
    bt.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    bt.set_defaults(func=cmd_batch)

    e = sub.add_parser("eval", help="score a model on a corpus in its published format", formatter_class=_Help)
    e.add_argument("task", choices=EVAL_TASKS, help="what to score")
    e.add_argument("data", help="corpus file or folder (relative paths also tried under --data-root)")
    e.add_argument("--json", nargs="?", const="-", metavar="FILE",
                   help="write the result JSON to FILE, or to stdout without a value")
    e.add_argument("--cropped", action="store_true", help="face images are already face crops (FER2013)")
    e.add_argument("--split", help="EmoBank split to use when the CSV holds several (default test, else dev)")
    e.add_argument("--limit", type=_number(0, 1e12, integer=True), metavar="N", help="evaluate only the first N items (default: all)")
    e.add_argument("--asr", action="store_true",
                   help="av: transcribe rows with audio and no text offline, so their words join the fusion")
    e.add_argument("--batch", type=_number(0, 4096, integer=True), default=64, help="items per model call")
    e.add_argument("--data-root", metavar="DIR", help="corpus root (default $AFFECTLENS_DATA or ../shared/data)")
    e.add_argument("--strict", action="store_true",
                   help="exit 4 without a result when any item was in a shipped model's training data "
                        "(overlap with tuning splits is reported, not refused)")
    e.set_defaults(func=cmd_eval)

    b = sub.add_parser("bench", help="ours vs peer tools on the same data, in the same run", formatter_class=_Help)
    b.add_argument("task", choices=MODALITIES, help="what to compare")
    b.add_argument("data", nargs="?", help="corpus file or folder (default: the task's corpus under --data-root)")
    b.add_argument("--limit", type=_number(0, 1e12, integer=True), metavar="N", help="use only the first N items (default: all)")
    b.add_argument("--json", metavar="FILE", help="write the comparison JSON here")
    b.add_argument("--video", metavar="CLIP", help="face: also time the whole face path on this clip (frames/s)")
    b.add_argument("--data-root", metavar="DIR", help="corpus root (default $AFFECTLENS_DATA or ../shared/data)")
    b.add_argument("--strict", action="store_true",
                   help="exit 4 without a result when any item was in a shipped model's training data "
                        "(overlap with tuning splits is reported, not refused)")
    b.set_defaults(func=cmd_bench)

    r = sub.add_parser("report", help="HTML report of an analyze JSON result (every input in it)",
                       formatter_class=_Help)
    r.add_argument("result", metavar="RESULT.json", help="output of analyze -o RESULT.json")
    r.add_argument("-o", "--output", default="report.html", help="HTML file to write")
    r.set_defaults(func=cmd_report)

    v = sub.add_parser("serve", help="HTTP API, live WebSocket stream and web UI (needs the serve extra)",
                       formatter_class=_Help)
    v.add_argument("--host", default="127.0.0.1", help="address to bind (non-loopback needs a token)")
    v.add_argument("--port", type=int, default=8000, help="TCP port")
    v.add_argument("--db", help="job store URL: sqlite:///PATH or postgresql://… (default: SQLite in --data-dir)")
    v.add_argument("--data-dir", default="affectlens-data", help="uploads and the default SQLite store")
    v.add_argument("--workers", type=int, default=1, help="jobs analysed at once (0: accept jobs, run none)")
    v.add_argument("--max-upload-mb", type=int, default=500, help="larger uploads get 413")
    v.add_argument("--max-queue", type=int, default=100, help="queued jobs before new ones get 429")
    v.add_argument("--max-streams", type=int, default=4, help="live WebSocket streams at once")
    v.add_argument("--token-file", help="file whose first line is the bearer token (else $AFFECTLENS_TOKEN)")
    v.set_defaults(func=cmd_serve)

    s = sub.add_parser("schema", help="print the JSON Schema of the analysis output", formatter_class=_Help)
    s.add_argument("-o", "--output", metavar="FILE", help="write the schema here (default: stdout)")
    s.set_defaults(func=cmd_schema)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command (see :func:`_main`); an interrupt that arrives while an earlier one is
    being handled (clean-up of threads, the error line) still ends in exit code 130."""
    try:
        return _main(argv)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _main(argv: list[str] | None = None) -> int:
    """Run one command; every failure ends in one ``error:`` line and an exit code from the table:
    0 ok, 1 bad input (the other inputs still ran), 2 usage, 3 no model, 4 train overlap under
    ``--strict``, 130 interrupted (Ctrl-C or SIGTERM; ``-o`` keeps its last complete write)."""
    from .analyzers import ModelUnavailable
    from .errors import InputError
    from .limits import LimitSettingError, current

    args = build_parser().parse_args(argv)
    restore = _interrupt_on_sigterm()
    try:
        current()  # a bad AFFECTLENS_MAX_* value is a usage error before any work
        return args.func(args)
    except KeyboardInterrupt:
        _fail("interrupted")
        return EXIT_INTERRUPTED
    except (UsageError, LimitSettingError) as exc:
        _fail(exc)
        return EXIT_USAGE
    except ModelUnavailable as exc:
        _fail(exc)
        return EXIT_NO_MODEL
    except InputError as exc:
        _fail(exc)
        return EXIT_INPUT
    except OSError as exc:
        _fail(f"{exc.filename or 'i/o'}: {exc.strerror or exc}")
        return EXIT_INPUT
    except MemoryError:
        _fail("out of memory")
        return EXIT_INPUT
    except Exception as exc:  # noqa: BLE001 - never a traceback for the user
        _fail(_internal(exc))
        return EXIT_INPUT
    finally:
        restore()


#: set by the SIGTERM/SIGHUP handler: the interrupt is raised again at the next checkpoint when
#: the first one was swallowed (Python drops exceptions raised inside e.g. import-lock callbacks)
_INTERRUPTED = threading.Event()


def _check_interrupted() -> None:
    if _INTERRUPTED.is_set():
        raise KeyboardInterrupt


def _interrupt_on_sigterm():
    """Ctrl-C, SIGTERM and SIGHUP raise ``KeyboardInterrupt`` (clean-up runs, exit 130) and are
    remembered for :func:`_check_interrupted`; returns a function that restores the previous
    handlers. Only possible in the main thread."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    _INTERRUPTED.clear()

    def handler(signum, frame):
        _INTERRUPTED.set()
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    return lambda: [signal.signal(sig, old) for sig, old in previous.items()]
