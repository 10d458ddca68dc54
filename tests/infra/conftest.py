"""One synthesis of the CDK app for every infra test module (it takes seconds; cfn-lint reads its output)."""

from __future__ import annotations

import pytest

from tests.infra.synthesized import Synth, synthesize


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("cdk.out"))
