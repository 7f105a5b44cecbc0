// Package datadir is what lives in jitd's data directory and who may use
// it: the database, the key files beside it, and the lock that lets one
// daemon at a time run on them.
package datadir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// LockFile is the file a running daemon holds locked, with its pid inside.
const LockFile = "jitd.lock"

// InUseError says another process holds the data directory.
type InUseError struct {
	Dir string
	PID int // 0 when the holder did not say
}

func (e *InUseError) Error() string {
	holder := "another jitd"
	if e.PID > 0 {
		holder = fmt.Sprintf("another jitd (pid %d)", e.PID)
	}
	return fmt.Sprintf("data directory %s is in use by %s; stop it first, or give this one its own data_dir", e.Dir, holder)
}

// ErrInUse matches every *InUseError.
var ErrInUse = errors.New("data directory in use")

func (e *InUseError) Is(target error) bool { return target == ErrInUse }

// Lock takes the data directory for this process until release is called
// or the process ends (the operating system drops the lock of a process
// that dies, so a crash never leaves the directory locked). It creates
// the directory (mode 0700) if needed.
func Lock(dir string) (release func() error, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	if err := lockFile(f); err != nil {
		b := make([]byte, 32)
		n, _ := f.ReadAt(b, 0)
		f.Close()
		if errors.Is(err, errLocked) {
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b[:n])))
			return nil, &InUseError{Dir: dir, PID: pid}
		}
		return nil, fmt.Errorf("data directory: lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() error {
		f.Truncate(0)
		return f.Close() // closing drops the lock
	}, nil
}
