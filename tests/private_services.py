"""Private instances of the real services, for the fault tests that stop and restart them.

A fault test never restarts the shared services (``scripts/services.sh``): later tests, and other
test runs on the same machine, use them. It starts its own server on a free loopback port, in a
temporary folder, from the same binaries, and stops it whatever happens. As root, PostgreSQL and
Elasticsearch refuse to run, so they run as the non-root user the services script uses.
A missing binary skips the test with the reason (fails it with ``SAQSHY_REQUIRE_SERVICES=1``).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from tests.services import service_missing

POSTGRES_USER = "postgres"  # the Debian package's user, which scripts/services.sh also runs as
ES_USER = os.environ.get("SAQSHY_ES_USER", "saqshy-es")
ES_VERSION = os.environ.get("SAQSHY_ES_VERSION", "8.19.7")
ES_HOME_DIRS = (
    Path(os.environ.get("SAQSHY_SERVICES_DIR", "/var/cache/saqshy")),
    Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "saqshy",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_answers(url: str) -> bool:
    """Whether a Redis at ``url`` answers a PING now."""
    from redis import Redis

    try:
        client = Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def _is_root() -> bool:
    return os.geteuid() == 0


def _as_user(user: str, argv: list[str]) -> list[str]:
    """``argv`` run as ``user`` when we are root (the servers refuse root), else as ourselves."""
    return ["runuser", "-u", user, "--", *argv] if _is_root() else argv


def _private_folder(prefix: str, user: str) -> Path:
    """A fresh folder the server's user owns (pytest's tmp_path is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    if _is_root():
        entry = pwd.getpwnam(user)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    folder.chmod(0o755)
    return folder


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


