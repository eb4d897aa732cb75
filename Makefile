# FlockMQ developer targets. The two commands that matter are in the README:
#   go run ./cmd/flockd          # run the whole platform on this machine
#   bash scripts/test.sh         # install test dependencies and run every test
.PHONY: build test test-short run bench fuzz tidy-check fmt vet generate

build:
	go build -o bin/ ./cmd/...

run:
	go run ./cmd/flockd

test:
	bash scripts/test.sh

test-short:
	FLOCK_TEST_SHORT=1 bash scripts/test.sh

vet:
	for d in $$(go list -m -f '{{.Dir}}'); do (cd $$d && GOWORK=off go vet ./...); done

generate:
	go generate ./api/...

fmt:
	gofmt -w $$(git ls-files '*.go')

tidy-check:
	for d in $$(go list -m -f '{{.Dir}}'); do (cd $$d && GOWORK=off go mod tidy -diff); done

bench:
	go test -run='^$$' -bench=. -benchmem ./pkg/...

fuzz:
	go test -run='^$$' -fuzz=FuzzDecode -fuzztime=60s ./pkg/mqtt/
