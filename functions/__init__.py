"""Lambda entry points, one module per endpoint of the route table (luxxon.routes)."""
