"""The one place the quiz reads the current time from.

``TNQUIZ_NOW`` (an ISO 8601 timestamp; without an offset it is taken as UTC) fixes the clock for tests
and demos. Every pure function takes ``now`` as a parameter instead of calling this.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

ENV_NOW = "TNQUIZ_NOW"
ENV_FUZZ = "TNQUIZ_FUZZ"


def parse_now(text: str) -> datetime:
    """``2025-01-02T09:00:00+01:00`` -> an aware datetime (naive input is taken as UTC)."""
    t = text.strip()
    if t.endswith(("Z", "z")):
        t = t[:-1] + "+00:00"
    dt = datetime.fromisoformat(t)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt


def now() -> datetime:
    """The current time, aware, in the local (or ``TNQUIZ_NOW``'s) timezone."""
    fixed = os.environ.get(ENV_NOW)
    if fixed:
        return parse_now(fixed)
    return datetime.now().astimezone()


def is_fixed() -> bool:
    return bool(os.environ.get(ENV_NOW))


def fuzz_enabled() -> bool:
    """FSRS interval fuzzing: on, unless ``TNQUIZ_FUZZ=0`` or the clock is fixed (``TNQUIZ_NOW``)."""
    v = os.environ.get(ENV_FUZZ)
    if v is not None and v.strip() != "":
        return v.strip().lower() not in ("0", "false", "no", "off")
    return not is_fixed()


def utc(dt: datetime) -> datetime:
    return dt.astimezone(timezone.utc)


def iso(dt: datetime) -> str:
    """Fixed-width UTC ISO text (``2025-01-02T08:00:00.000000+00:00``): sorts as text sorts."""
    return utc(dt).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def from_iso(text: str) -> datetime:
    return parse_now(text)


def day_start(moment: datetime) -> datetime:
    """Midnight at the start of ``moment``'s calendar day, in ``moment``'s own timezone."""
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def day_end(moment: datetime) -> datetime:
    """The start of the next day: "due today" means due before this."""
    return day_start(moment) + timedelta(days=1)
