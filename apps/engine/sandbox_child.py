"""The sandboxed child, started by ``sandbox.py`` (``command``).

It runs in two stages, each a fresh ``python -I`` interpreter. Each loads this
file through ``LOADER`` rather than as a script, so its bytecode comes from
``__pycache__`` (bound into the minimal root too) instead of being compiled
again at every start, as a script's always is (about 10 ms a stage):

``setup``
    Trusted. Applies the resource limits and works out what the child may
    see (the Python installation, shared libraries, a few devices), then
    (where the kernel allows it) moves into new user, mount, network and PID
    namespaces with ``ctypes``: a minimal root holding only those paths,
    bound read-only, replaces the real one (``pivot_root``), the scratch
    directory becomes a private size-capped tmpfs, a fresh ``/proc`` shows
    only the sandbox's own processes, every mount is read-only but scratch,
    and the only network interface is a loopback that is down.
    It sets ``no_new_privs`` and re-executes itself as ``run``; the exec drops
    every capability and leaves no trace of ``ctypes`` in the second stage.

``run``
    Reads its header (nonce, code, mode) from stdin, installs the audit hook
    that denies network, process creation, writes outside scratch, reads
    outside what the setup stage allowed and the introspection that could
    weaken the hook, then runs the user's code as
    ``__main__`` (or calls the named function and reports its JSON result).

Messages to the parent go over a separate pipe, one line each:
``<nonce> <kind> <json>``. User code never sees the nonce in its globals,
arguments, environment or files, so printing a look-alike line does nothing.
It is not out of reach, though: the frames below the user's code (``_run``'s
locals, through ``sys._getframe``, which ``logging`` and ``warnings`` need)
hold the emitter. So nothing in these messages is trusted for enforcement:
the parent takes the layers from the first ``ready`` (sent before user code
runs), and the last message, ``done``, tells it the report is whole; code
that closes the channel to hide later denials loses ``done`` and is reported.
"""

import importlib.util
import json
import os
import sys

# ``python -I -c LOADER <this file> <stage> <config>``: imports this file by path and calls ``main``.
LOADER = (
    "import sys, importlib.util as u; spec = u.spec_from_file_location('sandbox_child', sys.argv[1]);"
    " child = u.module_from_spec(spec); spec.loader.exec_module(child); child.main(sys.argv[2:])"
)

AT_FDCWD_UNSET = -1  # what the audit events report when no dir_fd was given
CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MNT_DETACH = 2
# noexec: a shared library written to scratch can't be mapped as code, so can't be imported as a module.
SCRATCH_FLAGS = MS_NOSUID | MS_NODEV | MS_NOEXEC
# pivot_root(2) has no libc wrapper; its number by machine. Elsewhere the minimal root is skipped.
PIVOT_ROOT_SYSCALLS = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}
ROOT_MB = 1
# zoneinfo's default search path; asking sysconfig would cost the setup stage 2 ms on every run.
TZ_PATHS = ("/usr/share/zoneinfo", "/usr/lib/zoneinfo", "/usr/share/lib/zoneinfo", "/etc/zoneinfo")
LOCKED_MOUNT_FLAGS = {
    "nosuid": MS_NOSUID,
    "nodev": MS_NODEV,
    "noexec": MS_NOEXEC,
    "noatime": MS_NOATIME,
    "nodiratime": MS_NODIRATIME,
    "relatime": MS_RELATIME,
    "strictatime": MS_STRICTATIME,
}
# Modules that reach the OS without audit events, or that exist to start processes.
BLOCKED_MODULES = frozenset(
    {
        "ctypes",
        "_ctypes",
        "_posixsubprocess",
        "multiprocessing",
        "_multiprocessing",
        "_posixshmem",
        "_testcapi",
        "_testinternalcapi",
        "_testbuffer",
        "_xxsubinterpreters",
        "_xxinterpchannels",
        "posix",
        "cffi",
        "_cffi_backend",
    }
)
# SQLite opens files itself, out of the hook's sight (ATTACH DATABASE, VACUUM INTO): harmless where
# the minimal root leaves nothing else to open, blocked where it is missing.
OWN_FILE_ACCESS_MODULES = frozenset({"sqlite3", "_sqlite3"})
DENIED_EVENTS = frozenset(
    {
        "os.fork",
        "os.forkpty",
        "os.posix_spawn",
        "os.exec",
        "os.spawn",
        "os.system",
        "os.startfile",
        "subprocess.Popen",
        "pty.spawn",
        "sys.addaudithook",
        "sys.settrace",
        "sys.setprofile",
        "sys.remote_exec",
        "gc.get_objects",
        "gc.get_referrers",
        "gc.get_referents",
        "os.chflags",
        "os.lchflags",
        "os.setxattr",
        "os.removexattr",
        "sqlite3.enable_load_extension",
        "sqlite3.load_extension",
    }
)
MAX_DENIALS_REPORTED = 20


