# The two commands in README.md: `make run` and `make test`. Each sets up a fresh Debian machine:
# the missing apt packages, a virtualenv with the project installed editable, then the work.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha256sum pyproject.toml 2>/dev/null | cut -c1-16)
# Qt's xcb platform plugin needs these for a real window; xvfb gives CI and headless machines one.
# desktop-file-utils and appstream validate packaging/; binutils gives PyInstaller its objdump.
# libimage-exiftool-perl: the full metadata tree in the thumbnail & metadata view (optional).
APT_PACKAGES := xvfb xauth libxcb-icccm4 libxcb-keysyms1 libegl1 libgl1 libfontconfig1 \
	libxkbcommon0 libxkbcommon-x11-0 libxcb-cursor0 libdbus-1-3 desktop-file-utils appstream binutils \
	libimage-exiftool-perl
PYTEST_ARGS ?=

.PHONY: run test lint apt venv bench bundle clean

run: apt venv
	$(VENV)/bin/forensic-viewer $(ARGS)

test: apt venv
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check forensic_viewer tests bench scripts
	$(VENV)/bin/ruff format --check forensic_viewer tests bench scripts

apt:
	@if ! command -v dpkg-query >/dev/null 2>&1; then \
		echo "not a Debian system: install Qt's xcb runtime libraries and xvfb yourself"; exit 0; fi; \
	missing=$$(for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		echo "installing apt packages:" $$missing; \
		if [ "$$(id -u)" -ne 0 ]; then SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing \
			>/dev/null; \
	fi

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,cluster]'
	@rm -f $(VENV)/.installed-*
	@touch $@

bench: venv
	$(PY) bench/bench_ela.py

# A CPU-only one-folder bundle in dist/forensic-viewer/, built from its own venv
# (build/bundle-venv) so no CUDA libraries end up inside; see packaging/build_bundle.py.
bundle: apt venv
	$(PY) packaging/build_bundle.py

clean:
	rm -rf build dist .pytest_cache .ruff_cache
