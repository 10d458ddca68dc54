"""The settlement contracts from Python: their compiled artifacts (`contracts`), the session-id codec
(`session_id`) and a deploy command for any EVM chain (`deploy`, which imports web3; the rest does not).

The Solidity sources and the build live in `layers/contracts` (`make contracts` rewrites `artifacts/`).
"""
