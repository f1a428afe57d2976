"""Every process the test helpers start, by PID, so that none outlives the run.

A helper records what it starts with `started` (or starts it with `popen` or `run`, which
record it); the plugin (support/plugin.py) stops at the end of the session whatever is still
alive (its stop signal, then SIGKILL) and says which. When BOOMERANG_TEST_PIDS_FILE names a
file, each process is also appended to it as it starts, one line each,
`<pid> start=<ticks> <what>`, for scripts/test to check after pytest that none is alive.
`ticks` is the process's start time (field 22 of /proc/<pid>/stat), which tells it from a
later process given the same PID; it is `start=?` where there is no /proc."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

PIDS_FILE = "BOOMERANG_TEST_PIDS_FILE"

P = TypeVar("P", bound="subprocess.Popen[Any] | int")
_PROC = Path("/proc/self/stat").exists()


@dataclass
class Started:
    pid: int
    what: str
    stop_signal: int
    process: subprocess.Popen[Any] | None
    """The Popen when the tests started it themselves; None for a PID alone (a daemon)."""
    ticks: int | None
    killed: bool = False
    """Stopped with SIGKILL at the end of the session: its stop signal was not enough."""

    def alive(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        return _alive(self.pid, self.ticks)

    def signal(self, number: int) -> None:
        if self.process is not None:
            self.process.send_signal(number)  # nothing once it has been waited for
        elif _alive(self.pid, self.ticks):
            try:
                os.kill(self.pid, number)
            except ProcessLookupError:
                pass


_STARTED: list[Started] = []
_LOCK = threading.Lock()


def started(process: P, what: str, *, stop_signal: int = signal.SIGTERM) -> P:
    """Record `process` (a Popen, or the PID of a process the tests started indirectly, such
    as a daemon's); returns it. `stop_signal` is what asks it to stop at the end of the
    session, before SIGKILL."""
    popen = None if isinstance(process, int) else process
    pid = process if isinstance(process, int) else process.pid
    what = " ".join(what.split())
    entry = Started(pid, what, int(stop_signal), popen, _start_ticks(pid))
    with _LOCK:
        # Those already waited for are gone for good; their PIDs may be given to others.
        _STARTED[:] = [s for s in _STARTED if s.process is None or s.process.returncode is None]
        _STARTED.append(entry)
        pids_file = os.environ.get(PIDS_FILE)
        if pids_file:
            ticks = "?" if entry.ticks is None else str(entry.ticks)
            with open(pids_file, "a") as out:
                out.write(f"{pid} start={ticks} {what}\n")
    return process


def popen(args: Sequence[str], *, what: str | None = None, stop_signal: int = signal.SIGTERM,
          **kwargs: Any) -> subprocess.Popen[Any]:
    """subprocess.Popen, recorded."""
    return started(subprocess.Popen(args, **kwargs), what or describe(args),
                   stop_signal=stop_signal)


def run(args: Sequence[str], *, what: str | None = None, input: Any = None,
        capture_output: bool = False, timeout: float | None = None, check: bool = False,
        **kwargs: Any) -> subprocess.CompletedProcess[Any]:
    """subprocess.run, recorded: killed when it times out or the caller is interrupted."""
    if capture_output:
        kwargs["stdout"] = kwargs["stderr"] = subprocess.PIPE
    if input is not None:
        kwargs["stdin"] = subprocess.PIPE
    with popen(args, what=what, **kwargs) as process:
        try:
            stdout, stderr = process.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            process.kill()
            exc.stdout, exc.stderr = process.communicate()
            raise
        except BaseException:
            process.kill()
            raise
        code = process.poll()
    assert code is not None
    if check and code:
        raise subprocess.CalledProcessError(code, process.args, stdout, stderr)
    return subprocess.CompletedProcess(process.args, code, stdout, stderr)


def describe(args: Sequence[str]) -> str:
    words = [Path(args[0]).name, *args[1:]] if args else []
    text = " ".join(str(word) for word in words)
    return text if len(text) <= 200 else text[:197] + "..."


def running(pid: int) -> bool:
    """The process last recorded with `pid` is still running (False if none was)."""
    with _LOCK:
        entries = [entry for entry in _STARTED if entry.pid == pid]
    return bool(entries) and entries[-1].alive()


def alive() -> list[Started]:
    """What the tests started that is still running."""
    with _LOCK:
        entries = list(_STARTED)
    return [entry for entry in entries if entry.alive()]


def stop_leftovers(grace_s: float = 10) -> list[Started]:
    """Stop whatever the tests started and is still alive: its stop signal, `grace_s` to
    exit, then SIGKILL. Returns those it had to stop."""
    leftovers = alive()
    for entry in leftovers:
        entry.signal(entry.stop_signal)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(entry.alive() for entry in leftovers):
        time.sleep(0.05)
    for entry in leftovers:
        if entry.alive():
            entry.signal(signal.SIGKILL)
            entry.killed = True
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(entry.alive() for entry in leftovers):
        time.sleep(0.05)
    return leftovers


def _stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat from its third field (the state) on; None if there is no such
    process (or no /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()  # the name, in parentheses, may hold spaces


def _start_ticks(pid: int) -> int | None:
    fields = _stat(pid)
    return int(fields[19]) if fields else None


def _alive(pid: int, ticks: int | None) -> bool:
    """`pid` is the process recorded (not another given its PID since) and has not exited."""
    if ticks is None:
        if _PROC:  # it had exited already when it was recorded
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z" and int(fields[19]) == ticks
