# bantar-sim — `make run` runs the calibrated Jambi 2014–2020 simulation, `make test` the test suite.
SHELL := /bin/bash
VENV  ?= .venv
BIN   := $(VENV)/bin

# Find a Python >= 3.12 on its own: python3.12 on PATH, else pyenv's versions, else stop.
PYTHON_312 := $(shell \
  for c in python3.13 python3.12 $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.1[2-9]*/bin/python3 2>/dev/null) python3; do \
    p=$$(command -v $$c 2>/dev/null) || continue; \
    $$p -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null && { echo $$p; break; }; \
  done)

.PHONY: results odd run test test-nobrowser lint browser venv benchmark bench-uncertain bench-batch bench-calibration bench-cluster calibrate sbc sensitivity \
        experiments viz doc-images clean forecast-check compare-models docs baseline publish-sensitivity sensitivity-ranges sensitivity-subset \
        calibration-stability

# The browser test (tests/test_app.py) drives Debian's chromium at this path.
CHROMIUM ?= /usr/bin/chromium

$(BIN)/bantar-sim: pyproject.toml
	@if [ -z "$(PYTHON_312)" ]; then echo "bantar-sim needs Python >= 3.12 (Mesa >= 3.4 requires it): install python3.12 or pyenv 3.12" >&2; exit 1; fi
	@test -x $(BIN)/python || $(PYTHON_312) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $@

venv: $(BIN)/bantar-sim

run: venv
	$(BIN)/bantar-sim run

test: venv browser
	$(BIN)/python -m pytest -q

test-nobrowser: venv
	$(BIN)/python -m pytest -q -m "not browser"

lint: venv
	$(BIN)/ruff check bantar_sim tests benchmarks

