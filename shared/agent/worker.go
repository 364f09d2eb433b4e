package agent

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/shadowscale/shadowscale/shared/platform/clock"
)

// Worker applies accepted log entries to the state in the background, in
// seq order, in transactions of up to Chunk entries. At a missing seq it
// waits until the seq arrives or its gap expires (StoreOptions.GapWait),
// then skips it (Store.ApplyPending). With a rate cap it
// applies at most that many mutations per second (a token bucket holding
// a tenth of a second's worth), to emulate a smaller instance: the backlog
// then grows when mutations arrive faster than the cap.
type Worker struct {
	store *Store
	clock clock.Clock
	log   *slog.Logger
	// Chunk bounds the entries applied in one transaction (default 2048).
	Chunk int
	// Poll is the longest the worker sleeps before it looks at the clock
	// again while rate-limited or while a gap is open (default 100ms).
	Poll time.Duration

	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

// NewWorker returns a worker for s. rate caps applied mutations per second;
// 0 means no cap.
func NewWorker(s *Store, c clock.Clock, rate float64, log *slog.Logger) *Worker {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &Worker{store: s, clock: c, log: log, Chunk: 2048, Poll: 100 * time.Millisecond, rate: rate}
	if rate > 0 {
		w.burst = max(1, rate/10)
	}
	return w
}

// Step applies what is pending, as far as the rate cap allows at the
// clock's current time, and returns how many entries it applied.
func (w *Worker) Step() (int, error) {
	limit := max(1, w.Chunk)
	if w.rate > 0 {
		now := w.clock.Now()
		if w.last.IsZero() {
			w.tokens = w.burst
		} else if dt := now.Sub(w.last).Seconds(); dt > 0 {
			w.tokens = min(w.burst, w.tokens+dt*w.rate)
		}
		if w.last.IsZero() || now.After(w.last) {
			w.last = now
		}
		limit = min(limit, int(w.tokens))
		if limit == 0 {
			return 0, nil
		}
	}
	n, err := w.store.ApplyPending(limit)
	if w.rate > 0 {
		w.tokens -= float64(n)
	}
	return n, err
}

// wait is how long to sleep while rate-limited.
func (w *Worker) wait() time.Duration {
	if w.rate <= 0 {
		return w.Poll
	}
	d := time.Duration((1 - (w.tokens - float64(int(w.tokens)))) / w.rate * float64(time.Second))
	return min(w.Poll, max(time.Millisecond, d))
}

// Run applies until ctx is done. A store error is logged and retried after
// a second; a closed store ends the run.
func (w *Worker) Run(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	sleep := func(d time.Duration) bool {
		timer.Reset(d)
		select {
		case <-ctx.Done():
			timer.Stop()
			return false
		case <-timer.C:
			return true
		}
	}
	for ctx.Err() == nil {
		n, err := w.Step()
		switch {
		case errors.Is(err, ErrClosed):
			return err
		case err != nil:
			w.log.Error("apply failed", "err", err)
			if !sleep(time.Second) {
				return nil
			}
			continue
		case n > 0:
			continue
		}
		if w.store.HasReady() { // rate-limited
			if !sleep(w.wait()) {
				return nil
			}
			continue
		}
		// Nothing to apply now: wait for new work, or until the next open
		// gap expires (looking at the clock at least every Poll, which a
		// fake clock in tests needs).
		var expiry <-chan time.Time
		if at, ok := w.store.NextGapDeadline(); ok {
			timer.Reset(min(w.Poll, max(time.Millisecond, at.Sub(w.clock.Now()))))
			expiry = timer.C
		}
		select {
		case <-ctx.Done():
		case <-w.store.Wake():
		case <-expiry:
		}
		timer.Stop()
	}
	return nil
}
