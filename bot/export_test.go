package bot

// HoldSharedLock takes the lock every guild's conversations share (the one
// enqueue and a worker retiring take) and returns its release, so a test
// can show that an /ask's acknowledgement never waits on it.
func (b *Bot) HoldSharedLock() (release func()) {
	b.mu.Lock()
	return b.mu.Unlock
}
