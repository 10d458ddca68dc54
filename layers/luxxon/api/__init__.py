"""The HTTP edge: the resolver factory every handler uses, envelopes, auth, and the service wiring."""
