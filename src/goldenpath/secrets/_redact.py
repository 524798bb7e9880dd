"""Masking known secret values in text; private to :mod:`goldenpath.secrets.service`."""

from __future__ import annotations

import re
import threading

from goldenpath.secrets.backend import SecretBackend

__all__ = ["MASK", "MIN_LENGTH", "Redactor"]

MASK = "***"
#: shorter values are not masked (they would match ordinary words)
MIN_LENGTH = 4


class Redactor:
    """Replaces every stored value (any version, ≥ :data:`MIN_LENGTH` characters) with
    :data:`MASK`, longest first; the pattern is rebuilt only when the backend's change token
    moves (a secret added or removed)."""

    def __init__(self, backend: SecretBackend) -> None:
        self._backend = backend
        self._lock = threading.Lock()
        self._cached: tuple[object, re.Pattern[str] | None] = (object(), None)

    def redact(self, text: str) -> str:
        """``text`` with every known value masked."""
        if not text:
            return text
        pattern = self._pattern()
        return pattern.sub(MASK, text) if pattern is not None else text

    def _pattern(self) -> re.Pattern[str] | None:
        token = self._backend.change_token()
        with self._lock:
            if self._cached[0] == token:
                return self._cached[1]
        token, values = self._backend.all_values()
        known = sorted({v for v in values if len(v) >= MIN_LENGTH}, key=len, reverse=True)
        pattern = re.compile("|".join(map(re.escape, known))) if known else None
        with self._lock:
            self._cached = (token, pattern)
        return pattern
