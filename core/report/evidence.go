package report

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/jitd/jitd/core/audit"
	"github.com/jitd/jitd/core/policy"
)

// An evidence bundle is what an auditor takes away and checks on a machine
// without the database: the reports of a period, the segment of the audit
// log they rest on (every event from the first of the period to the last,
// with the hash that precedes it), a checkpoint of the segment's last event
// signed with jitd's audit signing key, and a manifest of every file's
// SHA-256, signed with the same key. jitd verifies the whole keyed chain
// before it signs; offline, the signature and the hashes prove the bundle
// is what jitd exported, and the links between events prove the segment
// has no gap.

// EvidenceScope is what a bundle reports on.
type EvidenceScope struct {
	Period
	// Groups are the JIT-managed groups, as directory/name.
	Groups      [][2]string
	Separations []policy.Separation
	Directories []string
}

// Manifest describes a bundle.
type Manifest struct {
	From      time.Time         `json:"from"`
	To        time.Time         `json:"to"`
	MadeAt    time.Time         `json:"made_at"`
	FirstSeq  int64             `json:"first_seq"`
	LastSeq   int64             `json:"last_seq"`
	Anchor    string            `json:"anchor"` // the hash before the first event
	PublicKey string            `json:"public_key"`
	Files     map[string]string `json:"files"` // name -> SHA-256 (hex)
}

const (
	manifestName   = "manifest.json"
	signatureName  = "manifest.sig"
	eventsName     = "audit/events.jsonl"
	checkpointName = "audit/checkpoint.txt"
)

// ExportEvidence writes the bundle of s as a tar.gz to w. It refuses when
// the audit chain does not verify: evidence is never signed over a broken
// log.
func ExportEvidence(ctx context.Context, st Store, keys audit.Keys, s EvidenceScope, now time.Time, w io.Writer) (Manifest, error) {
	if err := s.Validate(); err != nil {
		return Manifest{}, err
	}
	files := map[string][]byte{}
	add := func(name string, write func(io.Writer) error) error {
		var b bytes.Buffer
		if err := write(&b); err != nil {
			return fmt.Errorf("report %s: %w", name, err)
		}
		files[name] = b.Bytes()
		return nil
	}
	drift, err := st.Drift(ctx, "")
	if err != nil {
		return Manifest{}, err
	}
	for _, g := range s.Groups {
		rows, err := accessRows(ctx, st, AccessQuery{Directory: g[0], Group: g[1], Period: s.Period}, now, drift)
		if err != nil {
			return Manifest{}, err
		}
		if err := add(fmt.Sprintf("reports/access-%s-%s.csv", g[0], g[1]), func(w io.Writer) error { return WriteAccess(w, CSV, "", rows) }); err != nil {
			return Manifest{}, err
		}
	}
	l, err := LatenessReport(ctx, st, s.Period, now)
	if err != nil {
		return Manifest{}, err
	}
	bg, err := BreakGlassReport(ctx, st, s.Period)
	if err != nil {
		return Manifest{}, err
	}
	past, err := AccountsPastEndReport(ctx, st, now)
	if err != nil {
		return Manifest{}, err
	}
	cs, err := ConflictsReport(ctx, st, s.Separations, s.Directories)
	if err != nil {
		return Manifest{}, err
	}
	pcs, err := PastConflictsReport(ctx, st, s.Separations, s.Directories, s.Period, now)
	if err != nil {
		return Manifest{}, err
	}
	for name, write := range map[string]func(io.Writer) error{
		"reports/lateness.json":         func(w io.Writer) error { return WriteLateness(w, JSON, "", l) },
		"reports/breakglass.csv":        func(w io.Writer) error { return WriteBreakGlass(w, CSV, "", bg) },
		"reports/accounts-past-end.csv": func(w io.Writer) error { return WriteAccountsPastEnd(w, CSV, "", past) },
		"reports/conflicts-now.csv":     func(w io.Writer) error { return WriteConflicts(w, CSV, "", cs) },
		"reports/conflicts-period.csv":  func(w io.Writer) error { return WritePastConflicts(w, CSV, "", pcs) },
	} {
		if err := add(name, write); err != nil {
			return Manifest{}, err
		}
	}

	// The segment, read while the whole chain is verified with the keys:
	// from the first event of the period to the last, by sequence, with
	// every event between them.
	v := audit.NewKeyedVerifier(keys)
	var seg []audit.Event
	var before audit.Event
	end := -1 // index in seg of the period's last event
	err = st.WalkAudit(ctx, func(e audit.Event) error {
		v.Add(e)
		inPeriod := !e.Time.Before(s.From) && e.Time.Before(s.To)
		switch {
		case len(seg) == 0 && !inPeriod:
			before = e
		case len(seg) > 0 || inPeriod:
			seg = append(seg, e)
			if inPeriod {
				end = len(seg) - 1
			}
		}
		return nil
	})
	if err != nil {
		return Manifest{}, err
	}
	seg = seg[:end+1]
	headSeq, headHash, err := st.AuditHead(ctx)
	if err != nil {
		return Manifest{}, err
	}
	if problems := v.Finish(headSeq, headHash); len(problems) > 0 {
		return Manifest{}, fmt.Errorf("the audit chain does not verify (%s): no evidence is signed over it", problems[0])
	}
	m := Manifest{From: s.From, To: s.To, MadeAt: now, PublicKey: hex.EncodeToString(keys.Sign.Public().(ed25519.PublicKey)), Files: map[string]string{}}
	m.Anchor = audit.GenesisHash
	if before.Seq > 0 {
		m.Anchor = before.Hash
	}
	var ev bytes.Buffer
	enc := json.NewEncoder(&ev)
	for _, e := range seg {
		enc.Encode(e)
	}
	files[eventsName] = ev.Bytes()
	if len(seg) > 0 {
		m.FirstSeq, m.LastSeq = seg[0].Seq, seg[len(seg)-1].Seq
		last := seg[len(seg)-1]
		files[checkpointName] = []byte(keys.SignCheckpoint(audit.Checkpoint{Seq: last.Seq, Hash: last.Hash, Time: now}) + "\n")
	}
	for name, b := range files {
		sum := sha256.Sum256(b)
		m.Files[name] = hex.EncodeToString(sum[:])
	}
	mb, _ := json.MarshalIndent(m, "", "  ")
	files[manifestName] = mb
	files[signatureName] = []byte(base64.StdEncoding.EncodeToString(ed25519.Sign(keys.Sign, mb)) + "\n")

	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o600, Size: int64(len(files[n])), ModTime: now}); err != nil {
			return m, err
		}
		if _, err := tw.Write(files[n]); err != nil {
			return m, err
		}
	}
	if err := tw.Close(); err != nil {
		return m, err
	}
	return m, gz.Close()
}

