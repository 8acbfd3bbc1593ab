"""Every escape from the sandbox fails cleanly, and the parent carries on."""

import importlib.machinery
import importlib.util
import os
import socket
import sqlite3
import sys
import textwrap
import time
import tracemalloc
from contextlib import closing
from pathlib import Path

import pytest

from apps.engine import sandbox
from apps.engine.sandbox import (
    MAX_OUTPUT_BYTES,
    FunctionFailure,
    KilledReason,
    check_function_source,
    run_function,
    run_python,
)

PROJECT = Path(__file__).resolve().parents[2]
SECRET = "swarmweb-test-secret-4e1f"
PYTHON_PATHS = {os.path.realpath(p) for p in (sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix)}


def run(code: str, **kwargs):
    return run_python(textwrap.dedent(code), **kwargs)


def assert_denied(result, fragment: str) -> None:
    denial = next((denial for denial in result.denied if fragment in denial), None)
    assert denial is not None, result.denied
    # a blocked module is reported as missing (an ImportError), anything else as a PermissionError
    error = "ModuleNotFoundError" if denial.endswith("module is blocked in the sandbox") else "PermissionError"
    assert f"{error}: sandbox:" in result.stderr, result.stderr


def skip_without_mount_namespace(result) -> None:
    if "tmpfs_scratch" not in result.layers:
        pytest.skip("the kernel gave the sandbox no mount namespace")


@pytest.fixture(params=["worker_temp_dir", "project"])
def secret(request, tmp_path):
    """A file the worker can read but the sandbox must not: in the worker's temp dir (not scratch) or the project."""
    if request.param == "project":
        path = PROJECT / f".sandbox-test-secret-{os.getpid()}"
        request.addfinalizer(lambda: path.unlink(missing_ok=True))
    else:
        path = tmp_path / "secret.env"
    path.write_text(SECRET)
    return path


@pytest.fixture
def scratch_dirs(monkeypatch):
    """The scratch directories the sandbox creates during the test."""
    made = []
    original = sandbox.tempfile.mkdtemp

    def mkdtemp(*args, **kwargs):
        made.append(os.path.realpath(original(*args, **kwargs)))
        return made[-1]

    monkeypatch.setattr(sandbox.tempfile, "mkdtemp", mkdtemp)
    return made


