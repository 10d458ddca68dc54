"""The VPC: public subnets for the NAT gateways, private subnets with egress for code, isolated ones for data."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.constants import StageSettings
from infra.constructs.common import log_retention


class Network(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, settings: StageSettings) -> None:
        super().__init__(scope, construct_id)
        flow_logs = logs.LogGroup(
            self,
            "FlowLogs",
            retention=log_retention(settings),
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr("10.40.0.0/16"),
            max_azs=2,  # Aurora and ElastiCache subnet groups need two AZs; env-agnostic synth resolves two
            nat_gateways=settings.nat_gateways,
            restrict_default_security_group=False,  # nothing uses the default SG; avoids a custom-resource Lambda
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
                ec2.SubnetConfiguration(name="app", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=20),
                ec2.SubnetConfiguration(name="data", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24),
            ],
            flow_logs={
                "all": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
                    traffic_type=ec2.FlowLogTrafficType.ALL,
                )
            },
        )
        # Frames and assets reach S3 without paying NAT data processing.
        self.vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3)

    @property
    def app_subnets(self) -> ec2.SubnetSelection:
        """Where code runs: private, with egress through NAT (AWS APIs, Cloudflare Stream, WebRTC)."""
        return ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)

    @property
    def data_subnets(self) -> ec2.SubnetSelection:
        """Where data lives: no route to the internet at all."""
        return ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