// Verified is what an offline check of a bundle established.
type Verified struct {
	Manifest
	Events int
	// SelfSigned: no public key was given, so the bundle was checked
	// against the key it names itself, which proves it intact but not
	// whose it is.
	SelfSigned bool
}

// VerifyEvidence checks a bundle without the database: the manifest's
// signature (with pub, or the key the manifest names when pub is nil), every
// file against the manifest, the events' sequence and links from the
// anchor, and the signed checkpoint of the last event.
func VerifyEvidence(r io.Reader, pub ed25519.PublicKey) (Verified, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return Verified{}, fmt.Errorf("not an evidence bundle (gzip): %w", err)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Verified{}, fmt.Errorf("not an evidence bundle (tar): %w", err)
		}
		b, err := io.ReadAll(io.LimitReader(tr, 1<<30))
		if err != nil {
			return Verified{}, err
		}
		if _, dup := files[h.Name]; dup {
			return Verified{}, fmt.Errorf("%s appears twice", h.Name)
		}
		files[h.Name] = b
	}
	var out Verified
	if err := json.Unmarshal(files[manifestName], &out.Manifest); err != nil {
		return out, fmt.Errorf("the manifest is missing or unreadable: %w", err)
	}
	if pub == nil {
		key, err := hex.DecodeString(out.PublicKey)
		if err != nil || len(key) != ed25519.PublicKeySize {
			return out, errors.New("the manifest names no usable public key")
		}
		pub, out.SelfSigned = key, true
	} else if out.PublicKey != hex.EncodeToString(pub) {
		return out, errors.New("the bundle was signed with another key than the one given")
	}
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(files[signatureName])))
	if err != nil || !ed25519.Verify(pub, files[manifestName], sig) {
		return out, errors.New("the manifest's signature does not verify: the bundle was altered, or is not this jitd's")
	}
	for name, b := range files {
		if name == manifestName || name == signatureName {
			continue
		}
		want, ok := out.Files[name]
		sum := sha256.Sum256(b)
		if !ok {
			return out, fmt.Errorf("%s is not in the manifest: it was added", name)
		}
		if hex.EncodeToString(sum[:]) != want {
			return out, fmt.Errorf("%s was altered (its SHA-256 differs from the manifest's)", name)
		}
	}
	for name := range out.Files {
		if _, ok := files[name]; !ok {
			return out, fmt.Errorf("%s is missing", name)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(files[eventsName]))
	prev, seq := out.Anchor, out.FirstSeq
	var last audit.Event
	for dec.More() {
		var e audit.Event
		if err := dec.Decode(&e); err != nil {
			return out, fmt.Errorf("event %d: %w", seq, err)
		}
		if e.Seq != seq {
			return out, fmt.Errorf("event %d is missing from the segment (found %d)", seq, e.Seq)
		}
		if e.PrevHash != prev {
			return out, fmt.Errorf("event %d does not follow the one before it", e.Seq)
		}
		prev, seq, last = e.Hash, seq+1, e
		out.Events++
	}
	if out.Events > 0 {
		if last.Seq != out.LastSeq {
			return out, fmt.Errorf("the segment ends at %d, the manifest says %d", last.Seq, out.LastSeq)
		}
		c, err := audit.ParseCheckpoint(pub, string(files[checkpointName]))
		if err != nil {
			return out, fmt.Errorf("checkpoint: %w", err)
		}
		if c.Seq != last.Seq || c.Hash != last.Hash {
			return out, fmt.Errorf("the checkpoint (event %d) is not the segment's last event (%d)", c.Seq, last.Seq)
		}
	}
	return out, nil
}
