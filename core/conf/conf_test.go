package conf_test

import (
	"slices"
	"testing"
	"time"

	"github.com/jitd/jitd/core/conf"
)

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"3d": 72 * time.Hour, "2m": 2 * time.Minute, "1h30m": 90 * time.Minute, "0d": 0} {
		if got, err := conf.ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %s, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "3 days", "1.5d", "-d", "99999999d"} {
		if _, err := conf.ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) accepted", bad)
		}
	}
}

type inner struct {
	Token string        `yaml:"token"`
	Wait  time.Duration `yaml:"wait"`
}

type outer struct {
	Name    string           `yaml:"name"`
	Count   int              `yaml:"count"`
	On      bool             `yaml:"on"`
	Ratio   float64          `yaml:"ratio"`
	Items   []inner          `yaml:"items"`
	ByName  map[string]inner `yaml:"by_name"`
	Opt     *inner           `yaml:"opt"`
	Skipped string           `yaml:"-"`
	Flat    `yaml:",inline"`
}

type Flat struct {
	Extra string `yaml:"extra"`
}

// Decode fills what the document sets and keeps the defaults of what it
// does not; every problem comes back at its path, and one problem does not
// stop the others from being found.
func TestDecode_PathsForEveryProblemAndDefaultsKept(t *testing.T) {
	v := outer{Name: "default", Count: 7}
	p := conf.Decode([]byte(`
count: 3
on: true
ratio: 1
extra: x
items:
  - token: a
    wait: 3d
  - tokne: b
    wait: soon
by_name:
  one: {wait: 90m}
opt: {token: t}
Skipped: no
on_off: 1
`), &v)
	if v.Name != "default" || v.Count != 3 || !v.On || v.Ratio != 1 || v.Extra != "x" || len(v.Items) != 2 || v.Items[0].Wait != 72*time.Hour ||
		v.ByName["one"].Wait != 90*time.Minute || v.Opt == nil || v.Opt.Token != "t" {
		t.Errorf("decoded %+v", v)
	}
	got := p.Lines()
	want := []string{
		"items[1].tokne: unknown key; did you mean token? (line 9)",
		`items[1].wait: invalid duration "soon": use Go syntax (90m, 2h30m) or days (3d) (line 10)`,
		"Skipped: unknown key; known keys here: by_name, count, extra, items, name, on, opt, ratio (line 14)",
		"on_off: unknown key; known keys here: by_name, count, extra, items, name, on, opt, ratio (line 15)",
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems\n%q\nwant\n%q", got, want)
	}
}

// Wrong shapes and types are named without repeating long values (a
// secret pasted in the wrong place stays out of the log).
func TestDecode_WrongShapesAndLongValues(t *testing.T) {
	var v outer
	p := conf.Decode([]byte("count: \"12\"\non: maybe\nitems: {a: 1}\nname: [x]\nratio: sk-live-0123456789abcdefghijklmnop\n"), &v)
	want := []string{
		`count: want a whole number, got "12" (line 1)`,
		`on: want true or false, got "maybe" (line 2)`,
		"items: want a list, got a mapping (line 3)",
		"name: want a string, got a list (line 4)",
		"ratio: want a number, got a value of 34 characters (line 5)",
	}
	if got := p.Lines(); !slices.Equal(got, want) {
		t.Errorf("problems\n%q\nwant\n%q", got, want)
	}
	if p := conf.Decode(nil, &v); p != nil {
		t.Errorf("an empty document: %v", p)
	}
	if p := conf.Decode([]byte("a: [\n"), &v); len(p) != 1 || p[0].Path != "" {
		t.Errorf("a syntax error: %q", p.Lines())
	}
}
