"""The shared Trainer against a plain PyTorch loop, training the same GAN on digits.

Both train the GAN's own DCGAN generator and discriminator (its quick settings: channels (32,
64), latent 32, from the same initial weights) on the same digits scaled to [-1, 1], with the
same least-squares losses (the leaderboard's setting), one Adam(W) per network at learning rate
5e-4 and betas (0.5, 0.999), batch 64, constant rate, no clipping, and an EMA of the
generator's weights (decay 0.99, with the Trainer's warm-up min(decay, (1 + t) / (10 + t))),
for the same number of steps. The plain loop draws each batch with torch.randint and does only
a discriminator step (samples under no_grad), a generator step (new noise) and the EMA update;
the Trainer adds its seeded data order, per-step seeding of the noise, schedule, loss
bookkeeping (read from the device every few steps), and progress checks (no monitor, no
checkpoints, progress bar off). Prints seconds per step and the Trainer's overhead in percent
of the plain loop's step time, and the sample quality of both EMA generators (Fréchet distance
"fid", precision and recall in the shipped digits classifier's features, 500 samples against
the 360 test digits), next to 500 real training digits against the same test digits (the
floor). `--monitor` also times one Trainer run with the GAN's default monitor (sample quality
measured 10 times during training), which users opt into and which is not overhead.

    python benchmarks/gan_trainer_overhead.py [--steps 1500] [--repeats 3] [--device cpu]
        [--monitor] [--json out.json]

`--sweep` instead times both loops over three workloads (batch x image side x channels, from
16 8x8 digits through channels (8, 16) to 128 digits upsampled to 32x32 through (32, 64):
about 2,000x the work per step), each from the same initial weights, and prints the Trainer's
time over the plain loop's with the sliced Wasserstein distance of each EMA generator's
samples to the test digits (at the same size; the floor is the training digits' distance).
"""

from __future__ import annotations

import copy
import json
import platform
import time

import numpy as np
import torch
from _timing import benchmark_parser, report_sweep, timed  # benchmarks/ is on the path

from genzoo import GAN
from genzoo.data import load
from genzoo.gan._losses import discriminator_loss, generator_loss
from genzoo.metrics import sliced_wasserstein
from genzoo.metrics.tracking import QualityTracker
from genzoo.training import TrainConfig, Trainer

BATCH, LEARNING_RATE, EMA_DECAY, CHANNELS, LATENT = 64, 5e-4, 0.99, (32, 64), 32
BETAS, LOSS, N_QUALITY = (0.5, 0.999), "least_squares", 500
# (batch, image side, channels, steps): steps shrink as the work per step grows
SWEEP = [(16, 8, (8, 16), 150), (64, 16, (16, 32), 50), (128, 32, (32, 64), 15)]


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def ema_decay(step: int) -> float:
    """The Trainer's EMA decay after update `step`: the same warm-up in both loops."""
    return min(EMA_DECAY, (1 + step) / (10 + step))


def plain_loop(modules, X, steps: int, seed: int, device: torch.device, batch: int = BATCH):
    """The bare minimum: random batches, a D step, a G step, the generator's EMA."""
    G, D = modules["generator"], modules["discriminator"]
    G.train(), D.train()
    ema = copy.deepcopy(G).requires_grad_(False).eval()
    opt_d = torch.optim.AdamW(D.parameters(), lr=LEARNING_RATE, betas=BETAS, weight_decay=0.0)
    opt_g = torch.optim.AdamW(G.parameters(), lr=LEARNING_RATE, betas=BETAS, weight_decay=0.0)
    gen = torch.Generator(device=device).manual_seed(seed)
    averages, weights = list(ema.parameters()), list(G.parameters())
    for step in range(steps):
        real = X[torch.randint(len(X), (batch,), generator=gen, device=device)]
        with torch.no_grad():
            fake = G(torch.randn(batch, LATENT, generator=gen, device=device))
        real_scores, fake_scores = D(torch.cat([real, fake])).chunk(2)
        loss_d = discriminator_loss(LOSS, real_scores, fake_scores)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        fake = G(torch.randn(batch, LATENT, generator=gen, device=device))
        loss_g = generator_loss(LOSS, D(fake))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        with torch.no_grad():
            torch._foreach_lerp_(averages, weights, 1.0 - ema_decay(step))
            for average, buffer in zip(ema.buffers(), G.buffers(), strict=True):
                average.copy_(buffer)
    synchronise(device)
    return ema


def with_trainer(modules, gan, X, steps: int, seed: int, device, monitor=None, batch=BATCH):
    config = TrainConfig(
        device=device, batch_size=batch, max_steps=steps, learning_rate=LEARNING_RATE,
        schedule="constant", grad_clip=None, ema_decay=EMA_DECAY, verbose=0,
        random_state=seed, precision="float32",
    )  # fmt: skip
    result = Trainer(config).fit(
        modules, gan._objectives(), (X,), monitor=monitor, averaged=gan._averaged()
    )
    synchronise(device)
    return result.ema["generator"]


