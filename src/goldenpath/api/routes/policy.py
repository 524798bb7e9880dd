"""``/api/policy/v1/*``: policy guardrails — the active files, recorded decisions, dry checks,
tests of a policy directory, reload.

JSON is camelCase; errors are RFC 9457 problems (a denial elsewhere is a 403 problem of type
``urn:goldenpath:problem:policy_denied`` with ``denials`` and ``warnings`` members). Any token
may read; evaluating and testing need a member or admin token, reloading an admin token.

- ``GET /policies`` → ``{directory, enabled, loadError, items: [PolicyFile]}`` (``{name,
  source: builtin|custom, path, packages, rules, overrides, sha256}``)
- ``GET /decisions?action&allowed&limit&before`` → ``[Decision]``, newest first (``{id,
  action, allowed, denials, warnings, inputDigest, actor, at, subject}``)
- ``POST /evaluate`` ``{action, input, subject?, record?}`` → the Decision (not recorded
  unless ``record``; a denial is a 200 with ``allowed: false``)
- ``POST /test`` ``{files?: {name: text}}`` → ``{ok, passed, failed, cases, files}`` — the
  built-in bundle plus the uploaded ``*.rego``/``*_test.yaml`` files (same name = override),
  or plus the server's policy directory when ``files`` is absent; 400 naming
  ``file:line:col`` when a file does not compile
- ``POST /reload`` → like ``GET /policies``; 400 naming ``file:line:col`` (the previous
  bundle stays active)
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from goldenpath.api.deps import AdminDep, PrincipalDep, ReaderDep, ServicesDep
from goldenpath.api.ids import MAX_ID
from goldenpath.policy.service import PolicyService

__all__ = ["PREFIX", "router"]

PREFIX = "/api/policy/v1"
router = APIRouter(prefix=PREFIX, tags=["policy"])


class EvaluateInput(BaseModel):
    """Body of ``POST /evaluate``: the input document of ``action`` (see docs/policy.md)."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["deploy", "provision", "scaffold"]
    input: dict[str, Any]
    subject: str = Field(default="dry run", min_length=1, max_length=500)
    record: bool = False


class TestInput(BaseModel):
    """Body of ``POST /test``: policy files by name (``*.rego``, ``*_test.yaml``)."""

    __test__ = False  # not a pytest class
    model_config = ConfigDict(extra="forbid")

    files: dict[str, Annotated[str, Field(max_length=1_000_000)]] | None = Field(
        default=None, max_length=200
    )


def _listing(policy: PolicyService) -> dict[str, Any]:
    return {
        "directory": str(policy.directory),
        "enabled": policy.enabled,
        "loadError": policy.load_error,
        "items": [f.to_dict() for f in policy.policies()],
    }


@router.get("/policies", summary="The active policy files")
def list_policies(svc: ServicesDep, _who: ReaderDep) -> dict[str, Any]:
    """``{directory, enabled, loadError, items: [PolicyFile]}`` by file name."""
    return _listing(svc.policy)


@router.get("/decisions", summary="Recorded policy decisions, newest first")
def list_decisions(
    svc: ServicesDep,
    _who: ReaderDep,
    action: Literal["deploy", "provision", "scaffold"] | None = None,
    allowed: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="ids below this (paging)")
    ] = None,
) -> list[dict[str, Any]]:
    """``[Decision]`` newest first; the next page is ``before=<last id>``."""
    found = svc.policy.decisions(action=action, allowed=allowed, limit=limit, before=before)
    return [d.to_dict() for d in found]


@router.post("/evaluate", summary="Check an input document against the policies")
def evaluate(body: EvaluateInput, svc: ServicesDep, who: PrincipalDep) -> dict[str, Any]:
    """The Decision (200 even when denied); recorded only with ``record: true``."""
    decision = svc.policy.check(
        body.action, body.input, actor=who.user, subject=body.subject, record=body.record
    )
    return decision.to_dict()


@router.post("/test", summary="Run the example cases against a policy bundle")
def test_policies(body: TestInput, svc: ServicesDep, _who: PrincipalDep) -> dict[str, Any]:
    """``{ok, passed, failed, cases: [CaseResult], files: [PolicyFile]}``."""
    return svc.policy.test(files=body.files).to_dict()


@router.post("/reload", summary="Re-read the policy directory")
def reload_policies(svc: ServicesDep, _who: AdminDep) -> dict[str, Any]:
    """Like ``GET /policies``; 400 naming ``file:line:col`` when a file does not compile."""
    policy = svc.policy
    policy.reload()
    return _listing(policy)
