"""Who runs a job: every server names itself, and a job it runs carries that name and a lease.

Servers sharing one database must never re-run each other's live jobs, yet a job whose
server died must run again. Each running job therefore holds a *lease*: the name of the
server running it and a time until which that server vouches for the run. The server's
supervisor renews its leases every few seconds (its heartbeat); any server re-queues a
running job whose lease has expired.

Waiting out a lease after a crash would delay every restart, so a server also looks at
the leases held by servers *on its own machine*: the name carries the machine (host
name, kernel boot and PID namespace), the process id and the process's start time, so a
name from this machine whose process is gone (or is another process by now) is a dead
server, and its jobs are re-queued at once. A server on another machine is only ever
judged by its lease.
"""

from __future__ import annotations

import hashlib
import os
import socket
from functools import lru_cache


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat); None
    if the process is gone or a zombie (dead, not yet reaped by its parent)."""
    stat = _read(f"/proc/{pid}/stat")
    if not stat:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    if len(fields) <= 19 or fields[0] in ("Z", "X"):
        return None
    return fields[19]


@lru_cache(maxsize=1)
def machine() -> str:
    """This machine and PID namespace, as 12 hex digits: equal names mean /proc tells the truth."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    seed = "|".join([socket.gethostname(), _read("/proc/sys/kernel/random/boot_id"), namespace])
    return hashlib.sha256(seed.encode()).hexdigest()[:12]


def server_name(pid: int | None = None) -> str:
    """The lease owner name of the server process ``pid`` (this process by default)."""
    pid = os.getpid() if pid is None else pid
    return f"{machine()}:{pid}:{_start_time(pid) or 0}:{socket.gethostname()[:64]}"


def is_dead(owner: str) -> bool:
    """True only when ``owner`` names a server of this machine whose process no longer runs.

    A name from another machine, or one this function cannot read, is never called dead:
    only its lease can expire.
    """
    parts = owner.split(":", 3)
    if len(parts) < 3 or parts[0] != machine() or not parts[1].isdigit():
        return False
    started = _start_time(int(parts[1]))
    return started is None or started != parts[2]
