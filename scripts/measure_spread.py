"""How much a chapter's training results move from one CPU configuration to another.

    python -m scripts.measure_spread numpy          # the backprop chapter's run, about a minute per setting
    python -m scripts.measure_spread torch          # the PyTorch chapter's run, several minutes per setting
    python -m scripts.measure_spread numpy --seeds 0 1 2 3 4 --settings "another CPU (other_cpu.py)" \
        --json benchmarks/results/seed_spread_numpy.json

The chapters' training runs are seeded, so on one machine they repeat bit for bit. Elsewhere the
sums round differently, and after thousands of steps the results drift apart a little. The
assertions that check those results in the book need tolerances taken from this drift: this script
runs the chapter's exact training call once per setting below, in a fresh process each, and prints
what the chapter prints (per-epoch mean training loss, mean batch accuracy, validation loss and
accuracy; the final test accuracy and the number of misclassified test digits), then the spread of
each across the settings.

Settings: as this process's environment has them; one thread; two threads; OpenBLAS's Haswell
kernel with one thread; and scripts/other_cpu.py's "another CPU".

A run on another machine drifts apart from the stored one the way a run with another seed does, so
the settings alone under-estimate how far a result can move. ``--seeds 0 1 2 3 4`` runs the same
call with each seed (the seed replaces ``seed=0``) as this process's environment has it;
``--settings NAME ...`` then runs only the named settings, with seed 0 (or each seed of
``--setting-seeds``), after the seeds. ``--json PATH`` writes every finished run to PATH, rewritten
atomically after each run, so that an interrupted sweep keeps what it finished (``--resume`` then
runs the same command again, keeping those runs and running only the rest):

    {"command": ..., "date": ..., "machine": ...,
     "runs": [{"setting": ..., "seed": ..., "results": {"mean training loss": [...], ...}}, ...]}

The spread printed at the end is each result's largest deviation from the run with seed 0 as
configured (or from the first run, without it), over all runs, over the seeds and over the settings.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from scripts.other_cpu import ONE_THREAD, other_cpu_env

DEFAULT = "as configured"

# The chapters' calls, verbatim in their arguments.
RUNS = {
    "numpy": "from cnn_tutorial.numpy_net import train_numpy\n"
    "net, history = train_numpy(epochs=3, batch_size=32, lr=2e-3, schedule='cosine', seed=0, progress=False)",
    "torch": "from cnn_tutorial.pytorch.training import train_torch\n"
    "model, history = train_torch(epochs=6, batch_size=100, "
    "lr=1e-3, seed=0, device='cpu', relu_between_fc=True,\n"
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
        DEFAULT: base,
        "1 thread": {**base, **ONE_THREAD},
        "2 threads": {**base, **{name: "2" for name in ONE_THREAD}},
        "OpenBLAS Haswell, 1 thread": {**base, **ONE_THREAD, "OPENBLAS_CORETYPE": "Haswell"},
        "another CPU (other_cpu.py)": other_cpu_env(base),
    }


def call(framework: str, seed: int = 0) -> str:
    """The chapter's training call with ``seed`` in place of its ``seed=0``."""
    code = RUNS[framework]
    assert code.count("seed=0") == 1, code
    return code.replace("seed=0", f"seed={seed}")


