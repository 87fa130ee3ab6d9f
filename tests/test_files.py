"""Atomic writes and run-folder locks (genzoo/_files.py): kills and faults mid-write, rivals."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genzoo import _files
from genzoo._files import (
    LOCK_FILE,
    RunLock,
    RunLockedError,
    atomic_write,
    atomic_write_text,
    remove_stale_temporaries,
)

posix_only = pytest.mark.skipif(os.name != "posix", reason="signals and flock are POSIX")

# A child process loads _files.py by path, so that it starts without importing torch.
_CHILD_PRELUDE = f"""
import importlib.util, sys, time
spec = importlib.util.spec_from_file_location("_files", {str(Path(_files.__file__))!r})
files = importlib.util.module_from_spec(spec)
spec.loader.exec_module(files)
"""

_SLOW_WRITER = """
path, chunks = sys.argv[1], int(sys.argv[2])
with files.atomic_write(path) as tmp, open(tmp, "w") as f:
    for i in range(chunks):
        f.write(f"line {i}\\n" * 10_000)
        f.flush()
        if i == 0:
            print("writing", flush=True)
        time.sleep(0.01)
    f.write("END\\n")
"""

_LOCK_HOLDER = """
lock = files.RunLock(sys.argv[1]).acquire()
print("locked", flush=True)
time.sleep(60)
"""


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name)


def start_child(code: str, *args, until: str) -> subprocess.Popen:
    """A Python child running `code`, once it has printed the line `until`."""
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD_PRELUDE + code, *map(str, args)],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = child.stdout.readline().strip()
    assert line == until, f"child said {line!r}"
    return child


def kill(child: subprocess.Popen) -> None:
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    child.stdout.close()


def expected_slow_content(chunks: int) -> str:
    return "".join(f"line {i}\n" * 10_000 for i in range(chunks)) + "END\n"


# --- atomic_write


def test_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "run.json"
    target.write_text("old")
    with atomic_write(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".run.") and tmp.suffix == ".json"
        assert str(os.getpid()) in tmp.name
        tmp.write_text("new")
        assert target.read_text() == "old"  # nothing is visible until the block ends
    assert target.read_text() == "new"
    assert leftovers(tmp_path) == []


def test_atomic_write_text_writes_a_new_file(tmp_path):
    path = atomic_write_text(tmp_path / "a.txt", "héllo\n")
    assert path.read_text(encoding="utf-8") == "héllo\n"
    assert os.listdir(tmp_path) == ["a.txt"]


@pytest.mark.parametrize("fault", [RuntimeError, KeyboardInterrupt])
def test_a_fault_in_the_writer_leaves_the_old_file_intact(tmp_path, fault):
    target = tmp_path / "model.safetensors"
    target.write_bytes(b"old model")

    def writer(path: Path) -> None:
        with open(path, "wb") as f:
            f.write(b"half of a new mo")
            raise fault("killed halfway")

    with pytest.raises(fault, match="halfway"), atomic_write(target) as tmp:
        writer(tmp)
    assert target.read_bytes() == b"old model"
    assert leftovers(tmp_path) == []


def test_a_fault_before_any_old_file_leaves_nothing(tmp_path):
    with pytest.raises(OSError, match="disk full"), atomic_write(tmp_path / "new.npy") as tmp:
        tmp.write_bytes(b"abc")
        raise OSError("disk full")
    assert os.listdir(tmp_path) == []


def test_a_failing_rename_removes_the_temporary(tmp_path, monkeypatch):
    target = tmp_path / "run.json"
    target.write_text("old")

    def refuse(*args):
        raise PermissionError("rename refused")

    monkeypatch.setattr(_files.os, "replace", refuse)
    with pytest.raises(PermissionError), atomic_write(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "old"
    assert leftovers(tmp_path) == []


def test_a_writer_that_writes_nothing_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing was written"):
        with atomic_write(tmp_path / "a.txt"):
            pass
    assert os.listdir(tmp_path) == []


@posix_only
def test_the_old_file_keeps_its_permissions_and_links_are_followed(tmp_path):
    target = tmp_path / "secret.json"
    target.write_text("old")
    target.chmod(0o600)
    link = tmp_path / "link.json"
    link.symlink_to(target)
    atomic_write_text(link, "new")
    assert link.is_symlink() and target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


@posix_only
def test_a_writer_killed_mid_write_leaves_the_old_file_and_a_stale_temporary(tmp_path):
    target = tmp_path / "samples.txt"
    target.write_text("old and complete\n")
    child = start_child(_SLOW_WRITER, target, 100, until="writing")
    kill(child)
    assert target.read_text() == "old and complete\n"
    stale = leftovers(tmp_path)
    assert len(stale) == 1 and f".{child.pid}." in stale[0]
    assert remove_stale_temporaries(tmp_path) == [tmp_path / stale[0]]
    assert os.listdir(tmp_path) == ["samples.txt"]


@posix_only
@pytest.mark.parametrize("delay", [0.0, 0.05, 0.15, 0.6])
def test_a_writer_killed_at_any_moment_leaves_no_file_or_a_complete_one(tmp_path, delay):
    target = tmp_path / "big.txt"
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD_PRELUDE + _SLOW_WRITER, str(target), "20"],
        stdout=subprocess.DEVNULL,
    )
    time.sleep(delay)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    if target.exists():
        assert target.read_text() == expected_slow_content(20)


def test_stale_temporaries_of_running_processes_and_other_files_are_kept(tmp_path):
    ours = tmp_path / f".run.{os.getpid()}.0123abcd.tmp.json"
    other = tmp_path / ".notes.tmp"
    for path in (ours, other):
        path.write_text("x")
    assert remove_stale_temporaries(tmp_path) == []
    assert sorted(os.listdir(tmp_path)) == sorted([ours.name, other.name])


# --- RunLock


def test_a_second_lock_is_refused_with_the_holder_named(tmp_path):
    run = tmp_path / "run"
    with RunLock(run) as lock:
        assert lock.held and (run / LOCK_FILE).is_file()
        with pytest.raises(RunLockedError) as refused:
            RunLock(run, advice="wait or choose another --out").acquire()
    message = str(refused.value)
    assert isinstance(refused.value, ValueError)
    assert f"{run} is in use by process {os.getpid()} on {socket.gethostname()}" in message
    assert "since 20" in message and message.endswith("; wait or choose another --out")


def test_release_removes_the_lock_file_and_a_folder_it_created(tmp_path):
    made, existing = tmp_path / "a" / "made", tmp_path / "existing"
    existing.mkdir()
    for folder in (made, existing):
        with RunLock(folder):
            pass
    assert not made.exists() and os.listdir(existing) == []
    with RunLock(made):
        (made / "model.safetensors").write_bytes(b"kept")
    assert os.listdir(made) == ["model.safetensors"]


def test_a_released_lock_can_be_taken_again(tmp_path):
    first = RunLock(tmp_path).acquire()
    first.release()
    first.release()  # a second release does nothing
    with RunLock(tmp_path) as second:
        assert second.held and not first.held
    with pytest.raises(RuntimeError, match="already held"), RunLock(tmp_path) as third:
        third.acquire()


@posix_only
def test_a_lock_held_by_another_process_names_it_and_dies_with_it(tmp_path):
    child = start_child(_LOCK_HOLDER, tmp_path, until="locked")
    try:
        with pytest.raises(RunLockedError, match=f"in use by process {child.pid} on "):
            RunLock(tmp_path).acquire()
    finally:
        kill(child)
    # The killed holder's lock file is still there, but the OS has released its lock.
    assert (tmp_path / LOCK_FILE).is_file()
    with RunLock(tmp_path) as lock:
        assert lock.held
