"""The shared Trainer against a plain PyTorch loop, training the same VAE on digits.

Both train the same conv encoder and decoder (the VAE's own networks, from the same initial
weights) on the same standardised digits with the same loss (the VAE's negative ELBO per
pixel), AdamW at the same learning rate, batch 128, for the same number of steps. The plain
loop draws each batch with torch.randint and does only forward, backward, clip and step; the
Trainer adds its schedule, seeded data order, loss bookkeeping (read from the device every few
steps) and progress checks (no EMA, no checkpoints, progress bar off). Prints seconds per
step and the Trainer's overhead in percent of the plain loop's step time, and the fitted VAE's
held-out IWAE bound in nats.

    python benchmarks/vae_trainer_overhead.py [--steps 1500] [--repeats 3] [--json out.json]

`--sweep` instead times both loops over three workloads (batch x image side x channels, from
16 8x8 digits through conv channels (8, 16) to 128 digits upsampled to 32x32 through (32, 64):
about 2,000x the work per step), each from the same initial weights, and prints the Trainer's
time over the plain loop's with both models' held-out loss (negative ELBO per pixel).
"""

from __future__ import annotations

import copy
import json
import platform

import numpy as np
import torch
from _timing import benchmark_parser, report_sweep, timed  # benchmarks/ is on the path

from genzoo import VAE
from genzoo.autoencoder._vae_nets import build_networks
from genzoo.data import load
from genzoo.training import TrainConfig, Trainer

BATCH, LEARNING_RATE, GRAD_CLIP = 128, 1e-3, 1.0
# (batch, image side, conv channels, steps): steps shrink as the work per step grows
SWEEP = [(16, 8, (8, 16), 150), (64, 16, (16, 32), 50), (128, 32, (32, 64), 15)]


def plain_loop(modules, loss_fn, X, steps: int, seed: int, batch: int = BATCH):
    """The bare minimum: random batches, forward, backward, clip, AdamW step."""
    params = [p for m in modules.values() for p in m.parameters()]
    optimizer = torch.optim.AdamW(params, lr=LEARNING_RATE, weight_decay=0.0)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        index = torch.randint(len(X), (batch,), generator=gen)
        loss, _ = loss_fn(modules, (X[index],), gen)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, GRAD_CLIP)
        optimizer.step()
    return modules


def with_trainer(modules, loss_fn, X, steps: int, seed: int, batch: int = BATCH):
    config = TrainConfig(
        device="cpu", batch_size=batch, max_steps=steps, learning_rate=LEARNING_RATE,
        schedule="constant", grad_clip=GRAD_CLIP, verbose=0, random_state=seed,
    )  # fmt: skip
    Trainer(config).fit(modules, loss_fn, (X,))
    return modules


def upsampled(images: np.ndarray, side: int) -> np.ndarray:
    """Images (n, c, h, w) enlarged to side x side by repeating pixels."""
    factor = side // images.shape[-1]
    return images.repeat(factor, axis=2).repeat(factor, axis=3)


@torch.no_grad()
def held_out_loss(modules, loss_fn, X) -> float:
    """The training loss (negative ELBO per pixel) on held-out rows, with fixed noise."""
    for m in modules.values():
        m.eval()
    return float(loss_fn(modules, (X,), torch.Generator().manual_seed(0))[0])


