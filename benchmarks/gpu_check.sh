#!/usr/bin/env bash
# The whole check on a CUDA machine in one call, within the device's 10 minutes a command:
#   suite  the test suite with every model on the GPU (--device cuda, 40 s per test at most)
#   bench  the GPU benchmarks (GMM, VAE, HMM, LDA, RBM on CUDA against the CPU and the peer)
#   speed  issue 16: where device="auto" should choose CUDA (gpu_bench.py --sweep), the large
#          GMM's TFLOP/s against the device's peak, and the quick zoo under "auto" against the
#          quick zoo on the CPU alone (no model may be slower under "auto")
#   ddpm   the MNIST DDPM in bf16 (stops with a message where ../shared/data/mnist is absent)
# With no argument it runs all four; name some to run only those, e.g. `speed bench`. It
# prints a summary at the end and writes logs under ${OUT:-gpu_check_out}/.
#
#   bash benchmarks/gpu_check.sh [suite] [bench] [speed] [ddpm]   # from the repository root
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-gpu_check_out}"
mkdir -p "$out"
parts="${*:-suite bench speed ddpm}"
wants() { [[ " $parts " == *" $1 "* ]]; }
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-deps --no-build-isolation -e . >"$out/install.log" 2>&1 \
  || python3 -m pip install -q -e . >>"$out/install.log" 2>&1

python3 - <<'PY' | tee "$out/device.txt"
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
if torch.cuda.is_available():
    print(torch.cuda.get_device_name(0))
PY

if wants suite; then
  workers=$(( $(nproc) > 12 ? 12 : $(nproc) ))
  start=$(date +%s)
  GENZOO_DEVICE=cuda timeout 240 python3 -m pytest -q -p no:cacheprovider -n "$workers" \
    --device cuda --timeout 40 --durations 25 -W ignore -rfE >"$out/pytest-cuda.log" 2>&1
  suite_rc=$?
  suite_s=$(( $(date +%s) - start ))
fi
if wants bench; then
  GENZOO_DEVICE=cuda timeout 100 python3 benchmarks/gpu_bench.py --json "$out/gpu_bench.json" \
    >"$out/gpu_bench.log" 2>&1
  bench_rc=$?
fi
if wants speed; then
  timeout 150 python3 benchmarks/gpu_bench.py --sweep --json "$out/gpu_sweep.json" \
    >"$out/gpu_sweep.log" 2>&1
  sweep_rc=$?
  timeout 60 python3 benchmarks/gmm_vs_sklearn.py --gpu-large >"$out/gmm_large.log" 2>&1
  large_rc=$?
  # the quick zoo twice: every model on the CPU alone, then as "auto" chooses
  GENZOO_DEVICE=cpu timeout 150 genzoo zoo --quick --out "$out/zoo_cpu" >"$out/zoo_cpu.log" 2>&1
  timeout 150 genzoo zoo --quick --out "$out/zoo_auto" >"$out/zoo_auto.log" 2>&1
  python3 - "$out" >"$out/zoo_compare.log" 2>&1 <<'PY'
import json, sys
out = sys.argv[1]
rows = {}
for name in ("cpu", "auto"):
    for r in json.load(open(f"{out}/zoo_{name}/leaderboard.json")):
        rows.setdefault((r["model"], r["dataset"]), {})[name] = r.get("fit_seconds")
slower = [(k, v) for k, v in rows.items() if None not in (v.get("cpu"), v.get("auto"))
          and v["auto"] > 1.2 * v["cpu"] + 0.5]
print(f"{len(rows)} runs; slower under auto than on the CPU alone: {len(slower)}")
for (model, dataset), v in slower:
    print(f"  {model} on {dataset}: auto {v['auto']:.2f} s, cpu {v['cpu']:.2f} s")
PY
fi
if wants ddpm; then
  GENZOO_DEVICE=cuda timeout 150 python3 benchmarks/ddpm_mnist.py --device cuda \
    --precision bfloat16 --steps 2000 --json "$out/ddpm_mnist_cuda.json" \
    --grid "$out/ddpm_mnist_cuda.png" >"$out/ddpm_mnist.log" 2>&1
  ddpm_rc=$?
fi

echo "== summary ($parts)"
cat "$out/device.txt"
if wants suite; then
  echo "suite: rc $suite_rc in ${suite_s} s; $(tail -n 1 "$out/pytest-cuda.log")"
  grep -E "^(FAILED|ERROR) " "$out/pytest-cuda.log" | head -n 40
  echo "-- slowest tests"
  sed -n '/slowest 25 durations/,/^=/p' "$out/pytest-cuda.log" | head -n 27
fi
if wants bench; then
  echo "-- benchmarks (rc $bench_rc): workload | cuda | cpu | peer | peer name"
  cat "$out/gpu_bench.log"
fi
if wants speed; then
  echo "-- where CUDA pays (rc $sweep_rc)"
  cat "$out/gpu_sweep.log"
  echo "-- large GMM on CUDA (rc $large_rc)"
  tail -n 8 "$out/gmm_large.log"
  echo "-- quick zoo, auto against the CPU alone"
  cat "$out/zoo_compare.log"
fi
if wants ddpm; then
  echo "-- MNIST DDPM on CUDA, bf16 (rc $ddpm_rc)"
  cat "$out/ddpm_mnist_cuda.json" 2>/dev/null || tail -n 5 "$out/ddpm_mnist.log"
fi
