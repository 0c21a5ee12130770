"""Atomic writes: all or nothing, with ordinary permissions."""

import os
import stat

import pytest

from cnn_tutorial.files import atomic_write


def test_writes_the_file_creating_parent_directories(tmp_path):
    target = tmp_path / "a" / "b" / "out.txt"
    with atomic_write(target, "w") as handle:
        handle.write("hello")
    assert target.read_text() == "hello"
    assert os.listdir(target.parent) == ["out.txt"]


def test_file_gets_the_mode_of_an_ordinary_open(tmp_path):
    with atomic_write(tmp_path / "atomic", "w") as handle:
        handle.write("x")
    (tmp_path / "plain").write_text("x")
    assert stat.S_IMODE(os.stat(tmp_path / "atomic").st_mode) == stat.S_IMODE(
        os.stat(tmp_path / "plain").st_mode
    )


def test_a_failure_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as handle:
            handle.write(b"half")
            raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out.bin"]


def test_rejects_unknown_modes(tmp_path):
    with pytest.raises(ValueError, match="mode"):
        with atomic_write(tmp_path / "x", "a"):
            pass


def test_never_touches_the_process_wide_umask(tmp_path, monkeypatch):
    """Reading the umask means setting it twice, which races with other threads' file creation."""

    def no_umask(mask):
        raise AssertionError("atomic_write changed the umask")

    monkeypatch.setattr(os, "umask", no_umask)
    with atomic_write(tmp_path / "out", "w") as handle:
        handle.write("x")
    assert (tmp_path / "out").read_text() == "x"


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors through /proc")
def test_a_failure_to_open_the_temporary_file_leaks_no_descriptor(tmp_path, monkeypatch):
    def broken_fdopen(fd, mode):
        raise OSError("fdopen failed")

    monkeypatch.setattr(os, "fdopen", broken_fdopen)
    before = _open_descriptors()
    with pytest.raises(OSError, match="fdopen failed"):
        with atomic_write(tmp_path / "out"):
            pass
    assert _open_descriptors() == before
    assert os.listdir(tmp_path) == []


def test_syncs_the_file_before_the_rename_and_the_directory_after(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append("directory" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", lambda a, b: events.append("rename") or real_replace(a, b))
    with atomic_write(tmp_path / "out") as handle:
        handle.write(b"x")
    expected = ["file", "rename", "directory"] if os.name == "posix" else ["file", "rename"]
    assert events == expected


def test_an_unknown_mode_is_refused_when_called_before_any_file_exists(tmp_path):
    """The mode is a declared rule: refused by the call itself, before the block or a temporary."""
    with pytest.raises(ValueError, match="mode must be 'wb' or 'w', got 'a'"):
        atomic_write(tmp_path / "sub" / "x", "a")
    assert os.listdir(tmp_path) == []
