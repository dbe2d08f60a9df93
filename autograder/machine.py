"""What this machine allows: whether the sandbox can run here and, when it cannot, exactly why and how
to fix it. The checks go cheapest first and the first that fails is the answer; the last is a real
sandbox that runs an empty job (so a check can never pass where grading would fail). ``--unsafe`` is
never offered as the fix.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

SYSCTL = Path("/proc/sys")  # tests point it at a folder of their own
LEAD = "no sandbox can run here: "


@dataclass(frozen=True)
class Problem:
    cause: str  # not-linux, no-bwrap, userns-disabled, unprivileged-userns-disabled, apparmor, sandbox-failed
    message: str  # one line: what is wrong and what to do


def _sysctl(name: str) -> str | None:
    try:
        return (SYSCTL / name.replace(".", "/")).read_text().strip()
    except OSError:
        return None


def _in_container() -> bool:
    return os.path.exists("/.dockerenv") or os.path.exists("/run/.containerenv")


def sandbox_problem(probe: Callable[[], str | None]) -> Problem | None:
    """None when the sandbox runs here; otherwise the first reason it cannot. ``probe()`` runs the
    real sandbox once and returns what went wrong (None when it worked)."""
    if not sys.platform.startswith("linux"):
        return Problem("not-linux", LEAD + f"the sandbox needs Linux (bubblewrap and its namespaces), and this machine "
                       f"runs {platform.system() or sys.platform}. Grade on a Linux machine, or give the work to Linux "
                       "machines with --cluster tcp://HOST:PORT (see the README's grading section).")
    if shutil.which("bwrap") is None:
        return Problem("no-bwrap", LEAD + "bubblewrap is not installed (no bwrap on PATH). Install it: "
                       "sudo apt-get install bubblewrap (Debian, Ubuntu) or sudo dnf install bubblewrap (Fedora, RHEL).")
    if _sysctl("user.max_user_namespaces") == "0":
        return Problem("userns-disabled", LEAD + "user namespaces are disabled (user.max_user_namespaces is 0). Allow "
                       "them: sudo sysctl -w user.max_user_namespaces=15000, and keep it with a line "
                       "user.max_user_namespaces=15000 in /etc/sysctl.d/90-userns.conf.")
    root = os.geteuid() == 0
    if not root and _sysctl("kernel.unprivileged_userns_clone") == "0":
        return Problem("unprivileged-userns-disabled", LEAD + "unprivileged user namespaces are disabled "
                       "(kernel.unprivileged_userns_clone is 0). Allow them: sudo sysctl -w "
                       "kernel.unprivileged_userns_clone=1 (and the same line in /etc/sysctl.d/ to keep it), or grade "
                       "as root.")
    failure = probe()
    if failure is None:
        return None
    said = failure.rstrip(".")
    if not root and _sysctl("kernel.apparmor_restrict_unprivileged_userns") == "1":
        return Problem("apparmor", LEAD + "AppArmor forbids unprivileged user namespaces "
                       "(kernel.apparmor_restrict_unprivileged_userns is 1) and bubblewrap has no profile that allows "
                       "them. Allow them: sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or give "
                       f"/usr/bin/bwrap an AppArmor profile with the 'userns,' rule, or grade as root ({said}).")
    hint = (" This looks like a container: its security profile must allow user namespaces (Docker: "
            "--security-opt seccomp=unconfined --security-opt apparmor=unconfined), or grade on the host."
            if _in_container() else "")
    return Problem("sandbox-failed", LEAD + f"bubblewrap could not build the sandbox ({said}).{hint}")


def probe_sandbox(timeout_s: float = 60.0) -> str | None:
    """Start a real worker sandbox and run an empty job in it; None when that worked, else what failed."""
    from autograder import sandbox

    folder = Path(tempfile.mkdtemp(prefix="autograder-probe-"))
    worker = None
    try:
        limits = sandbox.Limits(startup_s=timeout_s)
        inbox = folder / "inbox"
        worker = sandbox.WarmWorker(limits, "", inbox)
        job = sandbox.prepare_dir(inbox / "job")
        (job / "job.json").write_text(json.dumps({"setup": "", "cells": [], "checks": [], "cell_timeout_s": 1.0}))
        os.chmod(job / "job.json", 0o644)
        attempt = worker.run("job", {}, {}, time.monotonic() + timeout_s)
        if not attempt.done:
            output = attempt.output.decode("utf-8", "replace").strip().splitlines()
            return f"an empty job did not finish (status {attempt.returncode}): {output[-1] if output else 'no output'}"
        return None
    except sandbox.SandboxError as exc:
        return str(exc).split(" (log: ")[0]
    finally:
        if worker is not None:
            worker.close()
        shutil.rmtree(folder, ignore_errors=True)


__all__ = ["Problem", "probe_sandbox", "sandbox_problem"]