def run(framework: str, env: dict[str, str], seed: int = 0) -> dict:
    """Train once, in a fresh process with environment ``env``; return what the chapter prints."""
    result = subprocess.run(
        [sys.executable, "-c", call(framework, seed) + _SUMMARY],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def machine() -> str:
    """CPU model and cores (lscpu), OPENBLAS_CORETYPE if set, and the BLAS kernel threadpoolctl sees."""
    fields = {}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        fields = {
            key.strip(): value.strip()
            for key, _, value in (line.partition(":") for line in out.splitlines())
        }
    except (OSError, subprocess.CalledProcessError):
        pass
    parts = [fields.get("Model name", "unknown CPU"), f"{os.cpu_count()} cores"]
    if os.environ.get("OPENBLAS_CORETYPE"):
        parts.append(f"OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']}")
    try:
        from threadpoolctl import threadpool_info

        kernels = [
            f"{info['internal_api']} {info.get('architecture')}"
            for info in threadpool_info()
            if info["user_api"] == "blas"
        ]
        parts.append("BLAS kernel " + (", ".join(kernels) or "unknown"))
    except ImportError:
        pass
    return ", ".join(parts)


def plan(
    seeds: list[int] | None, names: list[str] | None, setting_seeds: list[int]
) -> list[tuple[str, int]]:
    """The (setting, seed) pairs to run, in order.

    Without ``seeds``: the named settings (default: every setting) with each of ``setting_seeds``
    (default: seed 0; the script's original sweep). With ``seeds``: first the default setting with
    each seed, in the order given; then each named setting with each of ``setting_seeds``.
    """
    order = settings_names()
    named = sorted(names or ([] if seeds is not None else order), key=order.index)
    pairs = [(DEFAULT, seed) for seed in seeds or []]
    pairs += [(name, seed) for seed in setting_seeds for name in named]
    return list(dict.fromkeys(pairs))


def settings_names() -> list[str]:
    return [
        DEFAULT,
        "1 thread",
        "2 threads",
        "OpenBLAS Haswell, 1 thread",
        "another CPU (other_cpu.py)",
    ]


def deviations(runs: list[dict]) -> dict[str, dict[str, list | float]]:
    """Per result key: largest absolute deviation from the reference run, over all runs, over the
    default setting's seeds, and over the other settings (seed by seed, each against the default
    setting's run with the same seed when there is one, else against the reference)."""
    reference = next((r for r in runs if r["setting"] == DEFAULT and r["seed"] == 0), runs[0])
    by_seed = {r["seed"]: r for r in runs if r["setting"] == DEFAULT}
    out = {}
    for key in reference["results"]:
        ref = np.asarray(reference["results"][key], dtype=float)

        def largest(pairs, key=key):
            devs = [
                np.abs(
                    np.asarray(a["results"][key], dtype=float)
                    - np.asarray(b["results"][key], dtype=float)
                )
                for a, b in pairs
            ]
            return np.max(devs, axis=0).tolist() if devs else None

        out[key] = {
            "all runs": largest([(r, reference) for r in runs]),
            "seeds": largest([(r, reference) for r in runs if r["setting"] == DEFAULT]),
            "settings": largest(
                [(r, by_seed.get(r["seed"], reference)) for r in runs if r["setting"] != DEFAULT]
            ),
            "reference": ref.tolist(),
        }
    return out


def _rounded(value):
    return None if value is None else np.round(value, 4).tolist()


def main(
    argv: list[str] | None = None, runner: Callable[[str, dict[str, str], int], dict] = run
) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("framework", choices=sorted(RUNS))
    parser.add_argument(
        "--only",
        action="append",
        metavar="SETTING",
        help="run only this setting (repeatable), e.g. --only '1 thread'",
    )
    parser.add_argument(
        "--settings",
        nargs="+",
        metavar="SETTING",
        help="run these settings (with seed 0, or each of --setting-seeds)",
    )
    parser.add_argument(
        "--seeds",
        nargs="+",
        type=int,
        metavar="SEED",
        help="run the default setting with each of these seeds",
    )
    parser.add_argument(
        "--setting-seeds",
        nargs="+",
        type=int,
        default=[0],
        metavar="SEED",
        help="seeds for the runs of --settings/--only (default: 0)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        metavar="PATH",
        help="write the runs to PATH (atomically, after every run)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the runs already in --json PATH from this same command, run only the rest",
    )
    args = parser.parse_args(argv)
    chosen = settings()
    names = (args.only or []) + (args.settings or []) or None
    unknown = set(names or []) - set(chosen)
    if unknown:
        parser.error(f"unknown setting(s) {sorted(unknown)}; choose from {sorted(chosen)}")
    command = ["python", "-m", "scripts.measure_spread", *argv]
    record = {
        "command": shlex.join(command),
        "date": datetime.date.today().isoformat(),
        "machine": machine(),
        "runs": [],
    }
    if args.resume:
        if args.json is None:
            parser.error("--resume needs --json PATH")
        if args.json.exists():
            earlier = json.loads(args.json.read_text())
            same = shlex.split(earlier["command"])
            if [word for word in same if word != "--resume"] != [
                word for word in command if word != "--resume"
            ]:
                parser.error(f"{args.json} holds the runs of another command: {earlier['command']}")
            if earlier["machine"] != record["machine"]:
                parser.error(f"{args.json} was measured on another machine: {earlier['machine']}")
            record["date"], record["runs"] = earlier["date"], earlier["runs"]
    done = {(run["setting"], run["seed"]) for run in record["runs"]}
    for name, seed in plan(args.seeds, names, args.setting_seeds):
        if (name, seed) in done:
            continue
        start = time.perf_counter()
        results = runner(args.framework, chosen[name], seed)
        seconds = time.perf_counter() - start
        record["runs"].append({"setting": name, "seed": seed, "results": results})
        print(f"{name}, seed {seed} ({seconds:.0f} s): {json.dumps(results)}", flush=True)
        if args.json is not None:
            from cnn_tutorial.files import atomic_write

            with atomic_write(args.json, "w") as file:
                json.dump(record, file, indent=1)
                file.write("\n")
    runs = record["runs"]
    if args.seeds is None:
        print("\nspread (largest minus smallest across the settings):")
        for key in runs[0]["results"]:
            values = np.array([r["results"][key] for r in runs], dtype=float)
            spread = values.max(axis=0) - values.min(axis=0)
            relative = spread / np.abs(values).min(axis=0)
            print(
                f"  {key}: {np.round(spread, 4).tolist()}  (relative: {np.round(relative, 4).tolist()})"
            )
    print(f"\nlargest deviation from the run with seed 0 as configured ({len(runs)} runs):")
    for key, dev in deviations(runs).items():
        print(
            f"  {key}: all runs {_rounded(dev['all runs'])}; across seeds {_rounded(dev['seeds'])}; "
            f"across settings {_rounded(dev['settings'])}  (seed 0: {_rounded(dev['reference'])})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
