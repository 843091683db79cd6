# The workbook's commands. Each sets itself up: a .venv with the pinned stack, made when missing
# and refreshed when requirements change; fast when already set up.
#   make lab      open JupyterLab on notebooks/
#   make test     unit tests + every notebook once (fast mode; browser test, else nbval): what CI runs
#   make execute  re-run every notebook in place, full mode, restart-and-run-all
#   make data     find or fetch Fashion-MNIST and say where it came from
#   make bench    each lesson's peak memory, CPU and wall time at 1 and 2 CPUs (MODE=fast|full, CPUS=1,2)
#                 and the explorers' response time
#   make precompute  data/precomputed/: the explorers' full-mode references (LESSONS="01 03" for some)
#   make assignments  an nbgrader course from the lessons' exercises in build/course (LESSONS="00 03" for some)
#   make present  Voila on notebooks/ for presenting live: a lesson without code, explorers live
#   make zh       notebooks/zh-CN/: the Chinese edition, built from the English lessons + translations/zh-CN/

# Python 3.11, 3.12 or 3.13 (the first of python3.11, python3.12, python3.13, python3 found); PYTHON=... overrides.
PYTHON ?= $(shell for p in python3.11 python3.12 python3.13 python3; do command -v $$p >/dev/null 2>&1 && { echo $$p; break; }; done)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export PATH := $(abspath $(BIN)):$(PATH)
comma := ,
NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))

.PHONY: lab test execute data setup lint bench clean-cache

setup: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@command -v "$(PYTHON)" >/dev/null || { echo "No Python found: install Python 3.11, 3.12 or 3.13 (or run make PYTHON=/path/to/python3.12)"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))' || { echo "$(PYTHON) is Python $$($(PYTHON) -c 'import platform; print(platform.python_version())'); the pinned TensorFlow stack needs 3.11, 3.12 or 3.13 (make PYTHON=python3.12 ...)"; exit 1; }
	@$(BIN)/python -m pip --version >/dev/null 2>&1 || { rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); } || { echo "Could not create $(VENV): on Debian/Ubuntu run sudo apt-get install python3-venv (e.g. python3.12-venv)"; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

# JupyterLab refuses to run as root unless told; root is normal in containers.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

# share/jupyter/voila/templates/workbook: Voila's lab template plus the code of cells tagged show-in-voila
# (the API calls a lesson teaches), for the Voila button inside JupyterLab and for make present.
PRESENT_TEMPLATE := JUPYTER_PATH=$(CURDIR)/share/jupyter$(if $(JUPYTER_PATH),:$(JUPYTER_PATH),)

# The file browser shows notebooks/zh-CN/ (the Chinese edition) next to the English lessons.
lab: $(STAMP)
	$(PRESENT_TEMPLATE) $(BIN)/jupyter lab --notebook-dir=notebooks $(ALLOW_ROOT) --VoilaConfiguration.template=workbook

# Present live: Voila lists the lessons at http://localhost:8866/ (PORT=...); a lesson opened there runs top
# to bottom in fast mode (FAST=0: full mode) and shows text, tables, figures and live explorers,
# without code except the cells tagged show-in-voila (the calls the lesson teaches). Inside `make lab`, the same view is the Voila button of a notebook's toolbar, or
# http://localhost:8888/voila/render/02_quantization.ipynb (tests/test_browser.py checks it).
# Voila's tree lists subfolders too: the Chinese edition is under zh-CN/.
PORT ?= 8866
.PHONY: present
present: $(STAMP)
	WORKBOOK_FAST=$(or $(FAST),1) $(PRESENT_TEMPLATE) $(BIN)/voila notebooks --port=$(PORT) --template=workbook

# The same two commands as the README's set-up without make (tests/test_setup_paths.py keeps them in step).
# TESTS=... runs a part (CI's second Python runs the unit tests and lessons 00-02 this way).
TESTS ?= tests notebooks
test: $(STAMP)
	$(BIN)/python -m ruff check helpers tests tools notebooks
	WORKBOOK_FAST=1 $(BIN)/python -m pytest $(TESTS) --nbval-lax --nbval-current-env --sanitize-with tests/nbval_sanitize.cfg

# execute runs the lessons in order (00 -> 06) in a fresh cache, EXECUTE_CACHE, emptied first: an empty results
# log and no trained models, so the committed outputs are what a student sees running the lessons in order
# from a fresh clone (no entries or models left from older runs). A separate directory rather than clearing
# data/cache: your own results log, trained models and downloads there stay untouched. Downloaded
# Fashion-MNIST in data/cache is linked in, so the run never downloads it again. make precompute reads the
# log of that run (the same EXECUTE_CACHE) when it exists.
EXECUTE_CACHE ?= $(CURDIR)/data/execute-cache
execute: $(STAMP)
	rm -rf "$(EXECUTE_CACHE)" && mkdir -p "$(EXECUTE_CACHE)"
	@if [ -d data/cache/datasets ]; then ln -s "$(CURDIR)/data/cache/datasets" "$(EXECUTE_CACHE)/datasets"; fi
	@for nb in $(NOTEBOOKS); do \
		echo "executing $$nb (full mode, cache $(EXECUTE_CACHE))"; \
		start=$$(date +%s); \
		WORKBOOK_CACHE="$(EXECUTE_CACHE)" WORKBOOK_FAST=0 $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
			--ExecutePreprocessor.timeout=3600 --ExecutePreprocessor.kernel_name=python3 \
			--NotebookClient.record_timing=False "$$nb" || exit 1; \
		$(BIN)/python tools/runtimes.py record full "$$nb" $$(( $$(date +%s) - start )) || exit 1; \
		$(BIN)/python tests/hygiene.py --strip-metadata "$$nb" || exit 1; \
	done
	@# The README's run-time column comes from data/runtimes.json (tools/runtimes.py), just updated.
	$(BIN)/python tools/runtimes.py readme
	@# The Chinese notebooks carry the English code cells and outputs: rebuild them from the fresh outputs.
	$(MAKE) zh

# notebooks/zh-CN/<lesson>.ipynb = the English lesson with its markdown from translations/zh-CN/<lesson>.json
# (tools/translate.py; fails naming the cell when a translation is missing or older than the English).
.PHONY: zh
zh: $(STAMP)
	$(BIN)/python tools/translate.py build

data: $(STAMP)
	$(BIN)/python -m helpers.data

bench: $(STAMP)
	$(BIN)/python tools/bench.py --mode $(or $(MODE),fast) --cpus $(or $(CPUS),1$(comma)2)

# data/precomputed/<lesson>.json: the explorers' full-mode references (committed). From the results
# log's full-mode entries; a lesson without any is executed in full mode first (a temporary copy).
.PHONY: assignments
assignments: $(STAMP)
	$(BIN)/python tools/assignments.py $(LESSONS)

.PHONY: precompute
precompute: $(STAMP)
	$(if $(wildcard $(EXECUTE_CACHE)/results.jsonl),WORKBOOK_CACHE="$(EXECUTE_CACHE)" )$(BIN)/python tools/precompute.py $(LESSONS)

lint: $(STAMP)
	$(BIN)/python -m ruff check helpers tests tools notebooks

clean-cache:
	@echo "This deletes data/cache (trained baselines, downloaded data, your results log)."
	rm -rf data/cache
