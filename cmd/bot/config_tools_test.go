package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestToolAndImageConfig: issue 16's keys load into the bot's config, the
// MCP file is parsed at load time, and every bad value is named.
func TestToolAndImageConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "mcp.json")
	os.WriteFile(good, []byte(`{"mcpServers":{"notes":{"command":"notes-mcp","env":{"T":"${NOTES_TOKEN}"},"allow":["read"]}}}`), 0o600)
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"mcpServers":{"notes":{"command":"notes-mcp","alow":["read"]}}}`), 0o600)

	cfg, ro, err := loadBotConfig(nil, env(map[string]string{"DISCORD_TOKEN": "t", "BOT_TIME_ZONE": "Europe/Paris",
		"BOT_TOOL_TIMEOUT": "3s", "BOT_IMAGE_MAX_BYTES": "1048576", "BOT_IMAGE_MAX_PIXELS": "2000000",
		"LIVECORD_MCP_CONFIG": good, "NOTES_TOKEN": "n", "GEMINI_GOOGLE_SEARCH": "false"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TimeZone == nil || cfg.TimeZone.String() != "Europe/Paris" || cfg.ToolTimeout != 3*time.Second ||
		cfg.Image.MaxBytes != 1<<20 || cfg.Image.MaxPixels != 2_000_000 || cfg.Live.GoogleSearch ||
		ro.Tools.MCP == nil || ro.Tools.MCP.Servers["notes"].Command != "notes-mcp" {
		t.Fatalf("config %+v %+v", cfg, ro.Tools)
	}
	cfg, _, err = loadBotConfig(nil, env(map[string]string{"DISCORD_TOKEN": "t"}), io.Discard)
	if err != nil || !cfg.Live.GoogleSearch {
		t.Fatalf("Google Search is on by default: %v %v", cfg.Live.GoogleSearch, err)
	}
	_, _, err = loadBotConfig(nil, env(map[string]string{"DISCORD_TOKEN": "t", "BOT_TIME_ZONE": "Mars/Olympus",
		"BOT_TOOL_TIMEOUT": "-1s", "BOT_IMAGE_MAX_BYTES": "lots", "BOT_IMAGE_MAX_PIXELS": "0",
		"LIVECORD_MCP_CONFIG": bad, "GEMINI_GOOGLE_SEARCH": "maybe"}), io.Discard)
	for _, key := range []string{"BOT_TIME_ZONE", "BOT_TOOL_TIMEOUT", "BOT_IMAGE_MAX_BYTES", "BOT_IMAGE_MAX_PIXELS", "LIVECORD_MCP_CONFIG", "GEMINI_GOOGLE_SEARCH"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("error does not name %s: %v", key, err)
		}
	}
}
