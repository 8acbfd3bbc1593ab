"""Running untrusted Python in a separate, limited process.

The ``python`` skill runs model-written code here, and function-style tools
written by agents run through :func:`run_function`. Every escape is meant to
fail cleanly: the child gets an error (or is killed), the parent carries on.
Protection comes in layers, so a gap in one is covered by another:

1. **Process and OS** (``sandbox_child.py``, stage ``setup``).
   ``python -I`` with a minimal environment (no secrets) in a fresh scratch
   directory that is its cwd, ``HOME`` and ``TMPDIR`` and is removed
   afterwards; its own session and process group, killed on timeout;
   rlimits on CPU time, address space, file size, open files and processes,
   and no core dumps. Where the kernel allows it (detected on every run by
   simply trying, reported in ``layers``), the child enters new namespaces:
   *user* (mapped to an unprivileged uid, so the exec into the second stage
   leaves it with no capabilities), *network* (only a loopback that is down:
   nothing to connect to, not even 127.0.0.1), *mount* (``minimal_root``:
   a small tmpfs holding read-only binds of only the Python installation,
   the shared libraries, ``ld.so.cache``, ``localtime``, the time zone data,
   ``sandbox_child.py`` itself and ``/dev/null``, ``zero``, ``random`` and
   ``urandom``, all found from the running interpreter; then ``pivot_root``
   and the old root detached, so the project, its ``.env`` and ``var/``,
   ``/etc``, ``/home`` and the rest of ``/tmp`` don't exist for the child;
   the scratch directory a private size-capped tmpfs; where ``pivot_root``
   fails, the whole filesystem stays in view, every mount read-only) and
   *PID* (a fresh ``/proc`` showing only its own processes; when the
   sandbox's PID 1 dies the kernel kills everything it started, fork bombs
   included).
   ``no_new_privs`` is set. On this project's workers we run as root, where
   ``RLIMIT_NPROC`` is not enforced, which is why the PID namespace and the
   audit hook matter.
2. **Python** (stage ``run``). Before user code runs, an audit hook denies
   sockets and name lookups; opening for writing, creating, renaming,
   removing, linking or changing files outside scratch; opening for reading
   or listing anything outside the paths the minimal root shows
   (``read_allowlist``: the same rule, for kernels without a mount
   namespace; without the minimal root ``sqlite3`` is blocked too, as
   ``ATTACH`` opens files without audit events); paths resolved by the hook
   itself, following symlinks and ``..``;
   ``fork``/``exec``/``system``/``posix_spawn``/``subprocess``; SQLite's
   extension loading; every ``ctypes`` event and importing
   modules that bypass audit events (``ctypes``, ``_posixsubprocess``,
   ``multiprocessing``…); reading other processes' ``/proc`` entries or any
   process memory; and the introspection that could weaken the hook itself
   (``sys.settrace``/``setprofile``, ``gc.get_objects``/``get_referrers``,
   adding hooks, rewriting a function's code or defaults). The hook keeps its
   state in default arguments only, so user code has nothing to rewrite.
   A denial raises ``PermissionError`` in the child and is reported to the
   parent in ``denied``; a blocked module raises ``ModuleNotFoundError``
   instead, so libraries that treat it as optional (numpy tries ``ctypes``)
   import and work without it.
3. **Output.** stdout and stderr are read as they come with a hard byte cap
   each; past it the process group is killed and the result says
   ``truncated`` and ``killed_reason="output_limit"``. The parent never holds
   more than the cap plus one read.

Messages from the child (layers, denials, function results) travel over a
separate pipe, each line tagged with a random per-run nonce that user code
is never given, so printing a look-alike line forges nothing. Code that digs
the emitter out of the frames below it could still add lines, or close the
pipe to keep later denials quiet; so the layers are taken from the first
``ready`` (sent before user code runs), enforcement never depends on these
messages, and a run whose code started but whose report lacks the final
``done`` lists that among its denials (see ``_denials``).
"""

from __future__ import annotations

