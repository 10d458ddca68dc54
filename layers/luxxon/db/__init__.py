"""Data access: every SQL statement of the system lives in this package."""
