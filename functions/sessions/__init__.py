"""Lambda handlers: sessions."""
