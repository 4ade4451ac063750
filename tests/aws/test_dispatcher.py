"""The dispatcher's handler: calls backline.notify.dispatcher.run_once(config), or says why not."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest

from backline.aws import dispatcher
from backline.aws.dispatcher import DISPATCHER_MODULE, DispatcherHandler
from backline.config import Config


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return Config(database_url=f"sqlite:///{tmp_path}/b.db", state_dir=tmp_path)


def test_run_once_gets_the_config(monkeypatch: pytest.MonkeyPatch, config: Config) -> None:
    calls: list[Config] = []

    def run_once(given: Config) -> dict[str, Any]:
        calls.append(given)
        return {"sent": 2, "failed": 0, "odd": object()}

    module = types.ModuleType(DISPATCHER_MODULE)
    module.run_once = run_once  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, DISPATCHER_MODULE, module)
    result = DispatcherHandler(config=config)({"source": "backline.fallback"}, None)
    assert calls == [config]
    assert result["status"] == "ok"
    assert result["source"] == "backline.fallback"
    assert result["result"]["sent"] == 2
    assert result["result"]["odd"].startswith("<object")


def test_a_missing_dispatcher_degrades_clearly(
    monkeypatch: pytest.MonkeyPatch, config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    def absent(name: str) -> None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    monkeypatch.setattr(dispatcher.importlib, "import_module", absent)
    result = DispatcherHandler(config=config)({"source": "aws.events"}, None)
    assert result["status"] == "unavailable"
    assert DISPATCHER_MODULE in result["reason"]
    assert "notifications are NOT being sent" in caplog.text


def test_a_dispatcher_without_run_once(monkeypatch: pytest.MonkeyPatch, config: Config) -> None:
    monkeypatch.setitem(sys.modules, DISPATCHER_MODULE, types.ModuleType(DISPATCHER_MODULE))
    result = DispatcherHandler(config=config)({}, None)
    assert result == {
        "status": "unavailable",
        "reason": f"{DISPATCHER_MODULE} has no run_once(config)",
    }


def test_a_broken_dependency_of_the_dispatcher_is_an_error(
    monkeypatch: pytest.MonkeyPatch, config: Config
) -> None:
    def broken(name: str) -> None:
        raise ModuleNotFoundError("No module named 'slack_sdk'", name="slack_sdk")

    monkeypatch.setattr(dispatcher.importlib, "import_module", broken)
    with pytest.raises(ModuleNotFoundError):
        DispatcherHandler(config=config)({}, None)


def test_the_module_handler_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: list[Config] = []
    module = types.ModuleType(DISPATCHER_MODULE)
    module.run_once = seen.append  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, DISPATCHER_MODULE, module)
    monkeypatch.setenv("BACKLINE_DATABASE_URL", f"sqlite:///{tmp_path}/b.db")
    monkeypatch.setenv("BACKLINE_STATE_DIR", str(tmp_path))
    monkeypatch.setattr(dispatcher, "_handler", None)
    assert dispatcher.handler({"source": "aws.events"}, None)["status"] == "ok"
    assert seen[0].database_url == f"sqlite:///{tmp_path}/b.db"
    monkeypatch.setattr(dispatcher, "_handler", None)
