"""A real secretbrokerd process for the tests.

The binary comes from $SECRETBROKER_TEST_DAEMON (clients/python/test.sh
builds it from the repository root). Each Daemon gets its own temporary data
directory and configuration: the embedded store (create: true), bearer
tokens given by their SHA-256, a policy that grants them, the local admin
token and an audit file in the data directory.

With SECRETBROKER_TEST_LEGACY_CONFIG=1 the configuration has no auth, policy,
audit or admin sections, for a daemon built before they existed (it rejects
unknown sections); tests that need authentication skip then.
"""

from __future__ import annotations

import hashlib
import os
import queue
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

START_TIMEOUT = 60.0  # seconds: first start creates the store and its key
STOP_TIMEOUT = 15.0

_LISTENING = re.compile(r"secretbrokerd listening on (\S+) \(")


def legacy() -> bool:
    """Whether the tests run against a daemon without auth, policy and audit."""
    return os.environ.get("SECRETBROKER_TEST_LEGACY_CONFIG", "") not in ("", "0", "false")


LEGACY_SKIP = "SECRETBROKER_TEST_LEGACY_CONFIG=1: the daemon under test predates auth/policy/audit"


def daemon_binary() -> str:
    path = os.environ.get("SECRETBROKER_TEST_DAEMON", "")
    if not path or not os.access(path, os.X_OK):
        raise RuntimeError(
            "SECRETBROKER_TEST_DAEMON must name an executable secretbrokerd "
            f"(got {path!r}); clients/python/test.sh builds one from the repository root"
        )
    return path


