"""Scorecard summaries of every definition from one evaluation (shared by the API, the
Prometheus gauges and the portal's scorecard page).

``ScorecardService.summary()`` summarises one scorecard and evaluates the catalog to do so;
:func:`scorecard_overview` evaluates once and summarises every scorecard from the results.
"""

from __future__ import annotations

from typing import Any

from goldenpath.insights import scorecards as scorecard_model

__all__ = ["scorecard_overview"]


def scorecard_overview(service: Any) -> tuple[list[dict[str, Any]], list[Any]]:
    """``(summaries, results)`` over every Component: one ``{scorecard, title, levels: {level:
    n}, none, total}`` per definition (name order) and the ``ScorecardResult`` list.

    Args:
        service: the app's ``ScorecardService``.

    Raises:
        InvalidInput: a malformed scorecard file.
    """
    cards = service.definitions()
    results = service.evaluate()
    return [scorecard_model.summarize(card, results) for card in cards], results
