"""Adapters to the outside world (video edge, chain, frame store, queue). Domain code takes them as parameters."""
