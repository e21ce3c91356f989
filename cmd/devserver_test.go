package cmd

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

// devserver --help fits in 80 columns and names every flag and endpoint a
// user steers the stand-in with.
func TestDevserverHelpFitsIn80Columns(t *testing.T) {
	code, out, _ := runCmd(t, nil, "devserver", "--help")
	assert.Equal(t, 0, code)
	for i, line := range strings.Split(out, "\n") {
		assert.LessOrEqual(t, utf8.RuneCountInString(line), 80, "line %d: %q", i+1, line)
	}
	for _, s := range []string{"--quota ", "--quota-burst", "--outage ", "--outage-mode", "--data-dir", "--discard",
		"/_devserver/stats", "/_devserver/documents", "/_devserver/quota", "/_devserver/outage"} {
		assert.Contains(t, out, s)
	}
}

func TestDevserverFlagsMakeTheConfig(t *testing.T) {
	o := &devserverOptions{APIKey: "k", MaxSize: "1MB", Quota: "20/s", QuotaBurst: 7, OutageMode: "reset",
		Outages: []string{"1s+2s", "1m+1h"}, Workspaces: []string{"5:Five", "6:Six:personal"}}
	cfg, err := o.config(func(string) string { return "" })
	assert.NoError(t, err)
	assert.InDelta(t, 1200, cfg.Quota.PerMinute, 1e-9)
	assert.InDelta(t, 7, cfg.Quota.Burst, 1e-9)
	if assert.Len(t, cfg.Outages, 2) {
		assert.Equal(t, "reset", string(cfg.Outages[1].Mode))
		assert.Equal(t, "1h0m0s", cfg.Outages[1].Duration.String())
	}
	if assert.Len(t, cfg.Workspaces, 2) {
		assert.Equal(t, "shared", cfg.Workspaces[0].Type)
		assert.Equal(t, "personal", cfg.Workspaces[1].Type)
	}
	for _, bad := range []*devserverOptions{
		{APIKey: "k", MaxSize: "1MB", OutageMode: "503", QuotaBurst: -1},
		{APIKey: "k", MaxSize: "1MB", OutageMode: "503", Quota: "fast"},
		{APIKey: "k", MaxSize: "1MB", OutageMode: "off"},
		{APIKey: "k", MaxSize: "1MB", OutageMode: "503", Outages: []string{"1s-2s"}},
	} {
		_, err := bad.config(func(string) string { return "" })
		assert.Error(t, err, "%+v", bad)
	}
}

func TestDevserverAdversarialFlagsMakeTheConfig(t *testing.T) {
	o := &devserverOptions{APIKey: "k", MaxSize: "1MB", OutageMode: "503", ListChurn: 5, MaxPageSize: 20,
		IgnoreWSFilter: true, NextLoop: "back:3", DropExternal: true, OldPatchSchema: true}
	cfg, err := o.config(func(string) string { return "" })
	assert.NoError(t, err)
	assert.Equal(t, 5, cfg.ListChurn)
	assert.Equal(t, 20, cfg.MaxPageSize)
	assert.True(t, cfg.IgnoreWorkspaceFilter)
	assert.Equal(t, "back", cfg.NextLoop.Mode)
	assert.Equal(t, 3, cfg.NextLoop.Times)
	assert.True(t, cfg.DropExternalMetadata)
	assert.True(t, cfg.OldPatchSchema)
	o.NextLoop = "sideways"
	_, err = o.config(func(string) string { return "" })
	assert.ErrorContains(t, err, "--next-loop")
}
