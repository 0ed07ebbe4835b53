# Entry points. Every target runs a script under scripts/ with npx tsx.
INPUT ?= sample/events.jsonl
OUTPUT_DIR ?= ./pb_data
ARGS ?=

.PHONY: convert test bench

convert:
	npx tsx scripts/convert.ts "$(INPUT)" -o "$(OUTPUT_DIR)" $(ARGS)

test:
	npm test

bench:
	npx tsx scripts/bench.ts $(ARGS)

# The S3/HTTP input and S3 output tests only (s3rver and a faulty HTTP server on 127.0.0.1).
.PHONY: test-s3
test-s3:
	node --import tsx --test test/input-http.test.ts test/input-s3.test.ts test/decompress.test.ts test/retry.test.ts test/s3-output.test.ts test/convert-remote.test.ts
