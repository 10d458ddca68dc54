"""Lambda handlers: workspaces."""