import ast
import json
import logging
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from . import sandbox_child  # imported for its command line; importing it also caches its bytecode

logger = logging.getLogger(__name__)

MAX_OUTPUT_BYTES = 64 * 1024
"""Cap on each of stdout and stderr; past it the child is killed."""
MAX_RESULT_BYTES = 1024 * 1024
"""Cap on the JSON text of a function's return value."""
SCRATCH_MB = 64
"""Size of the scratch tmpfs, where the mount namespace is available."""
MAX_OPEN_FILES = 64
MAX_PROCESSES = 16
_READ_SIZE = 64 * 1024
_CONTROL_CAP = MAX_RESULT_BYTES + 64 * 1024


class KilledReason(StrEnum):
    NONE = ""
    TIMEOUT = "timeout"
    OUTPUT_LIMIT = "output_limit"
    MEMORY = "memory"
    CPU = "cpu"


@dataclass(frozen=True)
class SandboxResult:
    exit_code: int | None
    stdout: str
    stderr: str
    timed_out: bool = False
    truncated: bool = False
    killed_reason: KilledReason = KilledReason.NONE
    """Why the run ended early, if it did: a plain string enum, ``""`` when it didn't."""
    denied: list[str] = field(default_factory=list)
    """Operations the audit hook refused, in order (at most 20), e.g. ``"socket.connect: not allowed…"``."""
    layers: tuple[str, ...] = ()
    """The protections that were active, e.g. ``("rlimits", "network_namespace", "audit_hook")``."""


class FunctionFailure(StrEnum):
    NONE = ""
    RAISED = "raised"
    """The function (or the module defining it) raised; ``error_type`` and ``error`` say what."""
    NOT_JSON = "not_json"
    """The return value can't be encoded as JSON."""
    RESULT_TOO_LARGE = "result_too_large"
    TIMEOUT = "timeout"
    OUTPUT_LIMIT = "output_limit"
    MEMORY = "memory"
    CPU = "cpu"
    NO_RESULT = "no_result"
    """The process ended without reporting a result (it exited, crashed or was killed)."""


@dataclass(frozen=True)
class FunctionResult:
    ok: bool
    value_json: str = ""
    """The return value as JSON text, when ``ok``."""
    failure: FunctionFailure = FunctionFailure.NONE
    error_type: str = ""
    error: str = ""
    stdout: str = ""
    stderr: str = ""
    denied: list[str] = field(default_factory=list)
    layers: tuple[str, ...] = ()

    @property
    def value(self) -> Any:
        return json.loads(self.value_json) if self.ok else None


@dataclass
class _Run:
    exit_code: int | None
    stdout: bytes
    stderr: bytes
    killed_reason: KilledReason
    truncated: bool
    messages: list[tuple[str, Any]]


def run_python(
    code: str, *, timeout_s: float = 5.0, memory_mb: int = 256, stdin: str = "", cpu_s: float | None = None
) -> SandboxResult:
    """Run ``code`` as a script in the sandbox and return what it printed.

    ``cpu_s`` caps CPU time separately (default: the timeout plus a second).
    """
    run = _run({"mode": "script", "code": code}, stdin.encode(), timeout_s, memory_mb, cpu_s)
    return SandboxResult(
        exit_code=None if run.killed_reason is KilledReason.TIMEOUT else run.exit_code,
        stdout=_decode(run.stdout),
        stderr=_decode(run.stderr),
        timed_out=run.killed_reason is KilledReason.TIMEOUT,
        truncated=run.truncated,
        killed_reason=run.killed_reason,
        denied=_denials(run),
        layers=_layers(run.messages),
    )


