"""How one secret rotates, by its source; private to :mod:`goldenpath.secrets.service`.

``generated`` → a new random value; a source with a registered rotator → rotated at the
source, the returned values stored as new versions (one rotator call per source and scope);
``user`` → the same value re-encrypted under a fresh data key and the current master key.
"""

from __future__ import annotations

import secrets as _random
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from goldenpath.errors import PlatformError, Unavailable
from goldenpath.secrets.backend import ScopeFilter, SecretBackend
from goldenpath.secrets.model import RotationOutcome, RotationResult, SecretMeta, SecretScope

__all__ = ["Rotator", "rotate_each"]

#: rotates credentials at their source; returns the new values by secret name
Rotator = Callable[[SecretMeta], Mapping[str, str]]

_USER_MESSAGE = (
    "value unchanged (set by a user): re-encrypted under a fresh data key and the current "
    "master key; set a new value with `platform secrets set`"
)


class _Writer(Protocol):
    backend: SecretBackend

    def set_many(
        self, values: Mapping[str, str], *, scope: SecretScope, actor: str, source: str
    ) -> list[SecretMeta]: ...

    def get(self, name: str, *, scope: SecretScope) -> str: ...


def rotate_each(
    svc: _Writer,
    targets: Iterable[SecretMeta],
    rotator_for: Callable[[str], Rotator | None],
    *,
    actor: str,
    strict: bool,
) -> list[RotationResult]:
    """Rotate every target once; ``strict``: errors propagate, else they become ``skipped``."""
    results: list[RotationResult] = []
    done: set[tuple[str, SecretScope]] = set()
    for meta in targets:
        if (meta.name, meta.scope) in done:
            continue  # already rotated together with another secret of its source
        try:
            batch = _rotate_one(svc, meta, rotator_for, actor)
        except PlatformError as e:
            if strict:
                raise
            batch = [_result(meta, meta, "skipped", f"not rotated: {e.message}")]
        for result in batch:
            done.add((result.name, result.scope))
            results.append(result)
    return results


def _put(svc: _Writer, meta: SecretMeta, values: Mapping[str, str], actor: str) -> list[SecretMeta]:
    return svc.set_many(values, scope=meta.scope, actor=actor, source=meta.source)


def _rotate_one(
    svc: _Writer,
    meta: SecretMeta,
    rotator_for: Callable[[str], Rotator | None],
    actor: str,
) -> list[RotationResult]:
    if meta.source == "generated":
        [new] = _put(svc, meta, {meta.name: _random.token_urlsafe(32)}, actor)
        return [_result(meta, new, "new-value", "new random value")]
    if meta.source == "user":
        [new] = _put(svc, meta, {meta.name: svc.get(meta.name, scope=meta.scope)}, actor)
        return [_result(meta, new, "re-encrypted", _USER_MESSAGE)]
    rotator = rotator_for(meta.source)
    if rotator is None:
        raise Unavailable(
            f"secret {meta.name} ({meta.scope.describe()}) comes from {meta.source!r}, and no "
            "rotator for it is registered in this server; rotate it through its owner "
            "(e.g. `platform db` for resources)"
        )
    scope = meta.scope
    before = {
        m.name: m.version for m in svc.backend.latest(ScopeFilter(scope.service, scope.environment))
    }
    values = dict(rotator(meta))
    if not values:
        return [_result(meta, meta, "skipped", f"the rotator of {meta.source} returned nothing")]
    return [
        RotationResult(
            name=m.name,
            scope=m.scope,
            outcome="new-value",
            previous_version=before.get(m.name, 0),
            meta=m,
            message=f"rotated at its source ({meta.source})",
        )
        for m in _put(svc, meta, values, actor)
    ]


def _result(
    old: SecretMeta, new: SecretMeta, outcome: RotationOutcome, message: str
) -> RotationResult:
    return RotationResult(
        name=old.name,
        scope=old.scope,
        outcome=outcome,
        previous_version=old.version,
        meta=new,
        message=message,
    )
