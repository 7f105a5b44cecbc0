package siem

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/jitd/jitd/core/audit"
)

// fileSink appends JSON lines to a file that rotates by size.
type fileSink struct {
	path     string
	maxSize  int64
	maxFiles int
}

func (f *fileSink) write(_ context.Context, evs []audit.Event) error {
	if fi, err := os.Stat(f.path); err == nil && fi.Size() >= f.maxSize {
		if err := f.rotate(); err != nil {
			return err
		}
	}
	out, err := os.OpenFile(f.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	for _, e := range evs {
		if err := enc.Encode(e); err != nil {
			out.Close()
			return err
		}
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// rotate moves path to path.1, path.1 to path.2, ..., dropping the oldest.
func (f *fileSink) rotate() error {
	os.Remove(fmt.Sprintf("%s.%d", f.path, f.maxFiles))
	for i := f.maxFiles - 1; i >= 1; i-- {
		if err := os.Rename(fmt.Sprintf("%s.%d", f.path, i), fmt.Sprintf("%s.%d", f.path, i+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return os.Rename(f.path, f.path+".1")
}
