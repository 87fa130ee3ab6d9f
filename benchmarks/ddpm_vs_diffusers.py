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
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import numpy as np
import torch
from _timing import timed  # benchmarks/ is on the path when run as a script

from genzoo import DDPM
from genzoo.data import load, load_mnist
from genzoo.nets import count_parameters

BATCH, LEARNING_RATE = 128, 1e-3
MNIST = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mnist"


def diffusers_model(side: int):
    from diffusers import UNet2DModel

    return UNet2DModel(
        sample_size=side, in_channels=1, out_channels=1, layers_per_block=1,
        block_out_channels=(32, 64), down_block_types=("DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D"), norm_num_groups=8,
    )  # fmt: skip


def diffusers_loop(X: torch.Tensor, steps: int, seed: int):
    """diffusers' unconditional training example, reduced to its step."""
    from diffusers import DDPMScheduler

    torch.manual_seed(seed)
    model = diffusers_model(X.shape[-1])
    scheduler = DDPMScheduler(num_train_timesteps=1000)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x0 = X[torch.randint(len(X), (BATCH,), generator=gen)]
        noise = torch.randn(x0.shape, generator=gen)
        t = torch.randint(0, 1000, (BATCH,), generator=gen)
        pred = model(scheduler.add_noise(x0, noise, t), t).sample
        loss = torch.nn.functional.mse_loss(pred, noise)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    return model


def genzoo_fit(X: np.ndarray, steps: int, seed: int):
    model = DDPM(base_channels=32, channel_mults=(1, 2), batch_size=BATCH, max_steps=steps,
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=str, default=None)
    args = parser.parse_args()
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
