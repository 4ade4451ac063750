"""What the benchmarks run on: the machine, and the outside programs they use (nginx, wrk),
found on the PATH or installed from the distribution's packages when that is possible."""

from __future__ import annotations

import os
import platform
import shutil
import signal
import subprocess
import sys
from pathlib import Path

_SBIN = ("/usr/sbin", "/usr/local/sbin", "/sbin")


def find(binary: str) -> str | None:
    found = shutil.which(binary)
    if found:
        return found
    for folder in _SBIN:
        candidate = Path(folder) / binary
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def find_or_install(binary: str, package: str) -> tuple[str | None, str]:
    """The program's path (or None) and a line saying how it was found, or why not."""
    found = find(binary)
    if found:
        return found, f"{binary}: {found}"
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return None, (
            f"{binary}: not installed, and this is not a root shell with apt-get "
            f"(install Debian's {package} package to include it)"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "install", "-y", "--no-install-recommends", package]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        # A fresh machine may not have the package lists yet.
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, check=False)
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    found = find(binary)
    if found:
        return found, f"{binary}: installed from Debian's {package} package ({found})"
    reason = (done.stderr.strip().splitlines() or ["no reason given"])[-1]
    return None, f"{binary}: could not install the {package} package ({reason})"


def as_nobody(root: Path, command: list[str]) -> list[str]:
    """``command`` to run as the unprivileged user ``nobody`` when this is a root shell, with
    ``root`` (the server's own directory under the system's temporary directory) handed over
    to it: servers such as nginx and PgBouncer should not, or will not, run as root."""
    if os.geteuid() != 0:
        return command
    os.chmod(root, 0o755)  # noqa: S103 (the server's user must reach its files)
    subprocess.run(["chown", "-R", "nobody", str(root)], check=True)
    return ["runuser", "-u", "nobody", "--", *command]


def stop_server(root: Path, pid_file: Path, process: subprocess.Popen[bytes] | None) -> None:
    """Stop a server started with :func:`as_nobody` and remove its directory: the server by
    the process id it wrote (``runuser`` in front of it may not pass a signal on), then the
    process started."""
    try:
        os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
    except (OSError, ValueError):
        pass
    if process is not None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    shutil.rmtree(root, ignore_errors=True)


def version(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=10)
    except OSError:
        return "unknown"
    text = (done.stdout + done.stderr).strip().splitlines()
    return text[0].strip() if text else "unknown"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def machine() -> list[tuple[str, str]]:
    """The machine, as a table of (what, value)."""
    load = os.getloadavg()
    return [
        ("CPU", f"{_cpu_model()}, {os.cpu_count()} logical core(s)"),
        ("Memory", _memory()),
        ("System", platform.platform()),
        ("Python", sys.version.split()[0]),
        ("Load average at start (1, 5, 15 min)", ", ".join(f"{value:.2f}" for value in load)),
    ]
