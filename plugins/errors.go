package plugins

import (
	"errors"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/schema/proto/connectorpb"
)

// errorCodes is the one table between connector sentinels and gRPC codes.
// Anything else crosses as Unknown and is treated as retryable.
var errorCodes = []struct {
	err  error
	code codes.Code
}{
	{connectors.ErrNotFound, codes.NotFound},
	{connectors.ErrUnavailable, codes.Unavailable},
	{connectors.ErrRateLimited, codes.ResourceExhausted},
	{connectors.ErrPermission, codes.PermissionDenied},
	{connectors.ErrInvalid, codes.InvalidArgument},
	{connectors.ErrCursorExpired, codes.FailedPrecondition},
	{connectors.ErrConflict, codes.AlreadyExists},
}

func codeOf(err error) codes.Code {
	for _, e := range errorCodes {
		if errors.Is(err, e.err) {
			return e.code
		}
	}
	return codes.Unknown
}

// remoteError is an error that came back from a plugin: the message is the
// plugin's, errors.Is matches the sentinel its code stands for.
type remoteError struct {
	msg      string
	sentinel error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.sentinel }

func fromCode(code codes.Code, msg string, retryAfter time.Duration) error {
	if code == codes.ResourceExhausted {
		return &connectors.RateLimitError{Wait: retryAfter, Msg: msg}
	}
	// Transport failures (the child died, the connection broke) arrive as
	// Unavailable or Canceled-by-transport and are worth a retry.
	for _, e := range errorCodes {
		if e.code == code {
			return &remoteError{msg: msg, sentinel: e.err}
		}
	}
	return &remoteError{msg: msg}
}

// toStatus turns a connector error into a gRPC status error (plugin side).
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	st := status.New(codeOf(err), err.Error())
	if wait, ok := connectors.RetryAfter(err); ok {
		if withInfo, derr := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(wait)}); derr == nil {
			st = withInfo
		}
	}
	return st.Err()
}

// fromStatus turns a gRPC error back into a connector error (host side).
func fromStatus(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return &remoteError{msg: err.Error(), sentinel: connectors.ErrUnavailable}
	}
	var wait time.Duration
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			wait = ri.GetRetryDelay().AsDuration()
		}
	}
	return fromCode(st.Code(), st.Message(), wait)
}

// toPB turns a per-member error into its message form.
func toPB(err error) *connectorpb.Error {
	if err == nil {
		return nil
	}
	e := &connectorpb.Error{Code: int32(codeOf(err)), Message: err.Error()}
	if wait, ok := connectors.RetryAfter(err); ok {
		e.RetryAfterMs = wait.Milliseconds()
	}
	return e
}

func fromPB(e *connectorpb.Error) error {
	if e == nil {
		return nil
	}
	return fromCode(codes.Code(e.Code), e.Message, time.Duration(e.RetryAfterMs)*time.Millisecond)
}
