"""Regenerate the feature nets of genzoo's image metrics.

Usage (from the repository root)::

    python scripts/train_feature_nets.py --net all
    python scripts/train_feature_nets.py --net digits8 --out /tmp/weights

Writes ``<out>/<net>.safetensors`` and prints each net's held-out accuracy. The recipes (seeds,
epochs, learning rates) live in ``genzoo/metrics/feature_nets.py``. Training is deterministic
on one machine; on the machine the shipped files were made on they come out byte for byte,
and on another CPU (even of the same instruction set, whose kernels may round in another
order) as an equally accurate net that classifies the held-out images as the shipped one
does, at least 97% alike. "mnist28" needs the MNIST IDX
files, looked up as ``genzoo.data.load("mnist")`` does (``GENZOO_MNIST_DIR``, then
``../shared/data/mnist``), or given with ``--mnist-folder``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from genzoo.metrics.feature_nets import WEIGHTS_DIR, feature_net_names, save_feature_net


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--net", choices=[*feature_net_names(), "all"], default="all")
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR, help="folder of the files")
    parser.add_argument("--mnist-folder", type=Path, default=None, help="MNIST IDX files")
    args = parser.parse_args(argv)
    nets = feature_net_names() if args.net == "all" else (args.net,)
    for net in nets:
        path, record = save_feature_net(net, args.out, mnist_folder=args.mnist_folder)
        print(
            f"{net}: held-out accuracy {record['accuracy']:.4f} on {record['n_test']} images, "
            f"{record['n_steps']} steps in {record['seconds']:.1f} s, "
            f"{path.stat().st_size / 1024:.0f} KiB -> {path}"
        )


if __name__ == "__main__":
    main()
