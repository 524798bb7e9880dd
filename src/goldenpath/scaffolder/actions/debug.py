"""Scaffolder actions: debug (being written)."""

from __future__ import annotations

from goldenpath.scaffolder.actions.base import Action

ACTIONS: list[Action] = []
