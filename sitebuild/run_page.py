"""Execute one chapter (a MyST Markdown notebook) as the book build would, and report its time.

    python -m sitebuild.run_page book/gru.md [--save out.ipynb]

Fails on the first error, exactly like the strict build, but without building the whole site.
"""
import argparse
import sys
import time
from pathlib import Path

import jupytext
from nbclient import NotebookClient

from sitebuild import kernel


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page")
    parser.add_argument("--save", help="write the executed notebook here")
    parser.add_argument("--timeout", type=int, default=600, help="per-cell timeout in seconds")
    args = parser.parse_args()
    page = Path(args.page)
    notebook = jupytext.read(page)
    kernel.use_build_profile()            # the kernel draws figures as the build's kernels do
    start = time.perf_counter()
    client = NotebookClient(notebook, timeout=args.timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(page.parent)}})
    client.execute()
    elapsed = time.perf_counter() - start
    if args.save:
        jupytext.write(notebook, args.save)
    print(f"{page}: executed {sum(c.cell_type == 'code' for c in notebook.cells)} code cells "
          f"in {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
