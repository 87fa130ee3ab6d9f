"""DDPM training steps against diffusers' (UNet2DModel + DDPMScheduler), on the same images.

Both train a two-level U-Net of about the same size (32 and 64 channels, one residual block
per level, no attention) with the noise-prediction loss at uniform steps of the 1,000-step
linear schedule, AdamW, batch 128, float32. diffusers runs the plain loop its training
example runs (sample noise and steps, `add_noise`, forward, MSE, backward, step); genzoo runs
`DDPM.fit`, the whole template (standardisation, the Trainer's seeded batches, clipping, loss
bookkeeping; EMA off, as the diffusers loop has none). Prints seconds per step of each and the
ratio genzoo / diffusers (below 1: genzoo is faster), on 8x8 digits and, when
../shared/data/mnist is present, 28x28 MNIST.

    python benchmarks/ddpm_vs_diffusers.py [--steps 60] [--repeats 3] [--json out.json]

`--sweep` instead trains both over three workloads (batch x image side x U-Net width: 16
8x8 digits at widths (16, 32) to 64 digits upsampled to 32x32 at (32, 64), about 250x the
work per step), alternating the two, and prints seconds per step, the ratio and each model's
held-out noise-prediction error (the same noise and steps for both).
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

import numpy as np
import torch
from _timing import benchmark_parser, report_sweep, timed  # benchmarks/ is on the path

from genzoo import DDPM
from genzoo.data import load, load_mnist
from genzoo.nets import count_parameters

BATCH, LEARNING_RATE = 128, 1e-3
MNIST = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mnist"
# (batch, image side, base width, steps): steps shrink as the work per step grows
SWEEP = [(16, 8, 16, 30), (64, 16, 32, 8), (64, 32, 32, 4)]


def diffusers_model(side: int, width: int = 32):
    from diffusers import UNet2DModel

    return UNet2DModel(
        sample_size=side, in_channels=1, out_channels=1, layers_per_block=1,
        block_out_channels=(width, 2 * width), down_block_types=("DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D"), norm_num_groups=8,
    )  # fmt: skip


def diffusers_loop(X: torch.Tensor, steps: int, seed: int, batch=BATCH, width=32):
    """diffusers' unconditional training example, reduced to its step."""
    from diffusers import DDPMScheduler

    torch.manual_seed(seed)
    model = diffusers_model(X.shape[-1], width)
    scheduler = DDPMScheduler(num_train_timesteps=1000)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x0 = X[torch.randint(len(X), (batch,), generator=gen)]
        noise = torch.randn(x0.shape, generator=gen)
        t = torch.randint(0, 1000, (batch,), generator=gen)
        pred = model(scheduler.add_noise(x0, noise, t), t).sample
        loss = torch.nn.functional.mse_loss(pred, noise)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    return model


def genzoo_fit(X: np.ndarray, steps: int, seed: int, batch=BATCH, width=32):
    model = DDPM(base_channels=width, channel_mults=(1, 2), batch_size=batch, max_steps=steps,
                 learning_rate=LEARNING_RATE, ema_decay=None, verbose=0, random_state=seed,
                 device="cpu")  # fmt: skip
    return model.fit(X)


def compare(name: str, X: np.ndarray, steps: int, repeats: int) -> dict:
    scaled = torch.as_tensor(2 * X - 1, dtype=torch.float32)
    ours_s, ours = timed(lambda: genzoo_fit(X, steps, 0), repeats)
    theirs_s, theirs = timed(lambda: diffusers_loop(scaled, steps, 0), repeats)
    row = {
        "data": name,
        "image": list(X.shape[1:]),
        "steps": steps,
        "genzoo_parameters": count_parameters(ours.networks()["denoiser"]),
        "diffusers_parameters": count_parameters(theirs),
        "genzoo_s_per_step": ours_s / steps,
        "diffusers_s_per_step": theirs_s / steps,
        "ratio": ours_s / theirs_s,
    }
    print(f"{name:8s} {row['genzoo_parameters']:>9,d} {row['diffusers_parameters']:>9,d} "
          f"{1e3 * row['genzoo_s_per_step']:9.1f} {1e3 * row['diffusers_s_per_step']:9.1f} "
          f"{row['ratio']:6.2f}")  # fmt: skip
    return row


def upsampled(images: np.ndarray, side: int) -> np.ndarray:
    """Images (n, c, h, w) enlarged to side x side by repeating pixels."""
    factor = side // images.shape[-1]
    return images.repeat(factor, axis=2).repeat(factor, axis=3)


@torch.no_grad()
def held_out_errors(ours, theirs, X: np.ndarray) -> tuple[float, float]:
    """Each model's mean squared error of the predicted noise on held-out images in [-1, 1],
    with the same noise and steps of the 1,000-step linear schedule for both."""
    from diffusers import DDPMScheduler

    x0 = torch.as_tensor(2 * X - 1, dtype=torch.float32)
    gen = torch.Generator().manual_seed(1)
    noise = torch.randn(x0.shape, generator=gen)
    t = torch.randint(0, 1000, (len(x0),), generator=gen)
    x_t = DDPMScheduler(num_train_timesteps=1000).add_noise(x0, noise, t)
    net = ours.networks()["denoiser"].eval()
    mine = net(x_t, t.to(torch.float64), None).float()
    peer = theirs.eval()(x_t, t).sample
    return float(((mine - noise) ** 2).mean()), float(((peer - noise) ** 2).mean())


def sweep_row(digits, batch: int, side: int, width: int, steps: int, repeats: int) -> dict:
    """Both trainings on one workload, alternated so that a change in load hits both alike."""
    X, X_test = upsampled(digits.X_train, side), upsampled(digits.X_test, side)
    scaled = torch.as_tensor(2 * X - 1, dtype=torch.float32)
    genzoo_fit(X, 1, 0, batch, width)  # warm-up: first calls build kernels and caches
    diffusers_loop(scaled, 1, 0, batch, width)
    ours_s = theirs_s = np.inf
    for _ in range(repeats):
        seconds, ours = timed(lambda: genzoo_fit(X, steps, 0, batch, width), 1)
        ours_s = min(ours_s, seconds)
        seconds, theirs = timed(lambda: diffusers_loop(scaled, steps, 0, batch, width), 1)
        theirs_s = min(theirs_s, seconds)
    genzoo_mse, diffusers_mse = held_out_errors(ours, theirs, X_test)
    return {
        "workload": f"batch {batch}, {side}x{side}, width {width}, {steps} steps",
        "genzoo_s": ours_s / steps,
        "peer_s": theirs_s / steps,
        "genzoo_mse": genzoo_mse,
        "diffusers_mse": diffusers_mse,
    }


def sweep(repeats: int, json_path: str | None) -> None:
    digits = load("digits")
    rows = [sweep_row(digits, *workload, repeats) for workload in SWEEP]
    title = (
        f"DDPM training step against diffusers (s per step, fit included), best of {repeats}, "
        f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}"
    )
    report_sweep(title, rows, "diffusers", json_path)


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--steps", type=int, default=60)
    parser.set_defaults(repeats=3)
    args = parser.parse_args()
    if args.sweep:
        sweep(args.repeats, args.json)
        return
    torch.set_num_threads(torch.get_num_threads())
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")  # fmt: skip
    print("data     genzoo-par diffusers-par genzoo-ms diffusers-ms ratio")
    rows = [compare("digits", load("digits").X_train, args.steps, args.repeats)]
    if MNIST.exists():
        images, _ = load_mnist(MNIST)
        X = images[:8000]
        rows.append(compare("mnist", X, max(5, args.steps // 4), args.repeats))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