def quality(tracker, samples: np.ndarray) -> dict[str, float]:
    return {k: float(v) for k, v in tracker(samples).items()}


def upsampled(images: np.ndarray, side: int) -> np.ndarray:
    """Images (n, c, h, w) enlarged to side x side by repeating pixels."""
    factor = side // images.shape[-1]
    return images.repeat(factor, axis=2).repeat(factor, axis=3)


def sweep_row(data, batch: int, side: int, channels, steps: int, repeats: int, device) -> dict:
    """Both loops on one workload, from the same initial weights, alternated."""
    train, test = upsampled(data.X_train, side), upsampled(data.X_test, side)
    gan = GAN(
        latent_dim=LATENT, channels=channels, loss=LOSS, batch_size=batch,
        learning_rate=LEARNING_RATE, generator_betas=BETAS, discriminator_betas=BETAS,
        ema_decay=EMA_DECAY, max_steps=steps, device=str(device), verbose=0, random_state=0,
    )  # fmt: skip
    gan._validate_params()
    gan._check_arguments()
    architecture = gan._architecture(train, None)
    shift, scale = gan._standardisation(train, architecture)
    X = gan._training_data(train, None, shift, scale)[0].to(device)
    torch.manual_seed(0)
    start = gan._build_networks(architecture)

    def fresh():
        return {k: copy.deepcopy(m).to(device).train() for k, m in start.items()}

    with_trainer(fresh(), gan, X, 3, 0, device, batch=batch)  # warm-up
    plain_loop(fresh(), X, 3, 0, device, batch)
    t_plain = t_trainer = np.inf
    for _ in range(repeats):
        synchronise(device)
        seconds, ema_plain = timed(lambda: plain_loop(fresh(), X, steps, 0, device, batch), 1)
        t_plain = min(t_plain, seconds)
        synchronise(device)
        seconds, ema_trainer = timed(
            lambda: with_trainer(fresh(), gan, X, steps, 0, device, batch=batch), 1
        )
        t_trainer = min(t_trainer, seconds)

    @torch.no_grad()
    def distance(generator) -> float:
        z = torch.randn(len(test), LATENT, generator=torch.Generator(device).manual_seed(1),
                        device=device)  # fmt: skip
        fake = generator.eval()(z).double().cpu().numpy() * scale + shift
        return sliced_wasserstein(fake.reshape(len(fake), -1), test.reshape(len(test), -1))

    return {
        "workload": f"batch {batch}, {side}x{side}, ch {tuple(channels)}, {steps} steps",
        "genzoo_s": t_trainer / steps,
        "peer_s": t_plain / steps,
        "genzoo_sw": distance(ema_trainer),
        "plain_sw": distance(ema_plain),
        "floor_sw": sliced_wasserstein(
            train[: len(test)].reshape(len(test), -1), test.reshape(len(test), -1)
        ),
    }


def sweep(repeats: int, device: torch.device, json_path: str | None) -> None:
    data = load("digits")
    rows = [sweep_row(data, *workload, repeats, device) for workload in SWEEP]
    title = (
        f"GAN training step, genzoo Trainer against a plain loop (s per step), best of "
        f"{repeats}, {device}, {torch.get_num_threads()} threads, {platform.machine()}"
    )
    report_sweep(title, rows, "plain loop", json_path)


