# The two commands of the course. Each bootstraps .venv on a fresh clone.
#   make test   unit tests + every chapter executed by nbval
#   make book   the HTML book in _build/html, every chapter executed
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(BIN):$(PATH)
# Keep BLAS/torch from oversubscribing the cores when nbval kernels run.
export PYTHONUNBUFFERED := 1

.PHONY: all test book book-full check-book install lab info clean clean-book bench reproduce

all: test book

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest

# jupyter-cache re-executes a chapter only when its code cells change, so the
# cache is dropped whenever companion/, a record under results/, the kernel's settings or the pins change
# (hash kept in _build), and with it Sphinx's environment, which would otherwise
# re-read only the pages whose source changed: no page shows a stale record.
# The chapters run two at a time into the execution cache first (book/_tools/prerun_chapters.py),
# so that Sphinx, which executes pages one by one, finds them done.
# the built pages show no progress bars (learners running a chapter see them live) and a
# deliberate error as its type and message, not a traceback through torch's internals
book: export TQDM_DELAY := 86400
book: export IPYTHONDIR := $(CURDIR)/book/_ipython
book: $(STAMP)
	@h=$$( (find companion -name '*.py'; find results -name '*.json' 2>/dev/null; echo book/_ipython/profile_default/ipython_kernel_config.py) | LC_ALL=C sort | xargs cat requirements.txt | sha256sum | cut -c1-16); \
	if [ "$$(cat _build/.companion-hash 2>/dev/null)" != "$$h" ]; then \
	  echo "companion or results/ changed: executing every page afresh"; \
	  rm -rf _build/.jupyter_cache _build/.doctrees _build/jupyter_execute; fi; \
	$(BIN)/python book/_tools/prerun_chapters.py _build/.jupyter_cache chapters/*.md && \
	$(BIN)/jupyter-book build . -W -n --keep-going && \
	mkdir -p _build && echo "$$h" > _build/.companion-hash

# Every chapter in the full profile on the official MNIST (../shared/data/mnist or $$COMPANION_DATA),
# its glued values recorded in results/chapters/NN.json (book/_tools/run_full.py). Hours on 2 cores;
# run it from a worktree at a committed HEAD; an interrupted run continues with the next chapter.
CHAPTERS ?= chapters/*.md
book-full: $(STAMP)
	$(BIN)/python book/_tools/run_full.py $(CHAPTERS)

# every page of _build/html in headless Chromium with the network blocked (tests/browser/check_book.py);
# needs Debian's chromium (apt-get install chromium)
check-book: $(STAMP)
	$(BIN)/python tests/browser/check_book.py _build/html --screenshots _build/screenshots

# JupyterLab with ipywidgets (the optional `lab` extra, installed once), for running the chapters;
# the book and the tests do not need it. COMPANION_PROFILE=full make lab runs them at full scale.
LAB_STAMP := $(VENV)/.lab-installed
$(LAB_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[lab]'
	@touch $(LAB_STAMP)

lab: $(LAB_STAMP)
	$(BIN)/jupyter lab

info: $(STAMP)
	$(BIN)/python -m companion info

# learnergy is a peer in the RBM benchmark only, so it is not in requirements.txt
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -r benchmarks/requirements.txt
	$(BIN)/python benchmarks/fit_dense_ae.py
	$(BIN)/python benchmarks/rbm_cd.py

# Every paper reproduction at its `cpu` budget, one after another (about an hour each on
# 2 cores; --resume continues one that was interrupted). Run it from a clean checkout or
# worktree at a committed HEAD, so that each record names the code that produced it.
reproduce: $(STAMP)
	$(BIN)/python -m companion reproduce all --budget cpu --resume

clean-book:
	rm -rf _build

clean: clean-book
	rm -rf $(VENV) *.egg-info
