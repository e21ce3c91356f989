// Command baseline is the minimal Go upload loop that `make bench` compares
// paradigm-upload with: walk the tree, read each file whole, POST it as
// multipart, with N goroutines. No retries, filters, state or progress.
//
//	baseline -dir DIR -url URL -key KEY -workspace 42 -concurrency 50
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
)

func main() {
	dir := flag.String("dir", "", "tree to upload")
	url := flag.String("url", "", "base URL")
	key := flag.String("key", "", "API key")
	ws := flag.String("workspace", "42", "workspace id")
	n := flag.Int("concurrency", 50, "concurrent uploads")
	flag.Parse()

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *n}}
	paths := make(chan string, 1024)
	var failed atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < *n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range paths {
				if err := post(client, *url, *key, *ws, p); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	err := filepath.WalkDir(*dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			paths <- p
		}
		return err
	})
	close(paths)
	wg.Wait()
	if err != nil || failed.Load() > 0 {
		fmt.Fprintf(os.Stderr, "baseline: %v, %d failed\n", err, failed.Load())
		os.Exit(1)
	}
}

func post(c *http.Client, url, key, ws, path string) error {
	content, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	_ = w.WriteField("workspace_id", ws)
	fw, _ := w.CreateFormFile("file", filepath.Base(path))
	_, _ = fw.Write(content)
	_ = w.Close()
	req, err := http.NewRequest(http.MethodPost, url+"/api/v3/files", &body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s: HTTP %d", path, resp.StatusCode)
	}
	return nil
}
