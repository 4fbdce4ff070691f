"""Atomic files: a reader never sees half a file, a killed run never leaves one.

Every file is written to a temporary file in the same folder, fsynced, then
renamed over the target. A folder that does not exist yet (a day's raw
snapshots, hundreds of files) is written whole as a temporary folder and
renamed into place once (:func:`write_files_atomic`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
from pathlib import Path
from typing import Any, Mapping

import orjson

from stabmon.core.errors import StoreError
from stabmon.store import schemas
from stabmon.store.layout import BASELINE_RAW_DIR, DAY_RAW_RE, LOCK_FILE, TEMP_RE

log = logging.getLogger(__name__)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --- deferred sync (issue 7: a fleet writes ~350 files per service) ---
_sync_each_write = True


def set_sync_each_write(enabled: bool) -> bool:
    """Turn the per-file fsync of atomic writes on or off in this process; return the previous setting.

    Off, files are still renamed into place whole (a reader never sees half
    a file); the caller makes them durable with one ``os.sync()`` when its
    batch is written, as the catch-up of a single run does for snapshots.
    """
    global _sync_each_write
    previous, _sync_each_write = _sync_each_write, bool(enabled)
    return previous


def _temp_name(name: str) -> str:
    """``.NAME.XXXXXXXX.tmp`` (:data:`TEMP_RE`): a temporary file or folder beside ``NAME``."""
    return f".{name}.{os.urandom(4).hex()}.tmp"


def _create_exclusive(folder: Path, name: str) -> tuple[int, str]:
    """Create a new temporary file for ``name`` in ``folder``; return its descriptor and path."""
    while True:
        tmp_name = os.path.join(folder, _temp_name(name))
        try:
            return os.open(tmp_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), tmp_name
        except FileExistsError:  # pragma: no cover - 32 random bits collided
            continue


def write_bytes_atomic(path: Path, data: bytes, *, fsync: bool = True) -> None:
    """Write ``data`` to ``path`` atomically (temp file, fsync, rename).

    Raises
    ------
    StoreError
        When the folder cannot be created or the file cannot be written; the
        previous content of ``path``, if any, is left intact.
    """
    fsync = fsync and _sync_each_write
    path = Path(path)
    try:
        if not path.parent.is_dir():
            path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = _create_exclusive(path.parent, path.name)
    except OSError as exc:
        raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        _fill(fd, data, fsync)
        os.replace(tmp_name, path)
    except BaseException as exc:
        try:
            os.unlink(tmp_name)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from exc
        raise
    if fsync:
        _fsync_dir(path.parent)


def _fill(fd: int, data: bytes, fsync: bool) -> None:
    """Write ``data`` to a new file's descriptor (made 0644: reports are shared like any file), close it."""
    try:
        os.fchmod(fd, 0o644)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)


def write_files_atomic(folder: Path, files: Mapping[str, bytes], *, fsync: bool = True) -> None:
    """Write many files under ``folder`` (paths relative to it, ``/``-separated), each whole or not at all.

    Files in a subfolder that does not exist yet are written into a
    temporary folder that is renamed into place once: a day's 48 raw
    snapshots cost one rename instead of 48, and a reader (or a killed run)
    sees the whole folder or none of it. Every other file is written with
    :func:`write_bytes_atomic`. Subfolders come first, then the folder's own
    files, each in the order given.

    Raises
    ------
    StoreError
        When a file or folder cannot be written.
    """
    folder = Path(folder)
    fsync = fsync and _sync_each_write
    groups: dict[str, dict[str, bytes]] = {}
    own: list[tuple[str, bytes]] = []
    for relative, data in files.items():
        head, _, tail = relative.partition("/")
        if tail and "/" not in tail:
            groups.setdefault(head, {})[tail] = data
        else:
            own.append((relative, data))
    for sub, members in groups.items():
        target = folder / sub
        if target.exists():
            for name, data in members.items():
                write_bytes_atomic(target / name, data, fsync=fsync)
        else:
            _write_new_folder(target, members, fsync)
    for relative, data in own:
        write_bytes_atomic(folder / relative, data, fsync=fsync)


def _write_new_folder(target: Path, members: Mapping[str, bytes], fsync: bool) -> None:
    staging = target.parent / _temp_name(target.name)
    try:
        staging.mkdir(parents=True)
        for name, data in members.items():
            _fill(os.open(os.path.join(staging, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), data, fsync)
        if fsync:
            _fsync_dir(staging)
        os.rename(staging, target)
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, OSError):
            raise StoreError(f"cannot write {target}: {exc.strerror or exc}") from exc
        raise
    if fsync:
        _fsync_dir(target.parent)


def write_text_atomic(path: Path, text: str, *, fsync: bool = True) -> None:
    """Write UTF-8 text atomically."""
    write_bytes_atomic(path, text.encode("utf-8"), fsync=fsync)


# JSON is written by orjson (issue 13: a 1,000-service fleet writes ~400,000
# files; json's indented dump runs in pure Python, ~20x slower). The bytes are
# json's (indent 2, UTF-8, keys in order) but for how a float is spelt
# (``0.00001`` for ``1e-05``). orjson writes NaN and infinities as ``null``: a
# figure that is not a number is refused instead (:func:`_refuse_nan`), as
# json's ``allow_nan=False`` did, so nothing missing is written as if it were
# a value.
_ONE_LINE = orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE
_INDENTED = _ONE_LINE | orjson.OPT_INDENT_2


def _number(value: Any) -> Any:
    """orjson's fallback: subclasses of float (numpy's float64), numbers to json."""
    if isinstance(value, float):
        return float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _refuse_nan(obj: Any) -> None:
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise ValueError("Out of range float values are not JSON compliant")


