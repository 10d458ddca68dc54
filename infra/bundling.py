"""Code assets built on this machine, without Docker: the `functions` package and the shared Lambda layer.

The layer holds the `luxxon` package (minus the dev-only `luxxon/local`) and the project's runtime dependencies
(`[project] dependencies` in pyproject.toml) as wheels for the Lambda runtime's Python and architecture, in the
`python/` layout. pip runs once per dependency set: its output is cached under infra/cdk.out/.bundle-cache keyed on the
dependency list, the platform and the Python version, so every later synth (and the tests) only copies files.
Asset hashes are computed here from the inputs, so CDK reuses a staged asset and never fingerprints the repo.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

from infra import constants as c

_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".mypy_cache", ".pytest_cache")
# Never used: local bundling always succeeds or raises. CDK requires an image in BundlingOptions.
_NO_DOCKER = DockerImage.from_registry("public.ecr.aws/sam/build-python3.12:latest")


def _files(root: Path, skip_top: Iterable[str] = ()) -> list[Path]:
    skipped = set(skip_top)
    return sorted(
        path
        for path in root.rglob("*")
        if path.is_file()
        and "__pycache__" not in path.parts
        and path.suffix != ".pyc"
        and path.relative_to(root).parts[0] not in skipped
    )


def tree_hash(root: Path, skip_top: Iterable[str] = ()) -> str:
    """A content hash of a source tree (paths and bytes), ignoring bytecode."""
    digest = hashlib.sha256()
    for path in _files(root, skip_top):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def layer_requirements() -> list[str]:
    """The runtime dependencies of the shared package: pyproject.toml's `[project] dependencies`."""
    with (c.REPO_ROOT / "pyproject.toml").open("rb") as file:
        return list(tomllib.load(file)["project"]["dependencies"])


def _dependencies_key() -> str:
    key = "\n".join([*layer_requirements(), *c.PIP_PLATFORMS, c.PYTHON_VERSION])
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _dependencies_dir() -> Path:
    """pip's output for the layer, built once per dependency set and reused from the cache."""
    cached = c.BUNDLE_CACHE_DIR / f"layer-deps-{_dependencies_key()}"
    if cached.is_dir():
        return cached
    c.BUNDLE_CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=c.BUNDLE_CACHE_DIR, prefix="building-") as building:
        target = Path(building) / "site-packages"
        platforms = [arg for platform in c.PIP_PLATFORMS for arg in ("--platform", platform)]
        subprocess.run(
            [
                sys.executable,
                *("-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile"),
                *("--target", str(target), *platforms, "--implementation", "cp"),
                *("--python-version", c.PYTHON_VERSION, "--only-binary=:all:"),
                *layer_requirements(),
            ],
            check=True,
        )
        try:
            target.rename(cached)
        except OSError:  # another synth won the race; its result is the same
            if not cached.is_dir():
                raise
    for stale in c.BUNDLE_CACHE_DIR.glob("layer-deps-*"):  # older dependency sets
        if stale != cached:
            shutil.rmtree(stale, ignore_errors=True)
    return cached


@jsii.implements(ILocalBundling)
class _LayerBundler:
    def try_bundle(self, output_dir: str, *_: Any, **__: Any) -> bool:
        python = Path(output_dir) / "python"
        shutil.copytree(_dependencies_dir(), python, dirs_exist_ok=True)
        shutil.copytree(
            c.LAYER_PACKAGE_DIR,
            python / c.LAYER_PACKAGE_DIR.name,
            ignore=_ignore_top(c.LAYER_PACKAGE_DIR, c.LAYER_EXCLUDED),
            dirs_exist_ok=True,
        )
        return True


@jsii.implements(ILocalBundling)
class _CopyPackage:
    """Copies a package directory into the asset under its own name (functions/ -> <asset>/functions/)."""

    def __init__(self, source: Path) -> None:
        self.source = source

    def try_bundle(self, output_dir: str, *_: Any, **__: Any) -> bool:
        shutil.copytree(self.source, Path(output_dir) / self.source.name, ignore=_IGNORED, dirs_exist_ok=True)
        return True


def _ignore_top(root: Path, names: Iterable[str]) -> Any:
    excluded = {root / name for name in names}

    def ignore(directory: str, entries: list[str]) -> set[str]:
        ignored = set(_IGNORED(directory, entries))
        return ignored | {entry for entry in entries if Path(directory) / entry in excluded}

    return ignore


def layer_hash() -> str:
    """The shared layer's content hash: the resolved distributions (names and versions, from their .dist-info
    folders), the platform and Python version, and the luxxon tree. A newer wheel resolved on another machine is a new
    asset, not a silent reuse of the old one."""
    resolved = sorted(path.name for path in _dependencies_dir().glob("*.dist-info"))
    return hashlib.sha256(
        "\n".join(
            [*resolved, *c.PIP_PLATFORMS, c.PYTHON_VERSION, tree_hash(c.LAYER_PACKAGE_DIR, c.LAYER_EXCLUDED)]
        ).encode()
    ).hexdigest()


def layer_code(asset_hash: str | None = None) -> lambda_.Code:
    """The shared layer: luxxon + its runtime dependencies, `python/` layout, as an asset keyed on `layer_hash()`."""
    return lambda_.Code.from_asset(
        str(c.LAYER_PACKAGE_DIR.parent),
        asset_hash=asset_hash or layer_hash(),
        asset_hash_type=AssetHashType.CUSTOM,
        bundling=BundlingOptions(image=_NO_DOCKER, local=_LayerBundler()),
    )


def package_code(package_dir: Path) -> lambda_.Code:
    """A code asset whose root holds the package folder itself, so `<package>.<module>.handler` imports."""
    return lambda_.Code.from_asset(
        str(package_dir),
        asset_hash=tree_hash(package_dir),
        asset_hash_type=AssetHashType.CUSTOM,
        bundling=BundlingOptions(image=_NO_DOCKER, local=_CopyPackage(package_dir)),
    )
