"""The trainer's Monitor: figures every N steps, without changing training; checks that stop."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from genzoo.training import Monitor, TrainConfig, Trainer, TrainingDiverged


def _net() -> dict[str, nn.Module]:
    torch.manual_seed(0)
    return {"net": nn.Sequential(nn.Linear(2, 8), nn.Dropout(0.2), nn.Linear(8, 1))}


def _loss(modules, batch, gen):
    x = batch[0] + 0.1 * torch.randn(batch[0].shape, generator=gen)
    return ((modules["net"](x) - x.sum(1, keepdim=True)) ** 2).mean()


def _data() -> torch.Tensor:
    return torch.randn(64, 2, generator=torch.Generator().manual_seed(1))


def _config(**kw) -> TrainConfig:
    return TrainConfig(**{"device": "cpu", "batch_size": 16, "max_steps": 23, "verbose": 0,
                          "random_state": 0, **kw})  # fmt: skip


def _measure(modules, averaged, gen):
    """The output of the net kept (the average if any) at a fixed point, plus draws from gen
    and the global generator."""
    net = (averaged or modules)["net"]
    assert not net.training  # eval mode: no dropout while measuring
    torch.rand(3)  # the global state is forked: training must not notice
    return {"out": float(net(torch.ones(1, 2))), "noise": float(torch.rand(1, generator=gen))}


def test_monitor_records_every_n_steps_and_the_last_without_changing_training():
    plain = _net()
    Trainer(_config()).fit(plain, _loss, _data())
    watched = _net()
    result = Trainer(_config()).fit(watched, _loss, _data(), monitor=Monitor(_measure, every=5))
    assert result.monitored["step"] == [5, 10, 15, 20, 23]
    assert len(result.monitored["out"]) == 5
    for a, b in zip(plain["net"].parameters(), watched["net"].parameters(), strict=True):
        assert torch.equal(a, b)
    assert watched["net"].training  # the mode comes back after each measurement
    # the last figure is the final model's
    with torch.no_grad():
        watched["net"].eval()
        assert result.monitored["out"][-1] == pytest.approx(float(watched["net"](torch.ones(1, 2))))


def test_monitor_measures_the_moving_average_when_there_is_one():
    modules = _net()
    result = Trainer(_config(ema_decay=0.9)).fit(
        modules, _loss, _data(), monitor=Monitor(_measure, every=100)
    )
    with torch.no_grad():
        expected = float(result.ema["net"](torch.ones(1, 2)))
    assert result.monitored["out"] == [pytest.approx(expected)]


def test_resumed_run_continues_the_monitored_figures_exactly(tmp_path):
    monitor = Monitor(_measure, every=4)
    whole = Trainer(_config(schedule="constant")).fit(_net(), _loss, _data(), monitor=monitor)
    # a checkpoint at step 10 (a run cut short), then the whole run resumed from it
    Trainer(_config(max_steps=10, checkpoint_dir=tmp_path, schedule="constant")).fit(
        _net(), _loss, _data(), monitor=monitor
    )
    resumed = Trainer(_config(checkpoint_dir=tmp_path, schedule="constant")).fit(
        _net(), _loss, _data(), monitor=monitor
    )
    # the short run also measured at its own last step (10), which the whole run did not
    steps = resumed.monitored["step"]
    assert steps == [4, 8, 10, 12, 16, 20, 23]
    keep = [i for i, s in enumerate(steps) if s != 10]
    assert [resumed.monitored["noise"][i] for i in keep] == whole.monitored["noise"]
    assert [resumed.monitored["out"][i] for i in keep] == whole.monitored["out"]


def test_a_failed_check_stops_training_naming_the_step():
    def check(monitored):
        return "the output left [-1e-3, 1e-3]" if abs(monitored["out"][-1]) > 1e-3 else None

    with pytest.raises(TrainingDiverged, match="diverged at step 6: the output left"):
        Trainer(_config()).fit(_net(), _loss, _data(), monitor=Monitor(_measure, 6, check))


def test_monitor_arguments_are_checked():
    with pytest.raises(ValueError, match="every"):
        Monitor(_measure, every=0)
    with pytest.raises(ValueError, match="measure"):
        Monitor("not callable", every=3)
    with pytest.raises(ValueError, match="monitor must be a Monitor"):
        Trainer(_config()).fit(_net(), _loss, _data(), monitor=_measure)


def test_non_finite_loss_is_training_diverged():
    def bad(modules, batch, gen):
        return modules["net"](batch[0]).mean() * float("nan")

    with pytest.raises(TrainingDiverged, match="at step"):
        Trainer(_config()).fit(_net(), bad, _data())


def test_measure_may_report_divergence_and_the_trainer_names_the_step():
    def measure(modules, averaged, gen):
        raise TrainingDiverged("the samples are NaN")

    with pytest.raises(TrainingDiverged, match="diverged at step 4: the samples are NaN"):
        Trainer(_config()).fit(_net(), _loss, _data(), monitor=Monitor(measure, every=4))
