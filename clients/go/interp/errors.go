package interp

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	interpv1 "github.com/interp-suite/interp-suite/clients/go/gen/interp/v1"
)

// ErrorDomain is the google.rpc.ErrorInfo domain of the fleet's errors.
const ErrorDomain = "interp.v1"

// FieldViolation is one bad request field, from the error's google.rpc.BadRequest detail.
type FieldViolation struct {
	// Field is the path of the field, e.g. "selection.layers[0]".
	Field string
	// Description says what is wrong with it.
	Description string
}

// Error is a failed call as the fleet reports it: the gRPC status and the google.rpc.ErrorInfo
// and google.rpc.BadRequest details of its google.rpc.Status.
//
// Every call through a Client (the typed stubs included) fails with an *Error for a gRPC status,
// so callers can write
//
//	var e *interp.Error
//	if errors.As(err, &e) && e.Reason == "LAYER_OUT_OF_RANGE" { ... }
//
// status.FromError and status.Code work on it as well (it has GRPCStatus).
type Error struct {
	// Code is the gRPC status code.
	Code codes.Code
	// Message is the status message.
	Message string
	// Reason is the ErrorInfo reason, e.g. "LAYER_OUT_OF_RANGE": an interpv1.ErrorReason value
	// name without its "ERROR_REASON_" prefix. Empty when the status carried no ErrorInfo (an
	// error from the transport, for one).
	Reason string
	// ReasonCode is Reason as an interpv1.ErrorReason (ERROR_REASON_UNSPECIFIED when Reason is
	// empty or newer than this SDK's contract).
	ReasonCode interpv1.ErrorReason
	// Domain is the ErrorInfo domain ("interp.v1" for the fleet's own errors).
	Domain string
	// Metadata is the ErrorInfo metadata (e.g. "error_id" of an INTERNAL error).
	Metadata map[string]string
	// FieldViolations are the BadRequest field violations (INVALID_ARGUMENT errors).
	FieldViolations []FieldViolation

	status *status.Status
	cause  error
}

// Error formats as the Python SDK does: "INVALID_ARGUMENT (LAYER_OUT_OF_RANGE): message".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(CodeName(e.Code))
	if e.Reason != "" {
		b.WriteString(" (")
		b.WriteString(e.Reason)
		b.WriteString(")")
	}
	b.WriteString(": ")
	b.WriteString(e.Message)
	return b.String()
}

// GRPCStatus is the status the error came from, for grpc's status.FromError and status.Code.
func (e *Error) GRPCStatus() *status.Status {
	if e.status != nil {
		return e.status
	}
	return status.New(e.Code, e.Message)
}

// Unwrap is the error grpc returned.
func (e *Error) Unwrap() error { return e.cause }

// Is reports whether target is an *Error with the same code and (when target's is set) reason,
// so errors.Is(err, &interp.Error{Code: codes.NotFound, Reason: "OBJECT_EXPIRED"}) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	return t.Code == e.Code && (t.Reason == "" || t.Reason == e.Reason)
}

// HasReason reports whether the error's reason is r.
func (e *Error) HasReason(r interpv1.ErrorReason) bool {
	return e.Reason != "" && e.Reason == ReasonName(r)
}

// ReasonName is an ErrorReason as it travels in ErrorInfo.reason: "LAYER_OUT_OF_RANGE" for
// ERROR_REASON_LAYER_OUT_OF_RANGE.
func ReasonName(r interpv1.ErrorReason) string {
	return strings.TrimPrefix(r.String(), "ERROR_REASON_")
}

// ReasonCode is the ErrorReason of an ErrorInfo reason ("LAYER_OUT_OF_RANGE"), or
// ERROR_REASON_UNSPECIFIED for one the contract does not list.
func ReasonCode(reason string) interpv1.ErrorReason {
	if reason == "" {
		return interpv1.ErrorReason_ERROR_REASON_UNSPECIFIED
	}
	return interpv1.ErrorReason(interpv1.ErrorReason_value["ERROR_REASON_"+reason])
}

// AsError finds the *Error in err's chain; failing that, it decodes a gRPC status error (one
// that did not pass through a Client's interceptors). ok is false for nil and for errors that
// carry no gRPC status.
func AsError(err error) (*Error, bool) {
	if err == nil {
		return nil, false
	}
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	var withStatus interface{ GRPCStatus() *status.Status }
	if errors.As(err, &withStatus) {
		return fromStatus(withStatus.GRPCStatus(), err), true
	}
	return nil, false
}

// FromStatus decodes a status and its details.
func FromStatus(s *status.Status) *Error {
	return fromStatus(s, s.Err())
}

// wrapError turns a gRPC status error into an *Error, and context errors into the matching
// CANCELLED / DEADLINE_EXCEEDED *Error; other errors (nil included) pass unchanged.
func wrapError(err error) error {
	if err == nil {
		return nil
	}
	if e, ok := AsError(err); ok {
		return e
	}
	switch {
	case errors.Is(err, context.Canceled):
		return &Error{Code: codes.Canceled, Message: err.Error(), cause: err}
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Code: codes.DeadlineExceeded, Message: err.Error(), cause: err}
	}
	return err
}

func fromStatus(s *status.Status, cause error) *Error {
	e := &Error{Code: s.Code(), Message: s.Message(), status: s, cause: cause}
	for _, d := range s.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			e.Reason = d.GetReason()
			e.Domain = d.GetDomain()
			if md := d.GetMetadata(); len(md) > 0 {
				e.Metadata = make(map[string]string, len(md))
				for k, v := range md {
					e.Metadata[k] = v
				}
			}
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				e.FieldViolations = append(e.FieldViolations, FieldViolation{Field: v.GetField(), Description: v.GetDescription()})
			}
		}
	}
	e.ReasonCode = ReasonCode(e.Reason)
	return e
}

var codeNames = map[codes.Code]string{
	codes.OK:                 "OK",
	codes.Canceled:           "CANCELLED",
	codes.Unknown:            "UNKNOWN",
	codes.InvalidArgument:    "INVALID_ARGUMENT",
	codes.DeadlineExceeded:   "DEADLINE_EXCEEDED",
	codes.NotFound:           "NOT_FOUND",
	codes.AlreadyExists:      "ALREADY_EXISTS",
	codes.PermissionDenied:   "PERMISSION_DENIED",
	codes.ResourceExhausted:  "RESOURCE_EXHAUSTED",
	codes.FailedPrecondition: "FAILED_PRECONDITION",
	codes.Aborted:            "ABORTED",
	codes.OutOfRange:         "OUT_OF_RANGE",
	codes.Unimplemented:      "UNIMPLEMENTED",
	codes.Internal:           "INTERNAL",
	codes.Unavailable:        "UNAVAILABLE",
	codes.DataLoss:           "DATA_LOSS",
	codes.Unauthenticated:    "UNAUTHENTICATED",
}

// CodeName is a gRPC code's canonical name, e.g. "INVALID_ARGUMENT" (grpc-go's String gives
// "InvalidArgument").
func CodeName(c codes.Code) string {
	if n, ok := codeNames[c]; ok {
		return n
	}
	return fmt.Sprintf("CODE(%d)", uint32(c))
}
