"""Drop the book's execution cache when the course library changed since the last build.

jupyter-cache keys each page on the page's own code, not on what the page imports, so a change to
``gated/`` would otherwise leave stale figures and numbers on the site. What decides how the
kernels draw figures (sitebuild/kernel.py and kernel_startup.py) counts as part of the library.
"""
import hashlib
import shutil
import sys

from sitebuild import ROOT, kernel


def library_hash() -> str:
    digest = hashlib.sha256()
    for path in [*sorted((ROOT / "gated").rglob("*.py")), *kernel.INPUTS]:
        name = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
        digest.update(str(name).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def main(build_dir: str) -> None:
    build = ROOT / build_dir
    stamp = build / ".gated-library-hash"
    current = library_hash()
    if stamp.exists() and stamp.read_text() == current:
        return
    cache = build / ".jupyter_cache"
    if cache.exists():
        print(f"course library changed: clearing {cache}")
        shutil.rmtree(cache)
    build.mkdir(parents=True, exist_ok=True)
    stamp.write_text(current)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "_build")
