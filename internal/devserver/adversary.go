package devserver

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The stand-in as a workspace shared with others, and as a faulty or older
// instance: what a sync must survive without deleting or overwriting what
// is not its own. Each mode is off unless its Config field is set.

// NextLoop bends the next link of list pages after the first: to page 1
// (back) or to the page itself (self), Times times over the server's life,
// or for ever when Times is 0.
type NextLoop struct {
	Mode  string // "", "back" or "self"
	Times int
}

// ParseNextLoop reads "back", "self", "back:3" or "self:3".
func ParseNextLoop(s string) (NextLoop, error) {
	mode, times, counted := strings.Cut(strings.TrimSpace(s), ":")
	l := NextLoop{Mode: mode}
	if counted {
		n, err := strconv.Atoi(times)
		if err != nil || n < 1 {
			return l, fmt.Errorf("%q: the count after ':' must be a positive whole number", s)
		}
		l.Times = n
	}
	return l, l.check()
}

func (l NextLoop) check() error {
	switch l.Mode {
	case "", "back", "self":
	default:
		return fmt.Errorf("next loop %q: the mode is back or self, optionally with :COUNT", l.Mode)
	}
	if l.Times < 0 {
		return fmt.Errorf("next loop: the count must not be negative")
	}
	return nil
}

// bendNext returns the next link of a list page as --next-loop makes it:
// on a page after the first, a link back to page 1 or to the page itself
// (even on the last page, which has none otherwise).
func (s *Server) bendNext(link func(int) *string, page int, next *string) *string {
	l := s.cfg.NextLoop
	if l.Mode == "" || page < 2 {
		return next
	}
	if l.Times > 0 {
		if n := s.stats.loopedNext.Add(1); n > int64(l.Times) {
			s.stats.loopedNext.Add(-1)
			return next
		}
	} else {
		s.stats.loopedNext.Add(1)
	}
	if l.Mode == "back" {
		return link(1)
	}
	return link(page)
}

// seedChurn gives --list-churn's other uploader its first documents, in
// every workspace, before anything else exists: they are the oldest, so
// that deleting them shifts even a list in created_at order.
func (s *Server) seedChurn() error {
	if s.cfg.ListChurn == 0 {
		return nil
	}
	var err error
	s.locked(func() {
		for _, w := range s.cfg.Workspaces {
			for i := 0; i < s.cfg.ListChurn && err == nil; i++ {
				err = s.churnDoc(w.ID)
			}
		}
	})
	return err
}

// churn acts as another uploader before a list page after the first:
// alternately it uploads ListChurn documents into each listed workspace
// (every workspace when the query names none) and deletes its ListChurn
// oldest ones there. Its documents have names, sizes and creation times
// spread among the others', so the pages shift whatever the ordering:
// forward (a document listed twice) where one lands before the page, back
// (a document never listed) where one is deleted before it.
func (s *Server) churn(ws []int64) error {
	if s.cfg.ListChurn == 0 {
		return nil
	}
	var err error
	s.locked(func() {
		s.churnEvents++
		create := s.churnEvents%2 == 1
		targets := ws
		if len(targets) == 0 {
			for _, w := range s.cfg.Workspaces {
				targets = append(targets, w.ID)
			}
		}
		now := s.cfg.Now().UnixNano()
		for _, w := range targets {
			if s.workspace(w) == nil {
				continue
			}
			for i := 0; i < s.cfg.ListChurn && err == nil; i++ {
				if create {
					err = s.churnDoc(w)
					continue
				}
				old := s.churned[w]
				if len(old) == 0 {
					break
				}
				if err = s.remove(old[0], now); err == nil {
					s.stats.churnDeleted.Add(1)
				}
			}
		}
	})
	return err
}

