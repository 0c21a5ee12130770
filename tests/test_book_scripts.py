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

import compare_outputs
import other_cpu
import refresh_notebooks
from toc import chapter_notebooks

REPO = Path(__file__).resolve().parents[1]


def test_chapters_come_in_the_order_of_the_table_of_contents():
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    names = [entry["file"] for part in toc["parts"] for entry in part["chapters"] if (REPO / f"{entry['file']}.ipynb").is_file()]
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
    assert [kernel for _, kernel, _ in effect["BLAS (library, kernel, threads)"]] == [env["OPENBLAS_CORETYPE"]]
    assert effect["BLAS (library, kernel, threads)"] != here["BLAS (library, kernel, threads)"]
    assert effect["torch CPU capability"] == "DEFAULT" and effect["torch threads"] == 1


def test_other_cpu_runs_the_command_with_that_environment():
    command = [sys.executable, str(REPO / "scripts" / "other_cpu.py"), sys.executable, "-c",
               "import os; print('threads', os.environ['OPENBLAS_NUM_THREADS'])"]
    result = subprocess.run(command, capture_output=True, text=True, check=True, timeout=120)
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
    stored = _notebook(tmp_path / "stored.ipynb", ["shape (2, 3)\n", "loss 0.1497\n", "took 43 s\n"], ignored=2)
    same = _notebook(tmp_path / "same.ipynb", ["shape (2, 3)\n", "loss 0.1497\n", "took 39 s\n"], ignored=2)
    moved = _notebook(tmp_path / "moved.ipynb", ["shape (2, 3)\n", "loss 0.1500\n", "took 39 s\n"], ignored=2)
    assert compare_outputs.main([str(stored), str(same)]) == 0
    assert "cell   3 (print(2)): not compared" in capsys.readouterr().out
    assert compare_outputs.main([str(stored), str(moved)]) == 1
    report = capsys.readouterr().out
    assert "cell   2 (print(1)): DIFFERS" in report and "+[stdout] loss 0.1500" in report


def test_compare_outputs_joins_split_streams_as_nbval_does(tmp_path):
    stored = _notebook(tmp_path / "stored.ipynb", ["a\nb\n"])
    split = nbformat.read(stored, as_version=4)
    split.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text=text) for text in ("a\n", "b\n")]
    nbformat.write(split, tmp_path / "split.ipynb")
    assert compare_outputs.main([str(stored), str(tmp_path / "split.ipynb")]) == 0


def test_stored_chapters_tag_every_assertion_cell_and_no_timing_is_asserted():
    for path in chapter_notebooks(REPO):
        notebook = json.loads(path.read_text())
        for cell in notebook["cells"]:
            source = "".join(cell["source"])
            if cell["cell_type"] == "code" and source.lstrip().startswith(("assert", "#")) and "assert" in source:
                tags = cell["metadata"].get("tags", [])
                assert "remove-cell" in tags, f"{path.name}: an assertion cell readers would see:\n{source}"
                assert "seconds" not in source and "_ms" not in source, f"{path.name}: a timing is asserted:\n{source}"


def test_every_chapter_installs_the_package_on_colab_and_only_there(monkeypatch):
    import subprocess as subprocess_module
    import types

    import colab_cell

    assert colab_cell.main(["--check"]) == 0  # first code cell of every chapter, hidden in the book
    source = colab_cell.cell_source()
    config = yaml.safe_load((REPO / "_config.yml").read_text())["repository"]
    # Elsewhere: nothing printed, nothing installed.
    quiet = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True, check=True)
    assert quiet.stdout == quiet.stderr == ""
    # On Colab: pip installs the package from the repository and branch of _config.yml.
    calls = []
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(subprocess_module, "run", lambda command, check: calls.append(command))
    exec(compile(source, "colab-install", "exec"), {})
    assert calls == [[sys.executable, "-m", "pip", "install", "--quiet",
                      f"cnn_tutorial @ git+{config['url']}@{config['branch']}"]]
