// Command baseline is the minimal Go upload loop that `make bench` compares
// paradigm-upload with: walk the tree, read each file whole, POST it as
// multipart, with N goroutines. No retries, filters, state or progress.
//
// With -rate N it is instead a client paced the way Paradigm's SDK paces:
// every request, from any goroutine, takes the next slot of a schedule of N
// a minute, and a 429 is retried (through the schedule again) after its
// Retry-After. Nothing else is retried.
//
//	baseline -dir DIR -url URL -key KEY -workspace 42 -concurrency 50 [-rate 600]
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// maxThrottled bounds the 429s of one file with -rate, so that a server that
// never lets it through cannot hold the baseline forever.
const maxThrottled = 1000

func main() {
	dir := flag.String("dir", "", "tree to upload")
	url := flag.String("url", "", "base URL")
	key := flag.String("key", "", "API key")
	ws := flag.String("workspace", "42", "workspace id")
	n := flag.Int("concurrency", 50, "concurrent uploads")
	rate := flag.Float64("rate", 0, "requests a minute, spaced evenly, 429 retried after Retry-After (0: unpaced, no retry)")
	flag.Parse()

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *n}}
	var p *pacer
	if *rate > 0 {
		p = &pacer{interval: time.Duration(float64(time.Minute) / *rate)}
	}
	paths := make(chan string, 1024)
	var failed, requests, throttled atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < *n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for path := range paths {
				if err := upload(client, p, *url, *key, *ws, path, &requests, &throttled); err != nil {
					fmt.Fprintln(os.Stderr, "baseline:", err)
					failed.Add(1)
				}
			}
		}()
	}
	err := filepath.WalkDir(*dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			paths <- path
		}
		return err
	})
	close(paths)
	wg.Wait()
	if p != nil {
		fmt.Fprintf(os.Stderr, "baseline: %d requests, %d answered 429\n", requests.Load(), throttled.Load())
	}
	if err != nil || failed.Load() > 0 {
		fmt.Fprintf(os.Stderr, "baseline: %v, %d failed\n", err, failed.Load())
		os.Exit(1)
	}
}

// pacer hands out the slots of an even schedule to every goroutine.
type pacer struct {
	mu       sync.Mutex
	next     time.Time
	interval time.Duration
}

func (p *pacer) wait() {
	p.mu.Lock()
	now := time.Now()
	slot := p.next
	if slot.Before(now) {
		slot = now
	}
	p.next = slot.Add(p.interval)
	p.mu.Unlock()
	time.Sleep(time.Until(slot))
}

var errThrottled = errors.New("throttled")

// upload posts one file; with a pacer, every attempt waits for its slot
// and a 429 waits its Retry-After and goes again.
func upload(c *http.Client, p *pacer, url, key, ws, path string, requests, throttled *atomic.Int64) error {
	for i := 0; ; i++ {
		if p != nil {
			p.wait()
		}
		requests.Add(1)
		retryAfter, err := post(c, url, key, ws, path)
		if !errors.Is(err, errThrottled) || p == nil || i >= maxThrottled {
			return err
		}
		throttled.Add(1)
		time.Sleep(retryAfter)
	}
}

func post(c *http.Client, url, key, ws, path string) (time.Duration, error) {
	content, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	_ = w.WriteField("workspace_id", ws)
	fw, _ := w.CreateFormFile("file", filepath.Base(path))
	_, _ = fw.Write(content)
	_ = w.Close()
	req, err := http.NewRequest(http.MethodPost, url+"/api/v3/files", &body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusTooManyRequests {
		secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return time.Duration(max(secs, 1)) * time.Second, fmt.Errorf("%s: HTTP 429: %w", path, errThrottled)
	}
	if resp.StatusCode >= 300 {
		return 0, fmt.Errorf("%s: HTTP %d", path, resp.StatusCode)
	}
	return 0, nil
}
