"""Run batch tasks as Ray tasks (``--ray [ADDRESS]``).

Each task runs ``Job.run`` in a Ray worker process; the Job (and its Engine, so the models)
is kept per process and reused by every later task there. Workers commit straight into
``OUT_DIR``, which must therefore be the same path on every node (a shared filesystem), as
must the inputs.
"""

from __future__ import annotations

from typing import Callable

from .store import Store, failed_record

_JOBS: dict = {}


def _run_task(out_dir: str, task: dict) -> dict:
    from .worker import Job

    job = _JOBS.get(out_dir)
    if job is None:
        job = _JOBS[out_dir] = Job(out_dir)
    return job.run(task)


def run_ray(tasks: list[dict], out_dir: str, address: str | None, workers: int | None,
            on_record: Callable[[dict, dict], None]) -> None:
    """Submit the tasks to the Ray cluster at ``address`` (a new local one when None), at most
    ``workers`` at a time (default: the cluster's CPUs), one CPU each."""
    if not tasks:
        return
    import ray

    started = not ray.is_initialized()
    if started:
        ray.init(address=address or None, include_dashboard=False, log_to_driver=False,
                 configure_logging=False, runtime_env={"env_vars": {"AFFECTLENS_THREADS": "1"}})
    try:
        remote = ray.remote(num_cpus=1, max_retries=0)(_run_task)
        limit = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        store, todo, running = Store(out_dir), list(reversed(tasks)), {}
        while todo or running:
            while todo and len(running) < limit:
                task = todo.pop()
                running[remote.remote(out_dir, task)] = task
            done, _ = ray.wait(list(running), num_returns=1, timeout=1.0)
            for ref in done:
                task = running.pop(ref)
                try:
                    rec = ray.get(ref)
                except ray.exceptions.RayError as exc:  # the worker process died
                    rec = store.commit(failed_record(
                        task, f"Ray task failed ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})"))
                on_record(task, rec)
    finally:
        if started:
            ray.shutdown()
