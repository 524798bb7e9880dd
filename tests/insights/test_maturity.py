"""The seed-001 maturity model assessed from hand-built organisation facts, and the platform
metrics' self-service rate, adoption and MTTR from hand-built facts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from goldenpath.insights.maturity import STAGES, assess_maturity
from goldenpath.insights.platform_metrics import platform_metrics

NOW = datetime(2026, 12, 4, tzinfo=UTC)


def _services(n: int, **shares: float) -> list[dict[str, Any]]:
    """``n`` services where the first ``share * n`` have each flag set."""
    flags = {
        "ownerExists": 0.0,
        "fromTemplate": 0.0,
        "standardPipeline": 0.0,
        "techdocs": 0.0,
        "firstProductionDeployAt": 0.0,
        "sloDefined": 0.0,
        "onLatestTemplate": 0.0,
        **shares,
    }
    out = []
    for i in range(n):
        row: dict[str, Any] = {"ref": f"component:default/s{i}"}
        for key, share in flags.items():
            on = i < round(share * n)
            row[key] = (NOW if on else None) if key == "firstProductionDeployAt" else on
        out.append(row)
    return out


STANDARDIZED = {"ownerExists": 0.8, "fromTemplate": 0.5, "standardPipeline": 0.5, "techdocs": 0.3}
SELF_SERVICE = {**STANDARDIZED, "firstProductionDeployAt": 0.5}
OPTIMIZED = {**SELF_SERVICE, "fromTemplate": 0.8}
PRODUCT = {**OPTIMIZED, "sloDefined": 0.8, "onLatestTemplate": 0.7}


def _facts(shares: dict[str, float], **extra: Any) -> dict[str, Any]:
    return {
        "services": _services(10, **shares),
        "requests": extra.pop("requests", {"total": 0, "approvalRequired": 0}),
        **extra,
    }


AUTOMATED = {"total": 20, "approvalRequired": 2}
RICH = {
    "requests": AUTOMATED,
    "doraLevel": "high",
    "scorecardCoverage": 0.7,
    "scheduledRules": 1,
    "survey": {"responses": 10, "nps": 20},
}


@pytest.mark.parametrize(
    ("facts", "level", "name"),
    [
        ({"services": []}, 1, "Ad hoc"),
        (_facts({**STANDARDIZED, "ownerExists": 0.7}), 1, "Ad hoc"),
        (_facts(STANDARDIZED), 2, "Standardized"),
        # 2 of 20 requests needed an approval: 90% self-service is enough
        (_facts(SELF_SERVICE, requests=AUTOMATED), 3, "Self-service"),
        (_facts(SELF_SERVICE, requests={"total": 20, "approvalRequired": 3}), 2, "Standardized"),
        (
            _facts(OPTIMIZED, requests=AUTOMATED, doraLevel="elite", scorecardCoverage=0.9),
            4,
            "Optimized",
        ),
        (
            _facts(OPTIMIZED, requests=AUTOMATED, doraLevel="medium", scorecardCoverage=0.9),
            3,
            "Self-service",
        ),
        (_facts(PRODUCT, **RICH), 5, "Product"),
        (_facts(PRODUCT, **{**RICH, "survey": {"responses": 10, "nps": 19}}), 4, "Optimized"),
        # stages are consecutive: Product's criteria alone do not lift an Ad hoc organisation
        (_facts({**PRODUCT, "ownerExists": 0.5}, **RICH), 1, "Ad hoc"),
    ],
)
def test_maturity_stage_from_facts(facts: dict[str, Any], level: int, name: str) -> None:
    result = assess_maturity(facts)
    assert (result["level"], result["levelName"]) == (level, name)
    reached = [s["reached"] for s in result["stages"]]
    assert reached == [i < level for i in range(5)]


def test_the_result_says_what_is_missing_for_the_next_stage() -> None:
    result = assess_maturity(_facts(SELF_SERVICE, requests=AUTOMATED, doraLevel="low"))
    assert [s["name"] for s in result["stages"]] == [s.name for s in STAGES]
    assert [s["name"] for s in result["stages"]] == [
        "Ad hoc",
        "Standardized",
        "Self-service",
        "Optimized",
        "Product",
    ]
    assert result["next"] == {
        "name": "Optimized",
        "missing": [
            "reach DORA level high or elite organisation-wide",
            "have at least 70% of services hold the first scorecard level",
            "create at least 80% of services from golden-path templates",
        ],
    }
    self_service = result["stages"][2]
    assert self_service["evidence"] == [
        "self-service rate: 90% of 20 requests",
        "services deploying to production via the platform: 50%",
    ]
    assert self_service["missing"] == []
    top = assess_maturity(_facts(PRODUCT, **RICH))
    assert top["next"] is None


def test_platform_metrics_from_hand_built_facts() -> None:
    start = NOW - timedelta(days=30)
    services = [
        {
            "ref": "a",
            "createdAt": NOW - timedelta(days=10),
            "firstProductionDeployAt": NOW - timedelta(days=9),
            "fromTemplate": True,
            "onLatestTemplate": True,
            "standardPipeline": True,
        },
        {
            "ref": "b",
            "createdAt": NOW - timedelta(days=5),
            "firstProductionDeployAt": NOW - timedelta(days=2),
            "fromTemplate": True,
            "onLatestTemplate": False,
            "standardPipeline": False,
        },
        # created before the window: not counted for time to first deploy
        {
            "ref": "c",
            "createdAt": NOW - timedelta(days=90),
            "firstProductionDeployAt": NOW - timedelta(days=1),
            "fromTemplate": False,
            "standardPipeline": True,
        },
        {"ref": "d", "createdAt": NOW - timedelta(days=1), "firstProductionDeployAt": None},
    ]
    facts = {
        "window": {"start": start, "end": NOW, "days": 30},
        "services": services,
        "developers": [
            {
                "user": "u1",
                "firstSeenAt": NOW - timedelta(hours=5),
                "firstDeployAt": NOW - timedelta(hours=4),
            },
            {"user": "u2", "firstSeenAt": NOW - timedelta(hours=5), "firstDeployAt": None},
        ],
        "requests": {
            "resourceClaims": 3,
            "environments": 1,
            "secretRotations": 0,
            "total": 4,
            "approvalRequired": 1,
        },
        "recoveries": [600.0],
        "incidents": [
            {"openedAt": NOW - timedelta(hours=3), "resolvedAt": NOW - timedelta(hours=2)},
            {"openedAt": NOW - timedelta(hours=1), "resolvedAt": None},  # open: skipped
            {"openedAt": start - timedelta(days=1), "resolvedAt": NOW},  # before the window
        ],
    }
    metrics = platform_metrics(facts)
    assert metrics["timeToFirstDeploy"]["medianSeconds"] == 2 * 86400  # median of 1 d and 3 d
    assert [r["ref"] for r in metrics["timeToFirstDeploy"]["services"]] == ["a", "b", "d"]
    assert metrics["timeToFirstDeployPerDeveloper"]["medianSeconds"] == 3600
    assert metrics["selfServiceRate"] == {
        "automated": 3,
        "manual": 1,
        "rate": 0.75,
        "byType": {"resourceClaims": 3, "environments": 1, "secretRotations": 0},
    }
    assert metrics["goldenPathAdoption"] == {
        "fromTemplate": 2,
        "total": 4,
        "rate": 0.5,
        "onLatestVersion": 1,
        "latestRate": 0.5,
        "standardPipeline": 2,
        "pipelineRate": 0.5,
    }
    assert metrics["mttrSeconds"] == (600 + 3600) / 2
    assert metrics["restores"] == {"incidents": 1, "failedDeployments": 1}


def test_platform_metrics_with_nothing_recorded() -> None:
    window = {"start": NOW - timedelta(days=90), "end": NOW, "days": 90}
    metrics = platform_metrics({"window": window, "services": []})
    assert metrics["timeToFirstDeploy"] == {"medianSeconds": None, "samples": 0, "services": []}
    assert metrics["selfServiceRate"]["rate"] is None
    assert metrics["goldenPathAdoption"]["rate"] is None
    assert metrics["mttrSeconds"] is None
