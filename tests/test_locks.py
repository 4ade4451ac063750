"""The lock files are what gets installed: complete, hash-checked, in step with pyproject.toml
and with each other, and used by every installation path."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
LOCKS = ("dev", "server", "lambda", "sam")
_PIN = re.compile(r"^([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==([^ ;\\]+)", re.M)


def pins(name: str) -> dict[str, Version]:
    text = (ROOT / "requirements" / f"{name}.lock").read_text()
    found: dict[str, Version] = {}
    for package, version in _PIN.findall(text):
        found.setdefault(canonicalize_name(package), Version(version))
    return found


def wanted(*extras: str) -> list[Requirement]:
    """The requirements of the core and the given extras, following backline[...] references."""
    seen: set[str] = set()
    result: list[Requirement] = []
    queue = [*PROJECT["dependencies"]] + [
        line for extra in extras for line in PROJECT["optional-dependencies"][extra]
    ]
    while queue:
        requirement = Requirement(queue.pop())
        if requirement.name == "backline":
            for extra in requirement.extras - seen:
                seen.add(extra)
                queue += PROJECT["optional-dependencies"][extra]
            continue
        result.append(requirement)
    return result


@pytest.mark.parametrize("name", LOCKS)
def test_every_pin_has_hashes(name: str) -> None:
    text = (ROOT / "requirements" / f"{name}.lock").read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 1)[1])
    assert entries
    for entry in entries:
        assert "==" in entry.split("\n", 1)[0], entry[:80]
        assert "--hash=sha256:" in entry, entry[:80]


@pytest.mark.parametrize(
    ("name", "extras"),
    [("dev", ("dev",)), ("server", ("server", "cli")), ("lambda", ("lambda",))],
)
def test_each_lock_satisfies_what_pyproject_asks(name: str, extras: tuple[str, ...]) -> None:
    locked = pins(name)
    for requirement in wanted(*extras):
        version = locked.get(canonicalize_name(requirement.name))
        assert version is not None, f"{requirement} is not in {name}.lock: run make lock"
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{name}.lock has {requirement.name}=={version}, pyproject asks {requirement}"
        )


@pytest.mark.parametrize("name", ["server", "lambda"])
def test_what_ships_is_what_ci_tested(name: str) -> None:
    dev = pins("dev")
    for package, version in pins(name).items():
        assert dev.get(package) == version, f"{name}.lock {package}=={version} is not dev.lock's"


def test_the_lambda_lock_holds_only_what_runs_there() -> None:
    expected = {canonicalize_name(r.name) for r in wanted("lambda")}
    assert set(pins("lambda")) == expected


def test_every_installation_path_uses_its_lock() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install --quiet --no-deps --require-hashes -r requirements/dev.lock" in makefile
    assert "--require-hashes -r requirements/sam.lock" in makefile
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "--require-hashes -r /tmp/server.lock" in dockerfile
    assert "COPY requirements/server.lock" in dockerfile
    build = (ROOT / "scripts" / "build-lambda").read_text()
    assert "--require-hashes --only-binary=:all:" in build
    assert "-r requirements/lambda.lock" in build
    assert "make lock" in (ROOT / "CONTRIBUTING.md").read_text()
