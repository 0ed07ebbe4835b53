# Entry points. Every target runs a script under scripts/ with npx tsx.
.PHONY: convert test test-s3 bench bench-index plan deploy status logs ssm destroy run-local userdata shellcheck

INPUT ?= sample/events.jsonl
OUTPUT_DIR ?= ./pb_data
ARGS ?=

convert:
	npx tsx scripts/convert.ts "$(INPUT)" -o "$(OUTPUT_DIR)" $(ARGS)

test:
	npm test

# The converter's figures, then the index's (docs/BENCHMARKS.md). ARGS go to the converter's.
bench:
	npx tsx scripts/bench.ts $(ARGS)
	npx tsx scripts/bench-index.ts

# The index alone: rebuild of 1M events, lookups by id, convert with and without the index.
bench-index:
	npx tsx scripts/bench-index.ts $(ARGS)

# The input (file, HTTP, S3), network and S3 output tests only (s3rver and a faulty HTTP server on 127.0.0.1).
test-s3:
	node --import tsx --test test/input/*.test.ts test/net/*.test.ts test/s3/*.test.ts

# AWS deployment (docs/DEPLOY.md). Settings come from the environment, a deploy.env file or
# ARGS (make plan ARGS=--help lists them): INPUT_URL=s3://... OUTPUT=s3://bucket/prefix/ make deploy

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
