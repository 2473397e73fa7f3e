package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/livecord/livecord/bot"
	"github.com/livecord/livecord/tool"
)

// toolOptions are run's settings for tools that are not the bot's own.
type toolOptions struct {
	MCP *tool.MCPConfig // LIVECORD_MCP_CONFIG, parsed and checked; nil when unset
}

// readToolConfig reads the settings of issue 16 into cfg: BOT_TIME_ZONE
// (the clock tool's zone, an IANA name), BOT_TOOL_TIMEOUT, BOT_IMAGE_MAX_BYTES,
// BOT_IMAGE_MAX_PIXELS, and LIVECORD_MCP_CONFIG (a file naming MCP servers;
// it is read and checked here, so a bad file stops the start with its
// reason). GEMINI_GOOGLE_SEARCH is Live's (readLiveConfig).
func readToolConfig(getenv func(string) string, cfg *bot.Config, to *toolOptions) []error {
	var errs []error
	if v := strings.TrimSpace(getenv("BOT_TIME_ZONE")); v != "" {
		loc, err := time.LoadLocation(v)
		if err != nil || strings.Contains(v, "..") {
			errs = append(errs, fmt.Errorf("BOT_TIME_ZONE: %q is not a time zone such as Europe/Paris", v))
		} else {
			cfg.TimeZone = loc
		}
	}
	if v := strings.TrimSpace(getenv("BOT_TOOL_TIMEOUT")); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("BOT_TOOL_TIMEOUT: %q is not a positive duration such as 10s", v))
		} else {
			cfg.ToolTimeout = d
		}
	}
	positive := func(name string) int64 {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return 0
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			errs = append(errs, fmt.Errorf("%s: %q is not a positive whole number", name, v))
			return 0
		}
		return n
	}
	cfg.Image.MaxBytes = positive("BOT_IMAGE_MAX_BYTES")
	cfg.Image.MaxPixels = positive("BOT_IMAGE_MAX_PIXELS")
	if path := strings.TrimSpace(getenv("LIVECORD_MCP_CONFIG")); path != "" {
		mc, err := tool.LoadMCPConfig(path, getenv)
		if err != nil {
			errs = append(errs, fmt.Errorf("LIVECORD_MCP_CONFIG: %w", err))
		} else {
			to.MCP = mc
		}
	}
	return errs
}

// connectMCP starts or dials the configured MCP servers and returns their
// tools; a server that fails is logged and left out (the others serve).
// Close the returned MCP on shutdown (nil when none is configured).
func connectMCP(ctx context.Context, mc *tool.MCPConfig, log *slog.Logger) (*tool.MCP, []tool.Tool) {
	if mc == nil {
		return nil, nil
	}
	m := tool.ConnectMCP(ctx, mc, tool.MCPOptions{ClientName: "livecord"})
	for _, s := range m.Status() {
		if s.Err != nil {
			log.Warn("MCP server unavailable", "server", s.Server, "err", s.Err)
			continue
		}
		log.Info("MCP server connected", "server", s.Server, "tools", s.Tools, "not_found", s.NotFound)
	}
	return m, m.Tools()
}