def sandbox_processes(scratch: str) -> list[int]:
    """Live processes started for the run with this scratch directory (it is in their command line)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if scratch.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                    found.append(int(entry))
            except OSError:
                pass
    return found


# ---------------------------------------------------------------- what still works


def test_it_runs_code_and_reports_its_layers():
    result = run("print(sum(range(101)))")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "5050\n", "")
    assert result.killed_reason == "" and result.denied == [] and not result.truncated
    assert {"rlimits", "session", "audit_hook", "read_allowlist"} <= set(result.layers)


def test_it_passes_stdin_and_the_exit_code():
    result = run("import sys; print(sys.stdin.read().upper()); sys.exit(3)", stdin="abc")
    assert (result.exit_code, result.stdout) == (3, "ABC\n")


def test_writing_inside_scratch_works():
    result = run(
        """
        import os, pathlib, tempfile
        open("a.txt", "w").write("one")
        os.mkdir("sub")
        os.rename("a.txt", "sub/b.txt")
        pathlib.Path("sub/c.txt").write_text("two")
        pathlib.Path("sub/d").mkdir()
        pathlib.Path("sub/d").rmdir()
        with tempfile.NamedTemporaryFile("w", delete=False) as handle:
            handle.write("three")
        os.remove(handle.name)
        os.symlink("sub/b.txt", "link")
        open("link", "a").write("!")
        print(sorted(os.listdir("sub")), open("sub/b.txt").read(), os.environ["HOME"] == os.getcwd())
        """
    )
    assert result.stdout == "['b.txt', 'c.txt'] one! True\n", result.stderr
    assert result.denied == []


def test_the_standard_library_installed_packages_and_devices_still_work():
    result = run(
        """
        import collections, datetime, decimal, functools, itertools, json, math, re, statistics
        import yaml  # a runtime dependency, from the virtualenv's site-packages
        print(statistics.mean([1, 2, 3]), decimal.Decimal("1.10") + 1, math.isqrt(17), json.dumps({"a": [1]}))
        print(datetime.date(2024, 2, 28) + datetime.timedelta(days=1), re.sub("b+", "-", "abbc"))
        print(collections.Counter("aab")["a"], list(itertools.accumulate([1, 2])), functools.reduce(max, [3, 9]))
        print(len(open("/dev/urandom", "rb").read(8)), open("/dev/zero", "rb").read(2), open("/dev/null").read() == "")
        open("/dev/null", "w").write("dropped")
        print(yaml.safe_load("a: 1"))
        """
    )
    assert result.stdout.splitlines() == [
        '2 2.10 4 {"a": [1]}',
        "2024-02-29 a-c",
        "2 [1, 3] 9",
        "8 b'\\x00\\x00' True",
        "{'a': 1}",
    ], result.stderr
    assert result.denied == []


def test_exceptions_look_like_python_s_without_sandbox_frames():
    result = run("def f():\n    raise ValueError('nope')\nf()")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == "ValueError: nope"
    assert "sandbox_child" not in result.stderr and "raise ValueError('nope')" in result.stderr


# ---------------------------------------------------------------- the filesystem


@pytest.mark.parametrize(
    "statement",
    [
        "open('/tmp/{name}', 'w').write('x')",
        "open('../../../../tmp/{name}', 'a')",
        "import os; os.close(os.open('/tmp/{name}', os.O_WRONLY | os.O_CREAT))",
        "import os; os.open('../{name}', os.O_RDWR | os.O_CREAT)",
        "import pathlib; pathlib.Path('/tmp/{name}').write_text('x')",
        "open({project!r} + '/{name}', 'x')",
        "import os; os.mkdir('/tmp/{name}')",
        "import os; os.symlink('/tmp/{name}', 'link'); open('link', 'w')",
        "import os; os.symlink('/tmp', 'dir'); open('dir/{name}', 'w')",
    ],
)
def test_writing_outside_scratch_is_denied(statement):
    name = f"swarmweb-escape-{os.getpid()}-{time.monotonic_ns()}"
    result = run(statement.format(name=name, project=str(PROJECT)))
    assert result.exit_code == 1
    assert_denied(result, "")
    assert not Path("/tmp", name).exists() and not (PROJECT / name).exists()


def test_renaming_removing_or_changing_a_file_outside_scratch_is_denied(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    victim.chmod(0o644)
    for statement in [
        f"os.remove({str(victim)!r})",
        f"os.rename({str(victim)!r}, 'mine.txt')",
        f"os.link({str(victim)!r}, 'mine.txt')",
        f"os.chmod({str(victim)!r}, 0o777)",
        f"os.truncate({str(victim)!r}, 0)",
        f"import shutil; shutil.rmtree({str(tmp_path)!r})",
    ]:
        result = run(f"import os\n{statement}")
        assert_denied(result, "")
    assert victim.read_text() == "keep me" and victim.stat().st_mode & 0o777 == 0o644


def test_catching_the_denial_does_not_let_the_write_through():
    target = Path("/tmp", f"swarmweb-escape-{os.getpid()}-caught")
    result = run(
        f"""
        import builtins, os
        builtins.isinstance = lambda *args: True     # the hook must not rely on builtins
        os.path.realpath = lambda path: os.getcwd()  # nor on os.path
        try:
            open({str(target)!r}, "w")
        except PermissionError as exc:
            print("caught", exc)
        """
    )
    assert result.exit_code == 0 and result.stdout.startswith("caught sandbox: open")
    assert not target.exists()


def test_a_path_whose_fspath_changes_between_calls_is_refused():
    result = run(
        """
        import os
        class Shifty:
            calls = 0
            def __fspath__(self):
                Shifty.calls += 1
                return "/tmp/swarmweb-shifty" if Shifty.calls % 2 else "inside"
        os.mkdir(Shifty())
        """
    )
    assert_denied(result, "os.mkdir")
    assert not Path("/tmp/swarmweb-shifty").exists()


@pytest.mark.parametrize(
    "statement",
    [
        "print(open({path!r}).read())",
        "import pathlib; print(pathlib.Path({path!r}).read_text())",
        "import io; print(io.open_code({path!r}).read())",
        "import os; print(os.read(os.open({path!r}, os.O_RDONLY), 100))",
        "import os; print(os.listdir({directory!r}))",
        "import os; print([entry.name for entry in os.scandir({directory!r})])",
        "import pathlib; print(list(pathlib.Path({directory!r}).iterdir()))",
        "import glob; print(glob.glob({directory!r} + '/*'))",
        "import os; os.symlink({path!r}, 'link'); print(open('link').read())",
        "import os; os.symlink({directory!r}, 'dir'); print(os.listdir('dir'), open('dir/{name}').read())",
        "import sqlite3; print(sqlite3.connect({path!r}).execute('pragma user_version').fetchall())",
        "import sqlite3; sqlite3.connect('file:' + {path!r} + '?mode=ro', uri=True)",
    ],
)
def test_reading_outside_scratch_is_denied(statement, secret):
    result = run(statement.format(path=str(secret), directory=str(secret.parent), name=secret.name))
    assert result.denied, result.stderr  # glob swallows the PermissionError, so look at the denials
    assert SECRET not in result.stdout + result.stderr and secret.name not in result.stdout


def off_the_way_to_python(directory: str) -> list[str]:
    """``directory``, or if the Python installation lies under it, its entries that don't lead there."""
    if not any(python.startswith(directory + "/") for python in PYTHON_PATHS):
        return [directory]
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    return [
        f"{directory}/{name}"
        for name in names
        if not any(
            python == f"{directory}/{name}" or python.startswith(f"{directory}/{name}/") for python in PYTHON_PATHS
        )
    ]


