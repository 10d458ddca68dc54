"""The operator's tools, run from a shell (never shipped in the Lambda layer): the admin command line (`cli`,
`python -m luxxon.admin`), the contracts' deploy command for any EVM chain (`deploy`, `python -m luxxon.admin.deploy`)
and the development chain's accounts and funding (`devnet`)."""
