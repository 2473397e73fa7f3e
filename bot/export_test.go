package bot

// SetSyncDirHook installs a hook run before every fsync of the data
// directory (nil removes it), for tests outside the package that need to
// hold a state-file save. Set it only while no bot runs.
func SetSyncDirHook(f func(dir string) error) { syncDirHook = f }
