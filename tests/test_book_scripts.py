"""Tests for the scripts that keep the book's stored outputs honest: chapter order, "another CPU",
and the cell-by-cell comparison of two executed copies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import yaml

from scripts import compare_outputs, other_cpu, refresh_notebooks, refresh_sources
from scripts.toc import chapter_notebooks

REPO = Path(__file__).resolve().parents[1]


def test_chapters_come_in_the_order_of_the_table_of_contents():
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    names = [
        entry["file"]
        for part in toc["parts"]
        for entry in part["chapters"]
        if (REPO / f"{entry['file']}.ipynb").is_file()
    ]
    chapters = chapter_notebooks(REPO)
    assert [path.relative_to(REPO).with_suffix("").as_posix() for path in chapters] == names
    # The chapter that loads the PyTorch checkpoint comes after the one that saves it,
    # although its name sorts first.
    stems = [path.stem for path in chapters]
    assert stems.index("pytorch_convnet") < stems.index("numpy_meets_pytorch")


def test_named_chapters_are_refreshed_in_reading_order_too():
    paths = refresh_notebooks.chapter_paths(["numpy_meets_pytorch", "book/pytorch_convnet.ipynb"])
    assert [path.stem for path in paths] == ["pytorch_convnet", "numpy_meets_pytorch"]
    assert refresh_notebooks.chapter_paths([]) == chapter_notebooks(REPO)


def test_another_cpu_takes_effect_in_a_child_process():
    env = other_cpu.other_cpu_env()
    assert all(env[name] == "1" for name in other_cpu.ONE_THREAD)
    assert env["ATEN_CPU_CAPABILITY"] == "default"
    effect = other_cpu._report(env)
    here = other_cpu._report(dict(os.environ))
    assert effect["numpy SIMD dispatch in use"] == []  # baseline only
    assert all(threads == 1 for _, _, threads in effect["BLAS (library, kernel, threads)"])
    assert [kernel for _, kernel, _ in effect["BLAS (library, kernel, threads)"]] == [
        env["OPENBLAS_CORETYPE"]
    ]
    assert effect["BLAS (library, kernel, threads)"] != here["BLAS (library, kernel, threads)"]
    assert effect["torch CPU capability"] == "DEFAULT" and effect["torch threads"] == 1


def test_other_cpu_runs_the_command_with_that_environment():
    command = [
        sys.executable,
        "-m",
        "scripts.other_cpu",
        sys.executable,
        "-c",
        "import os; print('threads', os.environ['OPENBLAS_NUM_THREADS'])",
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=120, cwd=REPO
    )
    assert result.stdout.splitlines()[0].startswith("as another CPU:")
    assert result.stdout.splitlines()[-1] == "threads 1"


def _notebook(path: Path, outputs: list[str], ignored: int | None = None) -> Path:
    cells = []
    for index, text in enumerate(outputs):
        cell = nbformat.v4.new_code_cell(f"print({index})", execution_count=index + 1)
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
        if index == ignored:
            cell.metadata["tags"] = ["nbval-ignore-output"]
        cells.append(cell)
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    return path


def test_compare_outputs_finds_what_nbval_would_fail_on(tmp_path, capsys):
    stored = _notebook(
        tmp_path / "stored.ipynb", ["shape (2, 3)\n", "loss 0.1497\n", "took 43 s\n"], ignored=2
    )
    same = _notebook(
        tmp_path / "same.ipynb", ["shape (2, 3)\n", "loss 0.1497\n", "took 39 s\n"], ignored=2
    )
    moved = _notebook(
        tmp_path / "moved.ipynb", ["shape (2, 3)\n", "loss 0.1500\n", "took 39 s\n"], ignored=2
    )
    assert compare_outputs.main([str(stored), str(same)]) == 0
    assert "cell   3 (print(2)): not compared" in capsys.readouterr().out
    assert compare_outputs.main([str(stored), str(moved)]) == 1
    report = capsys.readouterr().out
    assert "cell   2 (print(1)): DIFFERS" in report and "+[stdout] loss 0.1500" in report


def test_compare_outputs_joins_split_streams_as_nbval_does(tmp_path):
    stored = _notebook(tmp_path / "stored.ipynb", ["a\nb\n"])
    split = nbformat.read(stored, as_version=4)
    split.cells[0].outputs = [
        nbformat.v4.new_output("stream", name="stdout", text=text) for text in ("a\n", "b\n")
    ]
    nbformat.write(split, tmp_path / "split.ipynb")
    assert compare_outputs.main([str(stored), str(tmp_path / "split.ipynb")]) == 0


def test_stored_chapters_tag_every_assertion_cell_and_no_timing_is_asserted():
    for path in chapter_notebooks(REPO):
        notebook = json.loads(path.read_text())
        for cell in notebook["cells"]:
            source = "".join(cell["source"])
            if (
                cell["cell_type"] == "code"
                and source.lstrip().startswith(("assert", "#"))
                and "assert" in source
            ):
                tags = cell["metadata"].get("tags", [])
                assert "remove-cell" in tags, (
                    f"{path.name}: an assertion cell readers would see:\n{source}"
                )
                assert "seconds" not in source and "_ms" not in source, (
                    f"{path.name}: a timing is asserted:\n{source}"
                )


def test_every_chapter_installs_the_package_on_colab_and_only_there(monkeypatch):
    import subprocess as subprocess_module
    import types

    from scripts import colab_cell

    assert colab_cell.main(["--check"]) == 0  # first code cell of every chapter, hidden in the book
    source = colab_cell.cell_source()
    config = yaml.safe_load((REPO / "_config.yml").read_text())["repository"]
    # Elsewhere: nothing printed, nothing installed.
    quiet = subprocess.run(
        [sys.executable, "-c", source], capture_output=True, text=True, check=True
    )
    assert quiet.stdout == quiet.stderr == ""
    # On Colab: pip installs the package from the repository and branch of _config.yml.
    calls = []
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(subprocess_module, "run", lambda command, check: calls.append(command))
    exec(compile(source, "colab-install", "exec"), {})
    assert calls == [
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            f"cnn_tutorial @ git+{config['url']}@{config['branch']}",
        ]
    ]


def test_measure_spread_runs_each_seed_and_setting_and_writes_every_run(tmp_path, capsys):
    import shlex

    from scripts import measure_spread

    calls = []

    def fake_runner(
        framework, env, seed
    ):  # no training: results that move with the seed and setting
        calls.append((framework, env.get("OMP_NUM_THREADS"), seed))
        one_thread = env.get("OMP_NUM_THREADS") == "1"
        return {
            "validation accuracy %": [98.0 + seed / 10, 99.0 - one_thread / 10],
            "test accuracy %": 99.0 + seed / 100,
            "misclassified": 100 - seed + one_thread,
        }

    out = tmp_path / "results" / "spread.json"
    argv = ["numpy", "--seeds", "0", "1", "2", "--settings", "1 thread", "--json", str(out)]
    assert measure_spread.main(argv, runner=fake_runner) == 0
    # The seeds as configured first, then the named setting with seed 0 only.
    assert [seed for _, _, seed in calls] == [0, 1, 2, 0]
    record = json.loads(out.read_text())
    assert set(record) == {"command", "date", "machine", "runs"}
    assert record["command"] == "python -m scripts.measure_spread " + shlex.join(argv)
    assert [(run["setting"], run["seed"]) for run in record["runs"]] == [
        ("as configured", 0),
        ("as configured", 1),
        ("as configured", 2),
        ("1 thread", 0),
    ]
    assert record["runs"][2]["results"] == {
        "validation accuracy %": [98.2, 99.0],
        "test accuracy %": 99.02,
        "misclassified": 98,
    }
    printed = capsys.readouterr().out
    assert "misclassified: all runs 2.0; across seeds 2.0; across settings 1.0" in printed
    assert "validation accuracy %: all runs [0.2, 0.1]" in printed
    # The chapter's call with the seed swapped in, and nothing else changed.
    assert measure_spread.call("torch", 3) == measure_spread.RUNS["torch"].replace(
        "seed=0", "seed=3"
    )
    assert "seed=3" in measure_spread.call("torch", 3) and "seed=0" not in measure_spread.call(
        "torch", 3
    )


def test_measure_spread_keeps_every_finished_run_when_a_later_one_fails(tmp_path):
    import pytest

    from scripts import measure_spread

    def failing_runner(framework, env, seed):
        if seed == 1:
            raise subprocess.CalledProcessError(1, "train")
        return {"test accuracy %": 99.0}

    out = tmp_path / "spread.json"
    argv = ["torch", "--seeds", "0", "1", "2", "--json", str(out)]
    with pytest.raises(subprocess.CalledProcessError):
        measure_spread.main(argv, runner=failing_runner)
    assert [run["seed"] for run in json.loads(out.read_text())["runs"]] == [0]
    # --resume keeps that run and runs only the rest; it refuses another command's file.
    seeds = []
    measure_spread.main(
        argv + ["--resume"],
        runner=lambda framework, env, seed: seeds.append(seed) or {"test accuracy %": 99.0},
    )
    assert seeds == [1, 2]
    assert [run["seed"] for run in json.loads(out.read_text())["runs"]] == [0, 1, 2]
    with pytest.raises(SystemExit):
        measure_spread.main(
            ["torch", "--seeds", "5", "--json", str(out), "--resume"], runner=failing_runner
        )
    # Without the new options: every setting once, with seed 0, as before.
    assert measure_spread.plan(None, None, [0]) == [
        (name, 0) for name in measure_spread.settings_names()
    ]


def test_chapter_resources_counts_the_processes_a_chapter_starts(tmp_path):
    from scripts import chapter_resources

    # A child that holds 300 MB for a second, then ends: the kernel alone never holds it.
    child = "import time; block = b'x' * (300 * 2**20); time.sleep(1.5)"
    cells = [
        nbformat.v4.new_code_cell("import subprocess, sys"),
        nbformat.v4.new_code_cell(f"subprocess.run([sys.executable, '-c', {child!r}], check=True)"),
    ]
    path = tmp_path / "child.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    client, _, error = chapter_resources.run_chapter(path, interval=0.05)
    assert error == ""
    assert client.peak_mb > client.kernel_peak_mb + 250
    assert (
        client.sampler.peak_pss_mb > 250
    )  # the child's private pages count in the proportional sum too
    assert client.peak_raised[-1][1].startswith("subprocess.run(")
    # A chapter that fails is reported, with its peak up to the failing cell.
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 / 0")]), path)
    client, _, error = chapter_resources.run_chapter(path)
    assert "ZeroDivisionError" in error and client.peak_mb > 0


def test_every_stored_source_view_is_the_packages_source_today():
    """A show_source output is a function of the package's code alone: it must match it."""
    assert refresh_sources.main(["--check"]) == 0


def test_refresh_sources_rewrites_a_stale_source_view_and_only_that(tmp_path):
    from cnn_tutorial.figures.source import source_bundle
    from cnn_tutorial.layers import relu

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("from cnn_tutorial.layers import relu"),
        nbformat.v4.new_code_cell("show_source(relu)"),
        nbformat.v4.new_code_cell("show_source(relu, full=True)\nx = 1"),  # not only the call
    ]
    assert list(refresh_sources.source_outputs(notebook)) == [1]
    (output,) = refresh_sources.source_outputs(notebook)[1]
    assert output["data"] == source_bundle(relu)
    calls = refresh_sources.show_source_calls(notebook)
    assert [(index, expression, full) for index, expression, full, _ in calls] == [
        (1, "relu", False),
        (2, "relu", True),
    ]