def token_hash(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


def _yaml_str(s: str) -> str:
    # Single-quoted YAML scalar: only ' needs doubling.
    return "'" + s.replace("'", "''") + "'"


def write_config(path: Path, *, tokens: Dict[str, str], writers: List[str], readers: Dict[str, List[str]], legacy_config: bool) -> None:
    """Writes a configuration with the embedded store, lockers demo and
    finance, auto-login in the store; unless legacy_config, tokens
    (identity -> token, only the hash is written), a policy that grants
    ``writers`` everything a bot and an operator do, ``readers`` (identity ->
    lockers) credential reads only, and the audit file."""
    lines = [
        "server:",
        "  listen: 127.0.0.1:0",
        "  request_timeout: 30s",
        "  log_level: info",
    ]
    if not legacy_config:
        lines += [
            "admin:",
            "  listen: 'off'",
            "auth:",
            "  local_admin_token: true",
            "  tokens:",
        ]
        for identity, token in tokens.items():
            lines += [f"    - identity: {_yaml_str(identity)}", f"      sha256: {_yaml_str(token_hash(token))}"]
        lines += [
            "policy:",
            "  default_rate_limit: {rps: 1000, burst: 1000}",
            "  clients:",
            "    - name: admin",
            "      identities: [local-admin]",
            "      operations: [autologin, credential, resolve, list, write, check, admin]",
            "      lockers: ['*']",
            "    - name: writers",
            "      identities: [" + ", ".join(_yaml_str(i) for i in writers) + "]",
            "      operations: [autologin, credential, resolve, list, write]",
            "      lockers: ['*']",
        ]
        for n, (identity, lockers) in enumerate(readers.items()):
            lines += [
                f"    - name: reader{n}",
                f"      identities: [{_yaml_str(identity)}]",
                "      operations: [credential, list]",
                "      lockers: [" + ", ".join(_yaml_str(lk) for lk in lockers) + "]",
            ]
        lines += [
            "audit:",
            "  path: audit.log",
        ]
    lines += [
        "providers:",
        "  store:",
        "    embedded: {path: store.db, key_file: store.key, create: true}",
        "lockers:",
        "  demo: {provider: store, prefix: demo}",
        "  finance: {provider: store, prefix: accounting}",
        "autologin: {provider: store}",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")


class DaemonError(RuntimeError):
    """The daemon did not start; the message carries its output."""


class Daemon:
    """One secretbrokerd process. ``address`` is what it printed it listens
    on ("127.0.0.1:PORT" or "unix:/path"); ``data_dir`` its data directory."""

    def __init__(self, *, listen: str = "127.0.0.1:0", tokens: Optional[Dict[str, str]] = None,
                 writers: Optional[List[str]] = None, readers: Optional[Dict[str, List[str]]] = None) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="sbpy-"))
        self.data_dir = self.workdir / "data"
        self.config = self.workdir / "secretbroker.yaml"
        self.stderr_path = self.workdir / "stderr.log"
        self.listen = listen.replace("{workdir}", str(self.workdir))
        self.tokens = dict(tokens or {})
        self.writers = list(writers or [])
        self.readers = dict(readers or {})
        self.address = ""
        self.proc: Optional[subprocess.Popen] = None
        self._pump_thread: Optional[threading.Thread] = None
        self._stdout_lines: "queue.Queue[Optional[str]]" = queue.Queue()
        self._stdout_seen: List[str] = []

    @property
    def audit_path(self) -> Path:
        return self.data_dir / "audit.log"

    @property
    def admin_token_path(self) -> Path:
        return self.data_dir / "admin.token"

    def start(self) -> "Daemon":
        write_config(self.config, tokens=self.tokens, writers=self.writers, readers=self.readers, legacy_config=legacy())
        self.data_dir.mkdir(mode=0o700)
        cmd = [daemon_binary(), "-config", str(self.config), "-data-dir", str(self.data_dir), "-listen", self.listen]
        env = {k: v for k, v in os.environ.items() if not k.startswith("SECRETBROKER_") and k != "XDG_STATE_HOME"}
        env["HOME"] = str(self.workdir)
        with open(self.stderr_path, "wb") as errf:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errf,
                                         cwd=self.workdir, env=env, start_new_session=True)
        self._pump_thread = threading.Thread(target=self._pump, name="secretbrokerd-stdout", daemon=True)
        self._pump_thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._fail(f"did not print its address within {START_TIMEOUT:.0f}s")
            try:
                line = self._stdout_lines.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                if self.proc.poll() is not None:
                    self._fail(f"exited with status {self.proc.returncode} before listening")
                continue
            if line is None:
                self.proc.wait(timeout=STOP_TIMEOUT)
                self._fail(f"closed its stdout (exit status {self.proc.returncode}) before printing its address")
            self._stdout_seen.append(line)
            m = _LISTENING.search(line)
            if m:
                self.address = m.group(1)
                return self

    def _pump(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for raw in self.proc.stdout:
            self._stdout_lines.put(raw.decode("utf-8", "replace"))
        self._stdout_lines.put(None)

    def output(self) -> str:
        """The daemon's stdout seen so far and its whole stderr."""
        try:
            err = self.stderr_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            err = ""
        return "stdout:\n" + "".join(self._stdout_seen) + "stderr:\n" + err

    def _fail(self, what: str) -> None:
        self.stop()
        hint = ""
        out = self.output()
        if not legacy() and re.search(r"unknown field (auth|policy|audit|admin)", out):
            hint = ("\n(this daemon predates auth/policy/audit: run with SECRETBROKER_TEST_LEGACY_CONFIG=1, "
                    "or build the current daemon)")
        try:
            config = self.config.read_text(encoding="utf-8")
        except OSError:
            config = "(unreadable)"
        raise DaemonError(f"secretbrokerd {what}; command: -config {self.config} -data-dir {self.data_dir} "
                          f"-listen {self.listen}\n{out}configuration:\n{config}{hint}")

    def stop(self) -> None:
        """Stops the daemon: SIGTERM, then SIGKILL after STOP_TIMEOUT."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT)
        if self._pump_thread is not None:
            # The process is gone: its stdout ends, and so does the pump.
            self._pump_thread.join(timeout=STOP_TIMEOUT)
        if proc is not None and proc.stdout is not None and (self._pump_thread is None or not self._pump_thread.is_alive()):
            proc.stdout.close()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
