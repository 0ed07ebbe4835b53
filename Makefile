# Entry points. Every target runs a script under scripts/ with npx tsx, but convert, which
# runs long and must finish its files on Ctrl-C or SIGTERM, runs under node with tsx's loader:
# the tsx CLI relays signals again and SIGKILLs a child that does not answer within 30 ms,
# which it cannot do reliably when it gets several signals at once (make passes SIGTERM on to
# npx, npx to tsx, besides the group's own). bash runs a recipe's one command in its own place
# (exec): no shell in between that dies at once on SIGTERM as dash does.
SHELL := /bin/bash
INPUT ?= sample/events.jsonl
OUTPUT_DIR ?= ./pb_data
ARGS ?=

.PHONY: convert test bench bench-index

convert:
	node --import tsx scripts/convert.ts "$(INPUT)" -o "$(OUTPUT_DIR)" $(ARGS)

test:
	npm test

# The converter's figures, then the index's (docs/BENCHMARKS.md). ARGS go to the converter's.
bench:
	npx tsx scripts/bench.ts $(ARGS)
	npx tsx scripts/bench-index.ts

# The index alone: rebuild of 1M events, lookups by id, convert with and without the index.
bench-index:
	npx tsx scripts/bench-index.ts $(ARGS)

# The S3/HTTP input and S3 output tests only (s3rver and a faulty HTTP server on 127.0.0.1).
.PHONY: test-s3
test-s3:
	node --import tsx --test test/input/http.test.ts test/input/s3.test.ts test/input/decompress.test.ts test/net/retry.test.ts test/s3/output.test.ts test/s3/convert-remote.test.ts

# AWS deployment (docs/DEPLOY.md). Settings come from the environment, a deploy.env file or
# ARGS (make plan ARGS=--help lists them): INPUT_URL=s3://... OUTPUT=s3://bucket/prefix/ make deploy
.PHONY: plan deploy status logs ssm destroy run-local userdata shellcheck

plan:
	npx tsx scripts/plan.ts $(ARGS)

deploy:
	npx tsx scripts/deploy.ts $(ARGS)

status:
	npx tsx scripts/status.ts $(ARGS)

logs:
	npx tsx scripts/logs.ts $(ARGS)

ssm:
	npx tsx scripts/ssm.ts $(ARGS)

destroy:
	npx tsx scripts/destroy.ts $(ARGS)

# The instance job on this machine against a local s3rver, with a local input.
run-local:
	npx tsx scripts/run-local.ts --input "$(INPUT)" $(ARGS)

# Copy userdata/prepare-instance.sh into the template after editing it.
userdata:
	npx tsx scripts/embed-userdata.ts

shellcheck:
	shellcheck userdata/*.sh
