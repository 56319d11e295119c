# A thin index over the scripts in hack/.
.PHONY: build test fuzz quickstart bench

build:
	go build -o bin/bosun ./cmd/bosun

test:
	./hack/test.sh

fuzz:
	./hack/fuzz.sh

quickstart:
	./hack/quickstart.sh

bench:
	./bench/run.sh