def sweep_row(data, batch: int, side: int, channels, steps: int, repeats: int) -> dict:
    """Both loops on one workload, from the same initial weights, alternated."""
    train, test = upsampled(data.X_train, side), upsampled(data.X_test, side)
    vae = VAE(latent_dim=16, channels=channels, batch_size=batch, verbose=0, random_state=0)
    vae._validate_params()
    vae._check_arguments()
    architecture = vae._architecture(train, None)
    shift, scale = vae._standardisation(train, architecture)
    X, X_test = (torch.as_tensor((a - shift) / scale, dtype=torch.float32) for a in (train, test))
    torch.manual_seed(0)
    start = build_networks(architecture)
    loss_fn = vae._loss_fn()

    def fresh():
        return {k: copy.deepcopy(m).train() for k, m in start.items()}

    with_trainer(fresh(), loss_fn, X, 3, 0, batch)  # warm-up
    plain_loop(fresh(), loss_fn, X, 3, 0, batch)
    t_plain = t_trainer = np.inf
    for _ in range(repeats):
        seconds, plain = timed(lambda: plain_loop(fresh(), loss_fn, X, steps, 0, batch), 1)
        t_plain = min(t_plain, seconds)
        seconds, ours = timed(lambda: with_trainer(fresh(), loss_fn, X, steps, 0, batch), 1)
        t_trainer = min(t_trainer, seconds)
    return {
        "workload": f"batch {batch}, {side}x{side}, ch {tuple(channels)}, {steps} steps",
        "genzoo_s": t_trainer / steps,
        "peer_s": t_plain / steps,
        "genzoo_loss": held_out_loss(ours, loss_fn, X_test),
        "plain_loss": held_out_loss(plain, loss_fn, X_test),
    }


def sweep(repeats: int, json_path: str | None) -> None:
    data = load("digits")
    rows = [sweep_row(data, *workload, repeats) for workload in SWEEP]
    title = (
        f"VAE training step, genzoo Trainer against a plain loop (s per step), best of "
        f"{repeats}, {torch.get_num_threads()} threads, {platform.machine()}"
    )
    report_sweep(title, rows, "plain loop", json_path)


def main():
    parser = benchmark_parser(__doc__)
    parser.add_argument("--steps", type=int, default=1500)
    parser.set_defaults(repeats=3)
    args = parser.parse_args()
    if args.sweep:
        sweep(args.repeats, args.json)
        return

    data = load("digits")
    # A fitted VAE gives the architecture, the standardisation and the held-out bound.
    vae = VAE(latent_dim=16, max_steps=args.steps, batch_size=BATCH, verbose=0, random_state=0)
    vae.fit(data.X_train)
    iwae = vae.score(data.X_test)
    X = torch.as_tensor(
        (data.X_train - vae.data_shift_.numpy()) / vae.data_scale_.numpy(), dtype=torch.float32
    )
    torch.manual_seed(0)
    start = build_networks(vae.architecture_)  # {"encoder": ..., "decoder": ...}
    loss_fn = vae._loss_fn()

    def fresh():
        return {k: copy.deepcopy(m).train() for k, m in start.items()}

    with_trainer(fresh(), loss_fn, X, 20, 0)  # warm-up
    plain_loop(fresh(), loss_fn, X, 20, 0)
    # Alternated, so that a change in the machine's load hits both alike.
    t_plain = t_trainer = np.inf
    for _ in range(args.repeats):
        t_plain = min(t_plain, timed(lambda: plain_loop(fresh(), loss_fn, X, args.steps, 0), 1)[0])
        t_trainer = min(
            t_trainer, timed(lambda: with_trainer(fresh(), loss_fn, X, args.steps, 0), 1)[0]
        )
    per_plain, per_trainer = t_plain / args.steps, t_trainer / args.steps
    overhead = 100.0 * (per_trainer - per_plain) / per_plain
    print(
        f"VAE on digits (conv, latent 16), batch {BATCH}, {args.steps} steps, best of "
        f"{args.repeats}, {torch.get_num_threads()} threads, {platform.machine()}"
    )
    print(f"plain PyTorch loop   {1e3 * per_plain:8.3f} ms/step")
    print(f"genzoo Trainer       {1e3 * per_trainer:8.3f} ms/step   overhead {overhead:+.1f}%")
    print(f"held-out IWAE bound (n_importance={vae.n_importance}): {iwae:.2f} nats per image")
    if args.json:
        results = {"plain_s_per_step": per_plain, "trainer_s_per_step": per_trainer,
                   "overhead_percent": overhead, "heldout_iwae_nats": iwae}  # fmt: skip
        with open(args.json, "w") as file:
            json.dump(results, file, indent=2)


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