def _encode(obj: Any, option: int) -> bytes:
    _refuse_nan(obj)
    return orjson.dumps(obj, default=_number, option=option)


def dumps(obj: Any) -> str:
    """Serialise ``obj`` as the package writes JSON (indented, no NaN allowed)."""
    return _encode(obj, _INDENTED).decode("utf-8")


def json_bytes(obj: Any, *, schema: str | None = None, compact: bool = False) -> bytes:
    """``obj`` validated against a packaged schema (when given) and serialised as the package writes JSON.

    ``compact`` writes one line (the many small raw snapshots, docs/contract.md §4).
    """
    if schema is not None:
        schemas.validate(obj, schema)
    return _encode(obj, _ONE_LINE if compact else _INDENTED)


def write_json_atomic(path: Path, obj: Any, *, schema: str | None = None, fsync: bool = True,
                      compact: bool = False) -> None:
    """Validate ``obj`` against a packaged schema (when given) and write it atomically (see :func:`json_bytes`)."""
    write_bytes_atomic(path, json_bytes(obj, schema=schema, compact=compact), fsync=fsync)


def read_json(path: Path) -> Any:
    """Read a JSON file; raise :class:`StoreError` with the path on failure."""
    try:
        with open(path, "rb") as handle:
            return orjson.loads(handle.read())
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except (orjson.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StoreError(f"{path} is not valid JSON: {exc}") from exc


def dumps_line(row: dict[str, Any]) -> str:
    """One JSON Lines row (no NaN, newline-terminated)."""
    return _encode(row, _ONE_LINE).decode("utf-8")


def append_text(path: Path, text: str) -> None:
    """Append ``text`` with one ``O_APPEND`` write, fsynced (for JSON Lines logs written live)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    except OSError as exc:
        raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)


def jsonl_bytes(rows: list[dict[str, Any]], *, schema: str | None = None) -> bytes:
    """JSON Lines, each row validated against ``schema`` when given."""
    lines = []
    for row in rows:
        if schema is not None:
            schemas.validate(row, schema)
        lines.append(dumps_line(row))
    return "".join(lines).encode("utf-8")


def write_jsonl_atomic(path: Path, rows: list[dict[str, Any]], *, schema: str | None = None) -> None:
    """Write JSON Lines atomically, each row validated against ``schema`` when given."""
    write_bytes_atomic(path, jsonl_bytes(rows, schema=schema))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Read a JSON Lines file; a torn last line (a killed append) is skipped with a warning."""
    rows: list[dict[str, Any]] = []
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return rows
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror or exc}") from exc
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            log.warning("skipped line %d of %s: not valid JSON", number, path)
    return rows


def remove_stale_temp_files(out_dir: Path) -> list[Path]:
    """Delete the temporary files a killed run left in a run folder; return them.

    A run killed between creating a temporary file and renaming it leaves
    ``.NAME.XXXXXXXX.tmp`` behind (the target itself stays whole), a file or
    a folder of a day's snapshots being written. Call this only while
    holding the folder's run lock, when no writer can own one.
    """
    out_dir = Path(out_dir)
    removed: list[Path] = []
    if not out_dir.is_dir():
        return removed
    folders = [out_dir] + [p for p in out_dir.iterdir()
                           if p.is_dir() and (DAY_RAW_RE.match(p.name) or p.name == BASELINE_RAW_DIR)]
    for folder in folders:
        for path in folder.iterdir():
            if TEMP_RE.match(path.name) and (path.is_file() or (folder == out_dir and path.is_dir())):
                try:
                    if path.is_dir():
                        shutil.rmtree(path)
                    else:
                        path.unlink()
                except OSError as exc:
                    log.warning("cannot remove %s left by a killed run: %s", path, exc.strerror or exc)
                    continue
                removed.append(path)
    if removed:
        log.info("removed %d temporary files left by a killed run in %s", len(removed), out_dir)
    return removed




# --- a folder as bytes, for a worker with no shared filesystem (``--scheduler``) ---


def _checked_relative(relative: str) -> str:
    """``relative`` when it names a file inside a folder (``/``-separated, no ``..``), else :class:`StoreError`."""
    parts = relative.split("/")
    if not relative or relative.startswith("/") or "\\" in relative or any(p in ("", ".", "..") for p in parts):
        raise StoreError(f"refused to unpack {relative!r}: not a path inside the folder")
    return relative


def pack_folder(folder: Path, *, skip: frozenset[str] = frozenset()) -> dict[str, bytes]:
    """Every file under ``folder`` as bytes keyed by its ``/``-separated relative path.

    Entries of ``folder`` named in ``skip`` (files or whole subfolders), its
    run lock and temporary files of atomic writes are left out. Sorted by path.

    Raises
    ------
    StoreError
        When a file cannot be read.
    """
    folder = Path(folder)
    packed: dict[str, bytes] = {}
    try:
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder)
            if relative.parts[0] in skip or relative.name == LOCK_FILE or TEMP_RE.match(relative.name) \
                    or not path.is_file():
                continue
            packed[relative.as_posix()] = path.read_bytes()
    except OSError as exc:
        raise StoreError(f"cannot read {folder}: {exc.strerror or exc}") from exc
    return packed


def unpack_folder(folder: Path, files: Mapping[str, bytes]) -> None:
    """Write ``files`` (as :func:`pack_folder` made them) under ``folder``, atomically each.

    Raises
    ------
    StoreError
        When a path reaches outside ``folder`` (absolute, ``..``, empty parts)
        or a file cannot be written; nothing is written then.
    """
    for relative in files:
        _checked_relative(relative)
    Path(folder).mkdir(parents=True, exist_ok=True)
    write_files_atomic(folder, files, fsync=False)
