"""A DDPM trained on real 28x28 MNIST on the CPU: training time, held-out bits per dimension,
Fréchet distance against the real-vs-real floor, and a sample grid.

The MNIST test set (../shared/data/mnist) is split into 8,000 training and 2,000 held-out
images. The DDPM (a 32/64-channel U-Net, eps-prediction, linear schedule of 1,000 steps, EMA
0.999) trains for `--steps` steps of batch 128. Held-out bits per dimension are its
variational bound with the discretised decoder (a bound on the 256-level pixels'
probability; `--likelihood-steps` terms per image, an unbiased estimate of the full sum).
The Fréchet distance is taken in the shipped MNIST classifier's features between
`--samples` DPM-Solver++ samples and as many held-out images; the floor is the same distance
between two halves of the held-out images. Writes the figures as JSON and the grid as PNG.

    python benchmarks/ddpm_mnist.py [--steps 1800] [--samples 1000] [--json out.json]
                                    [--grid docs/ddpm_mnist.png] [--device cpu]

`--sweep` instead times `DDPM.fit` against diffusers' training loop (as in
ddpm_vs_diffusers.py, the same U-Net widths) over training sets of 100, 1,000 and 9,500
images, each at a few steps of a batch that grows with it (about 100x the images processed
from the first to the last), and prints seconds per step, the ratio and each model's
noise-prediction error on 500 held-out images. Without ../shared/data/mnist it says so and
exits.
"""

from __future__ import annotations

import json
import math
import platform
import time
from pathlib import Path

import numpy as np
import torch
from _timing import benchmark_parser, report_sweep, timed  # benchmarks/ is on the path
from ddpm_vs_diffusers import diffusers_loop, genzoo_fit, held_out_errors

from genzoo import DDPM
from genzoo.data import load_mnist
from genzoo.metrics import feature_quality, image_features
from genzoo.metrics.image_quality import feature_quality_floor
from genzoo.plotting import save_samples_png

MNIST = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mnist"
# (training images, batch, steps): the images processed grow about 100x
SWEEP = [(100, 4, 2), (1000, 32, 3), (9500, 128, 7)]


def sweep_row(train: np.ndarray, held: np.ndarray, batch: int, steps: int, repeats: int):
    """DDPM.fit and diffusers' loop on one training set, alternated."""
    scaled = torch.as_tensor(2 * train - 1, dtype=torch.float32)
    genzoo_fit(train, 1, 0, batch)  # warm-up: first calls build kernels and caches
    diffusers_loop(scaled, 1, 0, batch)
    ours_s = theirs_s = np.inf
    for _ in range(repeats):
        seconds, ours = timed(lambda: genzoo_fit(train, steps, 0, batch), 1)
        ours_s = min(ours_s, seconds)
        seconds, theirs = timed(lambda: diffusers_loop(scaled, steps, 0, batch), 1)
        theirs_s = min(theirs_s, seconds)
    genzoo_mse, diffusers_mse = held_out_errors(ours, theirs, held)
    return {
        "workload": f"{len(train)} images, batch {batch}, {steps} steps",
        "genzoo_s": ours_s / steps,
        "peer_s": theirs_s / steps,
        "genzoo_mse": genzoo_mse,
        "diffusers_mse": diffusers_mse,
    }


def sweep(images: np.ndarray, repeats: int, json_path: str | None) -> None:
    order = np.random.default_rng(0).permutation(len(images))
    held = images[order[-500:]]
    rows = [sweep_row(images[order[:n]], held, batch, steps, repeats) for n, batch, steps in SWEEP]
    title = (
        f"DDPM on MNIST 28x28 against diffusers (s per step, fit included), best of {repeats}, "
        f"{torch.get_num_threads()} threads, {platform.machine()}"
    )
    report_sweep(title, rows, "diffusers", json_path)


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--steps", type=int, default=1800)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--sampling-steps", type=int, default=50)
    parser.add_argument("--likelihood-steps", type=int, default=20)
    parser.add_argument("--device", type=str, default="cpu")
    parser.add_argument("--precision", type=str, default="auto")
    parser.add_argument("--grid", type=str, default=None)
    args = parser.parse_args()
    if not MNIST.exists():
        if args.sweep:
            print(f"skipped: MNIST not found at {MNIST} (the sweep needs its IDX files)")
            return
        raise SystemExit(f"MNIST not found at {MNIST}")
    images, _ = load_mnist(MNIST)
    if args.sweep:
        sweep(images, args.repeats, args.json)
        return
    order = np.random.default_rng(0).permutation(len(images))
    train, held = images[order[:8000]], images[order[8000:10000]]
    print(f"{platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"device {args.device}")  # fmt: skip

    model = DDPM(base_channels=32, channel_mults=(1, 2), batch_size=128, max_steps=args.steps,
                 learning_rate=1e-3, likelihood_steps=args.likelihood_steps,
                 sampling_steps=args.sampling_steps, device=args.device,
                 precision=args.precision, verbose=1, random_state=0)  # fmt: skip
    start = time.perf_counter()
    model.fit(train)
    fit_s = time.perf_counter() - start
    print(f"fit: {args.steps} steps in {fit_s:.0f} s ({fit_s / args.steps:.3f} s per step)")

    start = time.perf_counter()
    log_p = model.log_prob(held)
    bpd = float(-log_p.mean() / (784 * math.log(2)))
    bpd_s = time.perf_counter() - start
    print(f"held-out bound: {-log_p.mean():.1f} nats, {bpd:.3f} bits per dimension ({bpd_s:.0f} s)")

    start = time.perf_counter()
    samples = model.sample(args.samples, random_state=1)
    sample_s = time.perf_counter() - start
    real = image_features(held[: args.samples])
    fake = image_features(np.clip(samples, 0, 1))
    quality = feature_quality(fake, real)
    floor = feature_quality_floor(image_features(held))
    print(f"{args.samples} samples by dpmpp_2m x{args.sampling_steps} in {sample_s:.0f} s; "
          f"FD {quality['fid']:.2f} (real vs real {floor['fid']:.2f}), precision "
          f"{quality['precision']:.2f}, recall {quality['recall']:.2f}")  # fmt: skip
    if args.grid:
        save_samples_png(np.clip(samples[:64], 0, 1), args.grid, kind="images",
                         title=f"DDPM on MNIST, {args.steps} steps")  # fmt: skip
    row = {
        "device": args.device, "steps": args.steps, "fit_seconds": fit_s,
        "seconds_per_step": fit_s / args.steps, "held_out_nats": float(-log_p.mean()),
        "bits_per_dim": bpd, "likelihood_steps": args.likelihood_steps,
        "likelihood_seconds": bpd_s, "samples": args.samples,
        "sampling_steps": args.sampling_steps, "sample_seconds": sample_s,
        "fd": quality["fid"], "fd_floor": floor["fid"], "precision": quality["precision"],
        "recall": quality["recall"],
    }  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(row, indent=2))


if __name__ == "__main__":
    main()
