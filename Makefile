# The README's commands. Everything runs inside .venv (created on first use).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
MANAGE := cd sandbox_shop && ../$(PY) manage.py
STAMP := $(VENV)/.installed

.PHONY: venv install lint test test-fast test-sqlite test-postgres test-oscar demo demo-data bench clean docs dist

$(STAMP): pyproject.toml requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements-dev.txt
	touch $(STAMP)

venv install: $(STAMP)

# Lint: ruff's rules and formatting, mypy on the typed modules, the import contracts (layers, independence,
# no circles) and the generated settings tables; all configured in pyproject.toml.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	PYTHONPATH=. $(VENV)/bin/lint-imports
	$(PY) scripts/settings_doc.py --check

# The whole suite: lint, then SQLite, then PostgreSQL; Celery tests use a real worker over Redis.
# SQLite run: schema from the models (fast); PostgreSQL run: schema from the real migrations.
# Each database also runs the second host shop, a plain django-oscar shop (tests/oscar_shop,
# its own settings, so its own pytest run; schema from the models).
OSCAR_TESTS := --ds=tests.oscar_shop.settings tests/oscar_shop

test: lint
	$(PY) -m pytest -q
	$(PY) -m pytest -q $(OSCAR_TESTS)
	ECOM_AI_TEST_DB=postgres $(PY) -m pytest -q -m "not browser" --migrations
	ECOM_AI_TEST_DB=postgres $(PY) -m pytest -q -m "not browser" $(OSCAR_TESTS)

# The inner loop: SQLite only, without the slow training tests and without lint.
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

test-sqlite: $(STAMP)
	$(PY) -m pytest -q
	$(PY) -m pytest -q $(OSCAR_TESTS)

test-postgres: $(STAMP)
	ECOM_AI_TEST_DB=postgres $(PY) -m pytest -q
	ECOM_AI_TEST_DB=postgres $(PY) -m pytest -q $(OSCAR_TESTS)

test-oscar: $(STAMP)
	$(PY) -m pytest -q $(OSCAR_TESTS)

# Fresh demo: migrate SQLite, seed demo data, a quick first training (small models: about ten
# seconds), then serve on http://127.0.0.1:8000 at once while the full training runs in the
# background (a second process, or a Celery worker with REDIS_URL) printing one line per epoch;
# the shop picks up each new version as it is activated. (`make demo-data` does all but serving;
# `sandbox_seed --reset` starts the data over.)
demo: demo-data
	@echo ""
	@echo "  Sandbox shop:  http://127.0.0.1:8000/"
	@echo "  Admin:         http://127.0.0.1:8000/admin/   (login: admin / admin)"
	@echo "  Customers:     customer1 ... customer1000     (password: demo)"
	@echo "  API docs:      http://127.0.0.1:8000/ecom-ai/api/docs/   (Swagger UI; ReDoc at .../api/redoc/; staff)"
	@echo ""
	$(MANAGE) sandbox_demo 127.0.0.1:8000

demo-data: $(STAMP)
	$(MANAGE) migrate --noinput
	$(MANAGE) sandbox_seed
	($(MANAGE) ecom_ai_train_all --quick --skip-trained) || echo "Training failed (see above): the shop still runs, without those models."

# The tables of docs/settings.md, regenerated from the declarations in ecom_ai/conf.py.
docs: $(STAMP)
	$(PY) scripts/settings_doc.py

# The wheel and the sdist in dist/ (fails when the build prints a warning).
dist: $(STAMP)
	rm -rf dist build
	mkdir -p build
	env -u PYTHONDONTWRITEBYTECODE $(PY) -m build --outdir dist . > build/dist.log 2>&1 || (cat build/dist.log; exit 1)
	@if grep -i "warning" build/dist.log; then echo "make dist: the build printed the warnings above (full log: build/dist.log)"; exit 1; fi
	@ls -l dist

clean:
	rm -rf $(VENV) build dist sandbox_shop/db.sqlite3 sandbox_shop/media