def run_function(
    source: str,
    function: str,
    arguments: Mapping[str, Any],
    *,
    timeout_s: float = 5.0,
    memory_mb: int = 256,
) -> FunctionResult:
    """Run ``source`` in the sandbox and call ``function(**arguments)`` there.

    The arguments travel as JSON on the child's stdin (so they must be
    JSON-serialisable: ``TypeError`` otherwise); the return value comes back
    as JSON over the nonce-tagged channel. Check the source first with
    :func:`check_function_source`.
    """
    header = {
        "mode": "function",
        "code": source,
        "function": function,
        "arguments": dict(arguments),
        "max_result_bytes": MAX_RESULT_BYTES,
    }
    json.dumps(header["arguments"], allow_nan=False)  # raise here, in the caller, not in the child
    run = _run(header, b"", timeout_s, memory_mb, None)
    common = {
        "stdout": _decode(run.stdout),
        "stderr": _decode(run.stderr),
        "denied": _denials(run),
        "layers": _layers(run.messages),
    }
    if run.killed_reason is not KilledReason.NONE:
        failure = FunctionFailure(run.killed_reason.value)
        return FunctionResult(ok=False, failure=failure, error=_KILLED_MESSAGES[failure], **common)
    results = [payload for kind, payload in run.messages if kind == "result" and isinstance(payload, dict)]
    if not results:
        tail = common["stderr"].strip().splitlines()[-1:] or [f"exit code {run.exit_code}"]
        return FunctionResult(ok=False, failure=FunctionFailure.NO_RESULT, error=tail[0], **common)
    result = results[-1]  # anything earlier was written while user code was still running
    status = result.get("status")
    if status == "ok" and isinstance(result.get("value"), str):
        try:
            json.loads(result["value"])
        except ValueError:
            return FunctionResult(ok=False, failure=FunctionFailure.NOT_JSON, error="Invalid JSON result.", **common)
        return FunctionResult(ok=True, value_json=result["value"], **common)
    if status == "not_json":
        message = (
            f"The function returned a {result.get('type')}, which isn't JSON-serialisable: {result.get('message')}"
        )
        return FunctionResult(ok=False, failure=FunctionFailure.NOT_JSON, error=message, **common)
    if status == "too_large":
        message = f"The result is {result.get('size')} bytes of JSON; the limit is {MAX_RESULT_BYTES}."
        return FunctionResult(ok=False, failure=FunctionFailure.RESULT_TOO_LARGE, error=message, **common)
    return FunctionResult(
        ok=False,
        failure=FunctionFailure.RAISED,
        error_type=str(result.get("type", "")),
        error=str(result.get("message", "")),
        **common,
    )


_KILLED_MESSAGES = {
    FunctionFailure.TIMEOUT: "The function ran past its time limit and was stopped.",
    FunctionFailure.OUTPUT_LIMIT: f"The function printed more than {MAX_OUTPUT_BYTES} bytes and was stopped.",
    FunctionFailure.MEMORY: "The function ran out of memory.",
    FunctionFailure.CPU: "The function used up its CPU time and was stopped.",
}


