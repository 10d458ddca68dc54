"""Alarms and the SNS topic they notify. Capabilities register what they want watched."""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import constants as c

API_5XX_RATE = 0.05  # more than 5 % of requests answered 5xx over 5 minutes, twice in a row
DECODER_LAG_MINUTES = 5  # a session waited this long for a decoder
SETTLEMENT_STALL_SECONDS = 900  # an ENDED session unsettled this long: the relayer or the chain is stuck


def service_metric(name: str, *, statistic: str, period: Duration) -> cloudwatch.Metric:
    """A custom metric the code publishes with Powertools Metrics (namespace Luxxon, dimension service=luxxon)."""
    return cloudwatch.Metric(
        namespace=c.METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": c.SERVICE_NAME},
        statistic=statistic,
        period=period,
    )


class Monitoring(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, settings: c.StageSettings, alarm_email: str | None = None
    ) -> None:
        super().__init__(scope, construct_id)
        # CloudWatch can publish to an encrypted topic only with a customer-managed key that lets it use the key.
        key = kms.Key(
            self,
            "TopicKey",
            description=f"{c.APP_NAME} {settings.name}: alarm topic encryption",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.DESTROY,
        )
        key.grant(iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey")
        self.topic = sns.Topic(
            self, "Alarms", display_name=f"{c.APP_NAME} {settings.name} alarms", master_key=key, enforce_ssl=True
        )
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        self.action = actions.SnsAction(self.topic)
        self.alarms: list[cloudwatch.Alarm] = []
        CfnOutput(scope, "AlarmTopicArn", value=self.topic.topic_arn, description="Subscribe to get alarms")

    def alarm(
        self,
        scope: Construct,
        construct_id: str,
        *,
        metric: cloudwatch.IMetric,
        threshold: float,
        description: str,
        evaluation_periods: int = 1,
        datapoints_to_alarm: int | None = None,
        below: bool = False,
        missing: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
    ) -> cloudwatch.Alarm:
        """An alarm notifying the topic when `metric` reaches `threshold` (or, `below=True`, falls under it)."""
        alarm = cloudwatch.Alarm(
            scope,
            construct_id,
            metric=metric,
            threshold=threshold,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=datapoints_to_alarm,
            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD
            if below
            else cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=missing,
            alarm_description=description,
        )
        alarm.add_alarm_action(self.action)
        alarm.add_ok_action(self.action)
        self.alarms.append(alarm)
        return alarm

    def watch_function(self, function: lambda_.Function, name: str) -> None:
        """Any invocation error (an unhandled crash or a timeout; handled errors are responses, not errors)."""
        self.alarm(
            function,
            "ErrorsAlarm",
            metric=function.metric_errors(period=Duration.minutes(5), statistic="Sum"),
            threshold=1,
            description=f"Lambda {name}: invocation errors (crash or timeout) in the last 5 minutes",
        )

    def watch_api(self, api: apigw.RestApi) -> None:
        """5xx rate: API Gateway's 5XXError metric averages to the fraction of requests that got a 5xx."""
        self.alarm(
            api,
            "ServerErrorRateAlarm",
            metric=api.metric_server_error(period=Duration.minutes(5), statistic="Average"),
            threshold=API_5XX_RATE,
            evaluation_periods=2,
            datapoints_to_alarm=2,
            description=f"API: more than {API_5XX_RATE:.0%} of requests answered 5xx for 10 minutes",
        )

    def watch_decoder_backlog(self, scope: Construct, backlog: cloudwatch.IMetric) -> None:
        """Decoder lag: sessions kept waiting for a decoder (the first frame) for several minutes in a row."""
        self.alarm(
            scope,
            "DecoderLagAlarm",
            metric=backlog,
            threshold=1,
            evaluation_periods=DECODER_LAG_MINUTES,
            datapoints_to_alarm=DECODER_LAG_MINUTES,
            description=f"Decoder lag: sessions waiting for a decoder for {DECODER_LAG_MINUTES} minutes",
        )

    def watch_queue_depth(self, queue: sqs.Queue, name: str) -> None:
        """For dead-letter queues: any message there is a failure someone must look at."""
        self.alarm(
            queue,
            "DepthAlarm",
            metric=queue.metric_approximate_number_of_messages_visible(period=Duration.minutes(1), statistic="Max"),
            threshold=1,
            description=f"{name}: messages in the dead-letter queue",
        )

    def watch_settlement(self, scope: Construct, *, min_relayer_balance_eth: float) -> None:
        """The money plane: the relayer can pay for gas, ended sessions get settled, and what settles on chain is what
        the database charged."""
        self.alarm(
            scope,
            "RelayerGasAlarm",
            metric=service_metric(c.RELAYER_BALANCE_METRIC, statistic="Minimum", period=Duration.minutes(5)),
            threshold=min_relayer_balance_eth,
            below=True,
            # Published after each batch only: no batch says nothing new, so the alarm keeps its state until a
            # batch shows the balance refilled.
            missing=cloudwatch.TreatMissingData.IGNORE,
            description=f"Relayer: gas balance under {min_relayer_balance_eth} ETH; refill the relayer wallet",
        )
        self.alarm(
            scope,
            "SettlementStallAlarm",
            metric=service_metric(c.OLDEST_UNSETTLED_METRIC, statistic="Maximum", period=Duration.minutes(5)),
            threshold=SETTLEMENT_STALL_SECONDS,
            description=f"Settlement: an ended session has waited over {SETTLEMENT_STALL_SECONDS} s to be settled",
        )
        for construct_id, metric_name, what in (
            ("SettlementsFailedAlarm", c.SETTLEMENTS_FAILED_METRIC, "settlements reached FAILED"),
            (
                "SettlementDiscrepanciesAlarm",
                c.SETTLEMENT_DISCREPANCIES_METRIC,
                "on-chain settlements disagree with the database",
            ),
        ):
            self.alarm(
                scope,
                construct_id,
                metric=service_metric(metric_name, statistic="Sum", period=Duration.minutes(5)),
                threshold=1,
                description=f"Settlement: {what} in the last 5 minutes",
            )