class PrivateRedis:
    """A redis-server of the test's own, which the test may stop and start again on the same port.

    ``persistent``: an append-only file, as a deployment whose crawlers share a frontier runs it
    (the frontier lives only in Redis); without it Redis comes back empty, as the jobs port allows.
    """

    def __init__(self, workdir: Path, *, persistent: bool = False) -> None:
        server = shutil.which("redis-server")
        if server is None:
            service_missing("Redis", "redis-server", "redis-server is not installed: cannot restart a private Redis")
        assert server is not None
        self.server = server
        self.workdir = workdir
        self.persistent = persistent
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        persistence = ["--appendonly", "yes", "--appendfsync", "everysec"] if self.persistent else [
            "--appendonly", "no"]
        self.process = subprocess.Popen(
            [self.server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--dir", str(self.workdir),
             *persistence],
            cwd=self.workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not self.ping():
            assert self.process.poll() is None and time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def ping(self) -> bool:
        return redis_answers(self.url)

    def stop(self) -> None:
        """SIGTERM, as ``systemctl restart`` sends: Redis writes its append-only file and exits."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own (initdb, pg_ctl), trust authentication on loopback."""

    def __init__(self) -> None:
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
        if not bins or (_is_root() and not _user_exists(POSTGRES_USER)):
            service_missing("PostgreSQL", "initdb", "PostgreSQL's server programs are not installed (postgresql)")
        self.bin = bins[-1].parent
        self.port = free_port()
        self.folder = _private_folder("saqshy-pg-", POSTGRES_USER)
        self.data = self.folder / "data"
        self.url = f"postgresql+psycopg://saqshy@127.0.0.1:{self.port}/saqshy"
        self._run([str(self.bin / "initdb"), "-D", str(self.data), "-U", "saqshy", "--auth=trust", "-E", "UTF8",
                   "--locale=C.UTF-8"])

    def _run(self, argv: list[str], timeout: float = 60) -> None:
        done = subprocess.run(_as_user(POSTGRES_USER, argv), timeout=timeout, cwd=self.folder,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        assert done.returncode == 0, f"{argv[0]} failed: {done.stderr}\n{self.log_tail()}"

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off -c max_connections=100"
        self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "server.log"), "-w",
                   "-o", options, "start"])

    def create_database(self) -> None:
        self._run([str(self.bin / "createdb"), "-h", str(self.folder), "-p", str(self.port), "-U", "saqshy", "saqshy"])

    def stop(self) -> None:
        """A fast shutdown, as a restart by the operator or the package manager does: every session
        is ended, its open transaction rolled back."""
        if (self.data / "postmaster.pid").exists():
            self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"])

    def log_tail(self) -> str:
        log = self.folder / "server.log"
        return log.read_text(errors="replace")[-4000:] if log.exists() else ""

    def remove(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


class PrivateElasticsearch:
    """A single Elasticsearch node of the test's own, from the distribution scripts/services.sh unpacked."""

    def __init__(self) -> None:
        homes = [d / f"elasticsearch-{ES_VERSION}" for d in ES_HOME_DIRS]
        home = next((h for h in homes if (h / "bin" / "elasticsearch").exists()), None)
        java = _java17_home()
        if home is None or java is None or (_is_root() and not _user_exists(ES_USER)):
            service_missing("Elasticsearch", str(homes[0]), "no unpacked Elasticsearch and Java 17 to run a private "
                            "node (scripts/services.sh start elasticsearch installs them)")
        assert home is not None and java is not None
        self.home = home
        self.java = java
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.folder = _private_folder("saqshy-es-", ES_USER)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120) -> None:
        self.launch()
        self.wait_ready(timeout)

    def launch(self) -> None:
        """Start the node and return at once (it takes half a minute: the test sets up meanwhile)."""
        for name in ("data", "logs", "tmp"):
            (self.folder / name).mkdir(exist_ok=True)
        if _is_root():
            subprocess.run(["chown", "-R", f"{ES_USER}:", str(self.folder)], check=True)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "ES_JAVA_HOME": self.java,
               "ES_JAVA_OPTS": "-Xms512m -Xmx512m", "ES_TMPDIR": str(self.folder / "tmp")}
        settings = {
            "discovery.type": "single-node", "network.host": "127.0.0.1", "http.port": str(self.port),
            "transport.port": "0", "xpack.security.enabled": "false",
            "cluster.routing.allocation.disk.threshold_enabled": "false", "path.data": str(self.folder / "data"),
            "path.logs": str(self.folder / "logs"), "node.name": "saqshy-private", "cluster.name": "saqshy-private",
        }
        argv = [str(self.home / "bin" / "elasticsearch"), *[f"-E{k}={v}" for k, v in settings.items()]]
        with (self.folder / "launcher.log").open("ab") as log:
            self.process = subprocess.Popen(_as_user(ES_USER, ["env", *[f"{k}={v}" for k, v in env.items()], *argv]),
                                            cwd=self.folder, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not self.healthy():
            assert self.process is not None and self.process.poll() is None, f"Elasticsearch exited:\n{self.log_tail()}"
            assert time.monotonic() < deadline, f"Elasticsearch did not start in {timeout}s:\n{self.log_tail()}"
            time.sleep(0.5)

    def healthy(self) -> bool:
        try:
            url = f"{self.url}/_cluster/health?wait_for_status=yellow&timeout=1s"
            with urllib.request.urlopen(url, timeout=3) as answer:
                return b'"status":"red"' not in answer.read()
        except OSError:
            return False

    def stop(self) -> None:
        """SIGTERM, as ``systemctl stop`` does; the node's port is closed when this returns."""
        process, self.process = self.process, None
        if process is None:
            return
        # runuser does not forward signals: the process group reaches the JVM itself.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 15)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait(10)
        deadline = time.monotonic() + 30
        while _port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.2)

    def log_tail(self) -> str:
        parts = [p.read_text(errors="replace")[-3000:] for p in (self.folder / "launcher.log",
                                                                  self.folder / "logs" / "saqshy-private.log")
                 if p.exists()]
        return "\n".join(parts)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _java17_home() -> str | None:
    configured = os.environ.get("SAQSHY_JAVA_HOME")
    if configured:
        return configured
    for pattern in ("java-17-openjdk-*", "temurin-17-*", "java-17-*"):
        for candidate in sorted(Path("/usr/lib/jvm").glob(pattern)):
            if (candidate / "bin" / "java").exists():
                return str(candidate)
    return None
