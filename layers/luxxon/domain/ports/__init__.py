"""The domain's ports, one module per capability: the records it exchanges with the outside world and the interfaces
the outside implements.

`luxxon.db` implements the stores (SQL), `luxxon.adapters` the video edge, its webhooks, the chain reads and the frame
store; the composition root (`luxxon.wiring`) plugs them in. Nothing here imports a driver, an SDK or an adapter, and
a store never calls back into the domain: it runs statements and returns records; the domain decides. This package
re-exports nothing: import from the capability's module.
"""
