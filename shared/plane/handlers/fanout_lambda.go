package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/aws/aws-lambda-go/lambda"
)

// Invoker adapts a handler whose answer is any JSON document to
// lambda.Handler, as Lambda does for a Response: the raw payload reaches
// the handler untouched, metrics are flushed after every invocation, and a
// panic is logged with its stack and returned as an error (Lambda retries
// the invocation) instead of killing the runtime. The fanout answers an
// events.KinesisEventResponse, the forecaster a ForecastResponse.
type Invoker[T any] struct {
	Handle  func(ctx context.Context, payload []byte) (T, error)
	Metrics Flusher // may be nil
	Log     *slog.Logger
}

var _ lambda.Handler = Lambda{}

// Invoke implements lambda.Handler.
func (l Invoker[T]) Invoke(ctx context.Context, payload []byte) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			l.Log.ErrorContext(ctx, "handler panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			out, err = nil, fmt.Errorf("handler panicked: %v", p)
		}
		if l.Metrics != nil {
			if ferr := l.Metrics.Flush(); ferr != nil {
				l.Log.WarnContext(ctx, "could not flush metrics", "err", ferr)
			}
		}
	}()
	resp, err := l.Handle(ctx, payload)
	if err != nil {
		l.Log.ErrorContext(ctx, "invocation failed; Lambda will retry it", "err", err)
		return nil, err
	}
	b, err := json.Marshal(resp)
	if err != nil {
		return nil, fmt.Errorf("encoding the response: %w", err)
	}
	return b, nil
}
