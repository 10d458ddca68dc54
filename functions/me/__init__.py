"""Lambda handlers: me."""
