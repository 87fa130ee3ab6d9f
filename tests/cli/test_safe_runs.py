"""Safe runs (issue 11, item 7): locked run folders, damaged files, whole writes, bounded sizes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import numpy as np
import pytest

import genzoo
from genzoo import cli as cli_module
from genzoo._files import LOCK_FILE, RunLock
from tests.cli.test_cli import REPO_ROOT, assert_one_line_error, invoke, run_record

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# A small, fast run; training again with the same arguments is the same run.
SMALL_GMM = ["--data", "moons", "--n-samples", 200, "--quiet"]
SMALL_GMM += ["--set", "n_components=2", "--set", "max_iter=20"]


def try_train(run, *extra):
    return invoke("train", "gmm", "--out", run, *SMALL_GMM, *extra)


def train(run, *extra):
    result = try_train(run, *extra)
    assert result.exit_code == 0, result.output
    return result


def genzoo_process(*args) -> subprocess.CompletedProcess:
    """Run the `genzoo` command in a process of its own."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    env.pop("GENZOO_DEBUG", None)
    command = [sys.executable, "-c", "from genzoo.cli import main; main()", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


def temporaries(folder) -> list[str]:
    return [name for name in os.listdir(folder) if ".tmp" in name]


@pytest.fixture
def trained_run(tmp_path):
    run = tmp_path / "run"
    train(run)
    return run


# --- one run at a time


def test_a_second_train_on_a_folder_in_use_is_refused_and_names_the_holder(tmp_path):
    run = tmp_path / "run"
    with RunLock(run):  # as a first `genzoo train` would, from this test's process
        result = genzoo_process("train", "gmm", "--out", run, *SMALL_GMM)
        assert os.listdir(run) == [LOCK_FILE]  # the refused run wrote nothing
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"genzoo: error: {run} is in use by process {os.getpid()} on ")
    assert socket.gethostname() in line and line.endswith(
        "wait for it to finish or choose another --out"
    )
    # Once the first run is over, the folder is free and the lock file goes with the run.
    train(run)
    assert LOCK_FILE not in os.listdir(run)


def test_evaluate_waits_for_a_run_that_trains(trained_run):
    with RunLock(trained_run):
        result = invoke("evaluate", trained_run)
    assert_one_line_error(result, f"process {os.getpid()}", "wait for it to finish")
    assert not (trained_run / "eval.json").exists()


def test_an_interrupted_train_releases_its_folder(tmp_path, monkeypatch):
    def interrupt(model, dataset, **kwargs):
        raise KeyboardInterrupt

    run = tmp_path / "run"
    monkeypatch.setattr(cli_module, "fit_model", interrupt)
    invoke("train", "gmm", "--out", run, "--quiet")
    assert run_record(run)["status"] == "interrupted"
    with RunLock(run) as lock:
        assert lock.held


def test_a_train_that_fails_before_writing_leaves_no_folder(tmp_path):
    result = invoke("train", "gmm", "--data", "no_such_data", "--out", tmp_path / "run")
    assert_one_line_error(result, "no_such_data")
    assert os.listdir(tmp_path) == []


# --- damaged runs


def test_a_truncated_model_file_gets_the_force_message(trained_run):
    model_file = trained_run / "model.safetensors"
    content = model_file.read_bytes()
    model_file.write_bytes(content[: len(content) // 2])
    again = try_train(trained_run)
    assert_one_line_error(again, str(model_file), "--force")
    for args in (
        ["sample", trained_run, "--out", trained_run / "s.npy"],
        ["evaluate", trained_run],
    ):
        assert_one_line_error(invoke(*args), str(model_file), "the run is damaged")
    train(trained_run, "--force")
    assert genzoo.load(trained_run).n_components == 2


@pytest.mark.parametrize("content", ['{"status": "done", "mod', "[1, 2]", "\x00\x00\x00"])
def test_a_corrupt_run_json_gets_the_force_message(trained_run, content):
    (trained_run / "run.json").write_text(content)
    again = try_train(trained_run)
    assert_one_line_error(again, str(trained_run / "run.json"), "corrupt", "--force")
    sampled = invoke("sample", trained_run, "--out", trained_run / "s.npy")
    assert_one_line_error(sampled, "run.json", "the run is damaged")
    train(trained_run, "--force")
    assert run_record(trained_run)["status"] == "done"


# --- whole files


def test_a_fault_while_writing_samples_keeps_the_old_file(trained_run, tmp_path, monkeypatch):
    out = tmp_path / "samples.npy"
    assert invoke("sample", trained_run, "-n", 10, "--out", out).exit_code == 0
    before = out.read_bytes()

    def half_then_fail(path, array, allow_pickle):
        with open(path, "wb") as f:
            f.write(b"\x93NUMPY half")
        raise OSError("No space left on device")

    monkeypatch.setattr(cli_module.np, "save", half_then_fail)
    result = invoke("sample", trained_run, "-n", 20, "--out", out)
    assert_one_line_error(result, "No space left on device")
    assert out.read_bytes() == before and temporaries(tmp_path) == []


def test_train_removes_the_temporaries_of_a_killed_save(trained_run):
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    stale = trained_run / f".model.{finished.pid}.0123abcd.tmp.safetensors"
    stale.write_bytes(b"half a model")
    assert "complete" in train(trained_run).stdout
    assert not stale.exists()


# --- sizes


def test_sample_refuses_an_absurd_number_of_samples(trained_run, tmp_path):
    for n in (1_000_000_000, 0, -5):
        result = invoke("sample", trained_run, "-n", n, "--out", tmp_path / "s.npy")
        assert_one_line_error(result, "-n", "1<=x<=10000000")
    assert not (tmp_path / "s.npy").exists()
    helped = invoke("sample", "--help")
    assert "1<=x<=10000000" in helped.stdout


def test_sample_reports_a_request_too_large_for_the_model_or_the_memory(
    trained_run, tmp_path, monkeypatch
):
    def too_big(self, n, **options):
        raise ValueError(f"sample: n={n} would take 80.0 GB of memory")

    monkeypatch.setattr(genzoo.GaussianMixture, "sample", too_big)
    result = invoke("sample", trained_run, "-n", 10_000_000, "--out", tmp_path / "s.npy")
    assert_one_line_error(result, "80.0 GB")

    def no_memory(self, n, **options):
        return np.empty((n, 10**12))  # numpy refuses before touching any memory

    monkeypatch.setattr(genzoo.GaussianMixture, "sample", no_memory)
    result = invoke("sample", trained_run, "-n", 10, "--out", tmp_path / "s.npy")
    assert_one_line_error(result, "drawing 10 samples needs more memory", "fewer with -n")


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["train", "gmm", "--n-samples", 10**9], "--n-samples"),
        (["train", "gmm", "--n-samples", 0], "--n-samples"),
        (["train", "gmm", "--seed", 2**64], "--seed"),
        (["zoo", "--seed", -1], "--seed"),
    ],
)
def test_size_and_seed_options_are_bounded(tmp_path, args, fragment):
    result = invoke(*args, "--out", tmp_path / "out")
    assert_one_line_error(result, fragment, "is not in the range")
    assert os.listdir(tmp_path) == []
