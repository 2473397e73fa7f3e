package voice

// ChannelConn returns the Channel's current connection (nil when not
// connected), for tests that look at the wire.
func ChannelConn(c *Channel) *Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil {
		return nil
	}
	return c.cur.conn
}
