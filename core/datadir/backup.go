package datadir

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/jitd/jitd/core/config"
	"github.com/jitd/jitd/core/store/sqlite"
)

// Database is the database's name in the data directory and in a backup.
const Database = "jitd.db"

// Layout is where a configuration keeps what the daemon needs: the
// database and, by their names in a backup, the files beside it.
type Layout struct {
	Dir string
	// Files maps a file's name in a backup to its path.
	Files map[string]string
}

// The files besides the database, by their names in a backup.
const (
	AuditKey         = "audit.key"         // keys the audit chain; without it the log cannot be verified
	AuditCheckpoints = "audit.checkpoints" // signed checkpoints, outside the database
	LinkKey          = "link.key"          // signs action links in notifications
	SessionKey       = "session.key"       // signs browser sessions (with auth.oidc)
	AdminToken       = "admin.token"       // the first admin token, as the CLI reads it
)

// LayoutOf is the layout cfg describes.
func LayoutOf(cfg *config.Config) Layout {
	in := func(name string) string { return filepath.Join(cfg.DataDir, name) }
	or := func(path, name string) string {
		if path == "" {
			return in(name)
		}
		return path
	}
	return Layout{Dir: cfg.DataDir, Files: map[string]string{
		AuditKey:         in(AuditKey),
		AuditCheckpoints: in(AuditCheckpoints),
		LinkKey:          or(cfg.Notify.LinkKeyFile, LinkKey),
		SessionKey:       or(cfg.Auth.SessionKeyFile, SessionKey),
		AdminToken:       cfg.Server.AdminTokenFile,
	}}
}

// Manifest describes a backup; it is the archive's first entry.
type Manifest struct {
	Format    int       `json:"format"`
	Version   string    `json:"jitd_version"`
	Created   time.Time `json:"created_at"`
	Instance  string    `json:"instance_id,omitempty"`
	Schema    string    `json:"schema_version"`
	Files     []File    `json:"files"`
	Directory string    `json:"data_dir"`
}

// File is one file in a backup.
type File struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

const manifestName = "manifest.json"

// Backup writes the database (copied online with SQLite's backup API) and
// every file the daemon needs beside it into one archive at out, a new
// file readable by its owner only: it holds keys and a token. The daemon
// may be running. The checkpoints are read before the database, so that
// every checkpoint in the backup is covered by the database copied after
// it.
func Backup(ctx context.Context, l Layout, out, version, instance string) (Manifest, error) {
	m := Manifest{Format: 1, Version: version, Created: time.Now().UTC(), Instance: instance, Directory: l.Dir}
	contents := map[string][]byte{}
	for _, name := range slices.Sorted(maps.Keys(l.Files)) {
		b, err := os.ReadFile(l.Files[name])
		if errors.Is(err, os.ErrNotExist) {
			continue // e.g. no session key without OIDC
		}
		if err != nil {
			return m, fmt.Errorf("backup: %w", err)
		}
		contents[name] = b
	}
	if _, ok := contents[AuditKey]; !ok {
		return m, fmt.Errorf("backup: %s has no %s: is this jitd's data directory, and has the daemon run once?", l.Dir, AuditKey)
	}
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	ok := false
	defer func() {
		f.Close()
		if !ok {
			os.Remove(out)
		}
	}()
	tmp, err := os.MkdirTemp(filepath.Dir(out), ".jitd-backup-")
	if err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	defer os.RemoveAll(tmp)
	db := filepath.Join(tmp, Database)
	if err := sqlite.BackupFile(ctx, filepath.Join(l.Dir, Database), db); err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	if m.Schema, err = schemaOf(ctx, db); err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	dbFile, err := fileOf(Database, db)
	if err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	m.Files = append(m.Files, dbFile)
	for _, name := range slices.Sorted(maps.Keys(contents)) {
		sum := sha256.Sum256(contents[name])
		m.Files = append(m.Files, File{Name: name, Size: int64(len(contents[name])), SHA256: hex.EncodeToString(sum[:])})
	}

	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	manifest, _ := json.MarshalIndent(m, "", "  ")
	if err := writeEntry(tw, manifestName, bytes.NewReader(manifest), int64(len(manifest))); err != nil {
		return m, err
	}
	dbr, err := os.Open(db)
	if err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	err = writeEntry(tw, Database, dbr, dbFile.Size)
	dbr.Close()
	if err != nil {
		return m, err
	}
	for _, name := range slices.Sorted(maps.Keys(contents)) {
		if err := writeEntry(tw, name, bytes.NewReader(contents[name]), int64(len(contents[name]))); err != nil {
			return m, err
		}
	}
	if err := errors.Join(tw.Close(), gz.Close(), f.Sync()); err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	ok = true
	return m, nil
}

func writeEntry(tw *tar.Writer, name string, r io.Reader, size int64) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: size, ModTime: time.Now(), Typeflag: tar.TypeReg}); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if _, err := io.Copy(tw, r); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}

