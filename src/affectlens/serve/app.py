"""The FastAPI application: REST jobs, the live WebSocket, the web UI.

Every ``/v1`` route needs ``Authorization: Bearer <token>`` when the server has a
token (the WebSocket also takes ``?token=``). Errors are JSON ``{"error": "..."}``.
"""

from __future__ import annotations

import hmac
import html
import json
import logging
import os
import tempfile
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Query, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from .runner import Runner, parse_request
from .store import STATUSES, JobStore
from .upload import ApiError, check_media, receive

log = logging.getLogger("affectlens.serve")
STATIC = Path(__file__).parent / "static"
RESULT_FORMATS = {"json": "application/json", "csv": "text/csv", "parquet": "application/vnd.apache.parquet",
                  "vtt": "text/vtt"}


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    db: str | None = None  # default: sqlite in data_dir
    token: str | None = None
    workers: int = 1
    max_upload_mb: int = 500
    max_queue: int = 100
    max_streams: int = 4

    @property
    def db_url(self) -> str:
        return self.db or f"sqlite:///{(self.data_dir / 'jobs.db').resolve()}"

    @property
    def uploads(self) -> Path:
        return self.data_dir / "uploads"


def _error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def create_app(settings: Settings, engine=None) -> FastAPI:
    """The app; ``engine`` (an ``affectlens.Engine``) is made on first use when not given."""
    settings.uploads.mkdir(parents=True, exist_ok=True)
    store = JobStore(settings.db_url)
    runner = Runner(store, settings.uploads, settings.workers, engine=engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        requeued, failed = store.recover()
        if requeued or failed:
            log.warning("recovered after a stop: %d job(s) re-queued, %d failed", requeued, failed)
        runner.start()
        yield
        runner.stop()
        store.close()

    app = FastAPI(title="affectlens", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Offline multimodal emotion analysis: submit jobs, poll them, fetch results, "
                              "or stream audio (and video frames) live over `/v1/stream`.")
    app.state.settings, app.state.store, app.state.runner = settings, store, runner

    # ------------------------------------------------------------ errors: always JSON, never a traceback
    @app.exception_handler(ApiError)
    async def _api_error(_req, exc: ApiError):
        return _error(exc.status, exc.message, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_req, exc: StarletteHTTPException):
        return _error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_req, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()))
        return _error(422, f"{where}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(Exception)
    async def _internal_error(_req, exc: Exception):
        log.exception("unhandled error")
        return _error(500, f"internal error ({type(exc).__name__})")

    def authorize(request: Request) -> None:
        if not settings.token:
            return
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip(), settings.token):
            raise ApiError(401, "missing or wrong bearer token", {"WWW-Authenticate": "Bearer"})

    def job_or_404(job_id: str):
        job = store.get(job_id)
        if job is None:
            raise ApiError(404, f"no job {job_id}")
        return job

    # ------------------------------------------------------------ pages
    @app.get("/healthz", tags=["service"])
    def healthz():
        return {"status": "ok", "version": __version__}

    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(STATIC / "index.html")

    @app.get("/jobs/{job_id}", include_in_schema=False)
    def job_page(job_id: str):
        return FileResponse(STATIC / "job.html")

    @app.get("/live", include_in_schema=False)
    def live_page():
        return FileResponse(STATIC / "live.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _mount_docs(app)

    # ------------------------------------------------------------ jobs
    @app.post("/v1/jobs", status_code=202, tags=["jobs"], openapi_extra={"requestBody": {
        "required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["file"], "properties": {
                "file": {"type": "string", "format": "binary", "description": "the media, image or text file"},
                "request": {"type": "string", "description": "JSON AnalysisRequest (optional)"}}}}}}})
    async def submit(request: Request):
        """Queue one file for analysis; answers 202 with the job id."""
        authorize(request)
        if await run_in_threadpool(store.count, "queued") >= settings.max_queue:
            raise ApiError(429, f"the queue is full ({settings.max_queue} jobs waiting); try again later",
                           {"Retry-After": "10"})
        up = await receive(request, settings.uploads, settings.max_upload_mb * 2**20)
        path = settings.uploads / up.media
        try:
            try:
                analysis_request = parse_request(up.request)
            except ValueError as exc:  # pydantic's ValidationError is a ValueError
                raise ApiError(422, f"request: {_first_line(exc)}") from None
            await run_in_threadpool(check_media, path)
            job = await run_in_threadpool(store.add, up.filename, up.media, analysis_request.model_dump_json())
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        runner.wake()
        return JSONResponse({"id": job.id, "status": job.status}, status_code=202)

    async def db(fn, *args):
        """SQLite answers in-process in well under a millisecond: call it on the event loop.
        A database server means waiting on a socket: do that in the thread pool."""
        return fn(*args) if store.local else await run_in_threadpool(fn, *args)

    # status and list are the hot polling routes: async and a plain JSONResponse (no per-field encoding)
    @app.get("/v1/jobs", tags=["jobs"])
    async def list_jobs(request: Request, status: str | None = Query(None, description="|".join(STATUSES)),
                  limit: int = Query(50, ge=1, le=1000)):
        """Jobs, newest first."""
        authorize(request)
        if status is not None and status not in STATUSES:
            raise ApiError(422, f"status must be one of {', '.join(STATUSES)}")
        return JSONResponse({"jobs": [j.public() for j in await db(store.list, status, limit)]})

    @app.get("/v1/jobs/{job_id}", tags=["jobs"])
    async def job_status(request: Request, job_id: str):
        """``status`` is queued | running | done | failed | cancelled; ``progress`` 0..1."""
        authorize(request)
        return JSONResponse((await db(job_or_404, job_id)).public())

    def load_result(job_id: str):
        from ..schema import Analysis

        job = job_or_404(job_id)
        text, media = store.result(job_id)
        if text is None:
            raise ApiError(409, f"job {job_id} is {job.status}, no result")
        return job, Analysis.model_validate_json(text), media

    @app.get("/v1/jobs/{job_id}/result", tags=["jobs"])
    def job_result(request: Request, job_id: str, format: str = Query("json", description="|".join(RESULT_FORMATS))):
        """The ``Analysis`` as JSON (or csv | parquet | vtt)."""
        authorize(request)
        if format not in RESULT_FORMATS:
            raise ApiError(422, f"format must be one of {', '.join(RESULT_FORMATS)}")
        job, analysis, _ = load_result(job_id)
        analysis.media.path = job.filename
        if format == "json":
            return Response(analysis.model_dump_json(), media_type="application/json")
        from .. import output

        fd, tmp = tempfile.mkstemp(suffix="." + format, dir=settings.data_dir)
        os.close(fd)
        output.write([analysis], tmp)
        stem = Path(job.filename).stem or "result"
        return FileResponse(tmp, media_type=RESULT_FORMATS[format], filename=f"{stem}.{format}",
                            background=BackgroundTask(os.unlink, tmp))

    @app.get("/v1/jobs/{job_id}/report", tags=["jobs"], response_class=HTMLResponse)
    def job_report(request: Request, job_id: str):
        """The HTML report of a finished job (timeline, segments, explanations)."""
        from ..report.html import render

        authorize(request)
        job, analysis, media = load_result(job_id)
        analysis.media.path = str(settings.uploads / media)  # thumbnails read the stored upload
        page = render(analysis).replace(html.escape(media), html.escape(job.filename))
        return HTMLResponse(page)

    @app.delete("/v1/jobs/{job_id}", tags=["jobs"])
    def job_delete(request: Request, job_id: str):
        """Cancel a queued or running job; delete an ended one (and its upload)."""
        authorize(request)
        job = job_or_404(job_id)
        if store.cancel(job_id):
            runner.cancel(job_id)
            return {"id": job_id, "status": "cancelled"}
        media = store.delete(job_id)  # it had ended: remove it and its upload
        if media is not None:
            (settings.uploads / media).unlink(missing_ok=True)
        return {"id": job.id, "status": "deleted"}

    # ------------------------------------------------------------ live stream
    @app.websocket("/v1/stream")
    async def stream(ws: WebSocket):
        from .live import serve_stream

        await serve_stream(ws, settings, app)

    return app


def _mount_docs(app: FastAPI) -> None:
    """Swagger UI at ``/docs`` from the locally installed ``swagger-ui-bundle`` (no CDN)."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/docs-assets", StaticFiles(directory=swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs():
        return get_swagger_ui_html(openapi_url=app.openapi_url, title="affectlens API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/docs-assets/favicon-32x32.png")


def _first_line(exc: Exception) -> str:
    try:
        errs = exc.errors()  # pydantic
        e = errs[0]
        return f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}"
    except Exception:
        return str(exc).splitlines()[0][:200]
