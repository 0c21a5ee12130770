"""Run a command as another CPU would: other BLAS kernels, one thread, numpy's and PyTorch's SIMD reduced.

    python -m scripts.other_cpu python -m pytest --nbval book/      # the book's tests, "elsewhere"
    python -m scripts.other_cpu python -m scripts.refresh_notebooks --out /tmp/elsewhere

A stored output is compared exactly only if it is the same on any CPU, any BLAS kernel and any
thread count. This machine cannot become an arm64 laptop, but it can take other code paths for the
same numbers, which is where last-bit differences come from:

* OpenBLAS (numpy's matrix products): another kernel (``OPENBLAS_CORETYPE``: Sandybridge, which has
  no FMA, unless this machine already uses it; then Haswell) and one thread;
* numpy: its SIMD loops (``exp``, ``log``, ``power``, sums, ...) limited to the baseline its wheel
  was built for (``NPY_DISABLE_CPU_FEATURES``: every dispatch target this CPU has);
* PyTorch: its vectorised kernels at the default capability (``ATEN_CPU_CAPABILITY=default``),
  oneDNN's convolutions and MKL limited to AVX2, one thread (``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``).

The script prints what took effect (read back from threadpoolctl, numpy and torch in a child
process), then replaces itself with the command.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

_REPORT = """
import json, numpy, torch
from threadpoolctl import threadpool_info
from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
blas = [(info["internal_api"], info.get("architecture"), info["num_threads"]) for info in threadpool_info()
        if info["user_api"] == "blas"]
print(json.dumps({
    "numpy SIMD dispatch in use": [name for name in __cpu_dispatch__ if __cpu_features__.get(name)],
    "BLAS (library, kernel, threads)": blas,
    "torch CPU capability": torch.backends.cpu.get_cpu_capability(),
    "torch threads": torch.get_num_threads(),
}))
"""


def _report(env: dict[str, str]) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", _REPORT], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout)


def other_cpu_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) with the settings of the module docstring."""
    env = dict(os.environ if base is None else base)
    env.update(ONE_THREAD)
    here = _report(env)
    if platform.machine() in ("x86_64", "AMD64"):
        kernels = [kernel for _, kernel, _ in here["BLAS (library, kernel, threads)"]]
        env["OPENBLAS_CORETYPE"] = "Haswell" if "Sandybridge" in kernels else "Sandybridge"
        env["ONEDNN_MAX_CPU_ISA"] = "AVX2"
        env["MKL_ENABLE_INSTRUCTIONS"] = "AVX2"
    else:  # arm64: OpenBLAS's generic ARMv8 kernel
        env["OPENBLAS_CORETYPE"] = "ARMV8"
    env["NPY_DISABLE_CPU_FEATURES"] = " ".join(here["numpy SIMD dispatch in use"])
    env["ATEN_CPU_CAPABILITY"] = "default"
    return env


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    env = other_cpu_env()
    changed = {name: env[name] for name in sorted(env) if os.environ.get(name) != env[name]}
    print(
        "as another CPU:",
        " ".join(f"{name}={value!r}" for name, value in changed.items()),
        flush=True,
    )
    print("in effect:", json.dumps(_report(env)), flush=True)
    os.execvpe(argv[0], argv, env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
