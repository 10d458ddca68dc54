"""Secrets in Secrets Manager: Cloudflare Stream, its webhook signing secret, the chain's RPC, the relayer's key
(third parties' credentials), and the key that seals consistency tokens (ours).

    luxxon/<stage>/cloudflare      JSON {"accountId", "apiToken"} -> LX_CLOUDFLARE_SECRET_ARN (adapters.video)
    luxxon/<stage>/stream-webhook  plain string                   -> LX_STREAM_WEBHOOK_SECRET_ARN (webhook route)
    luxxon/<stage>/chain           JSON {"rpcUrl"}                -> LX_CHAIN_SECRET_ARN (relayer, indexer, CHAIN)
    luxxon/<stage>/relayer-key     plain string: a 0x private key -> LX_RELAYER_KEY_SECRET_ARN (the relayer only)
    luxxon/<stage>/consistency-token-key  plain string            -> LX_CONSISTENCY_TOKEN_KEY_ARN (database routes)

The RPC URL is a secret because providers put the API key in it; the relayer's key is apart from it because whoever
holds it spends the relayer's gas and settles sessions, so no code but the relayer's may read it.

The consistency-token key is ours, not a third party's: Secrets Manager generates it at creation (a working value,
never in the template), and the API seals the transaction ids it returns with it (luxxon.api.consistency).

The others are created with placeholder values; the operator writes the real ones with `aws secretsmanager
put-secret-value` (see README, "Deploy to AWS"). The code reads them through Powertools parameters
(`get_secret(..., max_age=...)`) from the ARN in its environment.
"""

from __future__ import annotations

import json

from aws_cdk import CfnOutput, RemovalPolicy
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra import constants as c
from infra.constructs.common import Consumer, acknowledge

PLACEHOLDER = "SET_ME"


class ExternalSecrets(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, settings: c.StageSettings) -> None:
        super().__init__(scope, construct_id)
        removal = RemovalPolicy.RETAIN if settings.protect_data else RemovalPolicy.DESTROY
        self.cloudflare = self._secret(
            settings,
            "Cloudflare",
            "cloudflare",
            "Cloudflare Stream account id and API token (Stream:Edit)",
            {"accountId": PLACEHOLDER},
            "apiToken",
            removal,
        )
        self.webhook = self._secret(
            settings,
            "Webhook",
            "stream-webhook",
            "Cloudflare Stream webhook signing secret, a plain string (returned when the webhook is registered)",
            None,
            None,
            removal,
        )
        self.chain = self._secret(
            settings,
            "Chain",
            "chain",
            "The chain's JSON-RPC URL (with the provider's key in it)",
            {},
            "rpcUrl",
            removal,
        )
        self.relayer_key = self._secret(
            settings,
            "RelayerKey",
            "relayer-key",
            "The settlement relayer's private key, a plain 0x-prefixed hex string",
            None,
            None,
            removal,
        )
        self.consistency_key = secretsmanager.Secret(
            self,
            "ConsistencyKey",
            secret_name=settings.resource_name("consistency-token-key"),
            description="Seals the consistency tokens the API returns (x-lx-consistency-token). Generated here; "
            "a new value makes earlier tokens open to nothing (their reads then go to the writer).",
            generate_secret_string=secretsmanager.SecretStringGenerator(password_length=64, exclude_punctuation=True),
            removal_policy=removal,
        )
        acknowledge(
            self.consistency_key,
            "AwsSolutions-SMG4",
            "A sealing key with no counterpart to update: rotate it by writing a new random value (put-secret-value); "
            "tokens sealed under the old one then carry no guarantee, which costs a read on the writer at most.",
        )
        for name, secret in (
            ("Cloudflare", self.cloudflare),
            ("Webhook", self.webhook),
            ("Chain", self.chain),
            ("RelayerKey", self.relayer_key),
        ):
            CfnOutput(scope, f"{name}SecretName", value=secret.secret_name)

    def _secret(
        self,
        settings: c.StageSettings,
        construct_id: str,
        name: str,
        description: str,
        template: dict[str, str] | None,
        generated_key: str | None,
        removal: RemovalPolicy,
    ) -> secretsmanager.Secret:
        secret = secretsmanager.Secret(
            self,
            construct_id,
            secret_name=settings.resource_name(name),
            description=f"{description}. Set with put-secret-value after the first deploy.",
            # A random placeholder, never a working credential: nothing secret is written into the template.
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps(template) if template is not None else None,
                generate_string_key=generated_key,
                exclude_punctuation=True,
            ),
            removal_policy=removal,
        )
        acknowledge(
            secret,
            "AwsSolutions-SMG4",
            "A third-party credential: it is rotated at its issuer (Cloudflare dashboard, the relayer "
            "wallet) and then written here; Secrets Manager has no rotation function for it.",
        )
        return secret

    def grant_cloudflare(self, consumer: Consumer) -> None:
        """Read access to the Cloudflare Stream API credentials (code that provisions or tears down live inputs)."""
        self.cloudflare.grant_read(consumer.grantee)
        consumer.add_environment(c.ENV_CLOUDFLARE_SECRET_ARN, self.cloudflare.secret_arn)

    def grant_webhook(self, consumer: Consumer) -> None:
        """Read access to the Stream webhook signing secret (the webhook receiver only)."""
        self.webhook.grant_read(consumer.grantee)
        consumer.add_environment(c.ENV_WEBHOOK_SECRET_ARN, self.webhook.secret_arn)

    def grant_chain(self, consumer: Consumer) -> None:
        """Read access to the chain's RPC URL (code that reads or writes the chain)."""
        self.chain.grant_read(consumer.grantee)
        consumer.add_environment(c.ENV_CHAIN_SECRET_ARN, self.chain.secret_arn)

    def grant_consistency_key(self, consumer: Consumer) -> None:
        """Read access to the consistency-token key (the API functions that reach the database: they answer writes
        with a sealed token, and will open one to route a read)."""
        self.consistency_key.grant_read(consumer.grantee)
        consumer.add_environment(c.ENV_CONSISTENCY_KEY_SECRET_ARN, self.consistency_key.secret_arn)

    def grant_relayer_key(self, consumer: Consumer) -> None:
        """Read access to the relayer's private key (the settlement relayer only: it signs and pays for settlement)."""
        self.relayer_key.grant_read(consumer.grantee)
        consumer.add_environment(c.ENV_RELAYER_KEY_SECRET_ARN, self.relayer_key.secret_arn)
