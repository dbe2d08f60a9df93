"""A new student's first steps, done the way JupyterLab does them: a server on 127.0.0.1 with a token,
a session for the notebook, cells sent to the kernel over the websocket of the Jupyter server API.
"""
from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JupyterLab:
    """`jupyter lab` as the getting-started page starts it, on 127.0.0.1 with a token, no browser."""

    def __init__(self, root_dir: Path, log: Path, env: dict[str, str] | None = None) -> None:
        self.token = secrets.token_hex(16)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.root_dir, self.log = root_dir, log
        self.env = {**os.environ, **(env or {})}     # e.g. JUPYTER_CONFIG_DIR: settings of this server

    def __enter__(self) -> "JupyterLab":
        jupyter = Path(sys.executable).with_name("jupyter")
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._out = self.log.open("w")
        self.process = subprocess.Popen(
            [str(jupyter), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
             f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root_dir}",
             "--ServerApp.open_browser=False", "--allow-root"],
            stdout=self._out, stderr=subprocess.STDOUT, cwd=self.root_dir, env=self.env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                self.get("/api/status")
                return self
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.5)
        self.__exit__()
        raise RuntimeError(f"jupyter lab did not start; see {self.log}")

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._out.close()

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Authorization": f"token {self.token}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, response.read()

    def get(self, path: str):
        status, data = self.request("GET", path)
        return json.loads(data) if data.startswith((b"{", b"[")) else data

    def start_session(self, notebook: str) -> str:
        _, data = self.request("POST", "/api/sessions", {
            "path": notebook, "name": notebook, "type": "notebook", "kernel": {"name": "python3"}})
        return json.loads(data)["kernel"]["id"]


@dataclass
class Reply:
    """What the kernel sent back for one cell."""
    status: str = ""
    stdout: str = ""
    error: str = ""
    mime_types: list[str] = field(default_factory=list)
    comm_targets: list[str] = field(default_factory=list)


async def _execute(lab: JupyterLab, kernel_id: str, codes: list[str], timeout: float) -> list[Reply]:
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    url = f"ws://127.0.0.1:{lab.port}/api/kernels/{kernel_id}/channels"
    ws = await websocket_connect(HTTPRequest(url, headers={"Authorization": f"token {lab.token}"}))
    session = uuid.uuid4().hex
    replies = []
    try:
        for code in codes:
            msg_id = uuid.uuid4().hex
            await ws.write_message(json.dumps({
                "header": {"msg_id": msg_id, "username": "student", "session": session, "date": "",
                           "msg_type": "execute_request", "version": "5.3"},
                "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
                "content": {"code": code, "silent": False, "store_history": True,
                            "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}}))
            reply, idle, done_shell = Reply(), False, False
            while not (idle and done_shell):
                raw = await asyncio.wait_for(ws.read_message(), timeout)
                if raw is None:
                    raise RuntimeError("the kernel's websocket closed")
                if isinstance(raw, bytes):      # binary frames (buffers) carry nothing we check
                    continue
                msg = json.loads(raw)
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind, content = msg["msg_type"], msg["content"]
                if kind == "stream" and content.get("name") == "stdout":
                    reply.stdout += content["text"]
                elif kind in ("display_data", "execute_result"):
                    reply.mime_types += list(content.get("data", {}))
                elif kind == "error":
                    reply.error = f"{content['ename']}: {content['evalue']}"
                elif kind == "comm_open":
                    reply.comm_targets.append(content.get("target_name", ""))
                elif kind == "status" and content.get("execution_state") == "idle":
                    idle = True
                elif kind == "execute_reply":
                    reply.status, done_shell = content["status"], True
            replies.append(reply)
    finally:
        ws.close()
    return replies


def run_cells(lab: JupyterLab, kernel_id: str, codes: list[str], timeout: float = 60) -> list[Reply]:
    return asyncio.run(_execute(lab, kernel_id, codes, timeout))
