# The two commands: `make run` and `make test`. Everything else is a building block.
# Python 3.10 for the pipeline env: PYTHON310=/path/to/python3.10 make ...
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Local state (warehouse, bucket folder, pipeline root, metadata, registry).
CT_LOCAL_DIR ?= $(CURDIR)/.local
export CT_LOCAL_DIR
export UV_CACHE_DIR ?= $(HOME)/.cache/uv

VENV := .venv
PVENV := .venv-pipeline
PY := $(VENV)/bin/python
PPY := $(PVENV)/bin/python
SVENV := .venv-serving
SPY := $(SVENV)/bin/python
# Our pipeline package is run from the source tree (the image installs it).
PIPELINE_ENV := PYTHONPATH=$(CURDIR)/pipeline TF_CPP_MIN_LOG_LEVEL=1
# TFX's 15,002-row taxi sample, copied from its wheel (pipeline/data/taxi_sample/README.md)
SAMPLE_DIR := pipeline/data/taxi_sample
PIPELINE_VERSION ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo dev)
IMAGE ?= us-docker.pkg.dev/my-project/ct/chicago-taxi-tipper:$(PIPELINE_VERSION)
TRAIN_STEPS ?= 1000

.PHONY: help envs env-orchestration env-pipeline env-serving serve test-serving lock schema schema-curate run run-pipeline test warehouse airflow \
        test-pipeline test-orchestration test-airflow test-orchestration-and-airflow lint compile bench-pipeline bench-parse bench-drift bench-serving bench-dag bench-scale clean deploy \
        rollout replay demo test-demo test-pipeline-serving-and-demo

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-20s %s\n", $$1, $$2}'

envs: env-orchestration env-pipeline env-serving  ## build the three virtualenvs (no-op when the locks did not change)

env-orchestration:
	@scripts/bootstrap.sh orchestration

env-pipeline:
	@scripts/bootstrap.sh pipeline

env-serving:
	@scripts/bootstrap.sh serving

lock:  ## re-resolve both lock files from requirements-local.in and pipeline/requirements.in
	UV=$$(scripts/bootstrap.sh uv) && \
	$$UV pip compile -q --python-version 3.11 requirements-local.in -o requirements-local.lock && \
	$$UV pip compile -q --python-version 3.10 pipeline/requirements.in -o pipeline/requirements.lock && \
	$$UV pip compile -q --python-version 3.11 serving/requirements.in -o serving/requirements.lock

schema: env-pipeline  ## bootstrap pipeline/schema/schema.pbtxt with SchemaGen + curation (review the diff)
	$(PIPELINE_ENV) $(PPY) -m ct_pipeline.schema_bootstrap --span-uri $(SAMPLE_DIR)

schema-curate: env-pipeline  ## re-apply pipeline/schema/curation.yaml to the committed schema.pbtxt
	$(PIPELINE_ENV) $(PPY) -m ct_pipeline.schema_bootstrap --curate-only

RUN_DATE ?= 2017-01-01
RUN_CONF ?= {}
run: envs warehouse  ## the main job: the continuous_training DAG end to end on the shipped sample
	@echo "== airflow dags test continuous_training $(RUN_DATE) (log: $(CT_LOCAL_DIR)/make-run.log)"
	@rm -f $(CT_LOCAL_DIR)/last_run_summary.txt
	@scripts/airflow-local dags test continuous_training $(RUN_DATE) -c '$(RUN_CONF)' \
	  > $(CT_LOCAL_DIR)/make-run.log 2>&1 & pid=$$!; \
	  $(PY) scripts/follow_run.py $(CT_LOCAL_DIR)/make-run.log $$pid; wait $$pid; rc=$$?; \
	  cat $(CT_LOCAL_DIR)/last_run_summary.txt 2>/dev/null || tail -40 $(CT_LOCAL_DIR)/make-run.log; \
	  echo "full log: $(CT_LOCAL_DIR)/make-run.log"; exit $$rc

warehouse: env-orchestration  ## seed the local DuckDB warehouse (no-op when seeded)
	@mkdir -p $(CT_LOCAL_DIR)
	@PYTHONPATH=plugins $(PY) -m ct_platform.seed

airflow: envs warehouse  ## airflow standalone with this project's DAGs and the local profile (UI on :8080)
	scripts/airflow-local standalone

