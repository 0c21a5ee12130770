"""How much a chapter's training results move from one CPU configuration to another.

    python scripts/measure_spread.py numpy          # the backprop chapter's run, about a minute per setting
    python scripts/measure_spread.py torch          # the PyTorch chapter's run, several minutes per setting

The chapters' training runs are seeded, so on one machine they repeat bit for bit. Elsewhere the
sums round differently, and after thousands of steps the results drift apart a little. The
assertions that check those results in the book need tolerances taken from this drift: this script
runs the chapter's exact training call once per setting below, in a fresh process each, and prints
what the chapter prints (per-epoch mean training loss, mean batch accuracy, validation loss and
accuracy; the final test accuracy and the number of misclassified test digits), then the spread of each across the settings.

Settings: as this process's environment has them; one thread; two threads; OpenBLAS's Haswell
kernel with one thread; and scripts/other_cpu.py's "another CPU".
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

SCRIPTS = Path(__file__).resolve().parent
sys.path.insert(0, str(SCRIPTS))
from other_cpu import ONE_THREAD, other_cpu_env  # noqa: E402

# The chapters' calls, verbatim in their arguments.
RUNS = {
    "numpy": "from cnn_tutorial.numpy_net import train_numpy\n"
             "net, history = train_numpy(epochs=3, batch_size=32, lr=2e-3, schedule='cosine', seed=0, progress=False)",
    "torch": "from cnn_tutorial.torch_training import train_torch\n"
             "model, history = train_torch(epochs=6, batch_size=100, lr=1e-3, seed=0, device='cpu', relu_between_fc=True,\n"
             "                             progress=False)",
}

_SUMMARY = """
import json
import numpy as np
epochs = len(history.epoch_validation_accuracy)
losses = np.array(history.step_loss).reshape(epochs, -1)
accuracies = np.array(history.step_accuracy).reshape(epochs, -1)
print(json.dumps({
    "mean training loss": losses.mean(axis=1).tolist(),
    "mean batch accuracy %": (100 * accuracies.mean(axis=1)).tolist(),
    "validation loss": history.epoch_validation_loss,
    "validation accuracy %": [100 * a for a in history.epoch_validation_accuracy],
    "test accuracy %": 100 * history.test_accuracy,
    "misclassified": round(10_000 * (1 - history.test_accuracy)),
}))
"""


def settings() -> dict[str, dict[str, str]]:
    base = dict(os.environ)
    return {
        "as configured": base,
        "1 thread": {**base, **ONE_THREAD},
        "2 threads": {**base, **{name: "2" for name in ONE_THREAD}},
        "OpenBLAS Haswell, 1 thread": {**base, **ONE_THREAD, "OPENBLAS_CORETYPE": "Haswell"},
        "another CPU (other_cpu.py)": other_cpu_env(base),
    }


def run(framework: str, env: dict[str, str]) -> dict:
    result = subprocess.run([sys.executable, "-c", RUNS[framework] + _SUMMARY], env=env,
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("framework", choices=sorted(RUNS))
    parser.add_argument("--only", action="append", metavar="SETTING",
                        help="run only this setting (repeatable), e.g. --only '1 thread'")
    args = parser.parse_args(argv)
    chosen = settings()
    unknown = set(args.only or []) - set(chosen)
    if unknown:
        parser.error(f"unknown setting(s) {sorted(unknown)}; choose from {sorted(chosen)}")
    results = {}
    for name, env in chosen.items():
        if args.only and name not in args.only:
            continue
        results[name] = run(args.framework, env)
        print(f"{name}: {json.dumps(results[name])}", flush=True)
    print("\nspread (largest minus smallest across the settings):")
    for key in next(iter(results.values())):
        values = np.array([result[key] for result in results.values()], dtype=float)
        spread = values.max(axis=0) - values.min(axis=0)
        relative = spread / np.abs(values).min(axis=0)
        print(f"  {key}: {np.round(spread, 4).tolist()}  (relative: {np.round(relative, 4).tolist()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