def test_the_minimal_root_shows_only_what_python_needs(secret):
    hidden = [str(secret), *off_the_way_to_python("/root"), *off_the_way_to_python("/home")]
    hidden += [str(PROJECT / name) for name in ("manage.py", "var", ".env", "apps/engine/sandbox.py")]
    hidden += ["/etc/passwd", "/etc/shadow", "/etc/hostname", "/var", "/sys"]
    # lexists() only stats, which raises no audit event: this looks at the mount layer alone.
    result = run(
        f"""
        import os, sys
        print([path for path in {hidden!r} if os.path.lexists(path)])
        print(all(os.path.exists(path) for path in (sys.executable, sys.base_prefix, os.__file__)))
        """
    )
    skip_without_mount_namespace(result)
    assert "minimal_root" in result.layers
    assert result.stdout == "[]\nTrue\n", result.stderr


def test_the_child_starts_from_its_cached_bytecode_and_cannot_import_itself():
    from apps.engine import sandbox_child

    cached = importlib.util.cache_from_source(sandbox_child.__file__)
    assert Path(cached).exists()  # importing it (the parent does) wrote its bytecode
    result = run(
        f"""
        import os, sys
        print(os.path.exists({cached!r}), "sandbox_child" in sys.modules)
        try:
            import sandbox_child
        except ImportError as exc:
            print(type(exc).__name__)
        """
    )
    skip_without_mount_namespace(result)
    # the minimal root binds the bytecode next to the source, so the run stage doesn't compile it
    assert result.stdout == "True False\nModuleNotFoundError\n", result.stderr


@pytest.mark.skipif(not Path("/etc/shadow").exists(), reason="there is no /etc/shadow here")
def test_etc_shadow_cannot_be_read():
    result = run("print(open('/etc/shadow').read())")
    assert_denied(result, "open /etc/shadow")
    assert result.stdout == ""


@pytest.mark.parametrize("directory", ["/root", "/home", "/etc", "/"])
def test_home_directories_and_etc_cannot_be_listed(directory):
    result = run(f"import os; print(os.listdir({directory!r}))")
    assert_denied(result, f"os.listdir {directory}")
    assert result.stdout == ""


def test_sqlite_works_in_the_minimal_root_and_is_blocked_without_it():
    result = run(
        """
        import sqlite3
        sqlite3.connect("notes.db").execute("create table t (x)")
        print(sqlite3.connect(":memory:").execute("select 1").fetchone())
        """
    )
    if "minimal_root" in result.layers:
        assert (result.stdout, result.denied) == ("(1,)\n", []), result.stderr
    else:  # ATTACH DATABASE would open any file, unseen by the audit hook
        assert_denied(result, "import sqlite3")


