"""The project's Node: the `node` that the CDK app's jsii runtime, the CDK CLI and the contracts' build start is the LTS
pinned in layers/contracts/package.json (installed by `npm ci` there, which make runs), never the machine's own."""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.infra

CONTRACTS_DIR = Path(__file__).resolve().parents[2] / "layers" / "contracts"
PACKAGE = json.loads((CONTRACTS_DIR / "package.json").read_text())
NODE_PACKAGE = "node-linux-" + {"x86_64": "x64", "aarch64": "arm64"}[platform.machine()]


def test_node_on_the_path_is_the_pinned_binary_from_the_npm_package() -> None:
    node = shutil.which("node")

    assert node is not None
    assert Path(node).resolve() == CONTRACTS_DIR / "node_modules" / NODE_PACKAGE / "bin" / "node"
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    assert version == "v" + PACKAGE["optionalDependencies"][NODE_PACKAGE]


def test_cdk_on_the_path_is_the_pinned_cli() -> None:
    cdk = shutil.which("cdk")

    assert cdk is not None
    assert Path(cdk).resolve().is_relative_to(CONTRACTS_DIR / "node_modules" / "aws-cdk")
    version = subprocess.run([cdk, "--version"], capture_output=True, text=True, check=True).stdout
    assert version.startswith(PACKAGE["devDependencies"]["aws-cdk"] + " ")


def test_the_cdk_apps_jsii_runtime_starts_without_a_node_warning() -> None:
    """jsii (under aws_cdk) starts `node` from PATH and prints a banner on stderr when that Node is end-of-life,
    deprecated, untested or known broken; every such banner says which node it is running on."""
    app = "import aws_cdk; aws_cdk.App()"
    run = subprocess.run([sys.executable, "-c", app], capture_output=True, text=True, check=False, timeout=120)

    assert run.returncode == 0, run.stderr
    assert "currently running on node" not in run.stderr, run.stderr
