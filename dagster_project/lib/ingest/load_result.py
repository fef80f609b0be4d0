"""What one load reports, and how it fails.

`LoadResult` is a load's `ops.load_log` row in the making; `IngestionError` says why a
partition could not be loaded. They sit below the loader, the readers and the file checks, which
fill in the one and raise the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path


class IngestionError(RuntimeError):
    """A partition cannot be loaded; the message says which file, what is wrong and what to do."""


class RecordCountError(IngestionError):
    """The file's records do not add up: some could be lost or misnumbered."""

    def __init__(self, path: Path, detail: str) -> None:
        super().__init__(
            f"file {path}: the independent record count disagrees with DuckDB's CSV parser "
            f"({detail}); rows could be lost or misnumbered, so nothing is loaded. Check the "
            "file's quoting and the source's quote/delimiter settings in governance.yaml."
        )


@dataclass
class LoadResult:
    source_name: str
    partition_date: date
    file_path: Path
    status: str
    file_sha256: str | None = None
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_skipped: int = 0
    extra_columns: list[str] = field(default_factory=list)
    duplicate_of_partition: date | None = None
    duration_s: float = 0.0
    message: str = ""
