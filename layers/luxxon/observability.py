"""Logger, Tracer and Metrics, built once for every handler and worker."""

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "luxxon"

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace="Luxxon", service=SERVICE)
