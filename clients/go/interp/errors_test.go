package interp

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	interpv1 "github.com/interp-suite/interp-suite/clients/go/gen/interp/v1"
)

// layerError is a status as the fleet builds it: ErrorInfo (reason, domain, metadata) and a
// BadRequest naming the field.
func layerError(t *testing.T) *status.Status {
	t.Helper()
	s, err := status.New(codes.InvalidArgument, "layer 99 is outside the model (30 layers)").WithDetails(
		&errdetails.ErrorInfo{Reason: "LAYER_OUT_OF_RANGE", Domain: "interp.v1", Metadata: map[string]string{"layers": "30"}},
		&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
			{Field: "selection.layers[0]", Description: "99 is not in 0..29"},
		}},
	)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestErrorFromStatusDetails(t *testing.T) {
	e, ok := AsError(layerError(t).Err())
	if !ok {
		t.Fatal("AsError: not a status error")
	}
	if e.Code != codes.InvalidArgument || e.Reason != "LAYER_OUT_OF_RANGE" || e.Domain != ErrorDomain {
		t.Fatalf("decoded %+v", e)
	}
	if e.ReasonCode != interpv1.ErrorReason_ERROR_REASON_LAYER_OUT_OF_RANGE || !e.HasReason(interpv1.ErrorReason_ERROR_REASON_LAYER_OUT_OF_RANGE) {
		t.Errorf("ReasonCode %v", e.ReasonCode)
	}
	if e.Metadata["layers"] != "30" {
		t.Errorf("metadata %v", e.Metadata)
	}
	if len(e.FieldViolations) != 1 || e.FieldViolations[0] != (FieldViolation{"selection.layers[0]", "99 is not in 0..29"}) {
		t.Errorf("violations %v", e.FieldViolations)
	}
	want := "INVALID_ARGUMENT (LAYER_OUT_OF_RANGE): layer 99 is outside the model (30 layers)"
	if e.Error() != want {
		t.Errorf("Error() = %q, want %q", e.Error(), want)
	}
	if status.Code(e) != codes.InvalidArgument {
		t.Errorf("status.Code(*Error) = %v", status.Code(e))
	}
	if s, ok := status.FromError(e); !ok || len(s.Details()) != 2 {
		t.Errorf("status.FromError(*Error) = %v, %v", s, ok)
	}
}

func TestErrorsAsThroughWrapping(t *testing.T) {
	err := wrapError(layerError(t).Err())
	wrapped := fmt.Errorf("analyzing: %w", err)
	var e *Error
	if !errors.As(wrapped, &e) || e.Reason != "LAYER_OUT_OF_RANGE" {
		t.Fatalf("errors.As: %v", e)
	}
	if got, ok := AsError(wrapped); !ok || got != e {
		t.Fatal("AsError does not find the wrapped *Error")
	}
	if !errors.Is(wrapped, &Error{Code: codes.InvalidArgument, Reason: "LAYER_OUT_OF_RANGE"}) {
		t.Error("errors.Is by code and reason")
	}
	if !errors.Is(wrapped, &Error{Code: codes.InvalidArgument}) {
		t.Error("errors.Is by code")
	}
	if errors.Is(wrapped, &Error{Code: codes.NotFound}) || errors.Is(wrapped, &Error{Code: codes.InvalidArgument, Reason: "INPUT_EMPTY"}) {
		t.Error("errors.Is matches another code or reason")
	}
	// a status error that a Client did not wrap (a raw stub, say) decodes too
	if e2, ok := AsError(fmt.Errorf("x: %w", layerError(t).Err())); !ok || e2.Reason != "LAYER_OUT_OF_RANGE" {
		t.Errorf("AsError of a wrapped status error: %v", e2)
	}
}

func TestErrorsWithoutDetails(t *testing.T) {
	e, ok := AsError(status.Error(codes.Unavailable, "connection refused"))
	if !ok || e.Code != codes.Unavailable || e.Reason != "" || e.ReasonCode != interpv1.ErrorReason_ERROR_REASON_UNSPECIFIED {
		t.Fatalf("%+v", e)
	}
	if e.Error() != "UNAVAILABLE: connection refused" {
		t.Errorf("Error() = %q", e.Error())
	}
	if _, ok := AsError(errors.New("plain")); ok {
		t.Error("AsError of a plain error")
	}
	if _, ok := AsError(nil); ok {
		t.Error("AsError(nil)")
	}
	if err := wrapError(context.Canceled); status.Code(err) != codes.Canceled {
		t.Errorf("context.Canceled -> %v", err)
	}
	if err := wrapError(nil); err != nil {
		t.Errorf("wrapError(nil) = %v", err)
	}
	// an unknown reason (newer than the contract) keeps its name
	s, _ := status.New(codes.Internal, "boom").WithDetails(&errdetails.ErrorInfo{Reason: "SOMETHING_NEW", Domain: "interp.v1"})
	e = FromStatus(s)
	if e.Reason != "SOMETHING_NEW" || e.ReasonCode != interpv1.ErrorReason_ERROR_REASON_UNSPECIFIED {
		t.Errorf("unknown reason: %+v", e)
	}
}

func TestReasonNames(t *testing.T) {
	if ReasonName(interpv1.ErrorReason_ERROR_REASON_INPUT_EMPTY) != "INPUT_EMPTY" {
		t.Error("ReasonName")
	}
	if ReasonCode("OBJECT_EXPIRED") != interpv1.ErrorReason_ERROR_REASON_OBJECT_EXPIRED {
		t.Error("ReasonCode")
	}
	if CodeName(codes.ResourceExhausted) != "RESOURCE_EXHAUSTED" || CodeName(codes.Code(99)) != "CODE(99)" {
		t.Error("CodeName")
	}
}
