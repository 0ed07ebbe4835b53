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
