package pace

import (
	"context"
	"errors"
)

// ErrWithdrawn is the error of a request that waited to be sent — for its
// slot of the pacing, or for its next try — when its run stopped
// (WithStop): it was not sent.
var ErrWithdrawn = errors.New("not sent: the run stopped while the request waited")

type stopKey struct{}

type stops struct {
	stop context.Context
	now  <-chan struct{}
}

// WithStop returns ctx whose requests give up waiting to be sent once stop
// is done (a run's first interruption: what is on the wire finishes, what
// waits to be sent does not), or once now is closed (nil: never; looked at
// before and after each wait: the signal that stop follows, seen at once).
func WithStop(ctx, stop context.Context, now <-chan struct{}) context.Context {
	return context.WithValue(ctx, stopKey{}, stops{stop: stop, now: now})
}

// WithoutStop returns ctx whose requests are not withdrawn by a stop
// (WithStop): those that mend what a request begun left half-done.
func WithoutStop(ctx context.Context) context.Context {
	return context.WithValue(ctx, stopKey{}, nil)
}

// Stopped reports whether ctx's requests are withdrawn (WithStop).
func Stopped(ctx context.Context) bool {
	s, ok := ctx.Value(stopKey{}).(stops)
	if !ok {
		return false
	}
	select {
	case <-s.now:
		return true
	default:
		return s.stop.Err() != nil
	}
}

// UntilStopped returns ctx, done also once its requests are withdrawn
// (WithStop).
func UntilStopped(ctx context.Context) (context.Context, context.CancelFunc) {
	s, ok := ctx.Value(stopKey{}).(stops)
	if !ok {
		return ctx, func() {}
	}
	wctx, cancel := context.WithCancel(ctx)
	unhook := context.AfterFunc(s.stop, cancel)
	return wctx, func() { unhook(); cancel() }
}

// SleepUnlessStopped runs sleep (a wait on ctx) unless ctx's requests are
// withdrawn (WithStop) before it or while it waits: then ErrWithdrawn.
func SleepUnlessStopped(ctx context.Context, sleep func(context.Context) error) error {
	if Stopped(ctx) {
		return ErrWithdrawn
	}
	wctx, cancel := UntilStopped(ctx)
	defer cancel()
	err := sleep(wctx)
	if ctx.Err() == nil && Stopped(ctx) {
		return ErrWithdrawn
	}
	return err
}
