"""How deployments print as tables (``platform deploy history``, ``platform status``)."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console

from goldenpath.cli.commands._deploy_view import deployment_table


def _deployment(id: int, service: str) -> dict[str, Any]:
    return {
        "id": id,
        "service": service,
        "environment": "dev",
        "kind": "deploy",
        "strategy": "rolling",
        "state": "succeeded",
        "sha": "c71ff61a9",
        "triggeredBy": "user:default/admin",
        "createdAt": "2026-12-05T09:05:03.123456+00:00",
        "message": "d1 serves 100% of hello-api in dev",
    }


def _text(items: list[dict[str, Any]], width: int) -> str:
    console = Console(width=width, file=io.StringIO())
    console.print(deployment_table(items))
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_one_service_s_deployments_leave_out_the_service_column() -> None:
    text = _text([_deployment(2, "hello-api"), _deployment(1, "hello-api")], width=120)
    header = text.splitlines()[1]
    assert "SERVICE" not in header and "ENV" in header and "MESSAGE" in header
    assert "2026-12-05 09:05:03" in text and "c71ff61 " in text


def test_several_services_keep_the_service_column() -> None:
    text = _text([_deployment(2, "hello-api"), _deployment(1, "orders")], width=160)
    assert "SERVICE" in text.splitlines()[1]
    assert "hello-api" in text and "orders" in text
