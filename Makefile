# The two commands of the README: `make demo` and `make test`. Both create .venv when it is
# missing and (re)install the project into it whenever pyproject.toml changes.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow bench browser serve clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --editable '.[all]'
	touch $(STAMP)

demo: $(STAMP)
	mkdir -p out
	$(VENV)/bin/talkinghead animate assets/portrait.png assets/speech.wav --transcript assets/speech.txt -o out/demo.mp4

# The web app's browser test drives Debian's chromium (Playwright's own browser download is not
# used). Installed here when missing and we may (root, apt); otherwise that test skips, saying why.
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium for the browser test"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "chromium is missing and cannot be installed here (needs root and apt-get): the browser test will skip"; fi

test: $(STAMP) browser
	$(PY) -m pytest

test-slow: $(STAMP)
	$(PY) -m pytest -m slow

serve: $(STAMP)
	$(VENV)/bin/talkinghead serve --data-dir out/serve

bench: $(STAMP)
	$(PY) benchmarks/speed.py

clean:
	rm -rf $(VENV) out build *.egg-info src/*.egg-info
