"""Background server processes tracked by pid files.

A pid file alone cannot tell our server from an unrelated process that reused
the pid, so a process also counts as ours only if its command line contains a
marker (the path of the config file we generated for it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from infra.errors import InfraError


@dataclass(frozen=True)
class ManagedProcess:
    name: str
    pid_file: Path
    marker: str

    def pid(self) -> int | None:
        """The pid of our running process, or None (a stale pid file is removed)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        cmdline = _cmdline(pid)
        if cmdline is not None and self.marker in cmdline:
            return pid
        self.pid_file.unlink(missing_ok=True)
        return None

    def start(
        self, argv: Sequence[str], log_file: Path, env: Mapping[str, str] | None = None
    ) -> int:
        """Start `argv` in its own session, output to `log_file`; record its pid."""
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("ab") as log:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, **(env or {})},
            )
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.write_text(f"{proc.pid}\n")
        # Right after exec the kernel may show an empty command line for a moment;
        # wait until the marker is visible so pid() can insist on it.
        deadline = time.monotonic() + 5.0
        while proc.poll() is None and time.monotonic() < deadline:
            if self.marker in (_cmdline(proc.pid) or ""):
                break
            time.sleep(0.01)
        return proc.pid

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop our process: SIGTERM, then SIGKILL after `timeout`. True if one ran."""
        pid = self.pid()
        if pid is None:
            return False
        _signal_group(pid, signal.SIGTERM)
        if not _wait_gone(pid, timeout):
            _signal_group(pid, signal.SIGKILL)
            if not _wait_gone(pid, 10.0):
                raise InfraError(f"{self.name} (pid {pid}) survived SIGKILL")
        self.pid_file.unlink(missing_ok=True)
        return True


def wait_until(
    check: Callable[[], bool],
    timeout: float,
    what: str,
    alive: Callable[[], bool] = lambda: True,
    log_file: Path | None = None,
) -> float:
    """Poll `check` until it is true; return the seconds waited.

    Fails early when `alive` says the server process died, and quotes the end
    of its log so the operator sees why.
    """
    start = time.monotonic()
    while True:
        # Alive after the check too: a dead server's port may be answered by another process.
        if check() and alive():
            return time.monotonic() - start
        if not alive():
            raise InfraError(f"{what}: the process exited during start-up{_log_tail(log_file)}")
        if time.monotonic() - start > timeout:
            raise InfraError(f"{what}: not ready after {timeout:.0f} s{_log_tail(log_file)}")
        time.sleep(0.2)


def listening_ports(session: int) -> set[int]:
    """TCP ports that the processes of `session` (a server started in its own session, and
    any children) listen on, read from /proc."""
    inodes = _listening_sockets()
    ports = set()
    for pid in _session_pids(session):
        with contextlib.suppress(FileNotFoundError, PermissionError, ProcessLookupError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    port = inodes.get(os.readlink(fd))
                    if port is not None:
                        ports.add(port)
    return ports


def _listening_sockets() -> dict[str, int]:
    """'socket:[inode]' → port of every listening TCP socket (IPv4 and IPv6)."""
    found = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A":  # TCP_LISTEN
                    found[f"socket:[{fields[9]}]"] = int(fields[1].rsplit(":", 1)[1], 16)
    return found


def _session_pids(session: int) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            if int(stat.read_text().rsplit(")", 1)[-1].split()[3]) == session:
                pids.append(int(stat.parent.name))
    return pids


def _cmdline(pid: int) -> str | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    if not raw:  # a zombie: exited, not yet reaped
        return None
    return raw.replace(b"\0", b" ").decode(errors="replace")


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _exited(pid):
            return True
        time.sleep(0.1)
    return False


def _exited(pid: int) -> bool:
    """True once the process is gone or a zombie (which we reap if it is our child)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    if stat.rsplit(")", 1)[-1].split()[0] != "Z":
        return False
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)  # a zombie child: collect it so its pid is really free
    return True


def _log_tail(log_file: Path | None, lines: int = 15) -> str:
    if log_file is None or not log_file.exists():
        return ""
    tail = log_file.read_text(errors="replace").splitlines()[-lines:]
    return f"\n--- last lines of {log_file} ---\n" + "\n".join(tail)
