"""How far the shift experiment of "Why convolutions" moves between seeds and CPU settings.

    python -m scripts.shift_spread            # seeds 0-4 as configured, seed 0 as another CPU
    python -m scripts.shift_spread --seeds 0 1 --no-other-cpu
    python -m scripts.shift_spread --exercise # the same for the exercise on scrambled pixels

Runs the chapter's training and evaluation (its calls verbatim, with the seed changed), once per
run in a fresh process: the learning rate each network chose on the validation split, the
validation accuracies, and the test accuracy at each shift. Then prints, for each figure, the
largest deviation from the chapter's run (seed 0, as configured) and writes everything, with the
command, date and machine, to benchmarks/results/shift_spread.json. With ``--exercise``, the same
for the chapter's exercise that trains both networks on scrambled pixels (with the learning rates
the chapter's run chose), written to benchmarks/results/shift_spread_exercise.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np

from cnn_tutorial.files import atomic_write
from scripts.measure_spread import machine
from scripts.other_cpu import other_cpu_env

REPO = Path(__file__).resolve().parents[1]

RESULTS = REPO / "benchmarks" / "results"

# The chapter's cells, verbatim but for the seed (SEED below).
RUN = """
import json
import numpy as np
from cnn_tutorial.data import load_mnist_splits, normalize
from cnn_tutorial.dense import MLP, train_with_best_rate
from cnn_tutorial.shifts import SmallCNN, accuracy_by_shift

splits = load_mnist_splits()
(train_images, train_labels), (validation_images, validation_labels), (test_images, test_labels) = splits
x_train = normalize(train_images)             # (55000, 1, 28, 28)
x_validation = normalize(validation_images)   # (5000, 1, 28, 28)
learning_rates = [0.025, 0.05, 0.1, 0.2, 0.4]
mlp, mlp_rate, mlp_validation = train_with_best_rate(
    MLP, x_train, train_labels, x_validation, validation_labels, learning_rates, seed=SEED)
cnn, cnn_rate, cnn_validation = train_with_best_rate(
    SmallCNN, x_train, train_labels, x_validation, validation_labels, learning_rates, seed=SEED)
distances = range(5)
mlp_by_shift = accuracy_by_shift(mlp, test_images, test_labels, distances)
cnn_by_shift = accuracy_by_shift(cnn, test_images, test_labels, distances)
print(json.dumps({
    "MLP rate": mlp_rate, "CNN rate": cnn_rate,
    "MLP validation %": [100 * mlp_validation[lr] for lr in learning_rates],
    "CNN validation %": [100 * cnn_validation[lr] for lr in learning_rates],
    "MLP test % by shift": (100 * mlp_by_shift).tolist(),
    "CNN test % by shift": (100 * cnn_by_shift).tolist(),
}))
"""

# The exercise "Predict, then run: scrambled pixels", verbatim but for the seed, with the rates
# the chapter's run chose (0.2 for the MLP, 0.05 for the CNN).
EXERCISE = """
import json
import numpy as np
from cnn_tutorial.data import load_mnist_splits, normalize
from cnn_tutorial.dense import MLP, accuracy, train
from cnn_tutorial.shifts import SmallCNN

(train_images, train_labels), (validation_images, validation_labels), _ = load_mnist_splits()
x_train, x_validation = normalize(train_images), normalize(validation_images)
mlp_rate, cnn_rate = 0.2, 0.05
scramble = np.random.default_rng(1).permutation(784)


def scrambled(x):   # (N, 1, 28, 28) -> the same shape, pixels permuted
    return x.reshape(len(x), -1)[:, scramble].reshape(x.shape)


scrambled_accuracy = {}
for name, make_net, lr in [("MLP", MLP, mlp_rate), ("CNN", SmallCNN, cnn_rate)]:
    net = make_net(seed=SEED)
    train(net, scrambled(x_train), train_labels, lr=lr, seed=SEED)
    acc = accuracy(net, scrambled(x_validation), validation_labels)
    scrambled_accuracy[name] = acc
print(json.dumps({f"{name} scrambled validation %": 100 * acc for name, acc in scrambled_accuracy.items()}))
"""


def run(seed: int, env: dict[str, str], code: str = RUN) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", code.replace("SEED", str(seed))],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def spread(runs: list[dict]) -> dict:
    """Per figure: the reference run's values and the largest deviation from them (over all runs,
    over the seeds, over the CPU settings)."""
    reference = runs[0]["results"]
    out = {}
    for key in reference:
        ref = np.asarray(reference[key], dtype=float)

        def largest(chosen, key=key, ref=ref):
            devs = [np.abs(np.asarray(r["results"][key], dtype=float) - ref) for r in chosen]
            return np.round(np.max(devs, axis=0), 4).tolist() if devs else None

        out[key] = {
            "reference": np.round(ref, 4).tolist(),
            "all runs": largest(runs),
            "seeds": largest([r for r in runs if r["setting"] == "as configured"]),
            "another CPU": largest([r for r in runs if r["setting"] != "as configured"]),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--no-other-cpu", action="store_true", help="skip the run as another CPU")
    parser.add_argument(
        "--exercise", action="store_true", help="measure the exercise on scrambled pixels"
    )
    parser.add_argument(
        "--json", type=Path, help="where to write (default: benchmarks/results/...)"
    )
    args = parser.parse_args(argv)
    code = EXERCISE if args.exercise else RUN
    output = args.json or RESULTS / (
        "shift_spread_exercise.json" if args.exercise else "shift_spread.json"
    )
    plan = [("as configured", seed) for seed in args.seeds]
    if not args.no_other_cpu:
        plan.append(("another CPU (other_cpu.py)", args.seeds[0]))
    record = {
        "command": shlex.join(["python", "-m", "scripts.shift_spread", *argv]),
        "date": datetime.date.today().isoformat(),
        "machine": f"{machine()}; platform.processor() {platform.processor()!r}",
        "runs": [],
    }
    for setting, seed in plan:
        env = dict(os.environ) if setting == "as configured" else other_cpu_env()
        results = run(seed, env, code)
        record["runs"].append({"setting": setting, "seed": seed, "results": results})
        print(f"{setting}, seed {seed}: {json.dumps(results)}", flush=True)
    record["spread"] = spread(record["runs"])
    for key, value in record["spread"].items():
        print(
            f"{key}: reference {value['reference']}, largest deviation {value['all runs']} "
            f"(seeds {value['seeds']}, another CPU {value['another CPU']})"
        )
    with atomic_write(output, "w") as file:
        json.dump(record, file, indent=2)
        file.write("\n")
    print(f"written to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
