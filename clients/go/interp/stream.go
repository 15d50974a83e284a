package interp

import (
	"errors"
	"io"

	"google.golang.org/grpc/codes"

	interpv1 "github.com/interp-suite/interp-suite/clients/go/gen/interp/v1"
)

// noResult is the reason of a stream that ended without its result: the backend went away.
const noResult = interpv1.ErrorReason_ERROR_REASON_BACKEND_UNAVAILABLE

// FinalResult receives a stream of events closed by one result (Attribute, the activations,
// probing and circuits analyses, Generate) and returns that result; onProgress, if not nil, sees
// every other event (progress, or Generate's tokens) as it arrives. recv is the stream's Recv
// method and result the response type's GetResult method expression, from which Go 1.19 infers
// both types:
//
//	stream, err := c.Circuits.DiscoverCircuit(ctx, req)
//	if err != nil { ... }
//	circuit, err := interp.FinalResult(stream.Recv, (*interpv1.DiscoverCircuitResponse).GetResult,
//		func(ev *interpv1.DiscoverCircuitResponse) { log.Println(ev.GetProgress().GetStage()) })
//
// The stream is read to its end after the result, which releases the call (gRPC's rule for a
// stream whose context is not cancelled); an error it ends with is returned. A stream that ends
// without a result fails with UNAVAILABLE (BACKEND_UNAVAILABLE), as in the Python and
// TypeScript SDKs.
func FinalResult[M any, R comparable](recv func() (M, error), result func(M) R, onProgress func(M)) (R, error) {
	var none R
	for {
		ev, err := recv()
		if errors.Is(err, io.EOF) {
			return none, &Error{Code: codes.Unavailable, Message: "the stream ended without a result",
				Reason: ReasonName(noResult), ReasonCode: noResult}
		}
		if err != nil {
			return none, err
		}
		if r := result(ev); r != none {
			if err := drain(recv); err != nil {
				return none, err
			}
			return r, nil
		}
		if onProgress != nil {
			onProgress(ev)
		}
	}
}

// drain receives until the stream ends: nil at its normal end, else the error it ended with.
func drain[M any](recv func() (M, error)) error {
	for {
		if _, err := recv(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}
