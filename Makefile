# The few verbs people type. `make run` starts the local system; `make test` runs every check CI runs.
PY := .venv/bin/python
VENV := .venv/.installed
# The project's Node toolchain is one npm project under layers/contracts: Node.js itself (an LTS, pinned, the binary
# from the npm package node-linux-<cpu>), the AWS CDK CLI, and the contracts' solc and anvil. npm's own record of the
# install is the stamp, so `npm ci` reruns only when it is missing or the lockfile changed.
CONTRACTS := layers/contracts
NODE_MODULES := $(CONTRACTS)/node_modules/.package-lock.json
# Every recipe finds that Node (and `cdk`) first: the CDK CLI, the CDK app's jsii runtime (it starts `node` from PATH),
# build.mjs and the tests all run on it, never on the machine's own Node. tests/conftest.py does the same for a bare
# `.venv/bin/pytest`.
NODE_BIN := $(CURDIR)/$(CONTRACTS)/node_modules/.bin
export PATH := $(NODE_BIN):$(PATH)

.PHONY: run test lint synth cdk bench load demo contracts

$(VENV): pyproject.toml
	python3 -m venv .venv
	.venv/bin/pip install -q --upgrade pip
	.venv/bin/pip install -q -e '.[dev,video,infra,chain]'
	touch $@

# --ignore-scripts: anvil's postinstall would only download what its platform package already holds (Node's
# platform package holds its binary as it is). The first install runs npm on the machine's Node; later ones on ours.
$(NODE_MODULES): $(CONTRACTS)/package.json $(CONTRACTS)/package-lock.json
	cd $(CONTRACTS) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@test -x $(NODE_BIN)/node || { echo "$(CONTRACTS)/package.json pins no Node package for $$(uname -sm)" >&2; exit 1; }
	touch $@

# Recompile the Solidity sources into the committed artifacts (layers/luxxon/contracts/artifacts).
contracts: $(NODE_MODULES)
	cd $(CONTRACTS) && node build.mjs

run: $(VENV) $(NODE_MODULES)
	$(PY) -m luxxon.local.run

lint: $(VENV)
	@! git grep -nE '^(<<<<<<<|>>>>>>>)( |$$)' || { echo 'merge conflict markers (above)' >&2; exit 1; }
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	.venv/bin/lint-imports

# Branch coverage of the domain and the data layer (the rest is measured by what it serves) is reported at the end.
test: lint $(NODE_MODULES)
	$(PY) -m pytest --cov --cov-report=term

synth: $(VENV) $(NODE_MODULES)
	cdk synth --quiet

# Any other CDK CLI command, on the project's CLI and Node: make cdk ARGS='deploy -c stage=dev'
cdk: $(VENV) $(NODE_MODULES)
	cdk $(ARGS)

# Each bench starts what it needs (a scratch database; some a private anvil, Redis, the local edge). `make test` runs
# each with --smoke (tiny sizes, seconds): tests/bench/test_smoke.py.
bench: $(VENV) $(NODE_MODULES)
	$(PY) -m tests.bench.run

load: $(VENV)  # 32 and 128 clients against the local gateway, alone (make bench runs it last; make test smoke-runs it)
	$(PY) -m tests.bench.load

demo: $(VENV)
	$(PY) -m luxxon.local.demo
