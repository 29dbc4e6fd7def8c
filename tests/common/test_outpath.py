"""Output paths (issue 15): checked before the work, written whole or not at all."""

import pytest

from perfmodel.common.errors import PerfModelError
from perfmodel.common.outpath import atomic_file, out_dir, out_file, staged_dir


def test_bad_paths_are_named_in_one_line(tmp_path):
    (tmp_path / "f").write_text("x")
    cases = [(lambda: out_dir("--out", ""), "--out is empty"),
             (lambda: out_dir("--out", "a\n\x1b[31m"), "contains control characters"),
             (lambda: out_dir("--out", tmp_path / "f" / "sub"), "is a file, not a directory"),
             (lambda: out_file("--plot", tmp_path), "is a directory"),
             (lambda: out_file("--plot", tmp_path / "x.bin", suffixes=(".png",)), "must end in .png"),
             (lambda: out_file("--csv", tmp_path / "missing" / "x.csv"), "does not exist")]
    for call, fragment in cases:
        with pytest.raises(PerfModelError, match=fragment) as exc:
            call()
        assert "\n" not in str(exc.value)
    assert out_file("--png", tmp_path / "x.PNG", suffixes=(".png",)) == tmp_path / "x.PNG"


def test_a_failed_write_leaves_nothing(tmp_path):
    target = tmp_path / "plot.png"
    with pytest.raises(RuntimeError):
        with atomic_file(target) as tmp:
            assert tmp.suffix == ".png" and tmp.parent == tmp_path
            tmp.write_text("half")
            raise RuntimeError("writer failed")
    assert list(tmp_path.iterdir()) == []
    d = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with staged_dir(d) as tmp:
            (tmp / "a.csv").write_text("half")
            raise RuntimeError("writer failed")
    assert not d.exists()


def test_a_completed_write_replaces_whole(tmp_path):
    target = tmp_path / "r.html"
    target.write_text("old")
    with atomic_file(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]
    d = tmp_path / "out"
    with staged_dir(d) as tmp:
        (tmp / "a.csv").write_text("1")
        (tmp / "b.json").write_text("{}")
    assert sorted(p.name for p in d.iterdir()) == ["a.csv", "b.json"]
