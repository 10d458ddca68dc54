"""Code assets built on this machine, without Docker: the `functions` package and the two Lambda layers.

The shared layer holds the `luxxon` package (minus the dev-only `luxxon/local`) and the project's runtime dependencies
(`[project] dependencies` in pyproject.toml) as wheels for the Lambda runtime's Python and architecture, in the
`python/` layout. The chain layer holds the `chain` optional dependencies (web3, ~40 MB that only the relayer and the
indexer load) minus what the shared layer already ships. pip runs once per dependency set: its output is cached under
infra/cdk.out/.bundle-cache keyed on the dependency list, the platform and the Python version, so every later synth
(and the tests) only copies files.
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


def _pyproject() -> dict[str, Any]:
    with (c.REPO_ROOT / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)


def layer_requirements() -> list[str]:
    """The runtime dependencies of the shared package: pyproject.toml's `[project] dependencies`."""
    return list(_pyproject()["project"]["dependencies"])


def chain_requirements() -> list[str]:
    """What only the chain functions need on top of the shared layer: the `chain` optional dependencies (web3)."""
    return list(_pyproject()["project"]["optional-dependencies"]["chain"])


def _pip_install(
    prefix: str, requirements: list[str], *, key: list[str], pins: Iterable[str] = (), shipped: Path | None = None
) -> Path:
    """pip's output for `requirements` as wheels for the Lambda runtime, with `pins` as constraints, minus every file
    that `shipped` (another such output) already has. Built once per `key` under the cache as `<prefix><hash of key>`,
    reused from there; older builds with the same prefix are deleted."""
    digest = hashlib.sha256("\n".join([*key, *c.PIP_PLATFORMS, c.PYTHON_VERSION]).encode()).hexdigest()[:16]
    cached = c.BUNDLE_CACHE_DIR / f"{prefix}{digest}"
    if cached.is_dir():
        return cached
    c.BUNDLE_CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=c.BUNDLE_CACHE_DIR, prefix="building-") as building:
        target = Path(building) / "site-packages"
        constraints = Path(building) / "constraints.txt"
        constraints.write_text("".join(f"{pin}\n" for pin in pins))
        platforms = [arg for platform in c.PIP_PLATFORMS for arg in ("--platform", platform)]
        subprocess.run(
            [
                sys.executable,
                *("-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile"),
                *("--target", str(target), *platforms, "--implementation", "cp"),
                *("--python-version", c.PYTHON_VERSION, "--only-binary=:all:", "--constraint", str(constraints)),
                *requirements,
            ],
            check=True,
        )
        if shipped is not None:
            _leave_out(target, shipped)
        try:
            target.rename(cached)
        except OSError:  # another synth won the race; its result is the same
            if not cached.is_dir():
                raise
    for stale in c.BUNDLE_CACHE_DIR.glob(f"{prefix}*"):  # older dependency sets
        if stale != cached:
            shutil.rmtree(stale, ignore_errors=True)
    return cached


def _leave_out(target: Path, shipped: Path) -> None:
    """Delete from `target` each file that `shipped` holds at the same relative path, then the folders left empty."""
    for path in sorted(target.rglob("*"), reverse=True):  # a folder's contents come before the folder
        if path.is_file() and (shipped / path.relative_to(target)).is_file():
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def _resolved(site_packages: Path) -> list[str]:
    """The distributions in a pip target, by their `.dist-info` folder names (`<name>-<version>.dist-info`)."""
    return sorted(path.name for path in site_packages.glob("*.dist-info"))


def _dependencies_dir() -> Path:
    """pip's output for the shared layer."""
    return _pip_install("layer-deps-", layer_requirements(), key=layer_requirements())


def _chain_dependencies_dir() -> Path:
    """pip's output for the chain layer: web3 and whatever it needs that the shared layer does not ship.

    Lambda unpacks a function's layers into the one /opt/python, a later layer overwriting an earlier one's files. So
    the chain deps are resolved with the shared layer's versions pinned (web3 also needs pydantic, typing_extensions,
    urllib3) and then every file the shared layer ships is left out: no file is in both layers, and the chain functions
    import the very pydantic the API functions do.
    """
    shared = _dependencies_dir()
    resolved = _resolved(shared)
    return _pip_install(
        "chain-deps-",
        chain_requirements(),
        key=[*chain_requirements(), *resolved],
        pins=[folder.removesuffix(".dist-info").replace("-", "==", 1) for folder in resolved],
        shipped=shared,
    )


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
    """Copies a directory into the asset, under its own name (functions/ -> <asset>/functions/) or `name`."""

    def __init__(self, source: Path, name: str | None = None) -> None:
        self.source = source
        self.name = name or source.name

    def try_bundle(self, output_dir: str, *_: Any, **__: Any) -> bool:
        shutil.copytree(self.source, Path(output_dir) / self.name, ignore=_IGNORED, dirs_exist_ok=True)
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
    return hashlib.sha256(
        "\n".join(
            [
                *_resolved(_dependencies_dir()),
                *c.PIP_PLATFORMS,
                c.PYTHON_VERSION,
                tree_hash(c.LAYER_PACKAGE_DIR, c.LAYER_EXCLUDED),
            ]
        ).encode()
    ).hexdigest()


def chain_layer_hash() -> str:
    """The chain layer's content hash: its resolved distributions, the platform and the Python version."""
    key = [*_resolved(_chain_dependencies_dir()), *c.PIP_PLATFORMS, c.PYTHON_VERSION]
    return hashlib.sha256("\n".join(key).encode()).hexdigest()


def layer_code(asset_hash: str | None = None) -> lambda_.Code:
    """The shared layer: luxxon + its runtime dependencies, `python/` layout, as an asset keyed on `layer_hash()`."""
    return lambda_.Code.from_asset(
        str(c.LAYER_PACKAGE_DIR.parent),
        asset_hash=asset_hash or layer_hash(),
        asset_hash_type=AssetHashType.CUSTOM,
        bundling=BundlingOptions(image=_NO_DOCKER, local=_LayerBundler()),
    )


def chain_layer_code(asset_hash: str | None = None) -> lambda_.Code:
    """The chain layer: web3 and eth-account with what they need beyond the shared layer, `python/` layout."""
    dependencies = _chain_dependencies_dir()
    return lambda_.Code.from_asset(
        str(dependencies),
        asset_hash=asset_hash or chain_layer_hash(),
        asset_hash_type=AssetHashType.CUSTOM,
        bundling=BundlingOptions(image=_NO_DOCKER, local=_CopyPackage(dependencies, "python")),
    )


def package_code(package_dir: Path) -> lambda_.Code:
    """A code asset whose root holds the package folder itself, so `<package>.<module>.handler` imports."""
    return lambda_.Code.from_asset(
        str(package_dir),
        asset_hash=tree_hash(package_dir),
        asset_hash_type=AssetHashType.CUSTOM,
        bundling=BundlingOptions(image=_NO_DOCKER, local=_CopyPackage(package_dir)),
    )
