"""What every broker launcher needs from the operating system: free ports and child processes.

Both launchers (Tansu in `bus.broker.embedded`, Apache Kafka in `bus.broker.apache_kafka`) start a
broker as a child process that must never outlive the process that started it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess

__all__ = ["detach_and_die_with_parent", "free_port", "port_open", "terminate"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    """True if something accepts TCP connections on `host:port`."""
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def detach_and_die_with_parent(signum: int = signal.SIGTERM) -> None:
    """`preexec_fn` of a broker process: its own session, and `signum` when its parent dies."""
    # A session of its own: Ctrl-C on a terminal signals the whole foreground process group,
    # and the broker must outlive its clients' clean shutdown; the bus stops it last.
    os.setsid()
    # Linux: the broker gets `signum` if the process that started it dies, so an interrupted
    # test run or a killed `bus dev` never leaves a stray broker holding the port.
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signum)


def terminate(process: subprocess.Popen[bytes], timeout_s: float) -> None:
    """SIGTERM, then SIGKILL if the process has not exited within `timeout_s`."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout_s)
