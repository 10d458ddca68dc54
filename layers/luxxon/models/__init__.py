"""Pydantic DTOs, exactly as the public API docs (seeds) name them."""