SERVE_PORT ?= 8501
export SERVE_PORT
serve: env-serving  ## the prediction service on 127.0.0.1:$(SERVE_PORT), serving the local champion
	TF_CPP_MIN_LOG_LEVEL=2 PYTHONPATH=serving $(SPY) -m ct_serving.server \
	  --endpoint-file $(CT_LOCAL_DIR)/serving/endpoint.json \
	  --log-dir $(CT_LOCAL_DIR)/serving/prediction_log --deploy-champion $(CT_LOCAL_DIR)/registry

# The local challenger's rollout (model_rollout), with traffic replayed from the 2016 trips
# while its canary waits: what callers would send. VERSION= rolls out another version.
VERSION ?=
ROLLOUT_CONF = {$(if $(VERSION),"version": $(VERSION))}
rollout: envs  ## model_rollout on the local challenger: checks, canary (traffic replayed), verdict
	@echo "== airflow dags test model_rollout (log: $(CT_LOCAL_DIR)/make-rollout.log)"
	@scripts/airflow-local dags test model_rollout -c '$(ROLLOUT_CONF)' \
	  > $(CT_LOCAL_DIR)/make-rollout.log 2>&1 & pid=$$!; \
	  PYTHONPATH=plugins $(PY) -m ct_platform.replay --start 2016-01-01 --days 366 --rate 100 \
	    --while-pid $$pid; wait $$pid; rc=$$?; \
	  grep -E "  [a-z_0-9]+: (pass|FAIL):|rollout report:" $(CT_LOCAL_DIR)/make-rollout.log \
	    | sed -E 's/^.*\] //'; echo "full log: $(CT_LOCAL_DIR)/make-rollout.log"; exit $$rc

# The whole loop as one command, in its own local state (DEMO_DIR, wiped first).
DEMO_DIR ?= $(CT_LOCAL_DIR)/demo
DEMO_TRAIN_STEPS ?= 300
demo: envs  ## the whole loop: train, serve, shifted traffic, monitoring, retrain, canary; a timeline
	$(PY) scripts/demo.py --local-dir $(DEMO_DIR) --train-steps $(DEMO_TRAIN_STEPS)

# CI's run of the demo: fewer train steps, and it fails unless every stage of the loop happened
test-demo: envs
	$(PY) scripts/demo.py --local-dir $(CURDIR)/build/test-output/demo --train-steps 100 --check

START ?= 2016-01-01
DAYS ?= 30
RATE ?= 50
DURATION ?= 60
replay: env-orchestration  ## send the trips of START + DAYS to the local endpoint at RATE/s for DURATION s
	PYTHONPATH=plugins $(PY) -m ct_platform.replay --start $(START) --days $(DAYS) \
	  --rate $(RATE) --seconds $(DURATION)

run-pipeline: env-pipeline  ## one local pipeline run on the shipped sample (TRAIN_STEPS=1000)
	$(PIPELINE_ENV) $(PPY) -m ct_pipeline.runners.local_runner --span-uri $(SAMPLE_DIR) \
	  --output-dir $(CT_LOCAL_DIR)/pipeline_runs/make-run --train-steps $(TRAIN_STEPS) \
	  --run-id make-run --pipeline-version $(PIPELINE_VERSION)
	@$(PPY) scripts/print_summary.py $(CT_LOCAL_DIR)/pipeline_runs/make-run/run_summary.json

# Scale-out by configuration: BEAM_RUNNER=dataflow (with PROJECT, REGION, DATA_BUCKET=gs://...)
# and TRAINER=vertex; SCALE_ARGS= adds kfp_compile options (machine types, service account...)
BEAM_RUNNER ?= direct
TRAINER ?= default
PROJECT ?=
REGION ?= us-central1
DATA_BUCKET ?=
SCALE_ARGS ?=
compile: env-pipeline  ## compile both KFP v2 variants to build/pipeline/ (IMAGE=..., BEAM_RUNNER=dataflow, TRAINER=vertex)
	$(PIPELINE_ENV) $(PPY) -m ct_pipeline.runners.kfp_compile --output-dir build/pipeline \
	  --image $(IMAGE) --pipeline-version $(PIPELINE_VERSION) --beam-runner $(BEAM_RUNNER) \
	  --trainer $(TRAINER) --region $(REGION) $(if $(PROJECT),--project $(PROJECT)) \
	  $(if $(DATA_BUCKET),--bucket $(DATA_BUCKET)) $(SCALE_ARGS)

BUCKET ?=
DEPLOY_ENV ?= local
deploy: env-orchestration  ## DAGs, plugins, compiled pipeline -> BUCKET=gs://name or a folder (DRY_RUN=1)
	@test -n "$(BUCKET)" || { echo "usage: make deploy BUCKET=gs://NAME|/some/folder [DRY_RUN=1]" >&2; exit 2; }
	$(PY) scripts/deploy.py --bucket '$(BUCKET)' --git-sha $(PIPELINE_VERSION) \
	  --pipeline-dir build/pipeline --env $(DEPLOY_ENV) $(if $(DRY_RUN),--dry-run)

