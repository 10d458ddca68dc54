"""The frame decoders: an ECS Fargate service running decoder_container/ (image built from its Dockerfile).

Scales on CPU (target tracking) and on the backlog of sessions waiting for a decoder (step scaling on the custom
metric Luxxon/DecoderBacklog, dimension service=luxxon, which the code publishes each minute with Powertools
Metrics). The same metric drives the decoder-lag alarm.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, IgnoreMode, RemovalPolicy
from aws_cdk import aws_applicationautoscaling as autoscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra import constants as c
from infra.constructs.common import Consumer, acknowledge, log_retention
from infra.constructs.monitoring import service_metric
from infra.constructs.platform import Platform

# The Docker build context is the repo root; only what the Dockerfile copies goes in (and into the asset hash).
IMAGE_CONTEXT = [
    "*",
    "!pyproject.toml",
    "!README.md",
    "!layers",
    "!functions",
    "!decoder_container",
    "layers/contracts/node_modules",  # the Node toolchain (Node, the CDK CLI, solc, anvil): ~270 MB, never used there
    "**/__pycache__",
    "**/*.pyc",
]
CPU_TARGET_PERCENT = 60


def decoder_backlog() -> cloudwatch.Metric:
    return service_metric(c.DECODER_BACKLOG_METRIC, statistic="Maximum", period=Duration.minutes(1))


class Decoder(Construct):
    def __init__(self, scope: Construct, construct_id: str, platform: Platform) -> None:
        super().__init__(scope, construct_id)
        settings = platform.settings
        vpc = platform.network.vpc
        cluster = ecs.Cluster(self, "Cluster", vpc=vpc, container_insights_v2=ecs.ContainerInsights.ENABLED)
        arm = c.ARCHITECTURE == "arm64"
        task = ecs.FargateTaskDefinition(
            self,
            "Task",
            cpu=1024,
            memory_limit_mib=2048,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.ARM64 if arm else ecs.CpuArchitecture.X86_64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
        )
        container = task.add_container(
            "decoder",
            image=ecs.ContainerImage.from_asset(
                str(c.REPO_ROOT),
                file=c.DECODER_DOCKERFILE,
                platform=ecr_assets.Platform.LINUX_ARM64 if arm else ecr_assets.Platform.LINUX_AMD64,
                exclude=IMAGE_CONTEXT,
                ignore_mode=IgnoreMode.DOCKER,
            ),
            logging=ecs.LogDrivers.aws_logs(
                stream_prefix="decoder",
                log_group=logs.LogGroup(
                    self, "Logs", retention=log_retention(settings), removal_policy=RemovalPolicy.DESTROY
                ),
            ),
            environment={
                "POWERTOOLS_SERVICE_NAME": c.SERVICE_NAME,
                "POWERTOOLS_METRICS_NAMESPACE": c.METRICS_NAMESPACE,
                "POWERTOOLS_LOG_LEVEL": "INFO",
                c.ENV_STAGE: settings.name,
                # One decoder process per vCPU of the task (cpu=1024): os.cpu_count() sees the host's CPUs.
                "LX_DECODER_PROCESSES": "1",
            },
            stop_timeout=Duration.seconds(30),  # let a decoder hand its sessions back on scale-in
        )
        # No inbound at all. Out: HTTPS (AWS APIs, WHEP signaling, TURN over TLS) and UDP to any port (WebRTC
        # ICE/DTLS/SRTP to Cloudflare's media servers on ports negotiated at run time); the database and the
        # frames store are added by their grants.
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="Decoder tasks: no inbound; HTTPS and WebRTC UDP out, data stores by grant",
            allow_all_outbound=False,
        )
        self.security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS: AWS APIs, WHEP, TURN/TLS")
        self.security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.all_udp(), "WebRTC media (ICE/DTLS/SRTP)")
        self.service = ecs.FargateService(
            self,
            "Service",
            cluster=cluster,
            task_definition=task,
            desired_count=settings.decoder_min_tasks,
            security_groups=[self.security_group],
            vpc_subnets=platform.network.app_subnets,
            assign_public_ip=False,
            min_healthy_percent=100,
            max_healthy_percent=200,
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
            propagate_tags=ecs.PropagatedTagSource.SERVICE,
        )
        consumer = Consumer(
            grantee=task.task_role, connections=self.service.connections, add_environment=container.add_environment
        )
        platform.database.connect(consumer)
        platform.secrets.grant_cloudflare(consumer)
        platform.frames.grant_write(consumer)

        backlog = decoder_backlog()
        scaling = self.service.auto_scale_task_count(
            min_capacity=settings.decoder_min_tasks, max_capacity=settings.decoder_max_tasks
        )
        scaling.scale_on_cpu_utilization(
            "Cpu",
            target_utilization_percent=CPU_TARGET_PERCENT,
            scale_in_cooldown=Duration.minutes(5),
            scale_out_cooldown=Duration.minutes(1),
        )
        scaling.scale_on_metric(
            "Backlog",
            metric=backlog,
            adjustment_type=autoscaling.AdjustmentType.CHANGE_IN_CAPACITY,
            scaling_steps=[
                autoscaling.ScalingInterval(upper=1, change=0),
                autoscaling.ScalingInterval(lower=1, upper=5, change=+1),
                autoscaling.ScalingInterval(lower=5, change=+3),
            ],
            cooldown=Duration.minutes(2),
        )
        platform.monitoring.watch_decoder_backlog(self, backlog)

        acknowledge(
            task,
            "AwsSolutions-ECS2",
            "The container's environment holds only names, ARNs and endpoints; credentials are read at run "
            "time from Secrets Manager by ARN.",
        )
        acknowledge(
            task,
            "AwsSolutions-IAM5[Resource::*]",
            "The execution role's ecr:GetAuthorizationToken (added by CDK to pull the image asset) supports no "
            "resource-level scoping; the image pull actions are scoped to the asset repository.",
        )
        CfnOutput(scope, "DecoderClusterName", value=cluster.cluster_name)
        CfnOutput(scope, "DecoderServiceName", value=self.service.service_name)