# make test needs a browser: install Debian's chromium when missing and allowed (root or passwordless sudo, with
# apt-get), else stop before the tests with one line saying what to install.
browser:
	@if [ -x "$(CHROMIUM)" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO=no; fi; \
	if [ "$$SUDO" = no ] || ! command -v apt-get >/dev/null 2>&1; then \
	  echo "make test needs Debian's chromium for the browser tests: apt-get install chromium (or run make test-nobrowser)" >&2; \
	  exit 1; \
	fi; \
	echo "make test: installing Debian's chromium for the browser tests (apt-get install chromium)"; \
	$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null && test -x "$(CHROMIUM)" || { \
	  echo "make test: installing chromium failed; install it with apt-get install chromium (or run make test-nobrowser)" >&2; \
	  exit 1; }

benchmark: venv
	$(BIN)/python benchmarks/bench_model.py --save benchmarks/results/bench_model.json

# Issue 16, item 8: experiments/package.toml as shipped (200 scenarios × every arm, ~90 households per RT) timed
# through the batch engine; experiments/README.md's benchmark paragraph is generated from the record (make docs).
bench-uncertain: venv
	$(BIN)/python benchmarks/bench_uncertain.py --save benchmarks/results/bench_uncertain.json

# The default calibration (a reference table) and the previous default (ABC-SMC, 25 minutes) side by side in one
# run at production settings (issue 15, item 4; benchmarks/bench_calibration_methods.py): about 40 minutes on
# 2 cores. calibration/README.md's results block quotes the record (then make docs).
bench-calibration: venv
	$(BIN)/python benchmarks/bench_calibration_methods.py --save benchmarks/results/bench_calibration_methods.json

bench-batch: venv
	$(BIN)/python benchmarks/bench_batch.py

bench-cluster: venv
	$(BIN)/python -m pytest -q -m cluster tests/test_cluster.py

# The default calibration (issue 15: rejection ABC on a reference table of 2,500 prior simulations, under 10
# minutes on 2 cores) into outputs/calibration/calibrate/; the table's runs in outputs/calibration/abc_reference/
# (a rerun reuses them). `bantar-sim calibrate --promote outputs/calibration/calibrate` makes it the shipped set.
calibrate: venv
	$(BIN)/bantar-sim calibrate

# Rolling-origin forecasts (issue 15): calibrate on 2014-2016, -2017, -2018 at the default calibration's
# settings (priors calibration/priors_heldout.toml), score every later year against naive forecasts; results in
# outputs/calibration/forecast/, published (--publish) to calibration/results/forecast/ (then make docs).
forecast-check: venv
	$(BIN)/bantar-sim forecast-check --publish

# Coverage of the calibration (issue 15): 2,500 reference simulations (the default calibration's table) + 100 truths at the priors file's
# production [settings], 400 members of the table left out in turn as further truths (no extra simulation);
# results in outputs/calibration/sbc/ (the simulations in its runs/: a rerun resumes), published (--publish:
# tables, figure, report; refused for another model version) to calibration/results/sbc/, which
# calibration/README.md's results block and docs/ODD.md's identification block quote (then make docs).
sbc: venv
	$(BIN)/bantar-sim sbc --reference 2500 --truths 100 --loo-truths 400 --publish

# Stability of the calibrated point (issue 15): the default calibration (make calibrate's settings) with seeds 2014,
# 2015 and 2016, each into outputs/calibration/stability/seed_<seed>/ (its reference table beside it: a rerun
# reuses it); the point's spread across seeds against the posterior 90% interval widths, published to
# calibration/results/stability/ (calibration/README.md's results block quotes it; then make docs). About 3 x the
# default calibration's wall-clock.
calibration-stability: venv
	$(BIN)/bantar-sim calibration-stability --seeds 2014,2015,2016 --publish

# Model comparison at production settings (issue 15): per seed a reference table of 1,000 prior simulations of
# each variant at the priors file's [settings] (scale 1, 90 households per RT) and ABC random-forest model choice
# (Pudlo et al. 2016) with a rejection-ABC cross-check; model probabilities per seed and their largest difference
# in outputs/calibration/compare/ (the simulations in its runs/: a rerun resumes), copied to
# calibration/results/compare/ (calibration/README.md's generated block quotes them). The pyabc model selection
# it replaced (unstable across seeds): add --method abc-smc.
compare-models: venv
	$(BIN)/bantar-sim calibrate --compare-models --seeds 2014,2015 --method reference --reference-per-variant 1000
	$(BIN)/python -c "import os, shutil; d = 'calibration/results/compare'; os.makedirs(d, exist_ok=True); \
	  [(shutil.copyfile('outputs/calibration/compare/' + f, d + '/.' + f), os.replace(d + '/.' + f, d + '/' + f)) \
	   for f in ('model_probabilities_by_seed.csv', 'model_probabilities_differences.csv', \
	             'model_confusion_by_seed.csv', 'report.md')]"

# Morris screening, then Sobol on the subset the file names, then copy both into experiments/results/sensitivity/
# (docs/sensitivity.md's results block is generated from there: make docs).
sensitivity: venv
	$(BIN)/bantar-sim sensitivity experiments/sensitivity.toml --method morris
	$(MAKE) sensitivity-subset
	$(BIN)/bantar-sim sensitivity experiments/sensitivity.toml --method sobol
	$(MAKE) publish-sensitivity

# The calibrated parameters' ranges of experiments/sensitivity.toml, from calibration/posterior_summary.csv.
sensitivity-ranges: venv
	$(BIN)/python -c "from bantar_sim.studies.sensitivity.ranges import sync_calibrated_ranges as s; \
	  print('changed:', *s('experiments/sensitivity.toml', 'calibration/posterior_summary.csv'))"

# The Sobol subset of experiments/sensitivity.toml: the parameters whose Morris mu* reaches 30% of the largest on
# at least one output, from the latest Morris screening of the file.
sensitivity-subset: venv
	$(BIN)/python -c "from bantar_sim.studies.sensitivity.ranges import sync_sobol_subset as s; \
	  print('sobol subset:', *s('experiments/sensitivity.toml', 'outputs/sensitivity/jambi_calibrated/morris/n20/morris_indices.csv'))"

publish-sensitivity: venv
	$(BIN)/python -c "from bantar_sim.studies.sensitivity.published import publish_latest; \
	  print(*publish_latest('outputs/sensitivity/jambi_calibrated'), sep='\n')"

# Everything a model change makes stale, after `make calibrate` and `bantar-sim calibrate --promote DIR`: the ODD
# table, the calibrated baseline, the benchmarks, every experiment, the sensitivity analysis (ranges from the new
# posterior), the calibration's checks (coverage, model comparison), the generated passages and the screenshots.
# Each step resumes what is on disk; about 2 hours on 2 cores. The forecast and stability checks are separate
# (make forecast-check, make calibration-stability: about 90 minutes each).
results: venv
	$(MAKE) odd
	$(MAKE) baseline
	$(MAKE) benchmark
	$(MAKE) experiments
	$(MAKE) bench-uncertain
	$(MAKE) sensitivity-ranges
	$(MAKE) sensitivity
	$(MAKE) sbc
	$(MAKE) compare-models
	$(MAKE) docs
	$(MAKE) doc-images
	$(BIN)/python -m pytest -q tests/test_generated_docs.py tests/test_experiment_publish.py

experiments: venv
	for f in experiments/*.toml; do case $$f in *sensitivity*) continue;; esac; $(BIN)/bantar-sim experiment $$f || exit 1; done
	$(BIN)/bantar-sim publish-experiments

viz: venv
	$(BIN)/bantar-sim viz

# docs/teaching.md's screenshots, taken by the browser test from the app as `make viz` runs it (the shipped model
# and calibrated set); it stamps docs/img/screenshots.json, which tests/test_app.py checks is current.
doc-images: venv browser
	BANTAR_UPDATE_DOC_IMAGES=1 $(BIN)/python -m pytest -q tests/test_app.py -k browser

clean:
	rm -rf outputs/* .pytest_cache

# The generated result passages of README.md, calibration/README.md and docs/ (bantar_sim.studies.docs), from the
# committed result files; tests/test_generated_docs.py fails when one is stale.
docs: venv
	$(BIN)/bantar-sim docs

# The calibrated baseline the calibration README quotes: `bantar-sim run` at the shipped set, its metrics kept.
baseline: venv
	$(BIN)/bantar-sim run --out outputs/run
	$(BIN)/python -c "import os, shutil; t = 'calibration/results/baseline_metrics.csv'; os.makedirs('calibration/results', exist_ok=True); \
	  shutil.copyfile('outputs/run/metrics.csv', t + '.tmp'); os.replace(t + '.tmp', t)"

odd: venv
	$(BIN)/bantar-sim params --update-odd docs/ODD.md
