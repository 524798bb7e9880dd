"""Builds in background threads, so one slow build never stalls the reconciler's other work.

Private to :mod:`goldenpath.deploy`. A job lives only in this process's memory: after a
crash the next reconciler finds the deployment still ``building`` with no job and starts the
build again (the driver's build is idempotent and cached per input).
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from goldenpath.drivers.base import LogSink, Release

__all__ = ["BuildJob", "BuildJobs"]

_log = logging.getLogger(__name__)
_KEEP_LINES = 20


@dataclass
class BuildJob:
    """One running or finished build: ``release`` or ``error`` once ``done`` is set;
    ``lines`` the last progress lines (never secrets: the driver's log sink contract)."""

    done: threading.Event = field(default_factory=threading.Event)
    release: Release | None = None
    error: BaseException | None = None
    lines: collections.deque[str] = field(
        default_factory=lambda: collections.deque(maxlen=_KEEP_LINES)
    )

    @property
    def last_line(self) -> str:
        """The newest progress line, ``""`` before the first."""
        return self.lines[-1] if self.lines else ""


class BuildJobs:
    """Build jobs by deployment id (thread-safe); ``on_done`` is called (from the build's
    thread) when any job ends — the reconciler wakes up to act on it at once."""

    def __init__(self, on_done: Callable[[], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[int, BuildJob] = {}
        self._on_done = on_done

    def get_or_start(self, deployment_id: int, build: Callable[[LogSink], Release]) -> BuildJob:
        """The job of ``deployment_id``; starts ``build(log)`` in a daemon thread if none."""
        with self._lock:
            job = self._jobs.get(deployment_id)
            if job is not None:
                return job
            job = self._jobs[deployment_id] = BuildJob()
        thread = threading.Thread(
            target=self._run, args=(job, build), name=f"deploy-build-d{deployment_id}", daemon=True
        )
        thread.start()
        return job

    def _run(self, job: BuildJob, build: Callable[[LogSink], Release]) -> None:
        try:
            job.release = build(job.lines.append)
        except BaseException as e:  # reported to the deployment by the reconciler
            job.error = e
            if not isinstance(e, Exception):
                raise
        finally:
            job.done.set()
            if self._on_done is not None:
                self._on_done()

    def forget(self, deployment_id: int) -> None:
        """Drop a finished job (its outcome was recorded)."""
        with self._lock:
            self._jobs.pop(deployment_id, None)

    def forget_others(self, keep: set[int]) -> None:
        """Drop finished jobs of deployments not in ``keep`` (aborted or failed meanwhile)."""
        with self._lock:
            for deployment_id, job in list(self._jobs.items()):
                if deployment_id not in keep and job.done.is_set():
                    del self._jobs[deployment_id]
