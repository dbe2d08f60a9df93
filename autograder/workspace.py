"""The grading workspace's own state: the lock that keeps one grading run at a time, and the secret
from which every student's hidden cases are drawn.

**The secret** (``<workspace>/secret.key``, 32 random bytes in hex, mode 0600) is created by the
first run that needs it and never leaves the workspace: it is not in the repository, not in any
file the sandbox sees (a job holds the cases, never the seed), not in the gradebook. The seed of one
test's hidden cases is HMAC-SHA256(secret, assignment, student, the submission's digest, test), so
nobody without the secret can compute anyone's cases, two students never share them, and a
resubmission gets new ones (what a submission could learn about its own cases is worthless to the
next). Back it up with the gradebook. Rotating it (delete the file, or replace it) changes every
case: the regrade fingerprint includes a digest of the secret, so the next run regrades every
submission on the new cases; a lost secret costs the same regrade, not a score.
"""
from __future__ import annotations

import errno
import fcntl
import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

from autograder.errors import UserError

SECRET = "secret.key"
LOCK = ".grading.lock"


def secret(workspace: Path) -> bytes:
    """The workspace's hidden-case secret, created (0600) on first use."""
    path = Path(workspace) / SECRET
    if not path.exists():  # written whole, then linked in: a crash never leaves half a secret
        fresh = path.with_name(f".{SECRET}.{os.getpid()}")
        fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(fresh, path)
        except FileExistsError:
            pass
        finally:
            fresh.unlink()
    try:
        text = path.read_text().strip()
        key = bytes.fromhex(text)
    except (OSError, ValueError):
        raise UserError(f"the hidden-case secret {path} is unreadable or not hex; restore it from your backup, "
                        "or delete it to make a new one (every submission is then regraded)") from None
    if len(key) < 16:
        raise UserError(f"the hidden-case secret {path} is too short (under 16 bytes); restore it or delete it")
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)
    return key


def secret_digest(key: bytes) -> str:
    """A digest that changes with the secret and says nothing about it (for the regrade fingerprint)."""
    return hmac.new(key, b"regrade fingerprint", hashlib.sha256).hexdigest()


def case_seed(key: bytes, assignment: str, student: str, digest: str, grade_id: str) -> int:
    """The seed of one test's hidden cases for one submission."""
    message = "\0".join((assignment, student, digest, grade_id)).encode()
    return int.from_bytes(hmac.new(key, message, hashlib.sha256).digest()[:8], "big")


class Lock:
    """An exclusive lock on the workspace for one grading run; a second run waits up to ``wait_s``
    and then refuses, naming the run that holds it. The lock dies with its process (flock)."""

    def __init__(self, workspace: Path, wait_s: float = 10.0) -> None:
        self.path, self.wait_s, self.fd = Path(workspace) / LOCK, wait_s, None

    def __enter__(self) -> "Lock":
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        stop = time.monotonic() + self.wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    os.close(fd)
                    raise
                if time.monotonic() >= stop:
                    holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
                    os.close(fd)
                    raise UserError(f"another grading run ({holder}) is using the workspace {self.path.parent}; "
                                    f"waited {self.wait_s:g} s: wait for it to finish, or use another --workspace")
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}".encode(), 0)
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


__all__ = ["LOCK", "Lock", "SECRET", "case_seed", "secret", "secret_digest"]
