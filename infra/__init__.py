"""The AWS CDK (Python) app: one stack composed of one construct per capability."""
