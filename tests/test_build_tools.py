"""The normal book build drops its execution cache exactly when the course library changed."""
from __future__ import annotations

from pathlib import Path

from sitebuild import cache_key, kernel


def _build_dir_with_cache(tmp_path: Path, stamp: str | None) -> Path:
    (tmp_path / ".jupyter_cache").mkdir()
    if stamp is not None:
        (tmp_path / ".gated-library-hash").write_text(stamp)
    return tmp_path


def test_a_changed_library_clears_the_execution_cache(tmp_path: Path):
    build = _build_dir_with_cache(tmp_path, stamp="hash of an older gated/")
    cache_key.main(str(build))
    assert not (build / ".jupyter_cache").exists()
    assert (build / ".gated-library-hash").read_text() == cache_key.library_hash()


def test_an_unchanged_library_keeps_the_execution_cache(tmp_path: Path):
    build = _build_dir_with_cache(tmp_path, stamp=cache_key.library_hash())
    cache_key.main(str(build))
    assert (build / ".jupyter_cache").exists()


def test_the_library_hash_covers_every_module_of_gated():
    modules = {p.name for p in (Path(cache_key.ROOT) / "gated").rglob("*.py")}
    assert {"cells.py", "conventions.py", "training.py", "pointwise.py"} <= modules
    assert len(cache_key.library_hash()) == 64


def test_a_change_to_how_the_kernels_draw_figures_changes_the_library_hash(tmp_path: Path, monkeypatch):
    startup = tmp_path / "kernel_startup.py"
    startup.write_text("SVG_BUDGET = 1\n")
    monkeypatch.setattr(kernel, "INPUTS", (startup,))
    before = cache_key.library_hash()
    startup.write_text("SVG_BUDGET = 2\n")
    assert cache_key.library_hash() != before