def test_sqlite_cannot_attach_a_database_outside_scratch(tmp_path):
    outside = tmp_path / "app.sqlite3"
    with closing(sqlite3.connect(outside)) as db, db:
        db.execute("create table secrets (value)")
        db.execute("insert into secrets values (?)", (SECRET,))
    result = run(
        f"""
        import sqlite3
        db = sqlite3.connect(":memory:")
        db.execute("attach database ? as outside", ({str(outside)!r},))
        print(db.execute("select value from outside.secrets").fetchall())
        """
    )
    assert result.exit_code == 1 and SECRET not in result.stdout


def test_other_processes_and_process_memory_are_off_limits():
    result = run(f"open('/proc/{os.getpid()}/environ').read()")
    assert result.exit_code == 1  # denied by the hook, or absent from the sandbox's own /proc
    result = run("open('/proc/self/mem', 'rb')")
    assert_denied(result, "/proc/self/mem")


# ---------------------------------------------------------------- the network


def test_a_tcp_connection_to_localhost_never_arrives():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        result = run(f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=1)")
        assert_denied(result, "socket")
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):
            listener.accept()


def test_dns_lookups_are_denied():
    result = run("import socket; socket.getaddrinfo('localhost', 80)")
    assert_denied(result, "socket.getaddrinfo")


# ---------------------------------------------------------------- processes


@pytest.mark.parametrize(
    ("statement", "event"),
    [
        ("import os; os.fork()", "os.fork"),
        ("import os; os.system('echo escaped')", "os.system"),
        ("import os; os.execv('/bin/echo', ['echo', 'escaped'])", "os.exec"),
        ("import os; os.posix_spawn('/bin/echo', ['echo', 'escaped'], {})", "os.posix_spawn"),
        ("import subprocess; subprocess.run(['echo', 'escaped'])", "_posixsubprocess"),
        ("import multiprocessing", "multiprocessing"),
        ("import ctypes", "ctypes"),
        ("import _ctypes", "_ctypes"),
        ("import gc; gc.get_objects()", "gc.get_objects"),
        ("import sys; sys.settrace(lambda *a: None)", "sys.settrace"),
    ],
)
def test_process_creation_native_code_and_hook_tampering_are_denied(statement, event):
    result = run(statement)
    assert_denied(result, event)
    assert "escaped" not in result.stdout


def test_a_blocked_module_looks_absent_so_libraries_that_can_do_without_it_still_import():
    result = run(
        """
        try:
            import ctypes
        except ImportError as exc:
            print("no", exc.name)
        """
    )
    assert result.stdout == "no ctypes\n", result.stderr
    assert result.denied == ["import ctypes: module is blocked in the sandbox"]
    if importlib.util.find_spec("numpy") is None:
        pytest.skip("numpy is not installed here")
    # numpy asks for ctypes (for its optional ctypes interop) and carries on without it
    result = run("import numpy as np; a = np.arange(12).reshape(3, 4); print(a.sum(), (a @ a.T).trace())")
    assert (result.exit_code, result.stdout) == (0, "66 506\n"), result.stderr


def an_extension_module() -> Path:
    for name in ("_bisect", "_random", "_struct", "math", "array", "_json"):
        origin = getattr(importlib.util.find_spec(name), "origin", None) or ""
        if origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
            return Path(origin)
    pytest.skip("this Python has its extension modules built in")


def test_a_native_module_written_to_scratch_is_not_loaded():
    extension = an_extension_module()
    module = extension.name.split(".")[0]
    result = run(
        f"""
        import os, sys
        os.mkdir("native")
        with open({str(extension)!r}, "rb") as source, open("native/{extension.name}", "wb") as copy:
            copy.write(source.read())
        sys.path.insert(0, os.path.abspath("native"))
        sys.modules.pop({module!r}, None)
        import {module}
        print({module}.__file__)
        """
    )
    assert_denied(result, f"import {module}: native modules load only from the Python installation")
    assert result.stdout == ""


def test_a_second_audit_hook_is_refused():
    # CPython swallows the hook's error here and simply doesn't add the new hook.
    result = run("import sys\nsys.addaudithook(lambda event, args: print('hooked'))\nimport json")
    assert "hooked" not in result.stdout
    assert any("sys.addaudithook" in denial for denial in result.denied)


