package scan

import (
	"io/fs"
	"os"
	"sync/atomic"
	"time"
)

// stat is what lstat said of an entry, read ahead of the walk.
type stat struct {
	info os.FileInfo
	err  error
	ok   bool // read ahead; otherwise the walk reads it itself
}

// The read-ahead of a folder's entries: in chunks, a few chunks ahead of
// the walk, on a few goroutines.
const (
	prefetchChunk   = 32
	prefetchAhead   = 8 // chunks
	prefetchWorkers = 4
	// prefetchFresh is how old details read ahead may be when the walk
	// uses them.
	prefetchFresh = time.Second
)

// prefetcher reads the details of a folder's entries (lstat, one system
// call each) ahead of the walk, on a few goroutines: the calls overlap one
// another and the work the walk's callback does between them. It keeps at
// most prefetchAhead chunks ahead, so a folder of a million files costs no
// more memory than one of a few hundred.
type prefetcher struct {
	entries []fs.DirEntry
	stats   []stat
	done    []chan struct{} // closed when its chunk is read
	at      []time.Time     // when each chunk was read
	jobs    chan int        // chunks to read
	next    int             // the next chunk to queue
	closed  bool            // jobs is closed
	stopped atomic.Bool
}

// newPrefetcher starts reading ahead; nil (no read-ahead) for a folder too
// small to gain from it.
func newPrefetcher(entries []fs.DirEntry) *prefetcher {
	if len(entries) < 2*prefetchChunk {
		return nil
	}
	n := (len(entries) + prefetchChunk - 1) / prefetchChunk
	p := &prefetcher{entries: entries, stats: make([]stat, len(entries)), done: make([]chan struct{}, n),
		at: make([]time.Time, n), jobs: make(chan int, n)}
	for i := range p.done {
		p.done[i] = make(chan struct{})
	}
	for g := 0; g < min(prefetchWorkers, n); g++ {
		go p.work()
	}
	for p.next < min(n, prefetchAhead) {
		p.queue()
	}
	return p
}

func (p *prefetcher) queue() {
	p.jobs <- p.next // (never blocks: room for every chunk)
	p.next++
	if p.next == len(p.done) {
		close(p.jobs)
		p.closed = true
	}
}

func (p *prefetcher) work() {
	for c := range p.jobs {
		if !p.stopped.Load() {
			for i := c * prefetchChunk; i < min(len(p.entries), (c+1)*prefetchChunk); i++ {
				if p.entries[i].Type()&fs.ModeSymlink == 0 {
					info, err := p.entries[i].Info()
					p.stats[i] = stat{info: info, err: err, ok: true}
				}
			}
			p.at[c] = time.Now()
		}
		close(p.done[c])
	}
}

// get returns what was read ahead of entry i (waiting for it), to be
// called for each entry in order.
func (p *prefetcher) get(i int) stat {
	if p == nil {
		return stat{}
	}
	c := i / prefetchChunk
	if i%prefetchChunk == 0 && !p.closed {
		p.queue()
	}
	<-p.done[c]
	s := p.stats[i]
	p.stats[i] = stat{}
	if time.Since(p.at[c]) > prefetchFresh {
		// Read before the walk went down a large folder: read again.
		return stat{}
	}
	return s
}

// stop ends the read-ahead: the goroutines finish the chunk at hand and
// return.
func (p *prefetcher) stop() {
	if p == nil {
		return
	}
	p.stopped.Store(true)
	if !p.closed {
		close(p.jobs)
		p.closed = true
	}
}
