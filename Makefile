# The few verbs people type. `make run` starts the local system; `make test` runs every check CI runs.
PY := .venv/bin/python
VENV := .venv/.installed

.PHONY: run test lint synth bench load demo

$(VENV): pyproject.toml
	python3 -m venv .venv
	.venv/bin/pip install -q --upgrade pip
	.venv/bin/pip install -q -e '.[dev,video,infra]'
	touch $@

run: $(VENV)
	$(PY) -m luxxon.local.run

lint: $(VENV)
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	.venv/bin/lint-imports

# Branch coverage of the domain and the data layer (the rest is measured by what it serves) is reported at the end.
test: lint
	$(PY) -m pytest --cov --cov-report=term

synth: $(VENV)
	npx -y aws-cdk@2 synth --quiet

bench: $(VENV)
	$(PY) -m tests.bench.run

load: $(VENV)  # 32 and 128 clients against the local gateway (not in CI, not in bench: it takes a minute)
	$(PY) -m tests.bench.load

demo: $(VENV)
	$(PY) -m luxxon.local.demo
