"""The CDK app synthesized once per test session, and readers over its templates.

Two stacks from one app (the cdk-nag AwsSolutions plugin on both): dev as `infra.app` builds it (S3 frames, no
settlement contract yet), and prod with Redis frames (readers, rotation, Multi-AZ cache) and a deployed settlement
contract given as context. Both have every capability: API, decoder, sweep, settlement, indexer.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import App
from aws_cdk.assertions import Template

from infra import constants as c
from infra.app import build
from infra.stack import LuxxonStack

STAGES = ("dev", "prod")
SETTINGS = {
    "dev": c.stage_settings("dev"),
    # as `-c frame_store=redis -c settlement_address=0x... -c settlement_start_block=...` would give
    "prod": c.stage_settings("prod", "redis", "0x" + "5e" * 20, "23000000"),
}


@dataclass
class Synth:
    outdir: Path
    seconds: float
    templates: dict[str, dict[str, Any]]
    assertions: dict[str, Template]

    def resources(self, stage: str, type_: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.templates[stage]["Resources"].items() if v["Type"] == type_}

    def one(self, stage: str, type_: str) -> tuple[str, dict[str, Any]]:
        (item,) = self.resources(stage, type_).items()
        return item


def synthesize(outdir: Path) -> Synth:
    app = App(outdir=str(outdir), context={"stage": "dev"})
    stacks = {
        "dev": build(app),  # exactly what `cdk synth` runs, cdk-nag included
        # prod with the Redis frames store (`-c frame_store=redis`), so both kinds are covered
        "prod": LuxxonStack(app, "Luxxon-prod", settings=SETTINGS["prod"]),
    }
    started = time.perf_counter()
    app.synth()  # raises if cdk-nag reports an unacknowledged error
    seconds = time.perf_counter() - started
    templates = {
        name: json.loads((outdir / f"{stack.stack_name}.template.json").read_text()) for name, stack in stacks.items()
    }
    for name, template in templates.items():
        size = (outdir / f"{stacks[name].stack_name}.template.json").stat().st_size
        print(f"\n[synth] {name}: {len(template['Resources'])} resources, {size / 1024:.0f} KiB", end="")
    print(f"\n[synth] {len(stacks)} stacks in {seconds:.1f} s (after construction)")
    return Synth(
        outdir=outdir,
        seconds=seconds,
        templates=templates,
        assertions={name: Template.from_json(template) for name, template in templates.items()},
    )


def statements(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every IAM statement of the template, with the logical id of the policy or role holding it."""
    found = []
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::Role"):
            props = resource["Properties"]
            documents = [props.get("PolicyDocument")] + [p["PolicyDocument"] for p in props.get("Policies", [])]
            for document in filter(None, documents):
                found += [(logical_id, statement) for statement in document["Statement"]]
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def function_by_handler(synth: Synth, stage: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """Handler string (`functions.<module>.lambda_handler`) -> (logical id, function resource)."""
    return {
        fn["Properties"]["Handler"]: (logical_id, fn)
        for logical_id, fn in synth.resources(stage, "AWS::Lambda::Function").items()
        if "Handler" in fn["Properties"]
    }


def layer_ids(synth: Synth, stage: str) -> dict[str, str]:
    """`shared` and `chain` -> the logical id of that Lambda layer (FunctionFactory's SharedLayer and ChainLayer)."""
    found = {}
    for logical_id in synth.resources(stage, "AWS::Lambda::LayerVersion"):
        for name in ("shared", "chain"):
            if logical_id.startswith(f"Functions{name.capitalize()}Layer"):
                found[name] = logical_id
    return found


def stack_metadata(synth: Synth, stack: str) -> dict[str, list[dict[str, Any]]]:
    """A stack's construct metadata in the cloud assembly (acknowledged cdk-nag rules, warnings), by construct path."""
    artifact = json.loads((synth.outdir / "manifest.json").read_text())["artifacts"][stack]
    metadata: dict[str, list[dict[str, Any]]] = artifact.get("metadata", {})
    if "additionalMetadataFile" in artifact:
        metadata = {**metadata, **json.loads((synth.outdir / artifact["additionalMetadataFile"]).read_text())}
    return metadata
