"""The shared function builder: the one place that holds a Lambda's defaults.

Runtime, architecture, memory, timeout, X-Ray, a log group with the stage's retention, the shared layer (plus the
chain layer for the code that settles or indexes on chain: web3 is ~40 MB and ~0.5 s of import the API never pays),
Powertools' environment, and (for code that reaches the database or Redis) the VPC and a security group; code that
reaches neither runs outside the VPC, with no network interface, no security group and no VPC-access policy. Each
function gets its own role holding only what it is granted: write to its own log group, the VPC ENI actions (one
shared managed policy, VPC functions only), X-Ray (added by CDK), then whatever the capability grants it.

SnapStart (`snap_start=True`, the API functions): Lambda initializes a published version once and resumes new
sandboxes from its snapshot. Every deploy that changes a function (its code, configuration or a layer)
publishes a new version, the `live` alias moves to it, and callers invoke the alias. SnapStart excludes provisioned
concurrency, EFS and /tmp above 512 MB: this builder uses none of them.
"""

from __future__ import annotations

from aws_cdk import Annotations, Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra import constants as c
from infra.bundling import chain_layer_code, chain_layer_hash, layer_code, layer_hash, package_code
from infra.constructs.common import acknowledge, log_retention
from infra.constructs.network import Network

RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.X86_64 if c.ARCHITECTURE == "x86_64" else lambda_.Architecture.ARM_64
DEFAULT_TIMEOUT = Duration.seconds(15)  # under API Gateway's 29 s integration timeout
LIVE_ALIAS = "live"


