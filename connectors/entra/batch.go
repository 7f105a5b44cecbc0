package entra

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoft/kiota-abstractions-go/serialization"
	msgraphgocore "github.com/microsoftgraph/msgraph-sdk-go-core"

	"github.com/jitd/jitd/connectors"
)

// answer is one request's answer in a JSON batch: its status, and its body
// read as the type factory makes.
type answer struct {
	Status int
	resp   msgraphgocore.BatchResponse
	id     string
}

func (a answer) read(factory serialization.ParsableFactory) (serialization.Parsable, error) {
	if item := a.resp.GetResponseById(a.id); item == nil || item.GetBody() == nil {
		return nil, errors.New("the answer has no body")
	}
	return msgraphgocore.GetBatchResponseById[serialization.Parsable](a.resp, a.id, factory)
}

// batched sends reqs in JSON batches of batchMax and gives each request's
// answer to done, in order, batch by batch. An answer that speaks for the
// whole call (throttled, refused permission, a server error) ends it with
// that error; done sees the others, successes and per-object 4xx alike.
func (c *Conn) batched(ctx context.Context, op, perm string, reqs []*abstractions.RequestInformation, done func(i int, a answer) error) error {
	for start := 0; start < len(reqs); start += batchMax {
		chunk := reqs[start:min(start+batchMax, len(reqs))]
		batch := msgraphgocore.NewBatchRequest(c.adapter)
		ids := make([]string, len(chunk))
		for j, info := range chunk {
			item, err := batch.AddBatchRequestStep(*info)
			if err != nil {
				return fmt.Errorf("entra: %s: %w: %v", op, connectors.ErrInvalid, err)
			}
			ids[j] = str(item.GetId())
		}
		resp, err := batch.Send(ctx, c.adapter)
		if err != nil {
			return mapErr(op, perm, err)
		}
		statuses := map[string]int{}
		var systemic error
		for _, item := range resp.GetResponses() {
			if item.GetStatus() == nil {
				continue
			}
			status := int(*item.GetStatus())
			statuses[str(item.GetId())] = status
			if err := batchStatusErr(op, perm, status, item.GetHeaders()); err != nil && systemic == nil {
				systemic = err
			}
		}
		if systemic != nil {
			return systemic
		}
		for j, id := range ids {
			status, ok := statuses[id]
			if !ok {
				return fmt.Errorf("entra: %s: %w: the batch came back without an answer for request %s", op, connectors.ErrUnavailable, id)
			}
			if err := done(start+j, answer{Status: status, resp: resp, id: id}); err != nil {
				return err
			}
		}
	}
	return nil
}

// batchStatusErr is the error an answer in a batch means for the whole
// call, or nil when it concerns its own object only.
func batchStatusErr(op, perm string, status int, headers msgraphgocore.RequestHeader) error {
	switch {
	case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout:
		wait := time.Duration(0)
		for _, k := range []string{"Retry-After", "retry-after"} {
			if v, ok := headers[k]; ok && wait == 0 {
				wait = retryAfter(v, time.Minute)
			}
		}
		if wait == 0 {
			wait = time.Minute
		}
		return fmt.Errorf("entra: %s: %w", op, &connectors.RateLimitError{Wait: wait, Msg: "Graph throttled a batched request (HTTP " + strconv.Itoa(status) + ")"})
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return fmt.Errorf("entra: %s: %w: jitd's app lacks the Graph application permission %s (HTTP %d); grant it with admin consent under App registrations, API permissions", op, connectors.ErrPermission, perm, status)
	case status >= 500:
		return fmt.Errorf("entra: %s: %w: HTTP %d", op, connectors.ErrUnavailable, status)
	}
	return nil
}

// ok reports a 2xx answer.
func (a answer) ok() bool { return a.Status >= 200 && a.Status < 300 }

// requests builds one request per item.
func requests[T any](items []T, build func(T) (*abstractions.RequestInformation, error)) ([]*abstractions.RequestInformation, error) {
	out := make([]*abstractions.RequestInformation, 0, len(items))
	for _, it := range items {
		info, err := build(it)
		if err != nil {
			return nil, fmt.Errorf("entra: %w: %v", connectors.ErrInvalid, err)
		}
		out = append(out, info)
	}
	return slices.Clip(out), nil
}
