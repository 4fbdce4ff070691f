"""The run lock: one stabmon run per folder at a time."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path
from typing import Iterator

from stabmon.core.errors import StoreError
from stabmon.store.layout import LOCK_FILE


@contextlib.contextmanager
def run_lock(out_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on a run folder for the life of a run.

    ``flock`` locks die with their process, so a killed run never leaves the
    folder stuck.

    Raises
    ------
    StoreError
        When another process holds the lock, or the folder cannot be written.
    """
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        handle = open(out_dir / LOCK_FILE, "a+", encoding="utf-8")
    except OSError as exc:
        raise StoreError(f"cannot write {out_dir}: {exc.strerror or exc}") from None
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise StoreError(f"cannot lock {out_dir}: {exc.strerror or exc}") from None
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise StoreError(f"output folder {out_dir} is in use by another stabmon run (pid {holder})") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()
