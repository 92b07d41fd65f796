"""The worker's local copies of its tables are kept only after a clean stop.

Faust writes a table change to the local RocksDB store at once and to the table's
changelog a moment later: a worker killed in between leaves a local copy ahead of
the changelog, holding states (and the join's positions) that no other worker will
ever read, while the facts and positions that went with them may be lost. Such a
copy is thrown away at start-up and the tables are recovered from their changelogs,
which are whole; after a clean stop, which sends every change first, it is kept.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

log = logging.getLogger(__name__)
STOPPED_CLEANLY = "stopped-cleanly"


def discard_tables_unless_stopped_cleanly(worker_dir: Path, tabledir: Path) -> bool:
    """Remove `tabledir` unless the last run in `worker_dir` stopped cleanly; True if it
    did. Either way the next stop has to say so again."""
    marker = worker_dir / STOPPED_CLEANLY
    clean = marker.exists()
    marker.unlink(missing_ok=True)
    if not clean and tabledir.exists():
        log.warning("the last run did not stop cleanly: recovering the tables from their "
                    "changelogs instead of the local copy in %s", tabledir)
        shutil.rmtree(tabledir)
    return clean


def mark_stopped_cleanly(worker_dir: Path) -> None:
    (worker_dir / STOPPED_CLEANLY).touch()
