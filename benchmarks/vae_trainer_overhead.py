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
"""

from __future__ import annotations

import argparse
import copy
import json
import platform

import numpy as np
import torch
from _timing import timed  # benchmarks/ is on the path when run as a script

from genzoo import VAE
from genzoo.autoencoder._vae_nets import build_networks
from genzoo.data import load
from genzoo.training import TrainConfig, Trainer

BATCH, LEARNING_RATE, GRAD_CLIP = 128, 1e-3, 1.0


def plain_loop(modules, loss_fn, X, steps: int, seed: int):
    """The bare minimum: random batches, forward, backward, clip, AdamW step."""
    params = [p for m in modules.values() for p in m.parameters()]
    optimizer = torch.optim.AdamW(params, lr=LEARNING_RATE, weight_decay=0.0)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        index = torch.randint(len(X), (BATCH,), generator=gen)
        loss, _ = loss_fn(modules, (X[index],), gen)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, GRAD_CLIP)
        optimizer.step()
    return modules


def with_trainer(modules, loss_fn, X, steps: int, seed: int):
    config = TrainConfig(
        device="cpu", batch_size=BATCH, max_steps=steps, learning_rate=LEARNING_RATE,
        schedule="constant", grad_clip=GRAD_CLIP, verbose=0, random_state=seed,
    )  # fmt: skip
    Trainer(config).fit(modules, loss_fn, (X,))
    return modules


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()

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