# ---------------------------------------------------------------- stage 1: setup


def _setup(config: dict) -> None:
    import resource

    cpu = config["cpu_s"]
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (config["fsize_bytes"], config["fsize_bytes"]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (config["nofile"], config["nofile"]))
    # Not enforced for uid 0 (the kernel exempts root even inside a user namespace);
    # the PID namespace and the audit hook are what stop fork bombs there.
    resource.setrlimit(resource.RLIMIT_NPROC, (config["nproc"], config["nproc"]))
    layers = ["rlimits", "session"]
    view = _sandbox_view(_needed_paths())
    config["readable"] = [*view[0], config["scratch"]]
    libc = _libc()
    if libc is not None:
        layers += _enter_namespaces(libc, config, view)
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0:
            layers.append("no_new_privs")
    memory = config["memory_bytes"]
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    config["layers"] = layers
    os.execv(sys.executable, command("run", config))


def _libc():
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True)
    except Exception:  # no ctypes or libffi: the OS layers are simply absent
        return None


def _needed_paths() -> list[str]:
    """What the interpreter needs to start and import the standard library, found from the running one.

    The Python installation (a virtualenv and the one it was made from),
    this script, the shared libraries (the usual directories, the loader's
    cache and the directory of every library this process has loaded), the
    time zone data, and four harmless devices. Nothing else in ``/etc``:
    Python starts without ``passwd``; ``localtime`` is kept so that local
    time stays what it is outside.
    """
    paths = [sys.executable, sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix]
    paths += [os.path.abspath(__file__), "/etc/ld.so.cache", "/etc/localtime", *TZ_PATHS]
    cached = importlib.util.cache_from_source(os.path.abspath(__file__))
    if os.path.exists(cached):  # absent where the installation is read-only: the run stage compiles
        paths.append(cached)
    paths += ["/lib", "/lib64", "/lib32", "/libx32", "/usr/lib", "/usr/lib64", "/usr/lib32", "/usr/libx32"]
    paths.append("/usr/local/lib")
    with open("/proc/self/maps") as handle:
        mapped = {line.split(None, 5)[-1].rstrip("\n") for line in handle if line.count(" ") >= 5}
    paths += {os.path.dirname(path) for path in mapped if path.startswith("/") and ".so" in os.path.basename(path)}
    paths += ["/dev/null", "/dev/zero", "/dev/random", "/dev/urandom"]
    return [path for path in paths if path.startswith("/") and path != "/" and os.path.lexists(path)]


def _sandbox_view(paths: list[str]) -> tuple[list[str], dict[str, str]]:
    """How to make ``paths`` resolve in a new root exactly as they do now.

    Returns the real (symlink-free) paths to bind, outermost only, and the
    symlinks met on the way there (location: target) to recreate. The run
    stage's audit hook allows reading the same real paths, so both layers
    agree on what is visible.
    """
    binds, links = set(), {}
    for path in paths:
        pending = path.split("/")
        pending.reverse()
        resolved, hops = [], 0
        while pending and hops <= 40:
            part = pending.pop()
            if part in ("", "."):
                continue
            if part == "..":
                if resolved:
                    resolved.pop()
                continue
            current = "/" + "/".join([*resolved, part])
            if not os.path.islink(current):
                resolved.append(part)
                continue
            hops += 1
            links[current] = target = os.readlink(current)
            if target.startswith("/"):
                resolved = []
            more = target.split("/")
            more.reverse()
            pending.extend(more)
        real = "/" + "/".join(resolved)
        if not pending and resolved and os.path.exists(real):
            binds.add(real)
    outermost = []
    for path in sorted(binds):
        if not _inside(path, outermost):
            outermost.append(path)
    return outermost, {path: target for path, target in links.items() if not _inside(path, outermost)}


