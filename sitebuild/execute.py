"""Execute the book's notebooks several at a time, into the execution cache the book build then reads.

With `execute_notebooks: cache`, myst-nb executes each notebook as Sphinx reads it: one at a time,
one core, however many the machine has. So before Sphinx starts, sitebuild.build_book runs this: every
notebook of the table of contents that the cache does not hold yet is executed, as many at a time as
there are cores, each exactly as myst-nb would execute it (jupyter-cache's `single_nb_execution`, in
the notebook's own folder, with the book's timeout and allow_errors, in a kernel of the build's
IPython profile), and stored in the cache as myst-nb stores it. Sphinx then finds every notebook
in the cache and executes none (the strict build's test checks its log for that).

A notebook whose cell fails is not stored: Sphinx then executes it itself and fails the build with
the cell shown, as it does without this step (a broken page costs one more run, a working one none).
jupyter-cache has a parallel executor of its own (`local-parallel`), but it starts a pool of
os.cpu_count() processes and runs the notebooks in the order they were added; here the longest
notebook starts first (the times of the last run, in <book>/_build/execution-seconds.json), so that it does
not start last and leave a core idle at the end.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml

from sitebuild import kernel

READ_DATA = {"name": "myst_nb_md", "type": "plugin"}     # how myst-nb adds a MyST notebook to the cache
NOTEBOOK_FAILED = 3        # the exit status when a notebook's cell failed (the book build then reports it)


@dataclass
class Outcome:
    source: Path
    seconds: float
    error: str | None = None          # the failing cell and its traceback, as nbclient reports it


def toc_files(root: Path) -> list[Path]:
    """The source files of the book's table of contents, in its order."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    names: list[str] = []

    def walk(entry) -> None:
        if isinstance(entry, dict):
            if "file" in entry:
                names.append(entry["file"])
            for value in entry.values():
                walk(value)
        elif isinstance(entry, list):
            for item in entry:
                walk(item)

    names.append(toc["root"])
    walk({k: v for k, v in toc.items() if k != "root"})
    files = []
    for name in names:
        found = [root / f"{name}{suffix}" for suffix in ("", ".md", ".ipynb") if (root / f"{name}{suffix}").is_file()]
        if found:
            files.append(found[0])
    return files


def notebook_sources(root: Path, exclude_patterns: list[str] = ()) -> list[Path]:
    """The MyST notebooks myst-nb executes: the toc's Markdown files with notebook front matter, less
    those `execute.exclude_patterns` matches (as myst-nb matches them). A page that is an .ipynb file
    is left to myst-nb (the book has none)."""
    from myst_nb.core.read import is_myst_markdown_notebook

    return [path for path in toc_files(root)
            if path.suffix == ".md" and is_myst_markdown_notebook(path.read_text(encoding="utf-8"))
            and not any(PurePosixPath(path.absolute().as_posix()).match(p) for p in exclude_patterns)]


def execution_settings(root: Path) -> dict:
    """The book's execution settings (_config.yml `execute`), as myst-nb applies them."""
    execute = (yaml.safe_load((root / "_config.yml").read_text()) or {}).get("execute", {})
    if execute.get("run_in_temp"):
        raise SystemExit("execute.run_in_temp is set: sitebuild/execute.py runs notebooks in their own folder")
    return {"mode": execute.get("execute_notebooks", "auto"), "timeout": execute.get("timeout", 30),
            "allow_errors": bool(execute.get("allow_errors", False)),
            "exclude_patterns": list(execute.get("exclude_patterns") or [])}


def _execute(notebook, cwd: str, timeout: int, allow_errors: bool):
    """In a worker process: execute one notebook as myst-nb's cache mode does; return it with its time."""
    from jupyter_cache.executors.utils import single_nb_execution

    result = single_nb_execution(notebook, cwd=cwd, timeout=timeout, allow_errors=allow_errors, meta_override=True)
    return result.nb, result.time, result.exc_string if result.err is not None else None


def _times_file(root: Path) -> Path:
    return root / "_build" / "execution-seconds.json"      # outside _build/strict, which each strict build drops


def _longest_first(sources: list[Path], root: Path) -> list[Path]:
    times = json.loads(_times_file(root).read_text()) if _times_file(root).exists() else {}
    key = lambda p: p.relative_to(root).as_posix()  # noqa: E731
    # never timed (a new chapter) first, biggest first; then the slowest of the last run
    return sorted(sources, key=lambda p: (key(p) in times, -times.get(key(p), 0), -p.stat().st_size))


def run(root: Path, cache_dir: Path, jobs: int | None = None) -> list[Outcome]:
    """Execute the book's notebooks that ``cache_dir`` does not hold, ``jobs`` at a time (default: one
    per core), and cache those that succeed; return what each run gave."""
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    settings = execution_settings(root)
    if settings["mode"] != "cache":
        return []                 # myst-nb executes (force, auto) or not (off) by itself
    cache = get_cache(str(cache_dir))
    sources = {str(path.absolute()): path for path in notebook_sources(root, settings["exclude_patterns"])}
    for uri in sources:
        cache.add_nb_to_project(uri, read_data=READ_DATA)
    missing = {record.uri for record in cache.list_unexecuted(filter_uris=list(sources))}
    todo = _longest_first([path for uri, path in sources.items() if uri in missing], root)
    if not todo:
        return []
    jobs = min(jobs or len(os.sched_getaffinity(0)), len(todo))
    kernel.use_build_profile()            # the kernels draw figures as the book build's do (inherited)
    print(f"executing {len(todo)} notebooks, {jobs} at a time", flush=True)
    outcomes = []
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {}
        for path in todo:
            uri = str(path.absolute())
            notebook = cache.get_project_notebook(uri).nb
            futures[pool.submit(_execute, notebook, str(path.parent), settings["timeout"],
                                settings["allow_errors"])] = path
        for future in as_completed(futures):
            path = futures[future]
            executed, seconds, error = future.result()
            outcomes.append(Outcome(path, seconds, error))
            if error is None:
                cache.cache_notebook_bundle(CacheBundleIn(executed, str(path.absolute()),
                                                          data={"execution_seconds": seconds}),
                                            check_validity=False, overwrite=True)
            print(f"  {path.relative_to(root)}: {'executed' if error is None else 'FAILED'} in {seconds:.0f} s",
                  flush=True)
            if error is not None:
                print(f"{path.relative_to(root)} failed; the book build executes it again and reports it:\n{error}",
                      flush=True)
    print(f"executed {len(todo)} notebooks in {time.perf_counter() - start:.0f} s", flush=True)
    _record_times(root, outcomes)
    return outcomes


def _record_times(root: Path, outcomes: list[Outcome]) -> None:
    path = _times_file(root)
    times = json.loads(path.read_text()) if path.exists() else {}
    times.update({o.source.relative_to(root).as_posix(): round(o.seconds, 1) for o in outcomes if o.error is None})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(times, indent=1, sort_keys=True) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("book", type=Path, help="the book's folder (where _config.yml and _toc.yml are)")
    parser.add_argument("cache", type=Path, help="the execution cache the book build reads")
    parser.add_argument("--jobs", type=int, help="notebooks at a time (default: one per core)")
    args = parser.parse_args()
    outcomes = run(args.book.resolve(), args.cache.resolve(), args.jobs)
    return NOTEBOOK_FAILED if any(o.error for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
