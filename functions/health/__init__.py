"""Lambda handlers: health."""
