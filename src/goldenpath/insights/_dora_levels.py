"""DORA performance levels (elite / high / medium / low) for each of the four keys.

Sources: the Accelerate State of DevOps reports (DORA, Google Cloud) —
https://dora.dev/research/2024/dora-report/ (2024 performance clusters) and
https://dora.dev/research/2023/dora-report/ (2023), as summarised by DORA's quick check
https://dora.dev/quickcheck/ and the Four Keys guide https://dora.dev/guides/dora-metrics-four-keys/.
The 2025 report (https://dora.dev/research/2025/dora-report/) replaced the four clusters by
seven team archetypes and added rework rate as a fifth metric without levels, so the
clusters of 2024 are the latest published bounds.

The reports give each cluster a *typical value*, not a boundary, and the 2024 change
failure rates are not monotone (elite 5 %, high 20 %, medium 10 %, low 40 %). We therefore
use these monotone bounds (a value is put in the best level whose bound it meets):

=================  ==================  ================  ================  ===========
key                elite               high              medium            low
=================  ==================  ================  ================  ===========
deploy frequency   ≥ 1 a day           ≥ 1 a week        ≥ 1 in 30 days    below
lead time          < 1 day             ≤ 7 days          ≤ 30 days         longer
change failure     ≤ 5 %               ≤ 10 %            ≤ 15 %            above
time to restore    < 1 hour            < 1 day           ≤ 7 days          longer
=================  ==================  ================  ================  ===========

Frequency, lead time and (2024: elite < 1 hour, high < 1 day) time to restore follow the
2024 clusters ("on demand / between once per day and once per week / between once per
week and once per month / less often"; "less than one day / between one day and one week /
between one week and one month / longer"); medium time to restore ("between one day and one
week") and the change failure bounds 5 / 10 / 15 % are the 2023 clusters' values.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

__all__ = [
    "LEVELS",
    "Level",
    "classify_change_failure",
    "classify_frequency",
    "classify_lead_time",
    "classify_restore",
    "overall_level",
]

Level = Literal["elite", "high", "medium", "low"]
#: levels from best to worst
LEVELS: tuple[Level, ...] = ("elite", "high", "medium", "low")

DAY = 86_400.0
HOUR = 3_600.0
WEEK = 7 * DAY
MONTH = 30 * DAY


def classify_frequency(per_day: float | None) -> Level | None:
    """Level of a deployment frequency in successful production deployments per day.

    elite ≥ 1/day (on demand), high ≥ 1/week, medium ≥ 1 per 30 days, low otherwise
    (0 is low); None → None. Bounds: module docstring (DORA 2024 clusters).
    """
    if per_day is None:
        return None
    if per_day >= 1.0:
        return "elite"
    if per_day * 7 >= 1.0:
        return "high"
    if per_day * 30 >= 1.0:
        return "medium"
    return "low"


def classify_lead_time(median_seconds: float | None) -> Level | None:
    """Level of a median lead time for changes in seconds.

    elite < 1 day, high ≤ 7 days, medium ≤ 30 days, low longer; None → None (DORA 2024).
    """
    if median_seconds is None:
        return None
    if median_seconds < DAY:
        return "elite"
    if median_seconds <= WEEK:
        return "high"
    if median_seconds <= MONTH:
        return "medium"
    return "low"


def classify_change_failure(rate: float | None) -> Level | None:
    """Level of a change failure rate given as a fraction (0.05 = 5 %).

    elite ≤ 5 %, high ≤ 10 %, medium ≤ 15 %, low above; None → None (DORA 2023 values, the
    2024 ones being non-monotone — see the module docstring).
    """
    if rate is None:
        return None
    if rate <= 0.05:
        return "elite"
    if rate <= 0.10:
        return "high"
    if rate <= 0.15:
        return "medium"
    return "low"


def classify_restore(median_seconds: float | None) -> Level | None:
    """Level of a median failed deployment recovery time (time to restore) in seconds.

    elite < 1 hour, high < 1 day, medium ≤ 7 days, low longer; None → None (DORA 2024/2023).
    """
    if median_seconds is None:
        return None
    if median_seconds < HOUR:
        return "elite"
    if median_seconds < DAY:
        return "high"
    if median_seconds <= WEEK:
        return "medium"
    return "low"


def overall_level(levels: Iterable[Level | None]) -> Level | None:
    """The lowest of ``levels``, ignoring None (a key without data does not pull it down).

    DORA puts a team in one cluster from all four keys at once; taking the weakest key is
    the conservative reading (a team is as elite as its weakest key). All None → None.
    """
    present = [LEVELS.index(level) for level in levels if level is not None]
    return LEVELS[max(present)] if present else None
