# The README's commands. Everything runs inside .venv (created on first use).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
MANAGE := cd sandbox_shop && ../$(PY) manage.py
STAMP := $(VENV)/.installed

.PHONY: venv install lint test test-sqlite test-postgres demo demo-data bench clean docs

$(STAMP): setup.py requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements-dev.txt
	touch $(STAMP)

venv install: $(STAMP)

# The import contracts of pyproject.toml (layers, independence, no circles).
lint: $(STAMP)
	PYTHONPATH=. $(VENV)/bin/lint-imports

# The whole suite: lint, then SQLite, then PostgreSQL; Celery tests use a real worker over Redis.
# SQLite run: schema from the models (fast); PostgreSQL run: schema from the real migrations.
test: lint
	$(PY) -m pytest -q
	ECOM_AI_TEST_DB=postgres $(PY) -m pytest -q -m "not browser" --migrations

test-sqlite: $(STAMP)
	$(PY) -m pytest -q

test-postgres: $(STAMP)
	ECOM_AI_TEST_DB=postgres $(PY) -m pytest -q

# Fresh demo: migrate SQLite, seed demo data, train models, serve on http://127.0.0.1:8000
# (`make demo-data` does all but serving; `sandbox_seed --reset` starts the data over.)
demo: demo-data
	@echo ""
	@echo "  Sandbox shop:  http://127.0.0.1:8000/"
	@echo "  Admin:         http://127.0.0.1:8000/admin/   (login: admin / admin)"
	@echo "  Customers:     customer1 ... customer1000     (password: demo)"
	@echo ""
	$(MANAGE) runserver 127.0.0.1:8000

demo-data: $(STAMP)
	$(MANAGE) migrate --noinput
	$(MANAGE) sandbox_seed
	@if ($(MANAGE) help ecom_ai_train_all) >/dev/null 2>&1; then \
		($(MANAGE) ecom_ai_train_all) || echo "Training failed (see above): the shop still runs, without those models."; \
	else \
		echo "ecom_ai_train_all is not available: skipping model training."; \
	fi

# The tables of docs/settings.md, regenerated from the declarations in ecom_ai/conf.py.
docs: $(STAMP)
	$(PY) scripts/settings_doc.py

clean:
	rm -rf $(VENV) sandbox_shop/db.sqlite3 sandbox_shop/media
