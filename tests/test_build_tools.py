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


# --- pieces of the Sphinx extension, without a build ------------------------------------------------

def test_widget_pictures_become_urls_and_each_picture_is_stored_once():
    import base64

    from sitebuild.widget_images import pictures_to_urls

    png = b"\x89PNG fake picture"
    image = {"model_name": "ImageModel", "state": {"format": "png", "width": "432"},
             "buffers": [{"path": ["value"], "encoding": "base64", "data": base64.b64encode(png).decode()}]}
    other = {"model_name": "StackModel", "state": {"selected_index": 0}}
    state = {"state": {"a": image, "b": {**image, "buffers": [dict(image["buffers"][0])], "state": dict(image["state"])},
                       "c": other}}
    stored = []
    replaced = pictures_to_urls(state, lambda data, ext: stored.append((data, ext)) or f"../_images/widgets/x.{ext}")
    assert replaced == 2 and stored == [(png, "png"), (png, "png")]
    for key in "ab":
        model = state["state"][key]
        assert model["state"]["format"] == "url" and model["state"]["width"] == "432"
        assert base64.b64decode(model["buffers"][0]["data"]) == b"../_images/widgets/x.png"
    assert state["state"]["c"] == other


def test_without_scripts_drops_only_the_named_scripts():
    from sitebuild.theme import without_scripts

    head = ('<script defer src="../_static/scripts/fontawesome.js?digest=1"></script>\n'
            '<link rel="preload" as="script" href="../_static/scripts/bootstrap.js" />\n'
            '<script src="../searchindex.js"></script><script src="../_static/doctools.js"></script>')
    kept = without_scripts(head, "_static/scripts/fontawesome.js", "searchindex.js")
    assert "fontawesome" not in kept and "searchindex" not in kept
    assert "bootstrap.js" in kept and "doctools.js" in kept


def test_the_install_cell_installs_the_course_and_myst_nb_only_where_imported():
    from sitebuild.notebook_links import install_cell

    repository = ("gated-course", "gated-recurrent-networks", "main")
    plain, with_glue = install_cell(repository), install_cell(repository, {"myst_nb", "torch", "gated"})
    compile(plain, "cell", "exec"), compile(with_glue, "cell", "exec")
    url = "gated @ git+https://github.com/gated-course/gated-recurrent-networks@main"
    assert url in plain and url in with_glue
    assert "myst-nb" not in plain and "'myst_nb': 'myst-nb'" in with_glue and "torch" not in with_glue


def test_the_install_cell_runs_pip_for_what_is_missing_only(monkeypatch):
    import importlib.util
    import subprocess

    from sitebuild.notebook_links import install_cell

    calls = []
    monkeypatch.setattr(subprocess, "run", lambda command, check: calls.append(command))
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "myst_nb" else real(name))
    exec(install_cell(("o", "r", "main"), {"myst_nb"}), {})
    assert len(calls) == 1 and calls[0][-1:] == ["myst-nb"] and calls[0][1:4] == ["-m", "pip", "install"]