func fileOf(name, path string) (File, error) {
	f, err := os.Open(path)
	if err != nil {
		return File{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	return File{Name: name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, err
}

// schemaOf is the newest schema version applied to the database at path.
func schemaOf(ctx context.Context, path string) (string, error) {
	ms, err := sqlite.Migrations(ctx, path)
	if err != nil {
		return "", err
	}
	v := ""
	for _, m := range ms {
		if !m.Applied.IsZero() {
			v = m.Version
		}
	}
	return v, nil
}

// Restore puts a backup in place for l, whose data directory must hold no
// database and none of the files the backup holds: it never overwrites.
// Everything is checked first — the manifest, every file's size and
// checksum, the database's schema against this binary — and only then
// moved into place. It holds the data directory's lock meanwhile, so a
// daemon cannot start on a half-restored directory, and it refuses while
// one runs.
func Restore(ctx context.Context, archive string, l Layout) (Manifest, error) {
	var m Manifest
	release, err := Lock(l.Dir)
	if err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	defer release()
	targets := map[string]string{Database: filepath.Join(l.Dir, Database)}
	for name, path := range l.Files {
		targets[name] = path
	}
	for _, name := range slices.Sorted(maps.Keys(targets)) {
		if _, err := os.Stat(targets[name]); err == nil {
			return m, fmt.Errorf("restore: %s exists already; restore into a fresh data directory (move the old one aside first)", targets[name])
		}
	}
	f, err := os.Open(archive)
	if err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return m, fmt.Errorf("restore: %s is not a jitd backup: %w", archive, err)
	}
	tr := tar.NewReader(gz)
	hdr, err := tr.Next()
	if err != nil || hdr.Name != manifestName {
		return m, fmt.Errorf("restore: %s is not a jitd backup (no manifest first)", archive)
	}
	if err := json.NewDecoder(io.LimitReader(tr, 1<<20)).Decode(&m); err != nil || m.Format != 1 {
		return m, fmt.Errorf("restore: %s: unreadable manifest (format %d): %v", archive, m.Format, err)
	}
	want := map[string]File{}
	for _, fl := range m.Files {
		if _, ok := targets[fl.Name]; !ok {
			return m, fmt.Errorf("restore: the manifest names %q, which jitd does not restore", fl.Name)
		}
		want[fl.Name] = fl
	}
	if _, ok := want[Database]; !ok {
		return m, fmt.Errorf("restore: %s holds no database", archive)
	}
	if err := os.MkdirAll(l.Dir, 0o700); err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	staged := map[string]string{}
	defer func() {
		for _, tmp := range staged {
			os.Remove(tmp)
		}
	}()
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return m, fmt.Errorf("restore: %s: %w", archive, err)
		}
		fl, ok := want[hdr.Name]
		if !ok || staged[hdr.Name] != "" || hdr.Typeflag != tar.TypeReg {
			return m, fmt.Errorf("restore: %s: unexpected entry %q", archive, hdr.Name)
		}
		tmp, err := stage(tr, targets[hdr.Name], fl)
		if tmp != "" {
			staged[hdr.Name] = tmp
		}
		if err != nil {
			return m, fmt.Errorf("restore: %s: %w", hdr.Name, err)
		}
	}
	for name := range want {
		if staged[name] == "" {
			return m, fmt.Errorf("restore: %s: %s is missing from the archive", archive, name)
		}
	}
	if err := newerThanThis(ctx, staged[Database]); err != nil {
		return m, fmt.Errorf("restore: the database: %w", err)
	}
	for _, name := range slices.Sorted(maps.Keys(staged)) {
		if err := os.Rename(staged[name], targets[name]); err != nil {
			return m, fmt.Errorf("restore: %w", err)
		}
		delete(staged, name)
	}
	return m, nil
}

// stage writes one file beside its target and checks it against the
// manifest.
func stage(r io.Reader, target string, fl File) (string, error) {
	if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(filepath.Dir(target), ".restore-"+filepath.Base(target)+"-")
	if err != nil {
		return "", err
	}
	defer f.Close()
	if err := f.Chmod(0o600); err != nil {
		return f.Name(), err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r, fl.Size+1))
	if err != nil {
		return f.Name(), err
	}
	if n != fl.Size || hex.EncodeToString(h.Sum(nil)) != fl.SHA256 {
		return f.Name(), fmt.Errorf("does not match the manifest (%d bytes, want %d; or a different checksum): the backup is damaged", n, fl.Size)
	}
	return f.Name(), f.Sync()
}

// newerThanThis refuses a database with schema versions this binary does
// not know.
func newerThanThis(ctx context.Context, path string) error {
	ms, err := sqlite.Migrations(ctx, path)
	if err != nil {
		return err
	}
	var unknown []string
	known := ""
	for _, m := range ms {
		if m.Known {
			known = m.Version
		} else {
			unknown = append(unknown, m.Version)
		}
	}
	if len(unknown) > 0 {
		return &sqlite.NewerSchemaError{Unknown: unknown, Known: known}
	}
	return nil
}