// churnDoc uploads one document of the other uploader into ws: half of
// them with no external metadata (as the web interface and
// batch_upload_v3.py make them), half with an external id of its own.
// s.mu must be held.
func (s *Server) churnDoc(ws int64) error {
	s.churnSeq++
	n := s.churnSeq
	h := fnv.New64a()
	_ = binary.Write(h, binary.LittleEndian, n)
	sum := h.Sum64()
	name := fmt.Sprintf("%08x.txt", uint32(sum))
	content := fmt.Sprintf("a document of another uploader, number %d\n%s", n, strings.Repeat("~", int(sum%4000)))
	in, err := s.stage([]byte(content))
	if err != nil {
		return err
	}
	nd := newDoc{file: in, ws: ws, name: name, ext: "txt", session: s.churnUUID, churn: true}
	if n%2 == 0 {
		nd.meta = &extMeta{ExternalID: fmt.Sprintf("devserver-churn-%d", n),
			AdditionalMetadata: json.RawMessage(`{"uploaded_by":"another-integration"}`)}
	}
	if _, err := s.insert(nd); err != nil {
		if in.tmp != "" {
			_ = os.Remove(in.tmp)
		}
		return err
	}
	s.stats.churnCreated.Add(1)
	return nil
}

// dropChurned forgets a deleted document of the other uploader. s.mu must
// be held.
func (s *Server) dropChurned(d *document) {
	ds := s.churned[d.ws]
	for i, x := range ds {
		if x == d {
			s.churned[d.ws] = append(ds[:i:i], ds[i+1:]...)
			return
		}
	}
}

// stage makes a received file of content, as an upload's body would be:
// hashed, and with a data dir written to a temporary file there.
func (s *Server) stage(content []byte) (incoming, error) {
	in := incoming{size: int64(len(content)), sha: sha256.Sum256(content)}
	if s.manifest == nil {
		return in, nil
	}
	tmp, err := os.CreateTemp(filepath.Join(s.cfg.DataDir, "files"), ".incoming-*")
	if err != nil {
		return in, err
	}
	in.tmp = tmp.Name()
	if _, err := tmp.Write(content); err != nil {
		tmp.Close()
		os.Remove(in.tmp)
		return in, err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(in.tmp)
		return in, err
	}
	return in, nil
}

// snapshot is the documents as POST /_devserver/snapshot saw them: every
// document ever created (the deleted ones hold their ids), deep copies.
type snapshot struct {
	docs []document
}

// takeSnapshot copies every document. s.mu must be held.
func (s *Server) takeSnapshot() *snapshot {
	snap := &snapshot{docs: make([]document, len(s.all.docs))}
	for i, d := range s.all.docs {
		snap.docs[i] = copyDoc(d)
	}
	return snap
}

func copyDoc(d *document) document {
	c := *d
	c.tags = append([]int64(nil), d.tags...)
	if d.next != nil {
		next := *d.next
		c.next = &next
	}
	return c
}

// restore puts every document back as snap holds it and the id counter
// with them: documents created since are gone, and the next upload takes
// the id after the snapshot's last, reusing the ids they had (an instance
// restored from a backup). s.mu must be held.
func (s *Server) restore(snap *snapshot) error {
	now := s.cfg.Now().UnixNano()
	if s.manifest != nil {
		if err := s.log(map[string]any{"op": "restore", "documents": len(snap.docs)}); err != nil {
			return err
		}
	}
	s.all = &index{}
	s.byWS = map[int64]*index{}
	for _, w := range s.cfg.Workspaces {
		s.byWS[w.ID] = &index{updated: now}
	}
	s.bySession, s.byExt, s.names = map[string]*index{}, map[extKey][]*document{}, map[nameKey]struct{}{}
	s.tagDocs, s.caches, s.churned = map[int64]int{}, map[cacheKey]*sortCache{}, map[int64][]*document{}
	s.filtered = nil
	for i := range snap.docs {
		c := copyDoc(&snap.docs[i])
		d := &c
		deleted := d.deleted
		d.deleted = false
		s.index(d)
		if !deleted {
			s.names[nameKey{d.ws, strings.ToLower(d.latest().filename)}] = struct{}{}
		} else {
			// Held its id; gone as it was, without a trace in the counters.
			d.deleted = true
			s.all.drop(int(d.id - 1))
			wx := s.byWS[d.ws]
			wx.drop(int(d.wsPos))
			wx.bytes -= d.latest().size
			s.bySession[d.session].drop(int(d.sessPos))
			s.extDel(d)
			for _, t := range d.tags {
				s.tagDocs[t]--
			}
			if d.churn {
				s.dropChurned(d)
			}
		}
	}
	for _, x := range s.byWS {
		x.updated = now
	}
	return nil
}
