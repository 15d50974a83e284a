// The Go SDK of interp-suite: package interp (client, typed errors, tensors, interventions) and
// the generated stubs in gen/interp/v1 (package interpv1).
//
// No go.sum is committed: it was written where no Go module proxy is reachable (the repository's
// own build, clients/go/build.sh, compiles in GOPATH mode against Debian's packaged sources).
// With a module proxy, run `go mod tidy` once; it writes go.sum and the indirect requirements.
module github.com/interp-suite/interp-suite/clients/go

go 1.19

require (
	google.golang.org/genproto v0.0.0-20200526211855-cb27e3aa2013
	google.golang.org/grpc v1.33.3
	google.golang.org/protobuf v1.28.1
)
