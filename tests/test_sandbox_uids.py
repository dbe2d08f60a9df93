"""As root, every worker's jobs run as a uid no other worker on the machine holds, even a worker of
another grading run started at the same moment (two instructors, or a test and a run)."""
from __future__ import annotations

import socket
import subprocess
import sys
import textwrap

from autograder import sandbox

HOLD = textwrap.dedent("""
    import sys
    from autograder import sandbox
    claims = [sandbox.claim_uid() for _ in range(int(sys.argv[1]))]
    print(" ".join(str(uid) for uid, _ in claims), flush=True)
    sys.stdin.read()  # hold them until the test closes our stdin
""")


def _holders(count: int, each: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", HOLD, str(each)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True) for _ in range(count)]


def test_concurrent_runs_never_share_a_uid(monkeypatch):
    holders, mine = _holders(4, 16), []  # four grading runs of 16 workers each, started together
    try:
        firsts = [h.stdout.readline().split() for h in holders]
        monkeypatch.setattr(sandbox.os, "getpid", lambda: holders[0].pid)  # where that run began looking
        mine += [sandbox.claim_uid() for _ in range(16)]
        monkeypatch.undo()
        taken = [int(uid) for first in firsts for uid in first] + [uid for uid, _ in mine]
        assert len(taken) == 80 and len(set(taken)) == 80
        assert all(sandbox.UID_RANGE[0] <= uid < sandbox.UID_RANGE[1] for uid in taken)
    finally:
        for h in holders:
            h.stdin.close()
            h.wait(timeout=30)
        for _, claim in mine:
            claim.close()


def test_a_claim_holds_until_its_process_ends():
    holder = _holders(1, 1)[0]
    uid = int(holder.stdout.readline())
    name = f"\0gated-autograder-uid-{uid}"
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        try:
            probe.bind(name)
            held = False
        except OSError:
            held = True
        assert held  # nobody else can take it while the run lives
    finally:
        probe.close()
        holder.stdin.close()
        holder.wait(timeout=30)
    again = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        again.bind(name)  # released by the kernel when its process ended, however it ended
    finally:
        again.close()
