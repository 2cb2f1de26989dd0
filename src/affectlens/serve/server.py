"""Start the server: options, the token, the loopback rule, uvicorn."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path


class ServeError(ValueError):
    """A bad server option (one line)."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_token(token_file: str | None) -> str | None:
    """The token from ``--token-file`` (first line) or ``$AFFECTLENS_TOKEN``."""
    if token_file:
        try:
            token = Path(token_file).read_text().strip().splitlines()
        except OSError as exc:
            raise ServeError(f"{token_file}: cannot read the token file ({exc.strerror})") from None
        if not token or not token[0].strip():
            raise ServeError(f"{token_file}: the token file is empty")
        return token[0].strip()
    return os.environ.get("AFFECTLENS_TOKEN", "").strip() or None


def run(host: str, port: int, data_dir: str, db: str | None, workers: int, max_upload_mb: int,
        max_queue: int, token: str | None, max_streams: int = 4) -> None:
    """Start uvicorn with the app (blocks until stopped)."""
    import uvicorn
    from sqlalchemy.exc import SQLAlchemyError

    from .app import Settings, create_app

    if not token and not is_loopback(host):
        raise ServeError(f"refusing to listen on {host} without a token (set AFFECTLENS_TOKEN or --token-file)")
    if workers < 0 or max_upload_mb < 1 or max_queue < 1:
        raise ServeError("--workers must be ≥ 0, --max-upload-mb and --max-queue ≥ 1")
    settings = Settings(data_dir=Path(data_dir), db=db, token=token, workers=workers,
                        max_upload_mb=max_upload_mb, max_queue=max_queue, max_streams=max_streams)
    try:
        app = create_app(settings)
    except (SQLAlchemyError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ServeError(f"cannot open the job store {db or settings.db_url}: {first[:200]}") from None
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
