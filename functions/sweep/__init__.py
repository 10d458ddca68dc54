"""Scheduled Lambdas: the sweep."""