def main():
    parser = benchmark_parser(__doc__)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--monitor", action="store_true",
                        help="also time a Trainer run with the GAN's default monitor")  # fmt: skip
    parser.set_defaults(repeats=3)
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.sweep:
        sweep(args.repeats, device, args.json)
        return

    data = load("digits")
    gan = GAN(
        latent_dim=LATENT, channels=CHANNELS, loss=LOSS, batch_size=BATCH,
        learning_rate=LEARNING_RATE, generator_betas=BETAS, discriminator_betas=BETAS,
        ema_decay=EMA_DECAY, max_steps=args.steps, device=args.device, verbose=0,
        random_state=0,
    )  # fmt: skip
    gan._validate_params()
    gan._check_arguments()
    architecture = gan._architecture(data.X_train, None)
    shift, scale = gan._standardisation(data.X_train, architecture)
    X = gan._training_data(data.X_train, None, shift, scale)[0].to(device)
    torch.manual_seed(0)
    start = gan._build_networks(architecture)  # {"generator": ..., "discriminator": ...}

    def fresh():
        return {k: copy.deepcopy(m).to(device).train() for k, m in start.items()}

    def timed_run(run):
        synchronise(device)
        return timed(run, 1)

    with_trainer(fresh(), gan, X, 20, 0, device)  # warm-up
    plain_loop(fresh(), X, 20, 0, device)
    # Alternated (and each order in turn), so that a change in load hits both alike.
    plain_times, trainer_times = [], []
    for repeat in range(args.repeats):
        runs = [
            (plain_times, lambda: plain_loop(fresh(), X, args.steps, 0, device)),
            (trainer_times, lambda: with_trainer(fresh(), gan, X, args.steps, 0, device)),
        ]
        for times, run in runs if repeat % 2 == 0 else runs[::-1]:
            seconds, ema = timed_run(run)
            times.append(seconds)
            if times is plain_times:
                ema_plain = ema
            else:
                ema_trainer = ema
    per_plain, per_trainer = min(plain_times) / args.steps, min(trainer_times) / args.steps
    overhead = 100.0 * (per_trainer / per_plain - 1.0)
    median_overhead = 100.0 * (np.median(trainer_times) / np.median(plain_times) - 1.0)
    # Each repeat's two runs are adjacent in time: their ratio sees the least drift in load.
    paired = 100.0 * (np.array(trainer_times) / np.array(plain_times) - 1.0)
    paired_overhead = float(np.median(paired))

    per_monitored = None
    if args.monitor:
        X_np = data.X_train
        monitor = gan._monitor(X_np, None, shift, scale)
        seconds, _ = timed_run(
            lambda: with_trainer(fresh(), gan, X, args.steps, 0, device, monitor=monitor)
        )
        per_monitored = seconds / args.steps

    # Sample quality: 500 samples of each EMA generator (eval mode, the same noise), in [0, 1].
    tracker = QualityTracker(data.X_test, image_shape=(1, 8, 8), unit_range=True)

    @torch.no_grad()
    def samples(generator):
        z = torch.randn(N_QUALITY, LATENT, generator=torch.Generator(device).manual_seed(1),
                        device=device)  # fmt: skip
        out = generator.eval()(z).double().cpu().numpy()
        return out * scale + shift

    figures = {"plain": quality(tracker, samples(ema_plain)),
               "trainer": quality(tracker, samples(ema_trainer))}  # fmt: skip
    rows = np.random.default_rng(0).choice(len(data.X_train), N_QUALITY, replace=False)
    figures["real training rows"] = quality(tracker, data.X_train[np.sort(rows)])

    print(
        f"GAN on digits (DCGAN, channels {CHANNELS}, latent {LATENT}, {LOSS}), batch {BATCH}, "
        f"{args.steps} steps, {args.repeats} alternated repeats, {args.device}, "
        f"{torch.get_num_threads()} threads, {platform.machine()}"
    )
    print(f"plain PyTorch loop   {1e3 * per_plain:8.3f} ms/step (best)   "
          f"runs {', '.join(f'{t:.2f}' for t in plain_times)} s")  # fmt: skip
    print(f"genzoo Trainer       {1e3 * per_trainer:8.3f} ms/step (best)   "
          f"runs {', '.join(f'{t:.2f}' for t in trainer_times)} s")  # fmt: skip
    print(
        f"overhead {overhead:+.1f}% (best against best), {median_overhead:+.1f}% (medians), "
        f"{paired_overhead:+.1f}% (median of the repeats' pairs: "
        f"{', '.join(f'{p:+.1f}' for p in paired)})"
    )
    if per_monitored is not None:
        extra = 100.0 * (per_monitored / per_plain - 1.0)
        print(f"Trainer + default monitor (opt-in, 10 measurements) {1e3 * per_monitored:8.3f} "
              f"ms/step, {extra:+.1f}% over the plain loop")  # fmt: skip
    print(f"sample quality, {N_QUALITY} rows against the {len(data.X_test)} test digits "
          "(digits8 features):")  # fmt: skip
    print(f"  {'':20s} {'FD':>8s} {'precision':>10s} {'recall':>8s}")
    for name, f in figures.items():
        print(f"  {name:20s} {f['fid']:8.3f} {f['precision']:10.3f} {f['recall']:8.3f}")
    if args.json:
        results = {
            "device": args.device, "steps": args.steps, "repeats": args.repeats,
            "threads": torch.get_num_threads(), "plain_s_per_step": per_plain,
            "trainer_s_per_step": per_trainer, "overhead_percent": overhead,
            "median_overhead_percent": median_overhead,
            "paired_overhead_percent": paired_overhead, "plain_seconds": plain_times,
            "trainer_seconds": trainer_times, "monitored_s_per_step": per_monitored,
            "quality": figures, "time": time.strftime("%Y-%m-%d %H:%M:%S"),
        }  # fmt: skip
        with open(args.json, "w") as file:
            json.dump(results, file, indent=2)


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