def _inside(path: str, directories: list[str]) -> bool:
    return any(path == directory or path.startswith(directory + "/") for directory in directories)


def _enter_namespaces(libc, config: dict, view: tuple[list[str], dict[str, str]]) -> list[str]:
    uid, gid = os.geteuid(), os.getegid()
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID) == 0:
        flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID
    elif libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0:
        flags = CLONE_NEWUSER | CLONE_NEWNET
    else:
        return []
    layers = ["user_namespace", "network_namespace"]
    # Map ourselves to a non-root uid inside, so the exec into stage 2 drops every capability.
    for name, text in (("setgroups", "deny"), ("uid_map", f"1000 {uid} 1"), ("gid_map", f"1000 {gid} 1")):
        try:
            with open(f"/proc/self/{name}", "w") as handle:
                handle.write(text)
        except OSError:
            pass
    if flags & CLONE_NEWPID:
        _become_pid_one(libc)
        layers.append("pid_namespace")
    if flags & CLONE_NEWNS:
        layers += _lock_down_mounts(
            libc, config["scratch"], config["scratch_mb"], view, fresh_proc=bool(flags & CLONE_NEWPID)
        )
    return layers


def _become_pid_one(libc) -> None:
    """Fork; the child is PID 1 of the new namespace, the parent waits and passes its status on."""
    pid = os.fork()
    if pid == 0:
        # If the waiting parent is killed, PID 1 dies, and with it every process in the namespace.
        libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)
        return
    import signal

    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig != signal.SIGKILL:
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
        os._exit(128 + sig)
    os._exit(os.waitstatus_to_exitcode(status))


def _mount(libc, source, target, fstype, flags, data=None) -> bool:
    def encode(value):
        return value.encode() if isinstance(value, str) else value

    return libc.mount(encode(source), encode(target), encode(fstype), flags, encode(data)) == 0


