"""The refresh loop: a background thread that refreshes every location at an interval.

The API starts it in the app lifespan
(``Refresher(service, interval=settings.catalog.refresh_interval).start()``; ``stop()`` at
shutdown). A pass that finds another refresh running (the lease is
held, e.g. a manual ``POST /refresh`` or another server replica) is skipped, not queued.
``stop()`` returns promptly: the loop waits on an event, and a pass in progress finishes its
current location's transaction first.
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

from goldenpath.errors import Conflict

__all__ = ["Refresher"]

log = logging.getLogger(__name__)


class _Refreshable(Protocol):
    def refresh(self) -> object:
        """Refresh every location; raise Conflict when another refresh runs."""
        ...


class Refresher:
    """Calls ``service.refresh()`` every ``interval`` seconds in a daemon thread.

    Attributes:
        passes: completed passes (successful or failed), for health pages and tests.
        last_error: the last unexpected exception, or ``None``.
    """

    def __init__(
        self, service: _Refreshable, *, interval: float, initial_delay: float = 0.0
    ) -> None:
        self.service = service
        self.interval = interval
        self.initial_delay = initial_delay
        self.passes = 0
        self.skipped = 0
        self.last_error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """True while the loop thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the loop (no-op when running, or when ``interval`` is 0 = disabled)."""
        if self.running or self.interval <= 0:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="catalog-refresher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the loop to stop and wait up to ``timeout`` seconds for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def run_once(self) -> bool:
        """One pass now; ``False`` when skipped because another refresh holds the lease."""
        try:
            self.service.refresh()
        except Conflict:
            self.skipped += 1
            return False
        except Exception as e:  # the loop must survive a bad pass; the error is kept and logged
            self.last_error = e
            log.exception("catalog refresh pass failed")
        finally:
            self.passes += 1
        return True

    def _run(self) -> None:
        if self._stop.wait(self.initial_delay):
            return
        while not self._stop.is_set():
            self.run_once()
            if self._stop.wait(self.interval):
                return