def test_a_fork_bomb_fails_cleanly_and_leaves_no_process_behind(scratch_dirs):
    # Bounded first (at most 2**6 processes even if every protection failed) ...
    result = run("import os\nfor _ in range(6):\n    os.fork()")
    assert_denied(result, "os.fork")
    # ... and only then the real thing, which retries forever.
    result = run("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass", timeout_s=1)
    assert result.timed_out and result.killed_reason == KilledReason.TIMEOUT
    assert len(result.denied) == 20  # reported up to the cap, not once per attempt
    assert all(sandbox_processes(scratch) == [] for scratch in scratch_dirs)
    assert not any(Path(scratch).exists() for scratch in scratch_dirs)


# ---------------------------------------------------------------- time, memory and output


def test_an_infinite_loop_times_out():
    result = run("while True: pass", timeout_s=1)
    assert result.timed_out and result.exit_code is None and result.killed_reason == "timeout"


def test_a_cpu_burn_is_killed_by_the_cpu_limit():
    # The wall-clock timeout is far away, so only the CPU limit can have stopped it.
    result = run("while True: pass", timeout_s=60, cpu_s=1)
    assert not result.timed_out and result.killed_reason == KilledReason.CPU


@pytest.mark.parametrize(
    "code", ["x = bytearray(1024 ** 3)", "chunks = []\nwhile True:\n    chunks.append(bytearray(10 ** 6))"]
)
def test_a_memory_bomb_fails_cleanly(code):
    result = run(code, memory_mb=128)
    assert result.exit_code == 1 and "MemoryError" in result.stderr
    assert result.killed_reason == KilledReason.MEMORY


@pytest.mark.parametrize("stream", ["sys.stdout", "sys.stderr"])
def test_huge_output_is_cut_at_the_cap_without_buffering_it(stream):
    tracemalloc.start()
    # The timeout is far away: the output cap, not the clock, must be what stopped it.
    result = run(f"import sys\nwhile True:\n    {stream}.write('x' * 100000)", timeout_s=60)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert result.truncated and result.killed_reason == KilledReason.OUTPUT_LIMIT and not result.timed_out
    captured = result.stdout if stream == "sys.stdout" else result.stderr
    assert len(captured) == MAX_OUTPUT_BYTES
    assert peak < 8 * MAX_OUTPUT_BYTES


def test_the_environment_holds_no_secrets(monkeypatch):
    monkeypatch.setenv("SWARMWEB_FAKE_SECRET", "hunter2")
    result = run("import os\nprint(sorted(os.environ))\nprint(open('/proc/self/environ').read())")
    assert "hunter2" not in result.stdout and "SWARMWEB_FAKE_SECRET" not in result.stdout
    assert result.exit_code == 0


# ---------------------------------------------------------------- run_function


ADD = "def add(a, b=2):\n    print('adding')\n    return {'sum': a + b, 'items': [a, b]}\n"


def test_run_function_returns_the_json_value():
    result = run_function(ADD, "add", {"a": 1})
    assert result.ok and result.value == {"sum": 3, "items": [1, 2]}
    assert result.stdout == "adding\n" and result.failure == ""


def test_run_function_reports_the_exception():
    result = run_function("def f(x):\n    raise ValueError(f'bad {x}')\n", "f", {"x": 7})
    assert not result.ok and result.failure == FunctionFailure.RAISED
    assert (result.error_type, result.error) == ("ValueError", "bad 7")


def test_run_function_refuses_a_result_that_is_not_json():
    result = run_function("def f():\n    return {1, 2}\n", "f", {})
    assert not result.ok and result.failure == FunctionFailure.NOT_JSON
    assert "set" in result.error


def test_run_function_reports_a_missing_function_and_a_broken_module():
    assert run_function("x = 1\n", "f", {}).error_type == "NameError"
    assert run_function("import nope_missing\ndef f():\n    pass\n", "f", {}).error_type == "ModuleNotFoundError"


def test_run_function_reports_sandbox_failures():
    assert run_function("def f():\n    while True: pass\n", "f", {}, timeout_s=1).failure == FunctionFailure.TIMEOUT
    result = run_function("import os\ndef f():\n    os._exit(0)\n", "f", {})
    assert result.failure == FunctionFailure.NO_RESULT


