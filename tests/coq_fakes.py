"""Stand-ins for a ``coqidetop`` that crashes, or cannot start, for the Coq backend's tests.

:func:`crashing_coqidetop` writes an executable that forwards to the real ``coqidetop.opt``
and, on chosen launches, kills itself (``SIGKILL``, as the kernel's OOM killer would) just
before it would pass on its N-th reply: a crash at a known point of the protocol (1: during
``Init``; 2, 3, ...: during the sentences that follow).
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Collection
from pathlib import Path

_PROXY = '''#!{python}
import os, signal, subprocess, sys, threading
LAUNCHES = {launches}
CRASH_ON = {crash_on!r}
AFTER = {after!r}
fd = os.open(LAUNCHES, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
os.write(fd, b"x")
os.close(fd)
launch = os.path.getsize(LAUNCHES)
child = subprocess.Popen([{real!r}, *sys.argv[1:]], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE)


def pump():
    while True:
        data = sys.stdin.buffer.read1(65536)
        if not data:
            child.stdin.close()
            return
        child.stdin.write(data)
        child.stdin.flush()


threading.Thread(target=pump, daemon=True).start()
replies = 0
while True:
    chunk = child.stdout.read1(65536)
    if not chunk:
        break
    replies += chunk.count(b"</value>")
    if (CRASH_ON is None or launch in CRASH_ON) and replies >= AFTER:
        child.kill()
        os.kill(os.getpid(), signal.SIGKILL)
    sys.stdout.buffer.write(chunk)
    sys.stdout.buffer.flush()
sys.exit(child.wait())
'''


def crashing_coqidetop(directory: Path, *, after: int, crash_on: Collection[int] | None
                       ) -> tuple[Path, Path]:
    """Write the proxy (see the module docstring) into ``directory``; it crashes on the
    launches numbered in ``crash_on`` (1-based; ``None``: every launch) before passing on reply
    number ``after``. Returns the executable and the file whose size counts the launches."""
    real = shutil.which("coqidetop.opt")
    if real is None:
        raise RuntimeError("coqidetop.opt not on PATH")
    launches = directory / "launches"
    script = directory / "crashing-coqidetop"
    script.write_text(_PROXY.format(python=sys.executable, launches=repr(str(launches)),
                                    crash_on=None if crash_on is None else sorted(crash_on),
                                    after=after, real=real))
    script.chmod(0o755)
    return script, launches


def launches(counter: Path) -> int:
    """How many times the proxy was started."""
    return counter.stat().st_size if counter.exists() else 0


def failing_executable(directory: Path, status: int = 1, message: str = "broken install"
                       ) -> Path:
    """An executable that prints ``message`` to stderr and exits with ``status`` at once."""
    script = directory / "broken-coqidetop"
    script.write_text(f"#!/bin/sh\necho '{message}' >&2\nexit {status}\n")
    script.chmod(0o755)
    return script