def check_function_source(source: str, function: str, parameters_schema: Mapping[str, Any]) -> list[str]:
    """Problems that would stop ``source`` from serving as the tool ``function``; empty when it fits.

    Parses only, never runs. ``function`` must be a top-level ``def`` (not
    ``async def``: tools are called synchronously) whose parameters match the
    JSON-Schema object ``parameters_schema``: each required property a
    parameter without a default, each optional one a parameter with a
    default, no parameter outside the schema, no positional-only parameters
    or ``*args`` (arguments are passed by keyword), and ``**kwargs`` only when
    the schema sets ``additionalProperties`` to something other than false.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return [f"Syntax error on line {exc.lineno}: {exc.msg}."]
    problems = _schema_problems(parameters_schema)
    definition = None
    for node in tree.body:
        if isinstance(node, ast.AsyncFunctionDef) and node.name == function:
            return [*problems, f"`{function}` is an async def; tools must be a plain def."]
        if isinstance(node, ast.FunctionDef) and node.name == function:
            definition = node
        elif definition is None and _binds(node, function):
            return [*problems, f"`{function}` must be defined with a top-level def (line {node.lineno})."]
    if definition is None:
        return [*problems, f"There is no top-level function named `{function}`."]
    return problems + _parameter_problems(definition, parameters_schema)


def _schema_problems(schema: Mapping[str, Any]) -> list[str]:
    if not isinstance(schema, Mapping):
        return ["The parameters schema must be a JSON object."]
    problems = []
    if schema.get("type", "object") != "object":
        problems.append('The parameters schema must have "type": "object".')
    properties = schema.get("properties", {})
    if not isinstance(properties, Mapping):
        problems.append('The schema\'s "properties" must be an object.')
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(name, str) for name in required):
        problems.append('The schema\'s "required" must be a list of names.')
    elif isinstance(properties, Mapping):
        problems += [
            f"Required property `{name}` is not in the schema's properties."
            for name in required
            if name not in properties
        ]
    return problems


def _binds(node: ast.stmt, name: str) -> bool:
    if isinstance(node, ast.ClassDef):
        return node.name == name
    if isinstance(node, ast.Import | ast.ImportFrom):
        return any((alias.asname or alias.name.split(".")[0]) == name for alias in node.names)
    if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return any(isinstance(sub, ast.Name) and sub.id == name for target in targets for sub in ast.walk(target))
    return False


def _parameter_problems(definition: ast.FunctionDef, schema: Mapping[str, Any]) -> list[str]:
    properties = schema.get("properties", {}) if isinstance(schema.get("properties", {}), Mapping) else {}
    required = set(schema.get("required", [])) if isinstance(schema.get("required", []), list) else set()
    extra_allowed = schema.get("additionalProperties", False) not in (False, None)
    args = definition.args
    problems = [
        f"Parameter `{a.arg}` is positional-only; tools are called with keyword arguments." for a in args.posonlyargs
    ]
    if args.vararg:
        problems.append(f"`*{args.vararg.arg}` can't receive anything: tools are called with keyword arguments only.")
    if args.kwarg and not extra_allowed:
        problems.append(f"`**{args.kwarg.arg}` needs the schema to allow additionalProperties.")
    positional = args.posonlyargs + args.args
    has_default = {a.arg: False for a in positional}
    for a in positional[len(positional) - len(args.defaults) :]:
        has_default[a.arg] = True
    for a, default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        has_default[a.arg] = default is not None
    for name in properties:
        if name not in has_default:
            if not args.kwarg:
                problems.append(f"Property `{name}` has no parameter.")
        elif name in required and has_default[name]:
            problems.append(f"Required property `{name}` must be a parameter without a default.")
        elif name not in required and not has_default[name]:
            problems.append(f"Optional property `{name}` must be a parameter with a default.")
    problems += [
        f"Parameter `{name}` is not in the schema's properties." for name in has_default if name not in properties
    ]
    return problems


# ---------------------------------------------------------------- running the child


def _run(header: dict, stdin: bytes, timeout_s: float, memory_mb: int, cpu_s: float | None) -> _Run:
    nonce = secrets.token_hex(16)
    payload = json.dumps({**header, "nonce": nonce}).encode()
    feed = b"%010d" % len(payload) + payload + stdin
    scratch = os.path.realpath(tempfile.mkdtemp(prefix="swarmweb-sandbox-"))
    control_r, control_w = os.pipe()
    config = {
        "scratch": scratch,
        "scratch_mb": SCRATCH_MB,
        "cpu_s": max(1, int(cpu_s if cpu_s is not None else timeout_s + 1)),
        "memory_bytes": memory_mb * 1024 * 1024,
        "fsize_bytes": MAX_OUTPUT_BYTES * 16,
        "nofile": MAX_OPEN_FILES,
        "nproc": MAX_PROCESSES,
        "control_fd": control_w,
    }
    env = {"PATH": "/usr/bin:/bin", "HOME": scratch, "TMPDIR": scratch, "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}
    try:
        proc = subprocess.Popen(
            sandbox_child.command("setup", config),
            cwd=scratch,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(control_w,),
            start_new_session=True,
        )
    except BaseException:
        os.close(control_r)
        raise
    finally:
        os.close(control_w)
    try:
        return _supervise(proc, control_r, feed, timeout_s, nonce)
    finally:
        _kill_group(proc)
        os.close(control_r)
        shutil.rmtree(scratch, ignore_errors=True)


def _supervise(proc: subprocess.Popen, control_r: int, feed: bytes, timeout_s: float, nonce: str) -> _Run:
    feeder = threading.Thread(target=_feed, args=(proc.stdin, feed), daemon=True)
    feeder.start()
    caps = {"stdout": MAX_OUTPUT_BYTES, "stderr": MAX_OUTPUT_BYTES, "control": _CONTROL_CAP}
    buffers = {name: bytearray() for name in caps}
    killed = KilledReason.NONE
    truncated = False
    deadline = time.monotonic() + timeout_s
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ, "stdout")
        selector.register(proc.stderr, selectors.EVENT_READ, "stderr")
        selector.register(control_r, selectors.EVENT_READ, "control")
        while selector.get_map() and killed is KilledReason.NONE:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                killed = KilledReason.TIMEOUT
                break
            for key, _ in selector.select(remaining):
                chunk = os.read(key.fd, _READ_SIZE)
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                buffer = buffers[key.data]
                room = caps[key.data] - len(buffer)
                buffer += chunk[:room]
                if len(chunk) > room:
                    killed, truncated = KilledReason.OUTPUT_LIMIT, True
                    break
    if killed is not KilledReason.NONE:
        _kill_group(proc)
    try:
        exit_code = proc.wait(timeout=max(0.0, deadline - time.monotonic()) + 1.0)
    except subprocess.TimeoutExpired:
        # The pipes closed but the process lingers: count it as running past the deadline.
        killed = killed or KilledReason.TIMEOUT
        _kill_group(proc)
        exit_code = proc.wait()
    feeder.join(timeout=1.0)
    messages = _parse_control(bytes(buffers["control"]), nonce)
    if killed is KilledReason.NONE:
        if exit_code in (-signal.SIGXCPU, -signal.SIGKILL):
            killed = KilledReason.CPU  # the soft and hard RLIMIT_CPU signals; we kill only for timeouts and output
        elif any(kind == "memory" for kind, _ in messages):
            killed = KilledReason.MEMORY
    return _Run(exit_code, bytes(buffers["stdout"]), bytes(buffers["stderr"]), killed, truncated, messages)


def _feed(pipe, data: bytes) -> None:
    try:
        with pipe:
            pipe.write(data)
    except (BrokenPipeError, OSError):
        pass  # the child stopped reading: its problem, not ours


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None and not pipe.closed:
            pipe.close()


def _parse_control(data: bytes, nonce: str) -> list[tuple[str, Any]]:
    messages = []
    prefix = nonce + " "
    for line in data.decode("utf-8", errors="replace").split("\n"):
        if not line.startswith(prefix):
            continue
        kind, _, text = line[len(prefix) :].partition(" ")
        try:
            messages.append((kind, json.loads(text)))
        except ValueError:
            logger.warning("Unreadable sandbox message of kind %r", kind)
    return messages


REPORT_CUT_SHORT = (
    "report cut short: the code closed the sandbox's report channel or left by os._exit,"
    " so denials after that point are not listed"
)


def _denials(run: _Run) -> list[str]:
    """The denials the child reported, and a note when its report stopped short: its code
    started (``ready``) and it was not killed, but the final ``done`` never came."""
    denied = [str(payload) for kind, payload in run.messages if kind == "denied"]
    kinds = {kind for kind, _ in run.messages}
    ended_by_itself = run.killed_reason is KilledReason.NONE and (run.exit_code or 0) >= 0  # no signal
    if "ready" in kinds and "done" not in kinds and ended_by_itself:
        denied.append(REPORT_CUT_SHORT)
    return denied


def _layers(messages: list[tuple[str, Any]]) -> tuple[str, ...]:
    for kind, payload in messages:
        if kind == "ready" and isinstance(payload, dict):
            return tuple(str(layer) for layer in payload.get("layers", ()))
    return ()


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")
