"""The local system: the cloud in miniature on one machine (not shipped in the Lambda layer)."""
