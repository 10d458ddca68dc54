"""The CDK app: `make synth` (the project's CDK CLI on its Node; cdk.json runs `.venv/bin/python -m infra.app`).

Context (cdk.json or `-c key=value`):
    stage        dev | prod (default dev); the stack is `Luxxon-<stage>`
    frame_store  s3 | redis (default: the stage's choice in infra/constants.py)
    alarm_email  an address subscribed to the alarm topic (optional)
    settlement_address      the stage's deployed LuxxonSettlement (default: infra/constants.py's STAGES; while
                            neither has one, synth warns and nothing settles)
    settlement_start_block  the block it was deployed in, where the indexer starts (default: STAGES)
The stack is environment-agnostic: account and region come from the AWS CLI profile at deploy time, so synth
needs no credentials.
"""

from __future__ import annotations

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from infra.constants import stage_settings
from infra.stack import LuxxonStack


def build(app: App) -> LuxxonStack:
    settings = stage_settings(
        app.node.try_get_context("stage") or "dev",
        app.node.try_get_context("frame_store") or None,
        app.node.try_get_context("settlement_address") or None,
        app.node.try_get_context("settlement_start_block"),
    )
    stack = LuxxonStack(
        app,
        settings.stack_name,
        settings=settings,
        alarm_email=app.node.try_get_context("alarm_email") or None,
    )
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    return stack


def main() -> None:
    app = App()
    build(app)
    app.synth()


if __name__ == "__main__":
    main()
