"""An ordinary (unprivileged) user for a test run, and the grader run as that user.

As root, :func:`ordinary_user` makes a user of a name unique to the run (``useradd``) and removes it
afterwards; as anyone else it is the caller. :func:`run_as` runs a command as that user; when the
Python install or the virtual environment lies under a folder others may not enter (``/root``, as
a pyenv install as root does), the command runs in a private mount namespace in which only those
paths are made visible (a mode-0755 tmpfs over the closed folder, the paths bound back into it):
the host is not changed, and the sandbox sees the same paths as for root.
"""
from __future__ import annotations

import os
import pwd
import secrets
import shlex
import stat
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator


@dataclass(frozen=True)
class User:
    name: str
    uid: int
    gid: int
    made: bool  # made by ordinary_user (removed at the end), or the caller itself


@contextmanager
def ordinary_user() -> Iterator[User]:
    if os.geteuid() != 0:
        entry = pwd.getpwuid(os.geteuid())
        yield User(entry.pw_name, entry.pw_uid, entry.pw_gid, made=False)
        return
    name = f"agt{os.getpid() % 100000}{secrets.token_hex(3)}"
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group", name],
                   check=True, capture_output=True)
    try:
        entry = pwd.getpwnam(name)
        yield User(name, entry.pw_uid, entry.pw_gid, made=True)
    finally:
        subprocess.run(["userdel", name], capture_output=True)


def give(user: User, path: Path) -> Path:
    """Make ``path`` (a folder the test made) and everything in it the user's."""
    if os.geteuid() == 0:
        for folder, dirs, files in os.walk(path):
            for name in [folder, *(os.path.join(folder, n) for n in dirs + files)]:
                os.lchown(name, user.uid, user.gid)
    return path


def _closed_ancestor(path: Path) -> Path | None:
    """The outermost folder above ``path`` that others may not enter, if any."""
    for parent in reversed(path.parents):
        if parent != Path("/") and not os.stat(parent).st_mode & stat.S_IXOTH:
            return parent
    return None


def _reveal_script(needed: list[Path], hold: Path) -> str:
    """sh lines that, in a private mount namespace, make each needed path visible to others."""
    lines = []
    closed = {}
    for path in needed:
        top = _closed_ancestor(path)
        if top is not None:
            closed.setdefault(top, []).append(path)
    for n, (top, paths) in enumerate(sorted(closed.items())):
        holds = []
        for k, path in enumerate(paths):
            spot = hold / f"{n}-{k}"
            lines += [f"mkdir -p {shlex.quote(str(spot))}",
                      f"mount --bind {shlex.quote(str(path))} {shlex.quote(str(spot))}"]
            holds.append((spot, path))
        lines.append(f"mount -t tmpfs -o mode=0755 tmpfs {shlex.quote(str(top))}")
        for spot, path in holds:
            lines += [f"mkdir -p {shlex.quote(str(path))}", f"mount --move {shlex.quote(str(spot))} {shlex.quote(str(path))}"]
    return "\n".join(lines)


def run_as(user: User, argv: list[str], hold: Path, **kwargs) -> subprocess.CompletedProcess:
    """Run ``argv`` as ``user`` (see the module docstring); ``hold`` is a scratch folder of the test's."""
    if not user.made:
        return subprocess.run(argv, **kwargs)
    needed = [Path(os.path.realpath(sys.base_prefix)), Path(os.path.realpath(sys.prefix))]
    reveal = _reveal_script(needed, hold)
    drop = ["setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", "--clear-groups", "--"]
    if not reveal:
        return subprocess.run(drop + argv, **kwargs)
    script = f"set -e\n{reveal}\nexec {shlex.join(drop + argv)}\n"
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script], **kwargs)


__all__ = ["User", "give", "ordinary_user", "run_as"]
