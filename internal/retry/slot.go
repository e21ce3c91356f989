package retry

import "context"

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
