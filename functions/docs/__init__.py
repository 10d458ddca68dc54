"""Lambda handlers: docs."""
