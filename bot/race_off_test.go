//go:build !race

package bot_test

// raceEnabled: the race detector slows the bot and emulators several times.
const raceEnabled = false
