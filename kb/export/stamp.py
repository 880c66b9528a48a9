"""The date an export carries: from the data, never from the clock."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from kb.config import Config, source_date_epoch

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class StampError(ValueError):
    """``updated`` in kb.toml is not a date."""


def data_timestamp(config: Config) -> str | None:
    """``YYYY-MM-DDT00:00:00Z`` from kb.toml's ``updated`` (the date of the data); failing that,
    ``SOURCE_DATE_EPOCH``; failing both, ``None`` (the export then carries no date)."""
    updated = config.extra.get("updated")
    if hasattr(updated, "isoformat"):  # TOML reads a bare date as a date
        updated = updated.isoformat()
    if updated:
        if not isinstance(updated, str) or not _DATE.match(updated):
            raise StampError(f"{config.evidence_dir / 'kb.toml'}: updated = {updated!r}; expected \"YYYY-MM-DD\"")
        return f"{updated}T00:00:00Z"
    epoch = source_date_epoch()
    if epoch is not None:
        return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return None
