package upload

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/paradigm-upload/paradigm-upload/internal/api"
	"github.com/paradigm-upload/paradigm-upload/internal/scan"
	"github.com/paradigm-upload/paradigm-upload/internal/state"
)

// Moves and adoptions. A file the scan finds without a document of its own
// may have one under another name:
//
//   - its file was moved or renamed: a document of this source whose file
//     is gone holds the same content (the sha256 its version carries) — it
//     is moved: one PATCH of its identity, path, version, and of its title
//     when that is the default one (the old file's name); same id, tags and
//     classifications, nothing sent again, nothing processed again;
//   - it was uploaded before this tool, by batch_upload_v3.py or the web
//     interface: a document without an external id has its name (the
//     title, which the service sets from the file name and keeps when it
//     renames the stored filename on a collision, and the extension) and
//     size — it is adopted: one PATCH writes its identity and version.
//
// Which documents' files are gone is known only once the scan has seen
// the whole tree, and two files may claim one document: such files wait
// until the walk ends (deferred); every other file goes at once. What
// waits is only what could match: a file of the size of one of this
// source's documents, or of the name of a document without identity.
//
// Pairs are never guessed. Several documents and files with one content:
// same file name first, then in path order; the rest are uploaded (files)
// or left to --delete (documents). Adoption: a pair that name and size
// make unique is adopted; where they do not, the documents' content is
// downloaded and compared; what is still ambiguous is uploaded, and said.
// A move is made only where a deletion would be: on proof that the
// document is this source's, in this workspace, and its file gone (see
// delete.go); it never counts toward --max-delete.

// unownedDoc is a document without identity that a file may adopt.
type unownedDoc struct {
	id      int64
	size    int64
	title   string
	tags    []api.Tag
	sha     string // downloaded, when it had to be
	claimed bool
}

// resolver holds what moves and adoptions need.
type resolver struct {
	once  sync.Once
	sizes []int64 // sorted sizes of this source's documents, for moves

	mu       sync.Mutex
	unowned  map[string][]*unownedDoc // by nameKey, from a listing
	deferred []scan.Entry
}

// nameKey is the name a document without identity is known by: its title
// and extension (or a file's base name, split so).
func nameKey(title, ext string) string {
	return title + "\x00" + strings.ToLower(strings.TrimPrefix(ext, "."))
}

// fileNameKey is the name key of a file, by its base name.
func fileNameKey(key string) string {
	base := path.Base(key)
	ext := path.Ext(base)
	return nameKey(strings.TrimSuffix(base, ext), ext)
}

// addUnowned notes a listed document without identity, in the workspace.
func (s *resolver) addUnowned(f *api.File) {
	if f.Size == nil || f.Title == "" {
		return
	}
	ext := f.Extension
	if ext == "" {
		ext = path.Ext(f.Filename)
	}
	if s.unowned == nil {
		s.unowned = map[string][]*unownedDoc{}
	}
	k := nameKey(f.Title, ext)
	s.unowned[k] = append(s.unowned[k], &unownedDoc{id: f.ID, size: *f.Size, title: f.Title, tags: f.Tags})
}

// sourceSizes returns the sorted sizes of this source's documents, read
// once: from the listing, or from the state file.
func (r *runner) sourceSizes() []int64 {
	r.res.once.Do(func() {
		var sizes []int64
		switch {
		case r.remote != nil:
			sizes = r.remote.sizes()
		case r.recorded != nil:
			r.recorded.Each(func(_ string, e state.Entry) { sizes = append(sizes, e.Size) })
		}
		slices.Sort(sizes)
		r.res.sizes = slices.Compact(sizes)
	})
	return r.res.sizes
}

// deferNew reports whether a file without a document of its own waits for
// the end of the walk, because it may be a move or an adoption; it then
// keeps it.
func (r *runner) deferNew(e scan.Entry) bool {
	if r.o.NoExternalID {
		return false
	}
	_, sized := slices.BinarySearch(r.sourceSizes(), e.Size)
	r.res.mu.Lock()
	defer r.res.mu.Unlock()
	named := len(r.res.unowned[fileNameKey(e.Key)]) > 0
	if !sized && !named {
		return false
	}
	r.res.deferred = append(r.res.deferred, e)
	return true
}

