"""The run directory: ``config.json`` and the append-only ``results.jsonl``.

Crash safety rests on three rules. Each row is one line written with a single ``write``, then
flushed and fsynced, so a kill can only tear the *last* line. On open, a last line that is not a
complete JSON object ending in a newline is cut off (and its search redone). A lock file held with
``flock`` while a runner writes keeps two runners from appending to the same directory; the kernel
releases it when the process dies, even by SIGKILL.

``config.json`` is written by :meth:`RunDir.commit`, once the run's components have been built
(a typo in a spec writes nothing, so the corrected command is not refused as a different
configuration). A row of an ``error`` may be superseded: a resumed run appends the theorem's new
row after it, and readers keep the later one (:func:`unique_rows`), so each theorem counts once.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from benchmarks.config import CONFIG_FORMAT, BenchConfig, config_differences
from prover.errors import ConfigError, DataFormatError

log = logging.getLogger(__name__)

RESULTS_FILE = "results.jsonl"
CONFIG_FILE = "config.json"
SUMMARY_FILE = "summary.json"
LOCK_FILE = ".lock"

class RunDirError(OSError):
    """The run directory could not be read or written (read-only, disk full, ...): the run
    stops, and the same command resumes once that is fixed."""


@contextmanager
def run_dir_io() -> Iterator[None]:
    """Turn an OSError of the run directory's files into :class:`RunDirError` (so that it is
    told apart from an OSError of a component, e.g. a model file that is missing)."""
    try:
        yield
    except RunDirError:
        raise
    except OSError as exc:
        raise RunDirError(exc.errno, exc.strerror or str(exc), exc.filename) from exc


RowKey = tuple[str, int]
"""(theorem name, attempt index): one row per key."""


def row_key(row: Mapping[str, Any]) -> RowKey:
    return str(row["theorem"]), int(row["attempt"])


def read_rows(path: str | Path, *, repair: bool = False) -> list[dict[str, Any]]:
    """The complete rows of a results file.

    A torn last line (no newline, or not a JSON object) is dropped, and cut from the file when
    ``repair`` is true. A bad line elsewhere cannot come from a crash and raises DataFormatError.
    """
    path = Path(path)
    if not path.exists():
        return []
    data = path.read_bytes()
    rows: list[dict[str, Any]] = []
    good_end = 0
    lines = data.split(b"\n")
    for index, raw in enumerate(lines):
        is_last = index == len(lines) - 1  # the text after the final newline (if any)
        if not raw.strip():
            if not is_last:
                good_end += len(raw) + 1
            continue
        try:
            row = json.loads(raw.decode("utf-8"))
            if not isinstance(row, dict) or "theorem" not in row or "attempt" not in row:
                raise ValueError("not a result row")
        except ValueError as exc:
            if _only_blank(lines[index + 1:]):
                break  # the tail: torn by a kill, cut below
            raise DataFormatError(f"bad result row ({exc}); only the last line can be torn by "
                                  f"a crash", path=path, line=index + 1) from exc
        if is_last:
            break  # a complete object without its newline: the write was cut short
        rows.append(row)
        good_end += len(raw) + 1
    if good_end < len(data):
        log.warning("%s: discarding a torn last line (%d bytes); it will be redone",
                    path, len(data) - good_end)
        if repair:
            with open(path, "r+b") as handle:
                handle.truncate(good_end)
                handle.flush()
                os.fsync(handle.fileno())
    return rows


def _only_blank(lines: Sequence[bytes]) -> bool:
    return all(not line.strip() for line in lines)


def unique_rows(rows: Sequence[Mapping[str, Any]]) -> dict[RowKey, dict[str, Any]]:
    """Rows by key. A later row supersedes an ``error`` row (a resumed run re-ran it); any
    other duplicate (impossible unless two runners shared a file) keeps the first."""
    out: dict[RowKey, dict[str, Any]] = {}
    for row in rows:
        key = row_key(row)
        earlier = out.get(key)
        if earlier is not None and earlier.get("status") != "error":
            log.warning("duplicate result row for %s attempt %d: keeping the first", *key)
            continue
        out[key] = dict(row)
    return out


class ResultsWriter:
    """Appends rows to ``results.jsonl``: one write per row, flushed and fsynced. The file is
    created by the first row."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._handle: IO[bytes] | None = None
        self._closed = False

    def append(self, row: Mapping[str, Any]) -> None:
        if self._closed:
            raise ValueError(f"results writer for {self.path} is closed")
        line = (json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
        if self._handle is None:
            self._handle = open(self.path, "ab")
        self._handle.write(line)
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        self._closed = True
        if self._handle is not None:
            handle, self._handle = self._handle, None
            handle.close()


class RunDir:
    """A run directory held by one runner: lock, config check, finished rows, the writer.

    Use as a context manager: ``with RunDir.open(path, config, theorems, force=...) as run``,
    then :meth:`commit` once the components are built, then :meth:`append` rows. The lock is
    released by :meth:`close` on every exit; a directory that this runner created and never
    committed is removed again.
    """

    def __init__(self, path: Path, config: BenchConfig, theorems: Sequence[str],
                 done: dict[RowKey, dict[str, Any]], lock: IO[str] | None, *,
                 pending: Mapping[str, Any] | None = None, created: bool = False) -> None:
        self.path = path
        self.config = config
        self.theorems = list(theorems)
        self.done = done
        self._lock = lock
        self._pending = dict(pending) if pending is not None else None
        self._created = created
        self.writer = ResultsWriter(path / RESULTS_FILE)

    @classmethod
    def open(cls, path: str | Path, config: BenchConfig, theorems: Sequence[str], *,
             force: bool = False, versions: Mapping[str, str] | None = None) -> RunDir:
        """Take the lock, check ``config.json``, repair and read ``results.jsonl``.

        A different config (or theorem list) from the one stored is refused unless ``force``;
        with ``force`` the new config is stored (by :meth:`commit`) and the old rows are kept
        (each row carries the hash of the config that produced it).
        """
        run = Path(path)
        created = not run.exists()
        with run_dir_io():
            run.mkdir(parents=True, exist_ok=True)
            lock = _take_lock(run / LOCK_FILE)
        try:
            pending = _check_config(run, config, theorems, force=force,
                                    versions=versions or {})
            with run_dir_io():
                done = unique_rows(read_rows(run / RESULTS_FILE, repair=True))
            return cls(run, config, theorems, done, lock, pending=pending, created=created)
        except BaseException:
            _release(run, lock, remove=created)
            raise

    @property
    def committed(self) -> bool:
        return self._pending is None

    def commit(self) -> None:
        """Store ``config.json`` (when new or changed): the run's specs were all built."""
        if self._pending is not None:
            with run_dir_io():
                write_json_atomic(self.path / CONFIG_FILE, self._pending)
            self._pending = None

    def append(self, row: Mapping[str, Any]) -> None:
        """Write one row; it may supersede an ``error`` row of the same key (see the module
        docstring), whose message it keeps as ``replaces_error``."""
        if self._pending is not None:
            raise ValueError(f"{self.path}: commit() the configuration before writing rows")
        key = row_key(row)
        earlier = self.done.get(key)
        if earlier is not None:
            if earlier.get("status") != "error":
                raise ValueError(f"row {key} is already in {self.path / RESULTS_FILE}")
            row = {**row, "replaces_error": earlier.get("message")}
        with run_dir_io():
            self.writer.append(row)
        self.done[key] = dict(row)

    def close(self) -> None:
        try:
            self.writer.close()
        finally:
            lock, self._lock = self._lock, None
            _release(self.path, lock, remove=self._created and self._pending is not None)

    def __enter__(self) -> RunDir:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _release(run: Path, lock: IO[str] | None, *, remove: bool) -> None:
    """Release the lock; with ``remove``, also take away the directory this runner created
    (the lock file first, while still held; then the directory, if nothing else is in it)."""
    try:
        if remove:
            (run / LOCK_FILE).unlink(missing_ok=True)
    except OSError:
        log.debug("could not remove %s", run / LOCK_FILE, exc_info=True)
    finally:
        if lock is not None:
            lock.close()
    if remove:
        try:
            run.rmdir()
        except OSError:  # something else was put there: leave it
            pass


def _take_lock(path: Path) -> IO[str] | None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory locks, run one runner
        return None
    handle = open(path, "a", encoding="utf-8")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise ConfigError(f"another runner is writing to {path.parent} (lock {path} is "
                          f"held); wait for it or stop it") from None
    return handle


def load_run_config(path: str | Path) -> dict[str, Any] | None:
    """The stored ``config.json`` of a run directory, or None if there is none."""
    file = Path(path) / CONFIG_FILE
    if not file.exists():
        return None
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataFormatError(f"invalid JSON: {exc.msg}", path=file, line=exc.lineno) from exc
    if not isinstance(data, dict) or "config" not in data:
        raise DataFormatError("expected an object with a 'config' field", path=file)
    return data


def _check_config(run: Path, config: BenchConfig, theorems: Sequence[str], *, force: bool,
                  versions: Mapping[str, str]) -> dict[str, Any] | None:
    """Compare with the stored config; the document to store (``None``: the stored one
    matches)."""
    stored = load_run_config(run)
    new = config.to_dict()
    if stored is not None:
        changes = config_differences(stored["config"], new)
        old_names = list(stored.get("theorems", []))
        if old_names != list(theorems):
            changes.append(f"theorems: {len(old_names)} stored -> {len(theorems)} selected "
                           f"({len(set(theorems) - set(old_names))} new, "
                           f"{len(set(old_names) - set(theorems))} dropped)")
        if not changes:
            return None
        if not force:
            listing = "\n  ".join(changes)
            raise ConfigError(f"{run} holds a run with a different configuration:\n  {listing}\n"
                              f"Use the same command to resume, another --out for a new run, "
                              f"or --force to continue with the new configuration (rows "
                              f"already written are kept and carry their own config_hash).")
        log.warning("--force: %s continues with a changed configuration (%s)", run,
                    "; ".join(changes))
    return {"format": CONFIG_FORMAT, "config_hash": config.config_hash(), "config": new,
            "theorems": list(theorems), "written_at": time.time(), "versions": dict(versions)}


def write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    """Write ``data`` as JSON through a temporary file and a rename (a kill leaves the old file
    or the new one, never half of it)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(data, handle, ensure_ascii=False, indent=1)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def iter_run_rows(path: str | Path) -> Iterator[dict[str, Any]]:
    """The unique complete rows of a run directory (read-only: a torn tail is skipped)."""
    yield from unique_rows(read_rows(Path(path) / RESULTS_FILE)).values()


__all__ = [
    "CONFIG_FILE",
    "RESULTS_FILE",
    "SUMMARY_FILE",
    "ResultsWriter",
    "RowKey",
    "RunDir",
    "RunDirError",
    "iter_run_rows",
    "load_run_config",
    "read_rows",
    "row_key",
    "run_dir_io",
    "unique_rows",
    "write_json_atomic",
]