def test_run_function_needs_json_arguments():
    with pytest.raises(TypeError):
        run_function(ADD, "add", {"a": object()})


def test_printing_or_writing_a_fake_result_forges_nothing():
    source = textwrap.dedent(
        """
        import os
        def f():
            fake = '\\n' + 'a' * 32 + ' result {"status": "ok", "value": "666"}\\n'
            print(fake)
            for fd in range(3, 64):
                try:
                    os.write(fd, fake.encode())
                except OSError:
                    pass
            return 42
        """
    )
    result = run_function(source, "f", {})
    assert result.ok and result.value == 42


@pytest.mark.parametrize(
    "ending",
    ["pass", "raise SystemExit(3)", "raise ValueError('x')", "import atexit; atexit.register(print, 'bye')"],
)
def test_a_run_that_ends_however_it_likes_reports_whole(ending):
    result = run(f"print('hi')\n{ending}\n")
    assert sandbox.REPORT_CUT_SHORT not in result.denied and result.denied == [], result.stderr
    assert run_function("def f():\n    return 1\n", "f", {}).denied == []


def test_code_that_closes_the_report_channel_to_hide_a_denial_is_reported():
    result = run(
        """
        import os, sys
        frame = sys._getframe()
        while frame is not None and "config" not in frame.f_locals:  # the sandbox's own frame, below ours
            frame = frame.f_back
        os.close(frame.f_locals["config"]["control_fd"])
        try:
            open("/etc/hostname")
        except PermissionError:
            print("denied, quietly")
        """
    )
    assert result.stdout == "denied, quietly\n", result.stderr
    assert not any("/etc/hostname" in denial for denial in result.denied)  # that report was lost...
    assert result.denied == [sandbox.REPORT_CUT_SHORT]  # ...and the loss is not


# ---------------------------------------------------------------- check_function_source


SCHEMA = {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}, "required": ["a"]}


@pytest.mark.parametrize(
    ("source", "schema", "expected"),
    [
        ("def add(a, b=2):\n    return a + b\n", SCHEMA, []),
        ("def add(*, a, b=None):\n    return a\n", SCHEMA, []),
        ("def add(a, b=2, **extra):\n    return a\n", {**SCHEMA, "additionalProperties": True}, []),
        ("def add(a, b=2):\n    return (a +\n", SCHEMA, ["Syntax error on line 2"]),
        ("def other(a, b=2):\n    pass\n", SCHEMA, ["no top-level function named `add`"]),
        ("def outer():\n    def add(a, b=2):\n        pass\n", SCHEMA, ["no top-level function named `add`"]),
        ("add = lambda a, b=2: a + b\n", SCHEMA, ["must be defined with a top-level def (line 1)"]),
        ("class add:\n    pass\n", SCHEMA, ["must be defined with a top-level def"]),
        ("async def add(a, b=2):\n    return a\n", SCHEMA, ["async def"]),
        ("def add(a=1, b=2):\n    pass\n", SCHEMA, ["Required property `a` must be a parameter without a default"]),
        ("def add(a, b):\n    pass\n", SCHEMA, ["Optional property `b` must be a parameter with a default"]),
        ("def add(a):\n    pass\n", SCHEMA, ["Property `b` has no parameter"]),
        ("def add(a, b=2, c=3):\n    pass\n", SCHEMA, ["Parameter `c` is not in the schema's properties"]),
        ("def add(a, /, b=2):\n    pass\n", SCHEMA, ["Parameter `a` is positional-only"]),
        ("def add(a, b=2, *rest):\n    pass\n", SCHEMA, ["`*rest` can't receive anything"]),
        ("def add(a, b=2, **extra):\n    pass\n", SCHEMA, ["`**extra` needs the schema to allow additionalProperties"]),
        ("def add(a, b=2):\n    pass\n", {**SCHEMA, "required": ["a", "z"]}, ["Required property `z` is not in"]),
        ("def add(a, b=2):\n    pass\n", {**SCHEMA, "type": "array"}, ['must have "type": "object"']),
    ],
)
def test_check_function_source_finds_each_problem(source, schema, expected):
    problems = check_function_source(source, "add", schema)
    assert len(problems) == len(expected), problems
    for problem, fragment in zip(problems, expected, strict=True):
        assert fragment in problem
