"""Safe file writes and run-folder locks.

`atomic_write` writes a file under a temporary name in the same folder and renames it into
place, so that a reader, or a run killed at any moment, finds the old file or the new one,
never half of one. `RunLock` lets one process at a time work in a run folder; the operating
system releases it when its holder exits, however that happens.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import secrets
import shlex
import socket
import stat
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: RunLock records its holder but locks nothing
    fcntl = None

__all__ = [
    "LOCK_FILE",
    "RunLock",
    "RunLockedError",
    "atomic_write",
    "atomic_write_text",
    "remove_stale_temporaries",
]

logger = logging.getLogger(__name__)

LOCK_FILE = ".genzoo.lock"  # inside the locked folder
_MAX_STEM = 80  # of a temporary name, so that it stays under the usual 255-byte limit
_MAX_COMMAND = 200  # characters of the holder's command line kept in the lock file
# .<stem>.<pid>.<8 hex digits>.tmp<suffix>, as _temporary_name writes it
_TEMPORARY = re.compile(r"\.(?P<stem>.*)\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp(?P<suffix>\.[^.]*)?")


# --- atomic writes


def _temporary_name(path: Path) -> Path:
    # The suffix is kept so that writers which infer a format from it (np.save adds .npy to
    # any other name) write exactly this file.
    token = secrets.token_hex(4)
    return path.with_name(f".{path.stem[:_MAX_STEM]}.{os.getpid()}.{token}.tmp{path.suffix}")


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDWR if os.name == "nt" else os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable, where the OS and file system allow it."""
    if os.name == "nt":
        return  # folders cannot be opened for fsync on Windows
    with contextlib.suppress(OSError):  # some file systems refuse; the rename is done anyway
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success, move it onto `path` in one step.

    The temporary file, ``.<stem>.<pid>.<random>.tmp<suffix>``, lies in the folder of `path`
    (which must exist), so the final `os.replace` is atomic: a reader, or a process killed at
    any moment, sees the old file at `path` or the complete new one. On leaving the block
    normally the file is flushed to disk, renamed onto `path` (with the old file's
    permissions, if there was one) and the rename made durable. If the block raises
    anything, KeyboardInterrupt included, the temporary file is removed, the old file is left
    untouched and the error propagates. A process killed outright (SIGKILL, power loss) can
    leave the temporary file behind, never a partial `path`; see `remove_stale_temporaries`.

    Parameters
    ----------
    path : str or path-like
        The file to write. A symbolic link is followed: its target is replaced.

    Yields
    ------
    Path
        Where to write the new content; its name ends in the suffix of `path`.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     with atomic_write(Path(folder, "a.txt")) as tmp:
    ...         _ = tmp.write_text("complete")
    ...     Path(folder, "a.txt").read_text()
    'complete'
    """
    path = Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)
    tmp = _temporary_name(path)
    try:
        yield tmp
        if not tmp.is_file():
            raise FileNotFoundError(f"nothing was written to the temporary file for {path}")
        _fsync_file(tmp)
        with contextlib.suppress(FileNotFoundError):  # a replaced file keeps its permissions
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_folder(path.parent)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write `text` to `path` through `atomic_write`; return the path."""
    with atomic_write(path) as tmp:
        tmp.write_text(text, encoding=encoding)
    return Path(path)


def _is_running(pid: int) -> bool:
    """Whether a process with this id runs on this machine (True when it cannot be told)."""
    if pid == os.getpid():
        return True
    if os.name == "nt":
        return True  # os.kill(pid, 0) would terminate it on Windows
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it runs, as another user
        return True
    return True


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files of `atomic_write` whose writer no longer runs; return them.

    Only processes of this machine can be checked, so call it where no other machine writes,
    such as a folder held with `RunLock`.
    """
    removed = []
    for path in Path(folder).glob(".*.tmp*"):
        match = _TEMPORARY.fullmatch(path.name)
        if match and path.is_file() and not _is_running(int(match["pid"])):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    return removed


# --- run-folder lock


class RunLockedError(ValueError):
    """Another process holds the lock of a run folder."""


def _try_lock(fd: int) -> bool:
    """Take the exclusive lock on an open file without waiting; False if another holds it."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as err:
        if err.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
            raise
        logger.warning("%s: the file system cannot lock files; working without a lock", err)
    return True


