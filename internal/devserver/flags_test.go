package devserver

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestDevserverFlagsMakeTheConfig(t *testing.T) {
	o := &Flags{APIKey: "k", MaxSize: "1MB", Quota: "20/s", QuotaBurst: 7, OutageMode: "reset",
		Outages: []string{"1s+2s", "1m+1h"}, Workspaces: []string{"5:Five", "6:Six:personal"}}
	cfg, err := o.Config(func(string) string { return "" })
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
	for _, bad := range []*Flags{
		{APIKey: "k", MaxSize: "1MB", OutageMode: "503", QuotaBurst: -1},
		{APIKey: "k", MaxSize: "1MB", OutageMode: "503", Quota: "fast"},
		{APIKey: "k", MaxSize: "1MB", OutageMode: "off"},
		{APIKey: "k", MaxSize: "1MB", OutageMode: "503", Outages: []string{"1s-2s"}},
	} {
		_, err := bad.Config(func(string) string { return "" })
		assert.Error(t, err, "%+v", bad)
	}
}

func TestDevserverAdversarialFlagsMakeTheConfig(t *testing.T) {
	o := &Flags{APIKey: "k", MaxSize: "1MB", OutageMode: "503", ListChurn: 5, MaxPageSize: 20,
		IgnoreWSFilter: true, NextLoop: "back:3", DropExternal: true, OldPatchSchema: true}
	cfg, err := o.Config(func(string) string { return "" })
	assert.NoError(t, err)
	assert.Equal(t, 5, cfg.ListChurn)
	assert.Equal(t, 20, cfg.MaxPageSize)
	assert.True(t, cfg.IgnoreWorkspaceFilter)
	assert.Equal(t, "back", cfg.NextLoop.Mode)
	assert.Equal(t, 3, cfg.NextLoop.Times)
	assert.True(t, cfg.DropExternalMetadata)
	assert.True(t, cfg.OldPatchSchema)
	o.NextLoop = "sideways"
	_, err = o.Config(func(string) string { return "" })
	assert.ErrorContains(t, err, "--next-loop")
}

func TestDevserverAddressIsLoopbackUnlessAllowed(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:0":    "",
		"localhost:8765": "",
		"[::1]:0":        "",
		"8765":           `--addr: "8765" is not host:port`,
		"0.0.0.0:8765":   "--addr: 0.0.0.0 is not a loopback address; pass --allow-remote to serve beyond this machine",
		"example.com:80": "--addr: example.com is not a loopback address; pass --allow-remote to serve beyond this machine",
	} {
		err := Flags{Addr: addr}.checkAddr()
		if want == "" {
			assert.NoError(t, err, addr)
		} else {
			assert.EqualError(t, err, want, addr)
		}
	}
	assert.NoError(t, Flags{Addr: "0.0.0.0:8765", AllowRemote: true}.checkAddr())
}
