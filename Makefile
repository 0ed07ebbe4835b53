# Entry points. `make` alone lists them. Every target runs a script under scripts/ with npx tsx, but convert, which
# runs long and must finish its files on Ctrl-C or SIGTERM, runs under node with tsx's loader:
# the tsx CLI relays signals again and SIGKILLs a child that does not answer within 30 ms,
# which it cannot do reliably when it gets several signals at once (make passes SIGTERM on to
# npx, npx to tsx, besides the group's own). bash runs a recipe's one command in its own place
# (exec): no shell in between that dies at once on SIGTERM as dash does.
SHELL := /bin/bash
.PHONY: help convert test test-s3 bench bench-checkpoint bench-s3-checkpoint bench-index plan deploy status logs ssm destroy run-local userdata shellcheck

INPUT ?= sample/events.jsonl
OUTPUT_DIR ?= ./pb_data
ARGS ?=

# The targets and what they do, from the '## ' comments beside them.
help:
	@echo 'Usage: make TARGET [INPUT=...] [OUTPUT_DIR=...] [ARGS="--flag value ..."]'
	@echo
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z0-9-]+):.*## (.*)/\1|\2/' | awk -F'|' '{ printf "  %-13s %s\n", $$1, $$2 }'
	@echo
	@echo 'Each script explains its flags: npx tsx scripts/NAME.ts --help (or proton-beam NAME --help).'

convert: ## convert INPUT (default sample/events.jsonl) into OUTPUT_DIR (default ./pb_data)
	node --import tsx scripts/convert.ts "$(INPUT)" -o "$(OUTPUT_DIR)" $(ARGS)

test: ## run all tests (npm test)
	npm test

# The converter's figures, then the index's (docs/BENCHMARKS.md). ARGS go to the converter's.
# The checkpoint bench runs on 300,000 events (a 20-second run): on its 7-second default, start-up
# and the index's fixed costs are a tenth of the run and weigh on the rerun's ratio as no real
# archive's would.
bench: ## the converter's, the index's and start-up benchmarks (docs/BENCHMARKS.md)
	npx tsx scripts/bench.ts $(ARGS)
	npx tsx scripts/bench-index.ts
	npx tsx scripts/bench-startup.ts
	npx tsx scripts/bench-checkpoint.ts --events 300000
	npx tsx scripts/bench-s3-checkpoint.ts

bench-s3-checkpoint: ## checkpoints in S3 against a local s3rver: their cost, the resume on an empty machine, id lists
	npx tsx scripts/bench-s3-checkpoint.ts $(ARGS)

bench-checkpoint: ## checkpoints alone: their cost, and the rerun after a kill at 60 %
	npx tsx scripts/bench-checkpoint.ts $(ARGS)

# The index alone: rebuild of 1M events, lookups by id, convert with and without the index.
bench-index: ## the index's benchmark alone
	npx tsx scripts/bench-index.ts $(ARGS)

# The input (file, HTTP, S3), network and S3 output tests only (s3rver and a faulty HTTP server on 127.0.0.1).
test-s3: ## the input, network and S3 output tests only
	node --import tsx --test test/input/*.test.ts test/net/*.test.ts test/s3/*.test.ts

# AWS deployment (docs/DEPLOY.md). Settings come from the environment, a deploy.env file or
# ARGS (make plan ARGS=--help lists them): INPUT_URL=s3://... OUTPUT=s3://bucket/prefix/ make deploy

plan: ## what make deploy would do and cost; needs no AWS credentials
	npx tsx scripts/plan.ts $(ARGS)

deploy: ## run the job on an EC2 instance (docs/DEPLOY.md)
	npx tsx scripts/deploy.ts $(ARGS)

status: ## the AWS job's phase and progress
	npx tsx scripts/status.ts $(ARGS)

logs: ## the AWS job's output so far
	npx tsx scripts/logs.ts $(ARGS)

ssm: ## a shell on the job instance through Session Manager
	npx tsx scripts/ssm.ts $(ARGS)

destroy: ## delete the stack (never the output bucket)
	npx tsx scripts/destroy.ts $(ARGS)

# The instance job on this machine against a local s3rver, with a local input.
run-local: ## the instance job on this machine against a local S3 server
	npx tsx scripts/run-local.ts --input "$(INPUT)" $(ARGS)

# Copy userdata/prepare-instance.sh into the template after editing it.
userdata: ## embed userdata/prepare-instance.sh into the template
	npx tsx scripts/embed-userdata.ts

shellcheck: ## check the instance scripts
	shellcheck userdata/*.sh