lint: env-orchestration  ## ruff over everything
	$(VENV)/bin/ruff check .

test-pipeline: env-pipeline env-orchestration  # the TFDV agreement test calls the orchestration env
	$(PIPELINE_ENV) $(PPY) -m pytest -q tests/pipeline

test-serving: env-serving env-pipeline  ## the model server (reads the pipeline suite's first run)
	TF_CPP_MIN_LOG_LEVEL=2 $(SPY) -m pytest -q tests/serving

test-orchestration: env-orchestration env-pipeline env-serving
	$(PY) -m pytest -q -n 2 --dist loadfile tests/dags tests/scripts tests/plugins tests/ci

test-airflow: env-orchestration env-pipeline env-serving  ## a real Airflow (scheduler, triggerer, dag-processor, api-server) + browser
	@scripts/install-browser.sh
	$(PY) -m pytest -q tests/airflow_e2e

# make test runs the real-Airflow tests beside the orchestration tests (both mostly wait
# on subprocesses and servers), then prints their log.
E2E_LOG := build/test-output/test-airflow.log
test-orchestration-and-airflow: env-orchestration env-pipeline env-serving
	@scripts/install-browser.sh
	@mkdir -p $(dir $(E2E_LOG))
	@echo "== tests/airflow_e2e (a real Airflow) runs in the background; log: $(E2E_LOG)"
	@$(PY) -m pytest -q tests/airflow_e2e > $(E2E_LOG) 2>&1 & e2e=$$!; \
	  $(PY) -m pytest -q -n 2 --dist loadfile tests/dags tests/scripts tests/plugins tests/ci; \
	  rc=$$?; wait $$e2e; rc2=$$?; echo "== tests/airflow_e2e"; cat $(E2E_LOG); \
	  exit $$(( rc || rc2 ))

# ... and the demo beside the pipeline and serving suites (TFX on 2 cores leaves some room:
# 11 min for the pair alone here against 16 one after the other; about 17 against 19 in CI).
DEMO_LOG := build/test-output/test-demo.log
test-pipeline-serving-and-demo: envs
	@mkdir -p $(dir $(DEMO_LOG))
	@echo "== make test-demo runs in the background; log: $(DEMO_LOG)"
	@$(MAKE) -s test-demo > $(DEMO_LOG) 2>&1 & demo=$$!; \
	  $(MAKE) -s test-pipeline && $(MAKE) -s test-serving; \
	  rc=$$?; wait $$demo; rc2=$$?; echo "== make test-demo"; cat $(DEMO_LOG); \
	  exit $$(( rc || rc2 ))

test: envs lint test-orchestration-and-airflow test-pipeline-serving-and-demo  ## what CI runs: lint, the test suites, the demo

SIZES ?= 1000000,10000000
TFDV_SIZES ?= 1000000
bench-drift: envs  ## drift in the warehouse vs the TFDV route at SIZES rows (TFDV at TFDV_SIZES)
	$(PY) bench/bench_drift.py --sample $(SAMPLE_DIR)/data.csv --sizes $(SIZES) \
	  --tfdv-sizes $(TFDV_SIZES)

bench-parse: env-orchestration  ## each DAG file's parse time (Airflow already imported)
	$(PY) bench/bench_parse.py 2>/dev/null

bench-pipeline: env-pipeline  ## ours vs the TFX taxi template on the whole sample
	$(PIPELINE_ENV) $(PPY) bench/bench_pipeline.py --data $(SAMPLE_DIR)

bench-scale: SIZES = 15000,150000,1500000
bench-scale: envs  ## the whole CT run and the TFX template at SIZES rows: time, rows/s, peak RSS, a chart
	$(PY) bench/bench_scale.py --sizes $(SIZES)

bench-dag: envs  ## a no-drift day of continuous_training under a real Airflow, task by task, vs a floor
	$(PY) bench/bench_dag.py

REQUESTS ?= 400
MODEL ?=
bench-serving: env-serving  ## the model server vs the SavedModel in-process, 1/8/32 clients
	TF_CPP_MIN_LOG_LEVEL=2 $(SPY) bench/bench_serving.py --requests $(REQUESTS) \
	  $(if $(MODEL),--model $(MODEL))

clean:  ## remove local state and build output (not the venvs)
	rm -rf $(CT_LOCAL_DIR) build
