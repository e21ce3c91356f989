package devserver

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// ServeOptions tune Serve.
type ServeOptions struct {
	// ShutdownGrace bounds the graceful shutdown once the context is done;
	// 5 s when zero.
	ShutdownGrace time.Duration
	// OnListening, when set, is called with false when a refuse window has
	// closed the listener and every connection, and with true once the
	// server listens again.
	OnListening func(listening bool)
}

// refuseGrace is how long the answers being written when a refuse window
// opens have to finish.
const refuseGrace = 200 * time.Millisecond

// Serve serves srv on ln until ctx is done, then shuts down gracefully. It
// owns the listener, so it carries out the refuse windows (OutageRefuse),
// whether configured or opened through /_devserver/outage: when one opens
// it stops listening and closes every connection, idle or active, so that
// clients see their connections refused; when it closes it listens again on
// the same address.
func Serve(ctx context.Context, ln net.Listener, srv *Server, opt ServeOptions) error {
	if opt.ShutdownGrace == 0 {
		opt.ShutdownGrace = 5 * time.Second
	}
	addr := ln.Addr().String()
	for {
		hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
		errc := make(chan error, 1)
		go func(l net.Listener) { errc <- hs.Serve(l) }(ln)
		refuse, err := srv.untilRefuse(ctx, errc)
		if !refuse {
			if err != nil {
				return err
			}
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opt.ShutdownGrace)
			err := hs.Shutdown(sctx)
			cancel()
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				return err
			}
			return nil
		}
		// The listener and every connection close; the answers being
		// written get a moment first (the admin request that opened the
		// window among them), the rest are cut.
		gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refuseGrace)
		_ = hs.Shutdown(gctx)
		cancel()
		_ = hs.Close()
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		srv.stats.listenerStops.Add(1)
		if opt.OnListening != nil {
			opt.OnListening(false)
		}
		if !srv.whileRefusing(ctx) {
			return nil
		}
		if ln, err = (&net.ListenConfig{}).Listen(ctx, "tcp", addr); err != nil {
			return err
		}
		if opt.OnListening != nil {
			opt.OnListening(true)
		}
	}
}

// untilRefuse waits until a refuse window opens (true), the context is done
// (false, nil) or the server fails (false, its error).
func (s *Server) untilRefuse(ctx context.Context, errc <-chan error) (bool, error) {
	for {
		now := s.cfg.Now()
		var due <-chan time.Time
		var t *time.Timer
		if win, ok := s.outages.nextRefuse(now); ok {
			t = time.NewTimer(max(0, win.from.Sub(now)))
			due = t.C
		}
		select {
		case <-ctx.Done():
			stopTimer(t)
			return false, nil
		case err := <-errc:
			stopTimer(t)
			return false, err
		case <-s.outages.changed:
			stopTimer(t)
		case <-due:
			if _, open := s.outages.refuseAt(s.cfg.Now()); open {
				return true, nil
			}
		}
	}
}

// whileRefusing waits until no refuse window is open; false when the
// context is done first.
func (s *Server) whileRefusing(ctx context.Context) bool {
	for {
		now := s.cfg.Now()
		win, ok := s.outages.refuseAt(now)
		if !ok {
			return true
		}
		t := time.NewTimer(win.to.Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-s.outages.changed:
			t.Stop()
		case <-t.C:
		}
	}
}

func stopTimer(t *time.Timer) {
	if t != nil {
		t.Stop()
	}
}
