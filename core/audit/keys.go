package audit

import (
	"bufio"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Keys make the log unforgeable by whoever can write the database but not
// the key file beside it: events from Since on are chained with an HMAC
// under MAC, and checkpoints (the log's head at a moment) are signed with
// Sign, so that a log cut short or wiped no longer contains what a
// checkpoint saw.
type Keys struct {
	MAC   []byte
	Sign  ed25519.PrivateKey
	Since int64 // the first event chained with MAC
}

const keysHeader = "jitd audit keys v1"

// LoadKeys reads the key file at path, creating it (mode 0600) when there
// is none; head is the last event written so far, and keying starts after
// it. Back the file up with the database: without it the log can be read
// but no longer verified.
func LoadKeys(path string, head int64) (Keys, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return createKeys(path, head)
	}
	if err != nil {
		return Keys{}, fmt.Errorf("audit: keys %s: %w", path, err)
	}
	defer f.Close()
	var k Keys
	sc := bufio.NewScanner(f)
	for n := 0; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if n == 0 {
			if line != keysHeader {
				return Keys{}, fmt.Errorf("audit: keys %s: not a jitd audit key file", path)
			}
			continue
		}
		name, val, _ := strings.Cut(line, " ")
		switch name {
		case "mac":
			k.MAC, err = hex.DecodeString(val)
		case "sign":
			var seed []byte
			if seed, err = hex.DecodeString(val); err == nil && len(seed) == ed25519.SeedSize {
				k.Sign = ed25519.NewKeyFromSeed(seed)
			}
		case "since":
			k.Since, err = strconv.ParseInt(val, 10, 64)
		}
		if err != nil {
			return Keys{}, fmt.Errorf("audit: keys %s: %s: %w", path, name, err)
		}
	}
	if len(k.MAC) != 32 || k.Sign == nil || k.Since < 1 {
		return Keys{}, fmt.Errorf("audit: keys %s: incomplete (mac, sign and since are required)", path)
	}
	return k, sc.Err()
}

func createKeys(path string, head int64) (Keys, error) {
	k := Keys{MAC: make([]byte, 32), Since: head + 1}
	rand.Read(k.MAC)
	seed := make([]byte, ed25519.SeedSize)
	rand.Read(seed)
	k.Sign = ed25519.NewKeyFromSeed(seed)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return Keys{}, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return Keys{}, fmt.Errorf("audit: keys %s: %w", path, err)
	}
	defer f.Close()
	fmt.Fprintf(f, "%s\nmac %s\nsign %s\nsince %d\n", keysHeader, hex.EncodeToString(k.MAC), hex.EncodeToString(seed), k.Since)
	return k, f.Sync()
}

// Hash returns e's hash: SHA-256 before keying began, HMAC-SHA256 under
// the key from Since on.
func (k *Keys) Hash(e Event) string {
	if k == nil || e.Seq < k.Since {
		return ComputeHash(e)
	}
	m := hmac.New(sha256.New, k.MAC)
	m.Write(canonical(e))
	return hex.EncodeToString(m.Sum(nil))
}

// Checkpoint is the log's head at a moment, signed.
type Checkpoint struct {
	Seq  int64
	Hash string
	Time time.Time
}

const checkpointHeader = "jitd audit checkpoint"

// Sign returns c as one line of text: what it says, then its signature.
func (k Keys) SignCheckpoint(c Checkpoint) string {
	body := fmt.Sprintf("%s %d %s %d", checkpointHeader, c.Seq, c.Hash, c.Time.UnixNano())
	return body + " " + base64.StdEncoding.EncodeToString(ed25519.Sign(k.Sign, []byte(body)))
}

// ParseCheckpoint reads a checkpoint line and checks its signature.
func (k Keys) ParseCheckpoint(line string) (Checkpoint, error) {
	return ParseCheckpoint(k.Sign.Public().(ed25519.PublicKey), line)
}

// ParseCheckpoint reads a checkpoint line and checks its signature with
// pub, the public half of a jitd's signing key (what an auditor holds).
func ParseCheckpoint(pub ed25519.PublicKey, line string) (Checkpoint, error) {
	line = strings.TrimSpace(line)
	i := strings.LastIndexByte(line, ' ')
	if i < 0 || !strings.HasPrefix(line, checkpointHeader+" ") {
		return Checkpoint{}, errors.New("not a jitd audit checkpoint")
	}
	body, sig64 := line[:i], line[i+1:]
	sig, err := base64.StdEncoding.DecodeString(sig64)
	if err != nil || len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, []byte(body), sig) {
		return Checkpoint{}, errors.New("the checkpoint's signature is not this jitd's: it was forged or altered")
	}
	f := strings.Fields(strings.TrimPrefix(body, checkpointHeader+" "))
	if len(f) != 3 {
		return Checkpoint{}, errors.New("malformed checkpoint")
	}
	var c Checkpoint
	var nanos int64
	if c.Seq, err = strconv.ParseInt(f[0], 10, 64); err == nil {
		nanos, err = strconv.ParseInt(f[2], 10, 64)
	}
	if err != nil {
		return Checkpoint{}, fmt.Errorf("malformed checkpoint: %w", err)
	}
	c.Hash, c.Time = f[1], time.Unix(0, nanos).UTC()
	return c, nil
}
