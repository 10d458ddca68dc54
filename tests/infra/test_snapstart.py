"""SnapStart on the API functions: a version per deploy, the `live` alias in front, API Gateway on the alias."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Template

from infra import constants as c
from infra.constructs import functions as function_builder
from infra.constructs.network import Network
from luxxon.routes import ROUTES
from tests.infra.synthesized import STAGES, Synth, function_by_handler

pytestmark = pytest.mark.infra

API_HANDLERS = {f"{route.module}.lambda_handler" for route in ROUTES}


def _versions_and_aliases(synth: Synth, stage: str, function_id: str) -> tuple[list[Any], list[Any]]:
    versions = [
        (vid, v)
        for vid, v in synth.resources(stage, "AWS::Lambda::Version").items()
        if v["Properties"]["FunctionName"] == {"Ref": function_id}
    ]
    aliases = [
        (aid, a)
        for aid, a in synth.resources(stage, "AWS::Lambda::Alias").items()
        if a["Properties"]["FunctionName"] == {"Ref": function_id}
    ]
    return versions, aliases


@pytest.mark.parametrize("stage", STAGES)
def test_every_api_function_has_snapstart_on_published_versions_behind_the_live_alias(synth: Synth, stage: str) -> None:
    for handler, (function_id, function) in function_by_handler(synth, stage).items():
        props = function["Properties"]
        versions, aliases = _versions_and_aliases(synth, stage, function_id)
        if handler not in API_HANDLERS:
            # The sweep, the relayer, the indexer and the migrations run $LATEST without SnapStart
            assert "SnapStart" not in props and not aliases, handler
            continue
        assert props["SnapStart"] == {"ApplyOn": "PublishedVersions"}, handler
        # Then each deploy publishes one version (the replaced one is deleted, not kept cached) and `live` follows it
        ((version_id, version),) = versions
        assert version["DeletionPolicy"] == "Delete", handler
        ((_, alias),) = aliases
        assert alias["Properties"]["Name"] == "live"
        assert alias["Properties"]["FunctionVersion"] == {"Fn::GetAtt": [version_id, "Version"]}
        # And nothing SnapStart excludes is configured: EFS, /tmp above 512 MB, provisioned concurrency
        assert "FileSystemConfigs" not in props, handler
        assert props.get("EphemeralStorage", {"Size": 512})["Size"] <= 512, handler
        assert "ProvisionedConcurrencyConfig" not in alias["Properties"], handler
        # And X-Ray active tracing stays on (SnapStart functions support it)
        assert props["TracingConfig"] == {"Mode": "Active"}, handler


@pytest.mark.parametrize("stage", STAGES)
def test_api_gateway_invokes_the_live_alias_and_only_the_alias_may_be_invoked(synth: Synth, stage: str) -> None:
    aliases = synth.resources(stage, "AWS::Lambda::Alias")
    functions = synth.resources(stage, "AWS::Lambda::Function")
    # Every API method that invokes a function integrates with an alias (the others are MOCKs: no function at all)
    targets = set()
    for method in synth.resources(stage, "AWS::ApiGateway::Method").values():
        if method["Properties"]["Integration"]["Type"] == "MOCK":
            continue
        uri = json.dumps(method["Properties"]["Integration"]["Uri"])
        (alias_id,) = [aid for aid in aliases if f'{{"Ref": "{aid}"}}' in uri]
        assert not [fid for fid in functions if f'"{fid}"' in uri], uri  # never the unqualified function
        targets.add(alias_id)
    assert len(targets) == len(ROUTES)
    # And API Gateway's invoke permissions name those aliases, never a function or $LATEST
    gateway_permissions = [
        p["Properties"]
        for p in synth.resources(stage, "AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "apigateway.amazonaws.com"
    ]
    assert {p["FunctionName"]["Ref"] for p in gateway_permissions} == targets
    assert all("execute-api" in json.dumps(p["SourceArn"]) for p in gateway_permissions)


def _version_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layer_hash: str) -> str:
    """Build one SnapStart function with the factory, the layer's content hash being `layer_hash`."""
    layer = tmp_path / "layer"
    layer.mkdir(exist_ok=True)
    monkeypatch.setattr(function_builder, "layer_hash", lambda: layer_hash)
    monkeypatch.setattr(function_builder, "layer_code", lambda _: lambda_.Code.from_asset(str(layer)))
    monkeypatch.setattr(function_builder, "package_code", lambda _: lambda_.Code.from_asset(str(layer)))
    stack = Stack(App(outdir=str(tmp_path / "out")), "Versions")
    settings = c.stage_settings("dev")
    factory = function_builder.FunctionFactory(
        stack, "Functions", settings=settings, network=Network(stack, "Network", settings=settings)
    )
    function = factory.function(
        stack, "Fn", handler="functions.health.get.lambda_handler", description="d", snap_start=True
    )
    factory.live_alias(function)
    (version_id,) = Template.from_stack(stack).find_resources("AWS::Lambda::Version")
    return version_id


def test_a_new_shared_layer_publishes_a_new_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the same function code and configuration, When only the shared layer's content changes
    first = _version_id(tmp_path, monkeypatch, "layer-a")
    same = _version_id(tmp_path, monkeypatch, "layer-a")
    changed = _version_id(tmp_path, monkeypatch, "layer-b")
    # Then the deploy publishes a new version (the alias moves to code running the new layer)
    assert first == same != changed