// resolve settles, once the walk has ended, the files that waited: moves,
// then adoptions, then uploads. It sends their jobs to queue.
func (r *runner) resolve(ctx context.Context, queue chan<- job) error {
	r.res.mu.Lock()
	files := r.res.deferred
	r.res.deferred = nil
	r.res.mu.Unlock()
	if len(files) == 0 {
		return nil
	}
	slices.SortFunc(files, func(a, b scan.Entry) int { return strings.Compare(a.Key, b.Key) })
	send := func(j job) error {
		select {
		case queue <- j:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// What resolve asks of the service stops at a first interruption
	// (the dispatch's context): the files left then go to the queue,
	// which ends them as not attempted.
	ask := r.dispatch
	rest, err := r.moves(ask, files, send)
	if err != nil {
		if r.interrupted(ask) == nil {
			return err
		}
		r.setStopped(StopInterrupted)
		rest = files
	}
	if r.interrupted(ask) == nil {
		if rest, err = r.adoptions(ask, rest, send); err != nil {
			return err
		}
	}
	for _, e := range rest {
		if err := send(job{e: e, kind: jobUpload}); err != nil {
			return err
		}
	}
	return nil
}

// moves pairs files with the documents of this source whose file is gone
// and that hold their content, and sends a move for each pair. It returns
// the files left.
func (r *runner) moves(ctx context.Context, files []scan.Entry, send func(job) error) ([]scan.Entry, error) {
	// Cheaply first: documents whose file is gone, of a size some file has.
	sizes := map[int64]bool{}
	for _, e := range files {
		sizes[e.Size] = true
	}
	cands := r.goneOfSizes(sizes)
	if len(cands) == 0 || r.scanned.Load() == 0 || r.unreadable.Load() > 0 {
		return files, nil
	}
	sums := contentSums(files, cands)
	var pairs map[int]doomed
	if r.remote != nil {
		// The listing's documents are named (their key, which pairs by
		// name first) by the proof: those of a content some file has are
		// proven, then paired.
		gone, err := r.prove(ctx, ofContents(cands, sums))
		if err != nil {
			return nil, err
		}
		pairs = r.pairByContent(files, gone, sums)
	} else {
		// The state names them and knows their content: paired first,
		// and only the documents paired are proven (a night of 1,000
		// removals and 1,000 new files of one size asked about all 1,000
		// documents to move none).
		pairs = r.pairByContent(files, cands, sums)
		paired := make([]doomed, 0, len(pairs))
		for _, d := range pairs {
			paired = append(paired, d)
		}
		gone, err := r.prove(ctx, paired)
		if err != nil {
			return nil, err
		}
		proven := make(map[int64]doomed, len(gone))
		for _, d := range gone {
			proven[d.docID] = d
		}
		for fi, d := range pairs {
			if pd, ok := proven[d.docID]; ok {
				pairs[fi] = pd
			} else {
				delete(pairs, fi) // it goes as an upload
			}
		}
	}
	for fi := range files {
		d, ok := pairs[fi]
		if !ok {
			continue
		}
		// Taken by the move, whatever becomes of it: never deleted.
		if r.remote != nil {
			r.remote.markSeen(d.docID)
		} else {
			r.recorded.MarkSeen(d.key)
		}
		if err := send(job{e: files[fi], kind: jobMove, from: d}); err != nil {
			return nil, err
		}
	}
	rest := files[:0:0]
	for i, e := range files {
		if _, moved := pairs[i]; !moved {
			rest = append(rest, e)
		}
	}
	return rest, nil
}

// contentSums hashes the files of a size some document of docs has (read
// once more; a move then sends nothing): the first 32 hex digits of each
// sha256, what a document's version is compared by, by index into files.
// A file that cannot be read has none (it goes as an upload, which says
// what is wrong).
func contentSums(files []scan.Entry, docs []doomed) map[int]string {
	sizes := map[int64]bool{}
	for _, d := range docs {
		sizes[d.size] = true
	}
	sums := map[int]string{}
	for i, e := range files {
		if !sizes[e.Size] {
			continue
		}
		if sum, err := fileSHA256(e.Path); err == nil {
			sums[i] = sum[:32]
		}
	}
	return sums
}

// ofContents returns the documents of docs whose content one of sums is.
func ofContents(docs []doomed, sums map[int]string) []doomed {
	have := make(map[string]bool, len(sums))
	for _, sum := range sums {
		have[sum] = true
	}
	var out []doomed
	for _, d := range docs {
		if len(d.sha) >= 32 && have[d.sha[:32]] {
			out = append(out, d)
		}
	}
	return out
}

// pairByContent pairs the files of sums with the documents of their
// content (pairUp), protected keys aside. It returns the pairs by index
// into files.
func (r *runner) pairByContent(files []scan.Entry, docs []doomed, sums map[int]string) map[int]doomed {
	bySize := map[int64][]doomed{}
	for _, d := range docs {
		if !r.isProtected(d.key) {
			bySize[d.size] = append(bySize[d.size], d)
		}
	}
	type pairable struct {
		files []int // indexes into files
		docs  []doomed
	}
	byContent := map[string]*pairable{}
	var order []string
	for i, e := range files {
		sum, ok := sums[i]
		if !ok || len(bySize[e.Size]) == 0 {
			continue
		}
		p := byContent[sum]
		if p == nil {
			p = &pairable{}
			for _, d := range bySize[e.Size] {
				if d.sha != "" && state.SameContent(d.sha, sum) {
					p.docs = append(p.docs, d)
				}
			}
			byContent[sum] = p
			order = append(order, sum)
		}
		p.files = append(p.files, i)
	}
	pairs := map[int]doomed{}
	for _, sum := range order {
		p := byContent[sum]
		for fi, d := range pairUp(files, p.files, p.docs) {
			pairs[fi] = d
		}
	}
	return pairs
}

// pairUp pairs files (indexes into all) with documents of the same content,
// deterministically: a document with the file's name first, then in path
// order.
func pairUp(all []scan.Entry, files []int, docs []doomed) map[int]doomed {
	pairs := map[int]doomed{}
	if len(docs) == 0 {
		return pairs
	}
	slices.SortFunc(docs, func(a, b doomed) int { return strings.Compare(a.key, b.key) })
	used := make([]bool, len(docs))
	for _, fi := range files {
		for j, d := range docs {
			if !used[j] && path.Base(d.key) == path.Base(all[fi].Key) {
				used[j], pairs[fi] = true, d
				break
			}
		}
	}
	for _, fi := range files {
		if _, ok := pairs[fi]; ok {
			continue
		}
		for j, d := range docs {
			if !used[j] {
				used[j], pairs[fi] = true, d
				break
			}
		}
	}
	return pairs
}

// goneOfSizes returns the documents of this source (and shard) whose file
// the scan did not find, of the given sizes.
func (r *runner) goneOfSizes(sizes map[int64]bool) []doomed {
	var out []doomed
	switch {
	case r.remote != nil:
		for _, d := range r.remote.unseenDocs() {
			if sizes[d.size] {
				out = append(out, d)
			}
		}
	case r.recorded != nil:
		r.recorded.EachUnseen(func(key string, e state.Entry) {
			if r.o.Shard.Has(key) && sizes[e.Size] && e.SHA256 != "" {
				out = append(out, doomed{key: key, docID: e.DocumentID, ext: ExternalID(r.o.Source, key), size: e.Size, sha: e.SHA256,
					applied: e.Tags})
			}
		})
	}
	return out
}

// prove keeps the documents of cands that the service shows as this
// source's, in this workspace, with the identity they are known by (their
// files are gone: they were chosen so), named as it shows them (title and
// tags, which a move needs); remote ones gain their key. Asked by id or
// read from a listing, whichever costs fewer requests: never the
// checkpoint's shortcut (only what changed since the last run listed),
// which would leave each move to ask for its document again.
func (r *runner) prove(ctx context.Context, cands []doomed) ([]doomed, error) {
	if r.remote == nil {
		return r.confirm(ctx, cands)
	}
	return r.confirmListed(ctx, cands)
}

// adoptions pairs files with documents without identity of their name and
// size, and sends an adoption for each pair; it returns the files left.
func (r *runner) adoptions(ctx context.Context, files []scan.Entry, send func(job) error) ([]scan.Entry, error) {
	r.res.mu.Lock()
	defer r.res.mu.Unlock()
	if len(r.res.unowned) == 0 {
		return files, nil
	}
	// Files and documents by name and size.
	type group struct {
		files []int
		docs  []*unownedDoc
	}
	groups := map[string]*group{}
	var order []string
	for i, e := range files {
		docs := r.res.unowned[fileNameKey(e.Key)]
		k := fmt.Sprintf("%s\x00%d", fileNameKey(e.Key), e.Size)
		g := groups[k]
		if g == nil {
			g = &group{}
			for _, d := range docs {
				if d.size == e.Size && !d.claimed {
					g.docs = append(g.docs, d)
				}
			}
			groups[k] = g
			order = append(order, k)
		}
		g.files = append(g.files, i)
	}
	adopted := map[int]bool{}
	for _, k := range order {
		g := groups[k]
		if len(g.docs) == 0 {
			continue
		}
		// The content decides, where the service gives it: a document of
		// the name and size but of other content (the file edited since,
		// at the same length) is not the file's.
		pairs, why, _ := r.byContent(ctx, files, g.files, g.docs)
		if len(pairs) == 0 && len(g.docs) == 1 && len(g.files) == 1 && r.o.Shard.N <= 1 {
			// One file and one document of its name and size: the same
			// file — its content replaced if it differs (edited since, at
			// the same length), or taken as it is where the service does
			// not give its content. (A shard sees only its own files —
			// another may hold one of the same name and size — so there
			// the content must decide.)
			pairs = map[int]*unownedDoc{g.files[0]: g.docs[0]}
		}
		for fi, d := range pairs {
			d.claimed = true
			adopted[fi] = true
			if err := send(job{e: files[fi], kind: jobAdopt, adopt: d}); err != nil {
				return nil, err
			}
		}
		for _, fi := range g.files {
			if !adopted[fi] {
				r.note(fmt.Sprintf("%s: not adopted, ambiguous (%s): uploaded as a new document", files[fi].Key, why))
			}
		}
	}
	rest := files[:0:0]
	for i, e := range files {
		if !adopted[i] {
			rest = append(rest, e)
		}
	}
	return rest, nil
}

// byContent pairs files with documents by content: the documents are
// downloaded and hashed (in a dry run too: it reads). A content held by one
// file and one document pairs them; anything else is left, and why says so.
func (r *runner) byContent(ctx context.Context, files []scan.Entry, fis []int, docs []*unownedDoc) (pairs map[int]*unownedDoc, why string, unread bool) {
	pairs = map[int]*unownedDoc{}
	names := fmt.Sprintf("%d file(s) and %d document(s) without identity share its name and size", len(fis), len(docs))
	for _, d := range docs {
		if d.sha != "" {
			continue
		}
		sum, err := r.o.Service.ContentHash(ctx, d.id)
		if err != nil {
			return pairs, names + fmt.Sprintf(", and the service did not give their content to compare (%v)", err), true
		}
		d.sha = sum
	}
	bySum := map[string][]*unownedDoc{}
	for _, d := range docs {
		bySum[d.sha] = append(bySum[d.sha], d)
	}
	fileSums := map[string][]int{}
	for _, fi := range fis {
		if sum, err := fileSHA256(files[fi].Path); err == nil {
			fileSums[sum] = append(fileSums[sum], fi)
		}
	}
	for sum, fs := range fileSums {
		if ds := bySum[sum]; len(fs) == 1 && len(ds) == 1 {
			pairs[fs[0]] = ds[0]
		}
	}
	return pairs, names + ", and their contents do not pair them one to one", false
}

// clearTombs deletes the tombstones (documents that gave up their identity
// for a replacement by a new document, attempt.replaceByUpload) whose file
// now has its document: what a stopped replacement left. Each is asked for
// first: still a tombstone of this source, in this workspace.
func (r *runner) clearTombs(ctx context.Context) {
	tombs := map[string]int64{}
	if r.remote != nil {
		for k, id := range r.remote.tombs {
			tombs[k] = id
		}
	}
	r.mu.Lock()
	for k, id := range r.tombs {
		tombs[k] = id
	}
	r.mu.Unlock()
	for key, id := range tombs {
		ext := ExternalID(r.o.Source, key)
		has := r.remote != nil && r.remote.has(ext)
		if e, ok := r.recordedDone(key); ok && e.DocumentID != id && e.DocumentID != 0 {
			has = true
		}
		if !has || r.o.DryRun {
			continue
		}
		f, err := r.o.Service.GetFile(ctx, id)
		if err != nil || !api.InWorkspace(f, r.o.WorkspaceID) || f.ExternalMetadata == nil || f.ExternalMetadata.ExternalID != tombstone(ext) {
			continue
		}
		if err := r.o.Service.DeleteFile(ctx, id); err == nil {
			r.removed.Add(1)
			r.note(fmt.Sprintf("%s: deleted document %d, which a replacement by a new document had left behind", key, id))
		}
	}
}
