"""Aurora PostgreSQL Serverless v2 (PostGIS), RDS Proxy in front, the secret in Secrets Manager, migrations on deploy.

Clients (Lambda, the decoder) connect through the proxy: `LX_DATABASE_SECRET_ARN` (username, password, dbname; its
`host` is the cluster writer) and `LX_DATABASE_HOST` (the proxy endpoint, which clients must prefer over the
secret's host). The migrations custom resource connects straight to the writer and runs
`luxxon.db.migrate.migrate()`, whose first migration is `CREATE EXTENSION postgis`.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, CustomResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import custom_resources as cr
from constructs import Construct

from infra import constants as c
from infra.bundling import package_code, tree_hash
from infra.constructs.common import Consumer, acknowledge, log_retention, managed_policy_finding
from infra.constructs.functions import FunctionFactory
from infra.constructs.network import Network

ENGINE_VERSION = rds.AuroraPostgresEngineVersion.VER_16_13


class Database(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: c.StageSettings,
        network: Network,
        functions: FunctionFactory,
    ) -> None:
        super().__init__(scope, construct_id)
        vpc = network.vpc
        cluster_identifier = f"{c.APP_NAME}-{settings.name}"
        # RDS writes PostgreSQL logs to this fixed name; creating it first sets retention without a custom resource.
        postgres_logs = logs.LogGroup(
            self,
            "PostgresLogs",
            log_group_name=f"/aws/rds/cluster/{cluster_identifier}/postgresql",
            retention=log_retention(settings),
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.security_group = ec2.SecurityGroup(
            self,
            "ClusterSecurityGroup",
            vpc=vpc,
            description="Aurora cluster: PostgreSQL from the proxy and the migrations function only",
            allow_all_outbound=False,
        )
        self.proxy_security_group = ec2.SecurityGroup(
            self,
            "ProxySecurityGroup",
            vpc=vpc,
            description="RDS Proxy: PostgreSQL from granted clients only",
            allow_all_outbound=False,
        )
        self.cluster = rds.DatabaseCluster(
            self,
            "Cluster",
            cluster_identifier=cluster_identifier,
            engine=rds.DatabaseClusterEngine.aurora_postgres(version=ENGINE_VERSION),
            writer=rds.ClusterInstance.serverless_v2("Writer", publicly_accessible=False),
            readers=[
                rds.ClusterInstance.serverless_v2(f"Reader{index + 1}", scale_with_writer=True)
                for index in range(settings.db_readers)
            ],
            serverless_v2_min_capacity=settings.db_min_acu,
            serverless_v2_max_capacity=settings.db_max_acu,
            vpc=vpc,
            vpc_subnets=network.data_subnets,
            security_groups=[self.security_group],
            port=c.DATABASE_PORT,
            default_database_name=c.DATABASE_NAME,
            credentials=rds.Credentials.from_generated_secret(
                c.DATABASE_ADMIN_USER, secret_name=settings.resource_name("database")
            ),
            storage_encrypted=True,
            iam_authentication=True,
            deletion_protection=settings.protect_data,
            removal_policy=RemovalPolicy.SNAPSHOT if settings.protect_data else RemovalPolicy.DESTROY,
            backup=rds.BackupProps(retention=Duration.days(settings.db_backup_days)),
            cloudwatch_logs_exports=["postgresql"],
            copy_tags_to_snapshot=True,
        )
        self.cluster.node.add_dependency(postgres_logs)
        secret = self.cluster.secret
        assert secret is not None  # from_generated_secret always attaches one
        self.secret = secret

        self.proxy = self.cluster.add_proxy(
            "Proxy",
            secrets=[self.secret],
            vpc=vpc,
            vpc_subnets=network.app_subnets,
            security_groups=[self.proxy_security_group],
            require_tls=True,
            iam_auth=False,
            idle_client_timeout=Duration.minutes(30),
        )
        # CDK opens proxy -> cluster ingress; the matching egress on the proxy's locked-down group:
        self.proxy_security_group.add_egress_rule(
            self.security_group, ec2.Port.tcp(c.DATABASE_PORT), "Proxy to the Aurora cluster"
        )

        if settings.rotate_database_secret:
            rotation_sg = functions.new_security_group(self, "RotationSecurityGroup", "Secret rotation")
            self.cluster.add_rotation_single_user(
                automatically_after=Duration.days(30),
                vpc_subnets=network.app_subnets,
                security_group=rotation_sg,
            )
            rotation_sg.add_egress_rule(self.security_group, ec2.Port.tcp(c.DATABASE_PORT), "Rotation to cluster")
        else:
            acknowledge(
                self.cluster,
                "AwsSolutions-SMG4",
                "dev stage: the admin secret is not rotated (prod rotates it every 30 days); dev databases "
                "are disposable.",
            )

        self.migrations = self._migrations(settings, functions)
        self._acknowledge(settings)

        CfnOutput(scope, "DatabaseSecretArn", value=self.secret.secret_arn, description="Aurora admin secret")
        CfnOutput(scope, "DatabaseProxyEndpoint", value=self.proxy.endpoint, description="Clients connect here")
        CfnOutput(scope, "DatabaseClusterEndpoint", value=self.cluster.cluster_endpoint.hostname)
        CfnOutput(
            scope,
            "MigrationsApplied",
            value=self.migrations.get_att_string("Applied"),
            description="Schema versions the last deploy applied",
        )

    def _migrations(self, settings: c.StageSettings, functions: FunctionFactory) -> CustomResource:
        security_group = functions.new_security_group(self, "MigrationsSecurityGroup", "Migrations function")
        security_group.add_egress_rule(self.security_group, ec2.Port.tcp(c.DATABASE_PORT), "Migrations to cluster")
        self.security_group.add_ingress_rule(
            security_group, ec2.Port.tcp(c.DATABASE_PORT), "Migrations function to cluster"
        )
        function = functions.function(
            self,
            "MigrationsFunction",
            handler=c.MIGRATIONS_HANDLER,
            description="Applies the SQL migrations on deploy",
            code=package_code(c.INFRA_RUNTIME_DIR),
            timeout=Duration.minutes(5),
            security_group=security_group,
            environment={c.ENV_DATABASE_SECRET_ARN: self.secret.secret_arn},
        )
        self.secret.grant_read(function)
        provider = cr.Provider(
            self,
            "MigrationsProvider",
            on_event_handler=function,
            log_group=logs.LogGroup(
                self,
                "MigrationsProviderLogs",
                retention=log_retention(settings),
                removal_policy=RemovalPolicy.DESTROY,
            ),
        )
        acknowledge(
            provider,
            managed_policy_finding("service-role/AWSLambdaBasicExecutionRole"),
            "CDK's custom-resource framework function only relays the CloudFormation response; its role (basic "
            "execution: its own logs) is fixed by aws-cdk-lib.",
        )
        function_id = Stack.of(self).get_logical_id(function.node.default_child)  # type: ignore[arg-type]
        acknowledge(
            provider,
            f"AwsSolutions-IAM5[Resource::<{function_id}.Arn>:*]",
            "CDK's custom-resource framework may invoke any version of the migrations function: the wildcard is "
            "the version suffix of that one function.",
        )

        migrations = CustomResource(
            self,
            "Migrations",
            service_token=provider.service_token,
            resource_type="Custom::LuxxonMigrations",
            # A new or changed migration file changes this hash, which makes CloudFormation send an Update.
            properties={"MigrationsHash": tree_hash(c.MIGRATIONS_DIR)},
        )
        migrations.node.add_dependency(self.cluster)
        return migrations

    def _acknowledge(self, settings: c.StageSettings) -> None:
        if not settings.protect_data:
            acknowledge(
                self.cluster,
                "AwsSolutions-RDS10",
                "dev stage: deletion protection is off so `cdk destroy` removes the disposable dev database "
                "(prod enables it).",
            )

    def connect(self, consumer: Consumer) -> None:
        """Network path to the proxy on 5432, read access to the secret, and the two variables the code reads."""
        consumer.reach(self.proxy, ec2.Port.tcp(c.DATABASE_PORT), "PostgreSQL via RDS Proxy")
        self.secret.grant_read(consumer.grantee)
        consumer.add_environment(c.ENV_DATABASE_SECRET_ARN, self.secret.secret_arn)
        consumer.add_environment(c.ENV_DATABASE_HOST, self.proxy.endpoint)