def _same_file(fd: int, path: Path) -> bool:
    """Whether the open file `fd` is still the file at `path` (it may have been unlinked)."""
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (found.st_dev, found.st_ino)


def _holder_record() -> dict:
    command = " ".join(shlex.quote(a) for a in [Path(sys.argv[0]).name, *sys.argv[1:]])
    if len(command) > _MAX_COMMAND:
        command = command[: _MAX_COMMAND - 3] + "..."
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": command,
    }


def _read_holder(path: Path, attempts: int = 5) -> dict | None:
    """The holder's record in a lock file; None if it is not (yet) readable."""
    for attempt in range(attempts):
        with contextlib.suppress(OSError, ValueError):
            record = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(record, dict):
                return record
        if attempt + 1 < attempts:
            time.sleep(0.02)  # the holder writes its record just after taking the lock
    return None


def _describe_holder(record: dict | None) -> str:
    if record is None:
        return "another process (which one is not recorded yet)"
    text = f"process {record.get('pid', '?')} on {record.get('host', '?')}"
    if record.get("since"):
        text += f" since {record['since']}"
    if record.get("command"):
        text += f" ({record['command']})"
    return text


class RunLock:
    """An exclusive lock on a run folder, so that one process at a time works in it.

    The lock is ``fcntl.flock`` on the file `LOCK_FILE` inside the folder, so the operating
    system releases it when its holder exits, even when killed; nothing stale is left to
    clean up by hand. The holder writes its process id, host name, start time and command
    line into that file, and a second process trying to take the lock gets a
    `RunLockedError` that names them. The folder (with its parents) is created if missing,
    and removed again on release if the lock created it and it is still empty. On platforms
    without ``fcntl`` (Windows) the holder is recorded but nothing is locked.

    Parameters
    ----------
    folder : str or path-like
        The folder to lock.
    advice : str, default="wait for it to finish or use another folder"
        What the refusal message tells the second process to do.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     with RunLock(folder):
    ...         try:
    ...             RunLock(folder).acquire()
    ...         except RunLockedError as err:
    ...             print(f"process {os.getpid()} on" in str(err))
    True
    """

    def __init__(
        self,
        folder: str | os.PathLike,
        *,
        advice: str = "wait for it to finish or use another folder",
    ) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self.advice = advice
        self._fd: int | None = None
        self._made_folder = False

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> RunLock:
        """Take the lock without waiting; raise `RunLockedError` if another process holds it."""
        if self.held:
            raise RuntimeError(f"this lock on {self.folder} is already held")
        for _ in range(10):
            made = self._make_folder()
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except FileNotFoundError:
                continue  # the last holder removed the empty folder meanwhile
            if not _try_lock(fd):
                os.close(fd)
                holder = _describe_holder(_read_holder(self.path))
                raise RunLockedError(f"{self.folder} is in use by {holder}; {self.advice}")
            if _same_file(fd, self.path):
                self._fd, self._made_folder = fd, made
                self._write_holder()
                return self
            os.close(fd)  # locked a file its last holder had just unlinked: try the new one
        raise RunLockedError(f"could not lock {self.folder}: its lock file keeps changing")

    def release(self) -> None:
        """Give the lock up (nothing happens if it is not held)."""
        if self._fd is None:
            return
        try:
            # Unlinked while still locked, so no one can lock the file on its way out; the
            # next holder checks that it locked the file at the path (_same_file).
            with contextlib.suppress(OSError):
                self.path.unlink()
            if self._made_folder:
                with contextlib.suppress(OSError):  # not empty: the run wrote into it
                    self.folder.rmdir()
        finally:
            os.close(self._fd)  # closing releases the flock
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc_info) -> None:
        self.release()

    def _make_folder(self) -> bool:
        """Create the folder if it is missing; whether this call created it."""
        try:
            self.folder.mkdir(parents=True)
        except FileExistsError:
            return False
        return True

    def _write_holder(self) -> None:
        data = (json.dumps(_holder_record()) + "\n").encode("utf-8")
        os.ftruncate(self._fd, 0)
        os.write(self._fd, data)  # at offset 0: the file was just opened
