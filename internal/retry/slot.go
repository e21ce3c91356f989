package retry

import (
	"context"
	"fmt"

	"github.com/paradigm-upload/paradigm-upload/internal/pace"
)

// Slot is the place a request holds in a pool of workers (the uploads of a
// run). A request refused by a service whose refusals do not follow the
// rate waits for its Retry-After alone (the pacer does not hold the pool
// for it): it gives its place back while it waits, so that the pool goes on
// sending at the pace the service serves, and takes a place again to try.
type Slot interface {
	// Release gives the place back.
	Release()
	// Acquire takes a place again; it fails only when ctx is done.
	Acquire(ctx context.Context) error
}

type slotKey struct{}

// WithSlot returns ctx carrying the place its requests hold in their pool;
// with nil, one whose requests keep whatever place they hold.
func WithSlot(ctx context.Context, s Slot) context.Context {
	return context.WithValue(ctx, slotKey{}, s)
}

// SlotOf returns the place ctx's requests hold in their pool, nil when none.
func SlotOf(ctx context.Context) Slot {
	s, _ := ctx.Value(slotKey{}).(Slot)
	return s
}

// ErrWithdrawn is what a request that waited to be sent (again) when its
// run stopped (pace.WithStop) ends with: a WithdrawnError.
var ErrWithdrawn = pace.ErrWithdrawn

// WithdrawnError is a request withdrawn by its run's stop while it waited
// to be sent: for its next try, or for its slot of the pacing.
type WithdrawnError struct {
	Op   string
	Last error // what the last try ended with; nil: none was sent
	// MaybeDone: a try whose answer was lost was sent again as is (a
	// request harmless to repeat); it may have been carried out. An
	// upload's lost answer is asked about before it waits: never so.
	MaybeDone bool
}

func (e *WithdrawnError) Error() string {
	if e.Last == nil {
		return fmt.Sprintf("%s: %v", e.Op, ErrWithdrawn)
	}
	return fmt.Sprintf("%s: %v (%v)", e.Op, ErrWithdrawn, e.Last)
}

// Is makes errors.Is(err, ErrWithdrawn) hold.
func (e *WithdrawnError) Is(target error) bool { return target == ErrWithdrawn }

// Unwrap returns the last try's error.
func (e *WithdrawnError) Unwrap() error { return e.Last }
