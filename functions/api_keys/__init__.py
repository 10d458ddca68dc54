"""Lambda handlers: api_keys."""
