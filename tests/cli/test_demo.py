"""`demo` as an operator runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def test_make_demo_runs_on_the_port_given(tmp_path: Path) -> None:
    """`make demo PORT=...`, as the README says: the demo answers on that port."""
    import shutil
    import signal
    import urllib.request

    from tests.processes import free_port

    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    root = Path(__file__).resolve().parents[2]
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKLINE_")}
    env["XDG_STATE_HOME"] = str(tmp_path / "xdg")
    # -o: this virtual environment is the one to use, whatever its stamp's age.
    venv = Path(sys.prefix)
    process = subprocess.Popen(
        [make, "-s", "-C", str(root), f"VENV={venv}", "-o", f"{venv}/.installed", "demo",
         f"PORT={port}"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        lines = []
        for raw in process.stdout:
            lines.append(raw.decode())
            if "Uvicorn running on" in lines[-1]:
                break
        output = "".join(lines)
        assert f"http://127.0.0.1:{port}/twilio/voice/fallback" in output, output
        assert f"state directory: {tmp_path}/xdg/backline" in output
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            assert answer.status == 200
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
        if process.stdout is not None:
            process.stdout.close()
