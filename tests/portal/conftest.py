"""Fixtures of the portal tests: ``portal`` (module-scoped app; see portalhelpers)."""

from __future__ import annotations

from portalhelpers import portal

__all__ = ["portal"]