def _lock_down_mounts(
    libc, scratch: str, scratch_mb: int, view: tuple[list[str], dict[str, str]], *, fresh_proc: bool
) -> list[str]:
    import re

    _mount(libc, None, "/", None, MS_REC | MS_PRIVATE)
    layers = _enter_minimal_root(libc, scratch, scratch_mb, view, fresh_proc=fresh_proc)
    if layers is None:  # keep the whole filesystem in view, read-only
        layers = []
        if _mount(libc, "tmpfs", scratch, "tmpfs", SCRATCH_FLAGS, f"size={scratch_mb}m,mode=0700"):
            layers.append("tmpfs_scratch")
        else:
            _mount(libc, scratch, scratch, None, MS_BIND)
        if fresh_proc and _mount(libc, "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC):
            layers.append("private_proc")
    with open("/proc/self/mountinfo") as handle:
        mounts = [line.split() for line in handle]
    root_locked = False
    for fields in mounts:
        target = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
        if target == scratch:
            continue
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY
        for option in fields[5].split(","):
            flags |= LOCKED_MOUNT_FLAGS.get(option, 0)
        if _mount(libc, None, target, None, flags) and target == "/":
            root_locked = True
    if root_locked:
        layers.append("read_only_filesystem")
    return layers


def _enter_minimal_root(
    libc, scratch: str, scratch_mb: int, view: tuple[list[str], dict[str, str]], *, fresh_proc: bool
) -> list[str] | None:
    """Switch to a new root holding only ``view``, scratch, ``/proc`` and a few devices; None if it can't be done.

    The new root is a small tmpfs laid over the (empty) scratch directory,
    so it needs no other directory; scratch reappears inside it at its own
    path. Everything bound here is made read-only afterwards with the rest.
    Nothing is created inside a bind, so the real filesystem is never
    written. After ``pivot_root`` the old root is detached: the project,
    ``/etc``, ``/home``, ``/root`` and ``/tmp`` no longer exist for the child.
    """
    binds, links = view
    syscall = PIVOT_ROOT_SYSCALLS.get(os.uname().machine)
    if syscall is None or _inside(scratch, binds) or _inside("/proc", binds) or _inside("/dev", binds):
        return None
    root = scratch
    if not _mount(libc, "tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, f"size={ROOT_MB}m,mode=0755"):
        return None
    layers = ["minimal_root", "tmpfs_scratch"]
    try:
        for path in binds:
            if os.path.isdir(path):
                os.makedirs(root + path, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(root + path), exist_ok=True)
                os.close(os.open(root + path, os.O_CREAT | os.O_WRONLY, 0o644))
            if not _mount(libc, path, root + path, None, MS_BIND | MS_REC):
                raise OSError(f"cannot bind {path}")
        for path, target in [*links.items(), ("/dev/fd", "/proc/self/fd"), ("/dev/stdin", "/proc/self/fd/0")]:
            os.makedirs(os.path.dirname(root + path), exist_ok=True)
            os.symlink(target, root + path)
        for name, fd in (("stdout", 1), ("stderr", 2)):
            os.symlink(f"/proc/self/fd/{fd}", f"{root}/dev/{name}")
        os.makedirs(root + scratch)
        if not _mount(libc, "tmpfs", root + scratch, "tmpfs", SCRATCH_FLAGS, f"size={scratch_mb}m,mode=0700"):
            raise OSError("cannot mount the scratch tmpfs")
        os.mkdir(root + "/proc")
        if fresh_proc and _mount(libc, "proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC):
            layers.append("private_proc")
        elif not _mount(libc, "/proc", root + "/proc", None, MS_BIND | MS_REC):
            raise OSError("cannot bind /proc")
        os.chdir(root)
        if libc.syscall(syscall, b".", b".") != 0:
            raise OSError("pivot_root failed")
    except OSError:
        os.chdir("/")
        libc.umount2(root.encode(), MNT_DETACH)
        return None
    # The old root now lies on top of the new one; detach it, and with it everything outside the view.
    if libc.umount2(b".", MNT_DETACH) != 0:
        raise RuntimeError("sandbox: cannot detach the old root")  # never run user code with it in reach
    os.chdir("/")
    return layers


# ---------------------------------------------------------------- stage 2: run


def _read_exact(fd: int, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = os.read(fd, left)
        if not chunk:
            raise EOFError("sandbox header cut short")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _make_emitter(fd: int, nonce: str):
    """A writer of ``<nonce> <kind> <json>`` lines; all its state lives in default arguments."""

    prefix = ("\n" + nonce + " ").encode()  # the newline ends any partial line user code left in the pipe

    def emit(kind, payload, _fd=fd, _prefix=prefix, _dumps=json.dumps, _write=os.write):
        data = _prefix + kind.encode() + b" " + _dumps(payload).encode() + b"\n"
        try:
            while data:
                data = data[_write(_fd, data) :]
        except OSError:
            pass

    return emit


def _make_guard(scratch: str, readable: list[str], blocked: frozenset[str], emit):
    """The audit hook.

    Everything it uses is bound as a default argument: it reads no globals,
    no builtins and no closure cells, so user code can neither monkeypatch
    what it calls nor rewrite its state, and it calls no Python-level helper
    that user code could reach. Only the interpreter's hook list refers to it.
    Paths are copied to exact ``str`` before any method is called on them,
    and ``pathlib`` paths are read from their cached string, so an object
    whose ``__fspath__`` answers differently on each call can't slip through.
    Reads (``open`` without a write flag, listing a directory) are allowed
    only under ``readable`` and in ``/proc``; with the minimal root those are
    all that exists anyway, without it this is what keeps ``.env`` unread.
    """
    import builtins
    import pathlib
    import posix

    pid_dir = "/proc/" + str(posix.getpid())
    reported = [0]

    def guard(  # one function on purpose: no helpers for user code to reach into
        event,
        args,
        _scratch=scratch,
        _scratch_prefix=scratch + "/",
        _readable=tuple(path + "/" for path in readable),
        _native_roots=tuple(path + "/" for path in readable if path != scratch),
        _pid_dir=pid_dir,
        _emit=emit,
        _denied=DENIED_EVENTS,
        _blocked=blocked,
        _guarded_types=tuple(cls for cls in pathlib.PosixPath.__mro__ if cls is not object),
        _path_types=(pathlib.PosixPath, pathlib.PurePosixPath),
        _cached_path=pathlib.PurePath.__dict__["_str"].__get__,
        _builtins=builtins.__dict__,
        _pathlib=pathlib.__dict__,
        _lstat=posix.lstat,
        _readlink=posix.readlink,
        _getcwd=posix.getcwd,
        _getpid=posix.getpid,
        _type=type,
        _isinstance=isinstance,
        _str=str,
        _bytes=bytes,
        _int=int,
        _join="".join,
        _decode=bytes.decode,
        _error=PermissionError,
        _missing=ModuleNotFoundError,
        _oserror=OSError,
        _attribute_error=AttributeError,
        _write_flags=os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND,
        _reported=reported,
        _max_reported=MAX_DENIALS_REPORTED,
    ):
        reason = None
        missing = False  # a blocked module: reported as absent, which libraries know how to live without
        writing = False
        paths = ()  # (path, dir_fd, follow the last symlink)
        if event in _denied or event.startswith(("socket.", "ctypes.", "_ctypes.")):
            reason = "not allowed in the sandbox"
        elif event == "import":
            name = args[0]
            name = _join((name,)) if _isinstance(name, _str) else ""
            if name in _blocked or name.split(".")[0] in _blocked:
                reason = "module is blocked in the sandbox"
                missing = True
            elif args[1] is not None:  # an extension module about to be loaded from this file
                origin = _join((args[1],)) if _isinstance(args[1], _str) else ""
                parts = origin.split("/")
                if not origin.startswith(_native_roots) or "" in parts[1:] or "." in parts or ".." in parts:
                    reason = "native modules load only from the Python installation"
        elif event == "open":
            mode, flags = args[1], args[2]
            writing = (flags & _write_flags) != 0 or (
                _type(mode) is _str and ("w" in mode or "a" in mode or "x" in mode or "+" in mode)
            )
            if _type(args[0]) is not _int:  # a descriptor went through this hook when it was opened
                paths = ((args[0], AT_FDCWD_UNSET, True),)
        elif event in ("os.listdir", "os.scandir"):
            if _type(args[0]) is not _int:
                paths = (("." if args[0] is None else args[0], AT_FDCWD_UNSET, True),)
        elif event == "sqlite3.connect":  # SQLite opens (and may create) its files without an open event
            writing, paths = True, ((args[0], AT_FDCWD_UNSET, True),)
        elif event in ("os.remove", "os.rmdir"):
            writing, paths = True, ((args[0], args[1], False),)
        elif event == "os.mkdir":
            writing, paths = True, ((args[0], args[2], False),)
        elif event == "shutil.rmtree":  # it stats the tree before the first event that names a file
            dir_fd = AT_FDCWD_UNSET if args[1] is None else args[1]
            writing, paths = True, ((args[0], dir_fd, False),)
        elif event in ("os.rename", "os.link"):
            # A hard link to an outside file would make it writable through scratch.
            writing, paths = True, ((args[0], args[2], event == "os.link"), (args[1], args[3], False))
        elif event == "os.symlink":
            writing, paths = True, ((args[1], args[2], False),)
        elif event == "os.truncate":
            if _type(args[0]) is not _int:  # ftruncate needs a descriptor opened for writing
                writing, paths = True, ((args[0], AT_FDCWD_UNSET, True),)
        elif event in ("os.chmod", "os.chown", "os.utime"):
            if _type(args[0]) is _int:
                reason = "changing a file through a descriptor is not allowed in the sandbox"
            else:
                writing, paths = True, ((args[0], args[-1], True),)
        elif event in ("os.kill", "os.killpg", "resource.prlimit"):
            if args[0] != 0 and args[0] != _getpid():
                reason = "only the sandbox's own process can be signalled or limited"
        elif event in ("object.__setattr__", "object.__delattr__") and args[0] in _guarded_types:
            reason = "not allowed in the sandbox"  # the hook reads a pathlib path from its cached string
        for path, dir_fd, follow_last in paths:
            kind = _type(path)
            if kind is _str:
                pass
            elif kind in _path_types:
                path = None
                if _builtins.get("str") is _str and "str" not in _pathlib:
                    try:
                        path = _join((_cached_path(path),))
                    except _attribute_error:
                        path = None
            elif _isinstance(path, _str):
                path = _join((path,))
            elif _isinstance(path, _bytes):
                path = _decode(path, "utf-8", "surrogateescape")
            else:
                path = None
            if path is None:
                reason = "paths must be str, bytes or pathlib paths in the sandbox"
                break
            if event == "sqlite3.connect":
                if path == ":memory:" or path == "":
                    continue
                if path.startswith("file:"):
                    reason = "SQLite URIs are not allowed in the sandbox"
                    break
            if not path.startswith("/"):
                if event == "open" and args[1] is None:
                    # os.open() doesn't report its dir_fd, so a relative path could point anywhere.
                    reason = "os.open() needs an absolute path in the sandbox"
                    break
                if dir_fd != AT_FDCWD_UNSET:
                    try:
                        base = _readlink("/proc/self/fd/" + _str(dir_fd))
                    except _oserror:
                        reason = "dir_fd must be an open directory"
                        break
                else:
                    base = _getcwd()
                path = base + "/" + path
            # Resolve symlinks and '..' here, with functions user code can't replace.
            pending = path.split("/")
            pending.reverse()
            resolved = []
            hops = 0
            while pending:
                part = pending.pop()
                if part == "" or part == ".":
                    continue
                if part == "..":
                    if resolved:
                        resolved.pop()
                    continue
                if not pending and not follow_last:
                    resolved.append(part)
                    break
                current = "/" + "/".join(resolved) + ("/" if resolved else "") + part
                try:
                    is_link = (_lstat(current).st_mode & 0o170000) == 0o120000
                except _oserror:
                    is_link = False
                if not is_link:
                    resolved.append(part)
                    continue
                hops += 1
                if hops > 40:
                    reason = "too many levels of symlinks"
                    break
                target = _readlink(current)
                if target.startswith("/"):
                    resolved = []
                more = target.split("/")
                more.reverse()
                pending.extend(more)
            if reason is not None:
                break
            real = "/" + "/".join(resolved)
            if real.startswith("/proc/"):
                parts = real.split("/")
                own = real == _pid_dir or real.startswith(_pid_dir + "/")
                if (parts[2].isdigit() and not own) or "mem" in parts:
                    reason = "other processes and process memory are off limits"
                    break
            if writing:
                if real != _scratch and not real.startswith(_scratch_prefix) and real != "/dev/null":
                    reason = "writes are only allowed inside the scratch directory"
                    break
            elif not (real + "/").startswith(_readable) and real != "/proc" and not real.startswith("/proc/"):
                reason = "reads are only allowed in the Python installation and the scratch directory"
                break
        if reason is None:
            return
        detail = event
        if args and _type(args[0]) in (_str, _bytes, _int):
            detail = event + " " + _str(args[0])[:200]
        if _reported[0] < _max_reported:
            _reported[0] += 1
            _emit("denied", detail + ": " + reason)
        if missing:
            raise _missing("sandbox: " + detail + ": " + reason, name=name)
        raise _error("sandbox: " + detail + ": " + reason)

    return guard


def _format_exception(exc: BaseException) -> str:
    """The traceback python would print, without this file's frames (the runner's and the hook's)."""
    import traceback

    report = traceback.TracebackException(type(exc), exc, exc.__traceback__)
    pending = [report]
    while pending:
        current = pending.pop()
        current.stack = traceback.StackSummary.from_list([f for f in current.stack if f.filename != __file__])
        pending += [chained for chained in (current.__cause__, current.__context__) if chained is not None]
    return "".join(report.format())


def _run(config: dict) -> None:
    import atexit
    import linecache
    import traceback  # noqa: F401 - loaded before the hook, for _format_exception
    import types

    length = int(_read_exact(0, 10))
    header = json.loads(_read_exact(0, length))
    emit = _make_emitter(config["control_fd"], header.pop("nonce"))
    scratch = config["scratch"]
    os.chdir(scratch)
    blocked = BLOCKED_MODULES
    if "minimal_root" not in config["layers"]:
        blocked |= OWN_FILE_ACCESS_MODULES
    guard = _make_guard(scratch, config["readable"], blocked, emit)
    sys.addaudithook(guard)
    del guard
    for name in [name for name in sys.modules if name.split(".")[0] in blocked and name != "posix"]:
        del sys.modules[name]
    emit("ready", {"layers": [*config["layers"], "audit_hook", "read_allowlist"]})
    atexit.register(_done, emit)  # registered first, so it runs after any the user's code registers

    code = header["code"]
    linecache.cache["<sandbox>"] = (len(code), None, code.splitlines(True), "<sandbox>")
    module = types.ModuleType("__main__")
    module.__builtins__ = __builtins__
    sys.modules["__main__"] = module
    sys.modules.pop("sandbox_child", None)  # as unreachable by import as the script it used to be
    sys.argv = ["-c"]
    sys.path[:] = [p for p in sys.path if p]
    try:
        if header["mode"] == "function":
            _call_function(code, module, header, emit)
        else:
            exec(compile(code, "<sandbox>", "exec"), module.__dict__)
    except SystemExit:
        raise
    except BaseException as exc:  # report anything, like python does
        sys.stderr.write(_format_exception(exc))
        if isinstance(exc, MemoryError):
            emit("memory", {})
        sys.exit(1)


def _done(emit) -> None:
    """The last message: the report is whole. Its absence tells the parent that the user's code
    closed the channel (or left by ``os._exit``), so denials after that may be missing."""
    try:
        emit("done", {})
    except OSError:
        pass


def _call_function(code: str, module, header: dict, emit) -> None:
    try:
        exec(compile(code, "<sandbox>", "exec"), module.__dict__)
        function = module.__dict__.get(header["function"])
        if not callable(function):
            raise NameError(f"{header['function']} is not defined")
        value = function(**header["arguments"])
    except MemoryError:
        raise
    except BaseException as exc:  # the tool's exception is its result
        sys.stderr.write(_format_exception(exc))
        emit("result", {"status": "raised", "type": type(exc).__name__, "message": str(exc)[:2000]})
        _finish(0, emit)
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        emit("result", {"status": "not_json", "type": type(value).__name__, "message": str(exc)[:2000]})
        _finish(0, emit)
    if len(text) > header["max_result_bytes"]:
        emit("result", {"status": "too_large", "size": len(text)})
    else:
        emit("result", {"status": "ok", "value": text})
    _finish(0, emit)


def _finish(code: int, emit) -> None:
    """Exit now, so nothing the user registered (atexit, finalizers) runs after the result."""
    try:
        _done(emit)
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def command(stage: str, config: dict) -> list[str]:
    """The command line that starts ``stage`` ("setup" or "run") of the child."""
    return [sys.executable, "-I", "-c", LOADER, os.path.abspath(__file__), stage, json.dumps(config)]


def main(argv: list[str]) -> None:
    stage, config = argv
    if stage == "setup":
        _setup(json.loads(config))
    else:
        _run(json.loads(config))


if __name__ == "__main__":
    main(sys.argv[1:])
