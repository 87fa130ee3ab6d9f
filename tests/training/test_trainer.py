"""The shared gradient trainer: training, schedules, EMA, checkpoints, resume, signals, DDP."""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import signal
import struct
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from genzoo.training import Objective, TrainConfig, Trainer, load_checkpoint, save_checkpoint
from genzoo.training import trainer as trainer_module
from genzoo.training._checkpoint import CHECKPOINT_FILE, DataStream, read_checkpoint_state
from genzoo.training.trainer import SYNC_EVERY, ema_decay_at, learning_rate_factor
from tests.training import _train_script as script


@pytest.fixture(autouse=True)
def one_thread():
    """One thread: fast for tiny nets on a shared machine, and the same sums as the scripts."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _weights(modules: dict[str, nn.Module]) -> dict[str, torch.Tensor]:
    return {f"{n}.{k}": v for n, m in modules.items() for k, v in m.state_dict().items()}


def _assert_equal_weights(a: dict, b: dict) -> None:
    a, b = _weights(a), _weights(b)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def _scalar_module(value: float = 1.0) -> nn.Module:
    module = nn.Module()
    module.p = nn.Parameter(torch.tensor([value], dtype=torch.float64))
    return module


def _linear_loss(modules, batch, gen):
    """Loss p (gradient 1), reporting p before the update."""
    p = modules["net"].p
    return p.sum() + 0 * batch[0].sum(), {"p": float(p.detach())}


def _assert_no_pickle(path: Path) -> None:
    files = [p for p in path.rglob("*") if p.is_file()]
    assert [f.name for f in files] == [CHECKPOINT_FILE]  # no temporary file left behind
    raw = files[0].read_bytes()
    (header_len,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + header_len])
    dtypes = {v["dtype"] for k, v in header.items() if k != "__metadata__"}
    assert dtypes <= {"F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL"}
    assert b"\x80\x04" not in raw[: 8 + header_len] and not raw.startswith(b"PK")


# --- training


def test_regression_mlp_trains_to_low_loss():
    gen = torch.Generator().manual_seed(0)
    X = torch.rand(512, 2, generator=gen) * 4 - 2
    y = (X[:, :1] * X[:, 1:]).tanh() + 0.5 * X[:, :1]
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 64), nn.Tanh(), nn.Linear(64, 1))
    config = TrainConfig(
        device="cpu",
        batch_size=64,
        max_steps=400,
        learning_rate=1e-2,
        warmup_steps=20,
        ema_decay=0.99,
        verbose=0,
        random_state=0,
    )
    mse = lambda m, batch, gen: ((m["net"](batch[0]) - batch[1]) ** 2).mean()  # noqa: E731
    result = Trainer(config).fit({"net": net}, mse, (X, y))
    assert result.step == 400 and len(result.history) == 400 and not result.interrupted
    variance = float(y.var())
    with torch.no_grad():
        assert float(((net(X) - y) ** 2).mean()) < 0.02 * variance
        assert float(((result.ema["net"](X) - y) ** 2).mean()) < 0.02 * variance
    assert net.training  # the module's mode is left as it was


def test_same_seed_same_weights_and_global_rng_untouched():
    runs = []
    for _ in range(2):
        modules, loss_fn, data = script.build()
        before = torch.get_rng_state()
        result = Trainer(script.config(None, checkpoint_every=None)).fit(modules, loss_fn, data)
        assert torch.equal(torch.get_rng_state(), before)
        runs.append((modules, result))
    _assert_equal_weights(runs[0][0], runs[1][0])
    assert runs[0][1].history == runs[1][1].history
    assert runs[0][1].metrics["noise"] == runs[1][1].metrics["noise"]


def test_bfloat16_autocast_and_batches_larger_than_the_data():
    config = TrainConfig(
        device="cpu",
        batch_size=50,
        max_steps=40,
        learning_rate=0.1,
        precision="bfloat16",
        verbose=0,
        random_state=0,
    )
    X = torch.linspace(-1, 1, 20).reshape(-1, 1)
    seen = []

    def loss_fn(modules, batch, gen):
        out = modules["net"](batch[0])
        seen.append((out.dtype, len(batch[0])))
        return ((out.float() - 3 * batch[0]) ** 2).mean()

    torch.manual_seed(0)
    result = Trainer(config).fit({"net": nn.Linear(1, 1)}, loss_fn, X)
    assert seen[0] == (torch.bfloat16, 50)  # the loss ran under bf16 autocast, full batches
    assert result.history[-1] < 0.1 * result.history[0]


def test_data_stream_takes_full_batches_across_epochs():
    stream = DataStream(5, seed=1)
    rows = stream.take(3, 9)  # straddles three epochs
    first, second = stream.take(0, 5), stream.take(5, 5)
    assert sorted(first.tolist()) == sorted(second.tolist()) == list(range(5))
    assert not torch.equal(first, second)
    assert rows.tolist() == first.tolist()[3:] + second.tolist() + stream.take(10, 2).tolist()


# --- schedule and moving average


def test_warmup_and_cosine_schedule_values():
    factors = [learning_rate_factor(t, max_steps=14, warmup_steps=4) for t in range(14)]
    np.testing.assert_allclose(factors[:4], [0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(
        factors[4:], [0.5 * (1 + math.cos(math.pi * k / 10)) for k in range(10)]
    )
    assert learning_rate_factor(9, max_steps=14, warmup_steps=4) == pytest.approx(0.5)
    constant = [
        learning_rate_factor(t, max_steps=9, warmup_steps=2, schedule="constant") for t in range(9)
    ]
    assert constant == [0.5, 1.0] + [1.0] * 7


def test_trainer_applies_the_schedule():
    """With a constant gradient, an Adam step moves the weight by exactly the learning rate."""
    config = TrainConfig(
        device="cpu",
        batch_size=1,
        max_steps=12,
        learning_rate=0.1,
        warmup_steps=3,
        grad_clip=None,
        verbose=0,
        random_state=0,
    )
    modules = {"net": _scalar_module()}
    result = Trainer(config).fit(modules, _linear_loss, torch.zeros(4, 1))
    p = result.metrics["p"] + [float(modules["net"].p.detach())]
    moves = -np.diff(p)
    expected = [0.1 * learning_rate_factor(t, max_steps=12, warmup_steps=3) for t in range(12)]
    np.testing.assert_allclose(moves, expected, rtol=1e-6)


def test_ema_equals_hand_computed_average():
    config = TrainConfig(
        device="cpu",
        batch_size=1,
        max_steps=30,
        learning_rate=0.05,
        schedule="constant",
        ema_decay=0.8,
        verbose=0,
        random_state=0,
    )
    modules = {"net": _scalar_module(2.0)}
    result = Trainer(config).fit(modules, _linear_loss, torch.zeros(3, 1))
    weights = result.metrics["p"][1:] + [float(modules["net"].p.detach())]  # after each update
    average = 2.0
    for t, weight in enumerate(weights):
        decay = min(0.8, (1 + t) / (10 + t))
        average = decay * average + (1 - decay) * weight
    assert ema_decay_at(0, 0.8) == pytest.approx(0.1) and ema_decay_at(100, 0.8) == 0.8
    assert float(result.ema["net"].p) == pytest.approx(average, rel=1e-12)
    assert not result.ema["net"].p.requires_grad


# --- checkpoints and resume


def _kill_mid_step(directory: Path, marker: Path, *, two: bool) -> None:
    """Run the training script in a forked child until its step 37 hangs, then SIGKILL it.

    Forked, not a new interpreter: the child has torch and genzoo imported already, and it
    trains on the CPU only (so a parent that has used CUDA may fork it).
    """
    context = multiprocessing.get_context("fork")
    kwargs = {"two": two, "hang_at": 37, "marker": str(marker)}
    with warnings.catch_warnings():  # Python 3.12 warns on forking a threaded process
        warnings.simplefilter("ignore", DeprecationWarning)
        process = context.Process(target=script.run, args=(str(directory),), kwargs=kwargs)
        process.start()
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert process.is_alive(), f"the training script exited with {process.exitcode}"
        assert time.monotonic() < deadline, "the training script never reached step 37"
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)  # mid-step, no chance to clean up
    process.join()


@pytest.mark.parametrize("two", [False, True], ids=["one loss", "two objectives"])
def test_killed_run_resumes_to_the_uninterrupted_weights(tmp_path, two):
    build = script.build_two if two else script.build
    # First the uninterrupted run: it also warms torch up (AdamW's first use imports
    # torch._dynamo, seconds), so the forked child inherits that and reaches step 37 quickly.
    reference, objectives, data = build()
    uninterrupted = Trainer(script.config(None, checkpoint_every=None)).fit(
        reference, objectives, data
    )
    directory = tmp_path / "run"
    _kill_mid_step(directory, tmp_path / "hanging", two=two)
    assert read_checkpoint_state(directory)["step"] == 30
    _assert_no_pickle(directory)

    modules, objectives, data = build()
    resumed = Trainer(script.config(directory)).fit(modules, objectives, data)
    assert resumed.step == uninterrupted.step == script.MAX_STEPS
    _assert_equal_weights(modules, reference)
    _assert_equal_weights(resumed.ema, uninterrupted.ema)
    assert resumed.history == uninterrupted.history
    assert resumed.losses == uninterrupted.losses
    assert resumed.metrics == uninterrupted.metrics
    assert read_checkpoint_state(directory)["step"] == script.MAX_STEPS


def test_two_objectives_update_their_own_modules_as_often_as_asked():
    modules, objectives, data = script.build_two()
    start = {k: v.clone() for k, v in _weights(modules).items()}
    result = Trainer(script.config(None, checkpoint_every=None, ema_decay=None)).fit(
        modules, objectives, data
    )
    n_critic = script.MAX_STEPS // script.CRITIC_EVERY
    assert {k: len(v) for k, v in result.losses.items()} == {
        "model": script.MAX_STEPS,
        "critic": n_critic,
    }
    assert result.history == result.losses["model"]
    assert len(result.metrics["model/residual"]) == script.MAX_STEPS
    assert all(not torch.equal(v, start[k]) for k, v in _weights(modules).items())
    assert result.losses["critic"][-1] < result.losses["critic"][0]

    # Each objective trains only its own modules: a critic that never steps keeps its weights.
    modules, objectives, data = script.build_two()
    critic = {k: v.clone() for k, v in modules["critic"].state_dict().items()}
    never = [objectives[0], Objective("critic", objectives[1].loss, ("critic",), every=999)]
    config = script.config(None, checkpoint_every=None, max_steps=20)
    result = Trainer(config).fit(modules, never, data)
    assert result.losses["critic"] == []
    for key, value in modules["critic"].state_dict().items():
        assert torch.equal(value, critic[key]), key


def test_the_loop_reads_the_device_once_per_block_of_steps(monkeypatch):
    reads = []
    real = trainer_module._floats

    def counting(tensors):
        reads.append(len(tensors))
        return real(tensors)

    monkeypatch.setattr(trainer_module, "_floats", counting)
    X = torch.randn(64, 2)

    def loss_fn(modules, batch, gen):
        out = modules["net"](batch[0]).square().mean()
        return out, {"out": out.detach()}  # a tensor metric, read with the losses

    steps = 2 * SYNC_EVERY + 7
    config = TrainConfig(device="cpu", batch_size=8, max_steps=steps, verbose=0, random_state=0)
    result = Trainer(config).fit({"net": nn.Linear(2, 1)}, loss_fn, X)
    blocks = math.ceil(steps / SYNC_EVERY)
    assert reads == [SYNC_EVERY, SYNC_EVERY] * 2 + [7, 7]  # losses, then metrics, per block
    assert len(reads) == 2 * blocks
    assert len(result.history) == len(result.metrics["out"]) == steps
    assert result.metrics["out"] == pytest.approx(result.history, rel=1e-6)


def test_bad_objectives_are_refused():
    modules = {"a": nn.Linear(2, 1), "b": nn.Linear(2, 1)}
    loss = lambda m, batch, gen: m["a"](batch[0]).mean()  # noqa: E731
    trainer = Trainer(TrainConfig(device="cpu", max_steps=2, verbose=0, random_state=0))
    X = torch.zeros(4, 2)
    with pytest.raises(ValueError, match="both update module 'a'"):
        trainer.fit(modules, [Objective("x", loss), Objective("y", loss, ("a",))], X)
    with pytest.raises(ValueError, match="not among the modules"):
        trainer.fit(modules, [Objective("x", loss, ("c",))], X)
    with pytest.raises(ValueError, match="names must differ"):
        trainer.fit(modules, [Objective("x", loss, ("a",)), Objective("x", loss, ("b",))], X)
    with pytest.raises(ValueError, match="list of Objective"):
        trainer.fit(modules, [loss], X)
    for bad, match in (
        ({"every": 0}, "every"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"betas": (0.9, 1.0)}, "betas"),
        ({"modules": "a"}, "modules"),
    ):
        with pytest.raises(ValueError, match=match):
            Objective("x", loss, **bad)
    with pytest.raises(ValueError, match="'/'"):
        Objective("x/y", loss)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_writes_a_checkpoint_and_stops(tmp_path, signum):
    modules, loss_fn, data = script.build()
    calls = 0

    def signalling(modules, batch, gen):
        nonlocal calls
        calls += 1
        if calls == 24:
            os.kill(os.getpid(), signum)  # arrives mid-step; the step still completes
        return loss_fn(modules, batch, gen)

    previous = signal.getsignal(signum)
    trainer = Trainer(script.config(tmp_path))
    if signum == signal.SIGINT:
        with pytest.raises(KeyboardInterrupt):
            trainer.fit(modules, signalling, data)
    else:
        result = trainer.fit(modules, signalling, data)
        assert result.interrupted and result.step == 24
    assert signal.getsignal(signum) is previous
    assert read_checkpoint_state(tmp_path)["step"] == 24

    resumed = Trainer(script.config(tmp_path)).fit(modules, loss_fn, data)
    reference, loss_fn, data = script.build()
    Trainer(script.config(None, checkpoint_every=None)).fit(reference, loss_fn, data)
    assert resumed.step == script.MAX_STEPS and not resumed.interrupted
    _assert_equal_weights(modules, reference)


def test_finished_checkpoint_resumes_without_training(tmp_path):
    modules, loss_fn, data = script.build()
    first = Trainer(script.config(tmp_path)).fit(modules, loss_fn, data)
    again, _, _ = script.build()
    second = Trainer(script.config(tmp_path)).fit(again, loss_fn, data)
    assert second.step == first.step and second.history == first.history
    _assert_equal_weights(modules, again)
    fresh = Trainer(script.config(tmp_path, max_steps=3)).fit(again, loss_fn, data, resume=False)
    assert fresh.step == 3


def test_checkpoint_round_trip_and_clear_errors(tmp_path):
    modules, loss_fn, data = script.build()
    optimizer = torch.optim.AdamW(modules["net"].parameters())
    modules["net"](data[0]).sum().backward()
    optimizer.step()
    path = save_checkpoint(tmp_path, modules=modules, optimizer=optimizer, state={"step": 1})
    _assert_no_pickle(tmp_path)
    twin, _, _ = script.build()
    twin_optimizer = torch.optim.AdamW(twin["net"].parameters())
    state = load_checkpoint(tmp_path, modules=twin, optimizer=twin_optimizer)
    assert state == {"step": 1}
    _assert_equal_weights(modules, twin)
    saved, loaded = optimizer.state_dict(), twin_optimizer.state_dict()
    assert saved["param_groups"] == loaded["param_groups"]
    for index, entries in saved["state"].items():
        for key, value in entries.items():
            assert torch.equal(value, loaded["state"][index][key])

    with pytest.raises(FileNotFoundError, match="no genzoo checkpoint"):
        load_checkpoint(tmp_path / "missing", modules=twin)
    with pytest.raises(ValueError, match="do not fit"):
        load_checkpoint(tmp_path, modules={"net": nn.Linear(3, 1)})
    with pytest.raises(ValueError, match="modules"):
        load_checkpoint(tmp_path, modules={"other": twin["net"]})
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])  # truncated, as by a full disk
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        Trainer(script.config(tmp_path)).fit(twin, loss_fn, data)
    path.write_bytes(b"\x80\x04garbage")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path, modules=twin)


# --- validation


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("learning_rate", -1e-3),
        ("learning_rate", 0.0),
        ("batch_size", 0),
        ("batch_size", 2.5),
        ("max_steps", 0),
        ("schedule", "linear"),
        ("ema_decay", 1.0),
        ("grad_clip", 0),
        ("warmup_steps", -1),
        ("weight_decay", -0.1),
        ("precision", "fp8"),
        ("device", "tpu"),
        ("checkpoint_every", 0),
        ("random_state", 1.5),
        ("checkpoint_dir", 3),
    ],
)
def test_bad_config_values_raise(name, value):
    with pytest.raises(ValueError, match=f"{name} of TrainConfig must be"):
        TrainConfig(**{name: value})


def test_bad_arguments_of_fit_raise(tmp_path):
    with pytest.raises(ValueError, match="checkpoint_every is set but checkpoint_dir"):
        TrainConfig(checkpoint_every=5)
    trainer = Trainer(TrainConfig(device="cpu", max_steps=3, verbose=0, random_state=0))
    net = {"net": nn.Linear(2, 1)}
    loss = lambda m, batch, gen: m["net"](batch[0]).mean()  # noqa: E731
    with pytest.raises(ValueError, match="data is empty"):
        trainer.fit(net, loss, torch.zeros(0, 2))
    with pytest.raises(ValueError, match="same number of rows"):
        trainer.fit(net, loss, (torch.zeros(4, 2), torch.zeros(3)))
    with pytest.raises(ValueError, match="modules must be a dict"):
        trainer.fit([net["net"]], loss, torch.zeros(4, 2))
    with pytest.raises(ValueError, match="scalar tensor"):
        trainer.fit(net, lambda m, batch, gen: m["net"](batch[0]), torch.zeros(4, 2))
    diverging = lambda m, batch, gen: m["net"](batch[0]).mean() * float("nan")  # noqa: E731
    with pytest.raises(ValueError, match="diverged"):
        trainer.fit(net, diverging, torch.zeros(4, 2))


# --- several processes


def _ddp_data():
    gen = torch.Generator().manual_seed(1)
    X = torch.randn(90, 4, generator=gen)
    return X, X @ torch.tensor([[1.0], [-2.0], [0.5], [0.0]]) + 0.1


def _ddp_net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1))


def _ddp_config(batch_size: int) -> TrainConfig:
    return TrainConfig(
        device="cpu",
        batch_size=batch_size,
        max_steps=25,
        learning_rate=1e-2,
        warmup_steps=3,
        ema_decay=0.9,
        verbose=0,
        random_state=7,
    )


def _mse(modules, batch, gen):
    return ((modules["net"](batch[0]) - batch[1]) ** 2).mean()


def _critic_loss(modules, batch, gen):
    """A second objective's loss: fit the net's residual (its gradient stopped) from x."""
    x, y = batch
    with torch.no_grad():
        residual = modules["net"](x) - y
    return ((modules["critic"](torch.cat([x, residual], 1)) - residual) ** 2).mean()


def _ddp_two(seed: int) -> tuple[dict[str, nn.Module], list[Objective]]:
    net = _ddp_net(seed)
    critic = nn.Linear(5, 1)
    objectives = [
        Objective("net", _mse, ("net",)),
        Objective("critic", _critic_loss, ("critic",), every=2, betas=(0.5, 0.999)),
    ]
    return {"net": net, "critic": critic}, objectives


def _flat(modules: dict[str, nn.Module]) -> np.ndarray:
    return np.concatenate([p.detach().numpy().ravel() for p in _weights(modules).values()])


def _train_rank(rank: int, world: int, init_file: str, out: str):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    torch.set_num_threads(1)
    net = _ddp_net(seed=rank)  # different on each rank: DDP starts all from rank 0's weights
    result = Trainer(_ddp_config(batch_size=8)).fit({"net": net}, _mse, _ddp_data())
    two, objectives = _ddp_two(seed=rank)
    both = Trainer(_ddp_config(batch_size=8)).fit(two, objectives, _ddp_data())
    np.savez(
        f"{out}/rank{rank}.npz",
        history=np.array(result.history),
        ema=np.concatenate([p.detach().numpy().ravel() for p in result.ema["net"].parameters()]),
        two=_flat(two),
        two_ema=_flat(both.ema),
        critic_losses=np.array(both.losses["critic"]),
        **{k: v.numpy() for k, v in net.state_dict().items()},
    )
    dist.barrier()
    dist.destroy_process_group()


def test_two_gloo_processes_equal_one_process_with_double_batch(tmp_path):
    mp.spawn(_train_rank, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    net = _ddp_net(seed=0)
    single = Trainer(_ddp_config(batch_size=16)).fit({"net": net}, _mse, _ddp_data())
    ema = np.concatenate([p.detach().numpy().ravel() for p in single.ema["net"].parameters()])
    two, objectives = _ddp_two(seed=0)
    both = Trainer(_ddp_config(batch_size=16)).fit(two, objectives, _ddp_data())
    close = {"rtol": 1e-5, "atol": 1e-5}
    for rank in range(2):
        result = np.load(tmp_path / f"rank{rank}.npz")
        for key, value in net.state_dict().items():
            np.testing.assert_allclose(result[key], value.numpy(), **close)
        np.testing.assert_allclose(result["ema"], ema, **close)
        np.testing.assert_allclose(result["history"], single.history, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(result["two"], _flat(two), **close)
        np.testing.assert_allclose(result["two_ema"], _flat(both.ema), **close)
        np.testing.assert_allclose(result["critic_losses"], both.losses["critic"], **close)


def test_a_loss_with_a_step_parameter_gets_the_step_also_after_a_resume(tmp_path):
    X = torch.randn(32, 3)
    seen = []

    def loss_fn(modules, batch, gen, step=None):
        seen.append(step)
        return modules["net"](batch[0]).square().mean()

    def run(max_steps):
        config = TrainConfig(
            device="cpu", batch_size=8, max_steps=max_steps, verbose=0, random_state=0,
            checkpoint_dir=tmp_path, checkpoint_every=1,
        )  # fmt: skip
        torch.manual_seed(0)
        return Trainer(config).fit({"net": nn.Linear(3, 1)}, loss_fn, (X,))

    run(3)
    assert seen == [0, 1, 2]
    seen.clear()
    run(5)  # resumes from the checkpoint at step 3
    assert seen == [3, 4]


def test_only_the_averaged_modules_get_a_moving_average_and_it_is_the_same_average():
    every, objectives = _ddp_two(seed=0)
    all_ema = Trainer(_ddp_config(batch_size=16)).fit(every, objectives, _ddp_data()).ema
    some, objectives = _ddp_two(seed=0)
    result = Trainer(_ddp_config(batch_size=16)).fit(
        some, objectives, _ddp_data(), averaged=["net"]
    )
    assert set(all_ema) == {"net", "critic"} and set(result.ema) == {"net"}
    np.testing.assert_array_equal(_flat({"net": result.ema["net"]}), _flat({"net": all_ema["net"]}))
    np.testing.assert_array_equal(_flat(some), _flat(every))  # training itself is unchanged
    trainer = Trainer(_ddp_config(batch_size=16))
    for bad in (["nope"], [], "net"):
        with pytest.raises(ValueError, match="averaged must"):
            trainer.fit(_ddp_two(seed=0)[0], objectives, _ddp_data(), averaged=bad)
