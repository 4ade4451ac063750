"""Documentation is part of the feature: these fail when a setting or command is undocumented."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from backline.config import ENVIRONMENT
from backline.manage.settings import SETTING_KEYS

ROOT = Path(__file__).resolve().parent.parent
CONFIGURATION = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("variable", ENVIRONMENT)
def test_every_environment_variable_is_documented(variable: str) -> None:
    assert f"`{variable}`" in CONFIGURATION, f"{variable} is missing from docs/configuration.md"


def test_no_documented_variable_is_unknown() -> None:
    documented = set(re.findall(r"^\| `((?:BACKLINE|TWILIO)_[A-Z0-9_]+)`", CONFIGURATION, re.M))
    assert documented <= set(ENVIRONMENT), (
        f"documented but not read: {documented - set(ENVIRONMENT)}"
    )


@pytest.mark.parametrize("key", SETTING_KEYS)
def test_every_setting_is_documented(key: str) -> None:
    row = f"| `{key.replace('_', '-')}` |"
    assert row in CONFIGURATION, f"setting {key} has no row in docs/configuration.md"


@pytest.mark.slow
def test_readme_commands_exist() -> None:
    """Every `backline <group> <command>` the README shows is a real command."""
    shown = set(
        re.findall(r"^\s*(?:\$ )?backline ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?", README, re.M)
    )
    assert shown, "the README shows no commands"
    for group, command in sorted(shown):
        args = [group, command] if command else [group]
        result = subprocess.run(
            [sys.executable, "-m", "backline.cli", *args, "--help"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, f"`backline {' '.join(args)}` in README: {result.stderr}"


def _parts_of_the_package() -> list[str]:
    package = ROOT / "backline"
    parts = [f"backline/{p.name}/" for p in package.iterdir() if (p / "__init__.py").exists()]
    parts += [f"backline/{p.name}" for p in package.glob("*.py") if p.name != "__init__.py"]
    return sorted(parts)


@pytest.mark.parametrize("part", _parts_of_the_package())
def test_every_package_is_on_the_map(part: str) -> None:
    """docs/architecture.md names every package and top-level module, so the map stays true."""
    architecture = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert f"`{part}" in architecture, f"{part} is missing from docs/architecture.md"


def test_the_map_names_only_what_exists() -> None:
    architecture = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`(backline/[a-z_/]+\.py)`", architecture))
    missing = sorted(path for path in named if not (ROOT / path).exists())
    assert not missing, f"docs/architecture.md names files that do not exist: {missing}"
