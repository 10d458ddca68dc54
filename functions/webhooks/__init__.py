"""Lambda handlers: webhooks."""
