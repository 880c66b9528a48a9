"""Debian's Virtuoso 7 for the publish tests: loopback only, free ports, a database in a temporary folder.

Why a real server: the failures we design for (hangs on large uploads, a PUT that wipes the graph
before failing, digest-only write endpoints, silent row caps, a slow MOVE) are Virtuoso's own.
If ``virtuoso-t`` is missing the tests fail loudly: ``./install.sh`` installs it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

INI = Path(__file__).with_name("virtuoso.ini")
USER, PASSWORD = "kbpub", "kb-publish-secret"


class VirtuosoMissing(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Virtuoso:
    """One server process on a database folder; ``restart`` reopens the same database (crash recovery)."""

    workdir: Path
    http_port: int = field(default_factory=free_port)
    sql_port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    startup_seconds: float = 0.0
    ini_text: str | None = None  # another configuration (the benchmark's: larger buffers, no row cap)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def endpoint(self) -> str:
        return f"{self.base}/sparql"

    @property
    def log(self) -> Path:
        return self.workdir / "db" / "virtuoso.log"

    def start(self, timeout: float = 90.0) -> None:
        binary = shutil.which("virtuoso-t")
        if binary is None:
            raise VirtuosoMissing("virtuoso-t not found: run ./install.sh (Debian package virtuoso-opensource-7-bin)")
        (self.workdir / "db").mkdir(parents=True, exist_ok=True)
        (self.workdir / "root").mkdir(exist_ok=True)
        ini = self.workdir / "virtuoso.ini"
        ini.write_text((self.ini_text or INI.read_text()).format(db=self.workdir / "db", root=self.workdir / "root",
                                              sql_port=self.sql_port, http_port=self.http_port))
        began = time.monotonic()
        with (self.workdir / "stdout.log").open("ab") as out:
            self.process = subprocess.Popen([binary, "+configfile", str(ini), "+foreground"], cwd=self.workdir,
                                            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        while time.monotonic() - began < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"virtuoso-t exited with {self.process.returncode}:\n{self.tail()}")
            if self.ready():
                self.startup_seconds = time.monotonic() - began
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"virtuoso-t did not answer within {timeout:g} s:\n{self.tail()}")

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint}?query=ASK%7B%7D", timeout=2) as answer:
                return answer.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        """Stop by process id: SIGTERM, then SIGKILL if it lingers."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def kill(self) -> None:
        """A crash: SIGKILL, no checkpoint."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        lock = self.workdir / "db" / "virtuoso.lck"
        lock.unlink(missing_ok=True)  # left behind by a kill
        self.start()

    def isql(self, sql: str, timeout: float = 60) -> str:
        binary = shutil.which("isql-vt")
        if binary is None:
            raise VirtuosoMissing("isql-vt not found: run ./install.sh (Debian package virtuoso-opensource-7-bin)")
        done = subprocess.run([binary, f"127.0.0.1:{self.sql_port}", "dba", "dba", f"exec={sql}"],
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        output = done.stdout + done.stderr
        if done.returncode != 0 or "*** Error" in output:
            raise RuntimeError(f"isql failed: {sql}\n{output}")
        return output

    def create_publisher(self, user: str = USER, password: str = PASSWORD) -> None:
        """A user that may write through SPARQL (and so through the graph store endpoint), not dba."""
        self.isql(f"DB.DBA.USER_CREATE('{user}', '{password}'); GRANT SPARQL_UPDATE TO \"{user}\";")

    def tail(self, lines: int = 30) -> str:
        text = ""
        for path in (self.workdir / "stdout.log", self.log):
            if path.is_file():
                text += "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) + "\n"
        return text
