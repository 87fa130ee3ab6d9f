"""Speed against quality of the shared samplers, on one DDPM trained on the 8x8 digits.

One DDPM (1,000-step linear schedule, a 32/64-channel U-Net) trains on the digits' training
part; each sampler then draws `--samples` images, timed, and their Fréchet distance to the
test part is taken in the shipped digits classifier's features (the floor: two halves of
real digits). The reference is DDPM's own ancestral sampler over all 1,000 steps; the target
is DPM-Solver++(2M) in 20 steps within 10% of its distance and at least 40x faster.

    python benchmarks/ddpm_samplers.py [--steps 3000] [--samples 1000] [--json out.json]

`--sweep` instead trains for 150 steps (unless `--steps` says otherwise) and times
DPM-Solver++(2M) in 20 steps against the 1,000-step ancestral sampler for 2, 20 and 200
samples, printing the time ratio and each one's Fréchet distance to the test digits (noisy
below a few hundred samples, and far from the full run's after so short a training).
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from _timing import benchmark_parser, report_sweep, timed  # benchmarks/ is on the path

from genzoo import DDPM
from genzoo.data import load
from genzoo.metrics import feature_quality, image_features
from genzoo.metrics.image_quality import feature_quality_floor, frechet_distance

RUNS = [("ancestral", 1000), ("ddim", 50), ("dpmpp_2m", 20), ("dpmpp_2m", 50), ("heun", 20),
        ("ode", 10), ("euler_maruyama", 100), ("pc", 100)]  # fmt: skip
SWEEP_SAMPLES, SWEEP_FIT_STEPS = (2, 20, 200), 150


def sweep(model, real: np.ndarray, repeats: int, json_path: str | None) -> None:
    """DPM-Solver++(2M) x20 against ancestral x1,000 at each number of samples."""
    rows = []
    for n in SWEEP_SAMPLES:

        def draw(sampler, steps, n=n):
            return model.sample(n, sampler=sampler, steps=steps, random_state=1)

        draw("dpmpp_2m", 2)  # warm-up at this batch size
        fast_s, fast = timed(lambda: draw("dpmpp_2m", 20), repeats)
        reference_s, reference = timed(lambda: draw("ancestral", 1000), repeats)
        rows.append(
            {
                "workload": f"{n} samples",
                "genzoo_s": fast_s,
                "peer_s": reference_s,
                "fd_dpmpp_x20": frechet_distance(image_features(np.clip(fast, 0, 1)), real),
                "fd_ancestral": frechet_distance(image_features(np.clip(reference, 0, 1)), real),
            }
        )
    title = (
        f"DPM-Solver++(2M) x20 against ancestral x1,000 (seconds), best of {repeats}, "
        f"{torch.get_num_threads()} threads, {platform.machine()}"
    )
    report_sweep(title, rows, "ancestral", json_path)


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--steps", type=int, default=None, help="3000; 150 with --sweep")
    parser.add_argument("--samples", type=int, default=1000)
    args = parser.parse_args()
    steps = args.steps or (SWEEP_FIT_STEPS if args.sweep else 3000)
    digits = load("digits")
    print(f"{platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    model = DDPM(max_steps=steps, verbose=0, random_state=0, device="cpu")
    start = time.perf_counter()
    model.fit(digits.X_train)
    print(f"fit: {steps} steps in {time.perf_counter() - start:.0f} s")
    real = image_features(digits.X_test)
    if args.sweep:
        sweep(model, real, args.repeats, args.json)
        return
    floor = feature_quality_floor(image_features(np.concatenate([digits.X_train,
                                                                 digits.X_test])))  # fmt: skip
    print(f"real vs real FD {floor['fid']:.2f}")
    print("sampler          steps  seconds     FD  precision  recall")
    rows = []
    for sampler, steps in RUNS:
        start = time.perf_counter()
        samples = model.sample(args.samples, sampler=sampler, steps=steps, random_state=1)
        seconds = time.perf_counter() - start
        quality = feature_quality(image_features(np.clip(samples, 0, 1)), real)
        rows.append({"sampler": sampler, "steps": steps, "seconds": seconds, **quality})
        print(f"{sampler:15s} {steps:6d} {seconds:8.2f} {quality['fid']:6.2f} "
              f"{quality['precision']:10.2f} {quality['recall']:7.2f}")  # fmt: skip
    reference, fast = rows[0], rows[2]
    print(f"dpmpp_2m x20 against ancestral x1000: FD {fast['fid'] / reference['fid']:.2f}x, "
          f"{reference['seconds'] / fast['seconds']:.0f}x faster")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps({"floor_fd": floor["fid"], "runs": rows}, indent=2))


if __name__ == "__main__":
    main()
