"""Running untrusted Python in a separate, limited process.

The child runs ``python -I`` (no user site, no environment-driven imports)
in a fresh scratch directory with a minimal environment (no secrets), under
CPU-time and address-space limits, in its own process group so a timeout
kills everything it started. Output is capped.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass

MAX_OUTPUT_BYTES = 64 * 1024


@dataclass(frozen=True)
class SandboxResult:
    exit_code: int | None
    stdout: str
    stderr: str
    timed_out: bool = False
    truncated: bool = False


def _limits(cpu_seconds: int, memory_bytes: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_OUTPUT_BYTES * 16, MAX_OUTPUT_BYTES * 16))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def _decode(data: bytes) -> tuple[str, bool]:
    truncated = len(data) > MAX_OUTPUT_BYTES
    return data[:MAX_OUTPUT_BYTES].decode("utf-8", errors="replace"), truncated


def run_python(code: str, *, timeout_s: float = 5.0, memory_mb: int = 256, stdin: str = "") -> SandboxResult:
    """Run ``code`` in a limited child process and return what it printed."""
    with tempfile.TemporaryDirectory(prefix="swarmweb-sandbox-") as scratch:
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": scratch,
            "TMPDIR": scratch,
            "LANG": "C.UTF-8",
            "PYTHONIOENCODING": "utf-8",
        }
        proc = subprocess.Popen(
            [sys.executable, "-I", "-c", code],
            cwd=scratch,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=_limits(max(1, int(timeout_s) + 1), memory_mb * 1024 * 1024),
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(stdin.encode(), timeout=timeout_s)
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            timed_out = True
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    stdout, cut_out = _decode(out)
    stderr, cut_err = _decode(err)
    return SandboxResult(
        exit_code=None if timed_out else proc.returncode,
        stdout=stdout,
        stderr=stderr,
        timed_out=timed_out,
        truncated=cut_out or cut_err,
    )
