"""The website's build: the Jupyter Book run, its execution cache key, the generated exercise pages,
the vendored JavaScript, the Sphinx extension that fixes downloads and launch buttons, and the
one-page runner.

    python -m sitebuild.build_book [--strict]     # make book / make strict-book
    python -m sitebuild.run_page book/gru.md      # make page PAGE=book/gru.md

The package works on the repository it sits in (an editable install, as `make` does it): ROOT is that
repository's root, where `_config.yml` is.
"""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
