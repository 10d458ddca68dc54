"""Where the decoder keeps each session's latest JPEG: an S3 bucket with a lifecycle rule, or ElastiCache Redis.

Chosen per stage (`frame_store` in infra/constants.py, or `-c frame_store=redis|s3`). Readers are the API
functions (GET /sessions/{id}/frame); the writer is the decoder. The code picks its adapter from `LX_FRAME_STORE`.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra import constants as c
from infra.constructs.common import Consumer, acknowledge
from infra.constructs.network import Network

FRAME_TTL = Duration.days(1)  # frames are a live view: nothing needs one older than a day


class FramesStore(Construct):
    """One interface for both kinds: `grant_read` (API) and `grant_write` (decoder)."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: c.StageSettings, network: Network) -> None:
        super().__init__(scope, construct_id)
        self.kind = settings.frame_store
        self.bucket: s3.Bucket | None = None
        self.redis: elasticache.CfnReplicationGroup | None = None
        if self.kind == "s3":
            self.bucket = self._bucket(settings)
            CfnOutput(scope, "FramesBucketName", value=self.bucket.bucket_name)
        else:
            self.redis = self._redis(settings, network)
            CfnOutput(scope, "FramesRedisEndpoint", value=self.redis.attr_primary_end_point_address)

    # --- S3 -----------------------------------------------------------------------------------------------------
    def _bucket(self, settings: c.StageSettings) -> s3.Bucket:
        bucket = s3.Bucket(
            self,
            "Bucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-frames",
                    expiration=FRAME_TTL,
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            removal_policy=RemovalPolicy.RETAIN if settings.protect_data else RemovalPolicy.DESTROY,
        )
        acknowledge(
            bucket,
            "AwsSolutions-S1",
            "Transient frames (a JPEG per live session per second, expired after a day): server access logs "
            "would outweigh the data; reads are already in the API's access logs.",
        )
        return bucket

    # --- Redis --------------------------------------------------------------------------------------------------
    def _redis(self, settings: c.StageSettings, network: Network) -> elasticache.CfnReplicationGroup:
        self.auth = secretsmanager.Secret(
            self,
            "AuthToken",
            secret_name=settings.resource_name("redis-auth"),
            description="ElastiCache Redis AUTH token for the frames store",
            generate_secret_string=secretsmanager.SecretStringGenerator(exclude_punctuation=True, password_length=64),
            removal_policy=RemovalPolicy.DESTROY,
        )
        acknowledge(
            self.auth,
            "AwsSolutions-SMG4",
            "Changing an ElastiCache AUTH token takes modify-replication-group with the ROTATE strategy; no "
            "Secrets Manager rotation function does that. Rotate by hand (README) if it leaks.",
        )
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=network.vpc,
            description="Frames Redis: 6379 from granted clients only",
            allow_all_outbound=False,
        )
        subnets = elasticache.CfnSubnetGroup(
            self,
            "Subnets",
            description="Frames Redis: isolated data subnets",
            subnet_ids=network.vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED).subnet_ids,
        )
        replicated = settings.redis_replicas > 0
        redis = elasticache.CfnReplicationGroup(
            self,
            "Redis",
            replication_group_description=f"{c.APP_NAME} {settings.name} latest frames",
            engine="redis",
            engine_version="7.1",
            cache_node_type=settings.redis_node_type,
            num_cache_clusters=1 + settings.redis_replicas,
            automatic_failover_enabled=replicated,
            multi_az_enabled=replicated,
            port=c.REDIS_PORT,
            cache_subnet_group_name=subnets.ref,
            security_group_ids=[self.security_group.security_group_id],
            at_rest_encryption_enabled=True,
            transit_encryption_enabled=True,
            auth_token=self.auth.secret_value.unsafe_unwrap(),  # a {{resolve:secretsmanager:...}} reference
            auto_minor_version_upgrade=True,
            snapshot_retention_limit=0,  # frames are disposable
        )
        acknowledge(
            redis,
            "AwsSolutions-AEC5",
            "The standard Redis port: the cache sits in isolated subnets and its security group admits only "
            "the granted clients, so a non-default port would add no protection.",
        )
        if not replicated:
            acknowledge(
                redis,
                "AwsSolutions-AEC4",
                "dev stage: a single node is enough for disposable frames (prod runs a replica, Multi-AZ).",
            )
        self.connections = ec2.Connections(
            security_groups=[self.security_group], default_port=ec2.Port.tcp(c.REDIS_PORT)
        )
        return redis

    # --- grants -------------------------------------------------------------------------------------------------
    def _grant(self, consumer: Consumer, s3_actions: list[str]) -> None:
        consumer.add_environment(c.ENV_FRAME_STORE, self.kind)
        if self.bucket is not None:
            # Explicit single actions (no s3:GetObject* style wildcards). ListBucket makes a missing frame a 404
            # (NoSuchKey) instead of a 403.
            iam.Grant.add_to_principal(
                grantee=consumer.grantee,
                actions=s3_actions,
                resource_arns=[self.bucket.arn_for_objects(f"{c.FRAMES_PREFIX}*")],
            )
            iam.Grant.add_to_principal(
                grantee=consumer.grantee, actions=["s3:ListBucket"], resource_arns=[self.bucket.bucket_arn]
            )
            consumer.add_environment(c.ENV_FRAMES_BUCKET, self.bucket.bucket_name)
            bucket_id = Stack.of(self).get_logical_id(self.bucket.node.default_child)  # type: ignore[arg-type]
            acknowledge(
                consumer.role,
                f"AwsSolutions-IAM5[Resource::<{bucket_id}.Arn>/{c.FRAMES_PREFIX}*]",
                "Object actions on the frames bucket's frames/<session id>.jpg keys (named at run time): one bucket, "
                "one prefix, single named actions.",
            )
        if self.redis is not None:
            consumer.reach(self.connections, ec2.Port.tcp(c.REDIS_PORT), "Frames Redis")
            self.auth.grant_read(consumer.grantee)
            url = f"rediss://{self.redis.attr_primary_end_point_address}:{self.redis.attr_primary_end_point_port}/0"
            consumer.add_environment(c.ENV_REDIS_URL, url)
            consumer.add_environment(c.ENV_REDIS_AUTH_SECRET_ARN, self.auth.secret_arn)

    def grant_read(self, consumer: Consumer) -> None:
        self._grant(consumer, ["s3:GetObject"])

    def grant_write(self, consumer: Consumer) -> None:
        self._grant(consumer, ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"])
