# The two commands the README starts with.
.PHONY: demo test lint

demo:
	./scripts/setup && .venv/bin/isanfarm demo

test:
	./scripts/setup && { .venv/bin/python -m pytest; code=$$?; [ $$code -ne 5 ] || echo "make test: pytest collected no tests" >&2; exit $$code; }

lint:
	./scripts/setup && .venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy
