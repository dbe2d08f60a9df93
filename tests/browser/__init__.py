"""Test support of the site tests: a static server and Debian's chromium (sitebrowser), a student's JupyterLab (student)."""