class FunctionFactory(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, settings: c.StageSettings, network: Network) -> None:
        super().__init__(scope, construct_id)
        self.settings = settings
        self.network = network
        # A new layer must publish new versions of the functions using it: the version hash covers the function's
        # own properties, where the layer is only a stable reference.
        self.layer_hash = layer_hash()
        self._layer_removal = RemovalPolicy.RETAIN if settings.protect_data else RemovalPolicy.DESTROY
        self.layer = lambda_.LayerVersion(
            self,
            "SharedLayer",
            code=layer_code(self.layer_hash),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="luxxon shared package and its runtime dependencies",
            removal_policy=self._layer_removal,
        )
        self._chain_layer: tuple[lambda_.LayerVersion, str] | None = None
        self.code = package_code(c.FUNCTIONS_DIR)
        self.security_group = self.new_security_group(self, "SecurityGroup", "Lambda functions of the API")
        self.vpc_access = iam.ManagedPolicy(
            self,
            "VpcAccess",
            description="Lets Lambda attach its functions to the VPC (network interfaces)",
            statements=[
                iam.PolicyStatement(
                    actions=[
                        "ec2:CreateNetworkInterface",
                        "ec2:DescribeNetworkInterfaces",
                        "ec2:DescribeSubnets",
                        "ec2:DeleteNetworkInterface",
                        "ec2:AssignPrivateIpAddresses",
                        "ec2:UnassignPrivateIpAddresses",
                    ],
                    resources=["*"],
                )
            ],
        )
        acknowledge(
            self.vpc_access,
            "AwsSolutions-IAM5[Resource::*]",
            "The EC2 network-interface actions Lambda needs to join a VPC support no resource-level "
            "scoping (this is AWSLambdaVPCAccessExecutionRole's statement, minus its log permissions).",
        )
        self.created: list[lambda_.Function] = []

    def new_security_group(self, scope: Construct, construct_id: str, purpose: str) -> ec2.SecurityGroup:
        """A security group with no inbound rules and HTTPS out only; grants add the database/cache paths."""
        group = ec2.SecurityGroup(
            scope,
            construct_id,
            vpc=self.network.vpc,
            description=f"{purpose}: HTTPS out, data stores by grant",
            allow_all_outbound=False,
        )
        group.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS via NAT: AWS APIs, Cloudflare Stream, the chain's RPC"
        )
        return group

    @property
    def chain_layer(self) -> tuple[lambda_.LayerVersion, str]:
        """The chain layer and its content hash, built with the first function that asks for it (a stack with no
        chain function has no web3 asset to bundle)."""
        if self._chain_layer is None:
            content_hash = chain_layer_hash()
            layer = lambda_.LayerVersion(
                self,
                "ChainLayer",
                code=chain_layer_code(content_hash),
                compatible_runtimes=[RUNTIME],
                compatible_architectures=[ARCHITECTURE],
                description="web3 and eth-account with their dependencies beyond the shared layer",
                removal_policy=self._layer_removal,
            )
            self._chain_layer = (layer, content_hash)
        return self._chain_layer

    def function(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: str,
        description: str,
        code: lambda_.Code | None = None,
        timeout: Duration = DEFAULT_TIMEOUT,
        memory_mb: int | None = None,
        in_vpc: bool = True,
        security_group: ec2.ISecurityGroup | None = None,
        snap_start: bool = False,
        chain: bool = False,
        environment: dict[str, str] | None = None,
    ) -> lambda_.Function:
        """A function with the defaults. `in_vpc=False`: no VPC attachment at all (code that reaches neither the
        database nor Redis); `snap_start=True`: SnapStart on published versions (put `live_alias` in front);
        `chain=True`: the chain layer (web3) on top of the shared one."""
        if security_group is not None and not in_vpc:
            raise ValueError(f"{construct_id}: a security group needs the VPC")
        log_group = logs.LogGroup(
            scope,
            f"{construct_id}Logs",
            retention=log_retention(self.settings),
            removal_policy=RemovalPolicy.DESTROY,
        )
        role = iam.Role(
            scope,
            f"{construct_id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Execution role: {description}",
            managed_policies=[self.vpc_access] if in_vpc else [],
        )
        # The version a deploy replaces is deleted once the deploy succeeds: a SnapStart version keeps its snapshot
        # cached (and billed) while it is active, and nothing invokes an old one.
        versions = lambda_.VersionOptions(removal_policy=RemovalPolicy.DESTROY) if snap_start else None
        layers = [(self.layer, self.layer_hash), *([self.chain_layer] if chain else [])]
        function = lambda_.Function(
            scope,
            construct_id,
            description=description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=handler,
            code=code or self.code,
            layers=[layer for layer, _ in layers],
            memory_size=memory_mb or self.settings.function_memory_mb,
            timeout=timeout,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            role=role,
            snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if snap_start else None,
            current_version_options=versions,
            vpc=self.network.vpc if in_vpc else None,
            vpc_subnets=self.network.app_subnets if in_vpc else None,
            security_groups=[security_group or self.security_group] if in_vpc else None,
            environment={
                "POWERTOOLS_SERVICE_NAME": c.SERVICE_NAME,
                "POWERTOOLS_METRICS_NAMESPACE": c.METRICS_NAMESPACE,
                "POWERTOOLS_LOG_LEVEL": "INFO",
                c.ENV_STAGE: self.settings.name,
                **(environment or {}),
            },
        )
        if snap_start:
            function.invalidate_version_based_on("".join(content_hash for _, content_hash in layers))
        log_group.grant_write(role)
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray PutTraceSegments/PutTelemetryRecords (added by tracing=ACTIVE) support no resource-level "
            "scoping; every data-store permission on this role names its resource.",
        )
        acknowledge(
            function,
            "AwsSolutions-L1",
            f"python{c.PYTHON_VERSION} is pinned on purpose: the layer's wheels and the decoder image "
            "(python:3.12-slim) are built for it; bump all three together.",
        )
        self.created.append(function)
        return function

    @staticmethod
    def live_alias(function: lambda_.Function) -> lambda_.Alias:
        """The `live` alias on the version this deploy publishes: what API Gateway invokes (and is allowed to)."""
        Annotations.of(function).acknowledge_warning(
            "@aws-cdk/aws-lambda:snapStartRequirePublish", "Every deploy publishes a version: the live alias below."
        )
        return lambda_.Alias(
            function,
            "LiveAlias",
            alias_name=LIVE_ALIAS,
            version=function.current_version,
            description="The version the last deploy published (SnapStart snapshots exist only for versions)",
        )
