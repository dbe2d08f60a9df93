"""When no sandbox can run, the grader says exactly why and how to fix it (never ``--unsafe``)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import cli, machine, sandbox

ROOT = Path(__file__).resolve().parent.parent


def _fake_sysctl(tmp_path: Path, values: dict[str, str]) -> Path:
    for name, value in values.items():
        path = tmp_path / "sys" / name.replace(".", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value + "\n")
    return tmp_path / "sys"


def _problem(monkeypatch, tmp_path, sysctl: dict[str, str], probe_says: str | None = None, euid: int = 1000):
    monkeypatch.setattr(machine, "SYSCTL", _fake_sysctl(tmp_path, sysctl))
    monkeypatch.setattr(machine.os, "geteuid", lambda: euid)
    return machine.sandbox_problem(lambda: probe_says)


def test_not_linux_is_named_with_the_cluster_as_the_way_out(monkeypatch, tmp_path):
    monkeypatch.setattr(machine.sys, "platform", "darwin")
    problem = _problem(monkeypatch, tmp_path, {})
    assert problem.cause == "not-linux" and "needs Linux" in problem.message and "--cluster" in problem.message


def test_no_bubblewrap_on_path_is_named_with_its_install_command(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH without bwrap
    problem = _problem(monkeypatch, tmp_path, {})
    assert problem.cause == "no-bwrap" and "apt-get install bubblewrap" in problem.message


def test_user_namespaces_disabled_are_named_with_the_sysctl_that_allows_them(monkeypatch, tmp_path):
    problem = _problem(monkeypatch, tmp_path, {"user.max_user_namespaces": "0"}, euid=0)
    assert problem.cause == "userns-disabled" and "sysctl -w user.max_user_namespaces=" in problem.message


def test_debians_switch_for_unprivileged_namespaces_is_named(monkeypatch, tmp_path):
    problem = _problem(monkeypatch, tmp_path, {"kernel.unprivileged_userns_clone": "0"})
    assert problem.cause == "unprivileged-userns-disabled" and "kernel.unprivileged_userns_clone=1" in problem.message
    assert _problem(monkeypatch, tmp_path, {"kernel.unprivileged_userns_clone": "0"}, euid=0) is None  # root needs none


def test_apparmors_restriction_is_named_when_the_probe_fails(monkeypatch, tmp_path):
    said = "bwrap: setting up uid map: Permission denied"
    problem = _problem(monkeypatch, tmp_path, {"kernel.apparmor_restrict_unprivileged_userns": "1"}, said)
    assert problem.cause == "apparmor" and "apparmor_restrict_unprivileged_userns=0" in problem.message
    assert said in problem.message


def test_any_other_failure_quotes_bubblewrap(monkeypatch, tmp_path):
    said = "bwrap: Creating new namespace failed: Operation not permitted"
    problem = _problem(monkeypatch, tmp_path, {}, said)
    assert problem.cause == "sandbox-failed" and said in problem.message


def test_no_message_offers_unsafe(monkeypatch, tmp_path):
    monkeypatch.setattr(machine.sys, "platform", "darwin")
    messages = [_problem(monkeypatch, tmp_path, {}).message]
    monkeypatch.setattr(machine.sys, "platform", "linux")
    for sysctl, said in [({"user.max_user_namespaces": "0"}, None), ({"kernel.unprivileged_userns_clone": "0"}, None),
                         ({"kernel.apparmor_restrict_unprivileged_userns": "1"}, "x"), ({}, "x")]:
        messages.append(_problem(monkeypatch, tmp_path, sysctl, said).message)
    monkeypatch.setenv("PATH", str(tmp_path))
    messages.append(_problem(monkeypatch, tmp_path, {}).message)
    assert all("unsafe" not in m and "\n" not in m and m.startswith(machine.LEAD) for m in messages), messages


@pytest.mark.skipif(shutil.which("bwrap") is None or shutil.which("unshare") is None, reason="needs bwrap and unshare")
def test_cli_refuses_in_one_line_where_user_namespaces_are_really_disabled(tmp_path):
    """In a user namespace whose own user.max_user_namespaces is 0 (set there, the host untouched),
    the real probe fails and the CLI says why, with no traceback."""
    script = ("echo 0 > /proc/sys/user/max_user_namespaces && "
              f"exec {sys.executable} -m autograder grade gru --submissions {tmp_path} --workspace {tmp_path / 'ws'}")
    run = subprocess.run(["unshare", "--user", "--map-root-user", "sh", "-c", script], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip().splitlines() == [
        "refusing to grade: " + machine.LEAD + "user namespaces are disabled (user.max_user_namespaces is 0). Allow "
        "them: sudo sysctl -w user.max_user_namespaces=15000, and keep it with a line "
        "user.max_user_namespaces=15000 in /etc/sysctl.d/90-userns.conf."]


def test_cli_refuses_in_one_line_without_bubblewrap(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    code = cli.main(["grade", "gru", "--submissions", str(tmp_path), "--workspace", str(tmp_path / "ws")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == ["refusing to grade: " + machine.LEAD + "bubblewrap is not installed (no bwrap on "
                                 "PATH). Install it: sudo apt-get install bubblewrap (Debian, Ubuntu) or sudo dnf "
                                 "install bubblewrap (Fedora, RHEL)."]


def test_the_probe_runs_a_real_sandbox_here():
    if shutil.which("bwrap") is None:
        pytest.skip("no bubblewrap")
    assert machine.probe_sandbox() is None


def test_check_available_runs_the_probe_once_a_process(monkeypatch):
    calls = []
    monkeypatch.setattr(machine, "probe_sandbox", lambda: calls.append(1) or None)
    monkeypatch.setattr(sandbox, "_CHECKED", {})
    if shutil.which("bwrap") is None or not sys.platform.startswith("linux"):
        pytest.skip("no bubblewrap")
    sandbox.check_available()
    sandbox.check_available()
    assert calls == [1]
