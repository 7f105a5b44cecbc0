package daemon

import (
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/jitd/jitd/core/config"
	"github.com/jitd/jitd/core/directories"
	"github.com/jitd/jitd/core/notify"
	"github.com/jitd/jitd/sync/reconcile"
)

// reload applies a new configuration to the running daemon (SIGHUP): what
// can change live does — the policy and request settings, each directory's
// JIT-managed groups and reconciliation, the notification channels, the log
// level, SCIM's rate limit — and what needs a restart is named in the log
// and left as it runs. A configuration that does not load is refused whole,
// every problem logged, and the running one stays.
func (d *Daemon) reload() {
	log := d.opts.Log
	if d.opts.Load == nil {
		log.Warn("reload asked for, but this daemon was not started from a configuration file")
		return
	}
	next, err := d.opts.Load()
	if err != nil {
		var p config.Problems
		if pp, ok := err.(config.Problems); ok {
			p = pp
		}
		log.Error("reload refused: the new configuration has problems; the running one stays", "problems", max(len(p), 1))
		for _, line := range p.Lines() {
			log.Error("reload refused", "problem", line)
		}
		if p == nil {
			log.Error("reload refused", "err", err)
		}
		return
	}
	cur := d.applied
	restart := needsRestart(cur, next)
	var applied []string
	if !reflect.DeepEqual(withoutRisk(cur.Policy), withoutRisk(next.Policy)) {
		d.Requests.SetConfig(next.Policy.Requests)
		d.Requests.SetPolicy(next.CompiledPolicy())
		applied = append(applied, "policy")
	}
	groupsChanged, reconcileChanged := false, false
	for _, dc := range next.Directories {
		dir, ok := d.Dirs[dc.Name]
		if !ok {
			continue // a new directory: named in restart
		}
		if old := directoryOf(cur, dc.Name); !reflect.DeepEqual(old.Groups, dc.Groups) {
			dir.SetGroups(groupPolicies(dc))
			groupsChanged = true
		}
		if old := directoryOf(cur, dc.Name); old.Reconcile != dc.Reconcile || !reflect.DeepEqual(old.Groups, dc.Groups) {
			reconcileChanged = true
		}
	}
	if groupsChanged {
		applied = append(applied, "directories[].groups")
	}
	if reconcileChanged {
		pols := map[string]reconcile.Policy{}
		for _, dc := range cur.Directories {
			pols[dc.Name] = reconcilePolicy(dc)
		}
		for _, dc := range next.Directories {
			if _, running := pols[dc.Name]; running {
				pols[dc.Name] = reconcilePolicy(dc)
			}
		}
		d.Reconcile.SetPolicies(pols)
		applied = append(applied, "directories[].reconcile")
	}
	if d.SCIM != nil {
		// Whatever the configuration names is out of SCIM's reach from the
		// next request on: the names it named before as well, while they
		// may still be in use.
		d.SCIM.SetProtected(union(cur.ProtectedGroups(), next.ProtectedGroups()), union(cur.ProtectedUsers(), next.ProtectedUsers()))
		if next.SCIM != nil && (cur.SCIM.RequestsPerSecond != next.SCIM.RequestsPerSecond || cur.SCIM.Burst != next.SCIM.Burst) {
			d.SCIM.SetRate(next.SCIM.RequestsPerSecond, next.SCIM.Burst)
			applied = append(applied, "scim.requests_per_second")
		}
	}
	if !reflect.DeepEqual(liveNotify(cur.Notify), liveNotify(next.Notify)) && !slices.Contains(restart, "notify.channels") {
		if err := d.Notifier.Reload(next.Notify); err != nil {
			log.Error("reload: the notification channels could not be opened; the running ones stay", "err", err)
		} else {
			applied = append(applied, "notify")
		}
	}
	if !reflect.DeepEqual(cur.Reviews, next.Reviews) {
		d.Reviews.SetConfig(next.Reviews)
		applied = append(applied, "reviews")
	}
	if cur.Log.Level != next.Log.Level && d.opts.Level != nil {
		var level slog.Level
		level.UnmarshalText([]byte(next.Log.Level))
		d.opts.Level.Set(level)
		applied = append(applied, "log.level")
	}
	d.applied = mergeLive(cur, next, applied)
	if len(restart) > 0 {
		log.Warn("reload: these settings change only when jitd restarts; they keep their running values", "settings", strings.Join(restart, ", "))
	}
	log.Info("configuration reloaded", "applied", strings.Join(orNone(applied), ", "))
}

// needsRestart names the sections of next that differ from cur and cannot
// change while jitd runs.
func needsRestart(cur, next *config.Config) []string {
	var out []string
	diff := func(path string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			out = append(out, path)
		}
	}
	diff("server", cur.Server, next.Server)
	diff("data_dir", cur.DataDir, next.DataDir)
	diff("instance_id", cur.InstanceID, next.InstanceID)
	diff("log.format", cur.Log.Format, next.Log.Format)
	diff("grants", cur.Grants, next.Grants)
	diff("expiry", cur.Expiry, next.Expiry)
	diff("accounts", cur.Accounts, next.Accounts)
	diff("auth", cur.Auth, next.Auth)
	diff("policy.risk", cur.Policy.Risk, next.Policy.Risk)
	diff("notify.link_key_file", cur.Notify.LinkKeyFile, next.Notify.LinkKeyFile)
	diff("notify.channels", slackBots(cur.Notify), slackBots(next.Notify))
	diff("siem", cur.SIEM, next.SIEM)
	diff("audit", cur.Audit, next.Audit)
	if cur.SCIM == nil || next.SCIM == nil {
		diff("scim", cur.SCIM == nil, next.SCIM == nil)
	} else {
		a, b := *cur.SCIM, *next.SCIM
		a.RequestsPerSecond, a.Burst, b.RequestsPerSecond, b.Burst = 0, 0, 0, 0
		diff("scim", a, b)
	}
	for _, dc := range next.Directories {
		old, ok := directoryIn(cur, dc.Name)
		if !ok {
			out = append(out, "directories."+dc.Name+" (new)")
			continue
		}
		diff("directories."+dc.Name+".kind", old.Kind, dc.Kind)
		diff("directories."+dc.Name+".plugin", old.Plugin, dc.Plugin)
		diff("directories."+dc.Name+".settings", old.SettingsValue(), dc.SettingsValue())
		diff("directories."+dc.Name+".sync_interval", old.SyncInterval, dc.SyncInterval)
	}
	for _, dc := range cur.Directories {
		if _, ok := directoryIn(next, dc.Name); !ok {
			out = append(out, "directories."+dc.Name+" (removed)")
		}
	}
	return out
}

// mergeLive is cur with the sections applied taken from next: what runs now.
func mergeLive(cur, next *config.Config, applied []string) *config.Config {
	out := *cur
	for _, a := range applied {
		switch a {
		case "log.level":
			out.Log.Level = next.Log.Level
		case "reviews":
			out.Reviews = next.Reviews
		case "notify":
			lk := out.Notify.LinkKeyFile
			out.Notify = next.Notify
			out.Notify.LinkKeyFile = lk
		}
	}
	if slices.Contains(applied, "policy") {
		out.UsePolicyOf(next)
	}
	if next.SCIM != nil && out.SCIM != nil && slices.Contains(applied, "scim.requests_per_second") {
		sc := *out.SCIM
		sc.RequestsPerSecond, sc.Burst = next.SCIM.RequestsPerSecond, next.SCIM.Burst
		out.SCIM = &sc
	}
	out.Directories = slices.Clone(cur.Directories)
	for i, dc := range out.Directories {
		if n, ok := directoryIn(next, dc.Name); ok {
			out.Directories[i].Groups, out.Directories[i].Reconcile = n.Groups, n.Reconcile
		}
	}
	return &out
}

func directoryIn(c *config.Config, name string) (config.Directory, bool) {
	for _, dc := range c.Directories {
		if dc.Name == name {
			return dc, true
		}
	}
	return config.Directory{}, false
}

func directoryOf(c *config.Config, name string) config.Directory {
	dc, _ := directoryIn(c, name)
	return dc
}

func groupPolicies(dc config.Directory) map[string]directories.GroupPolicy {
	groups := map[string]directories.GroupPolicy{}
	for _, g := range dc.Groups {
		groups[g.Name] = directories.GroupPolicy{MaxDuration: g.MaxDuration, EndSessions: g.EndSessions, Owners: g.Owners}
	}
	return groups
}

func reconcilePolicy(dc config.Directory) reconcile.Policy {
	p := reconcile.Policy{RevertDrift: dc.Reconcile.Drift == "revert", RevokeBaseline: dc.Reconcile.Baseline == "revoke"}
	for _, g := range dc.Groups {
		p.Groups = append(p.Groups, g.Name)
	}
	return p
}

func withoutRisk(p config.Policy) config.Policy {
	p.Risk = nil
	return p
}

// liveNotify is the part of the notification settings a reload applies.
func liveNotify(c notify.Config) notify.Config {
	c.LinkKeyFile = ""
	return c
}

// slackBots are the Slack bot channels: their signing secrets verify
// button presses with what was read at start.
func slackBots(c notify.Config) []notify.ChannelConfig {
	var out []notify.ChannelConfig
	for _, ch := range c.Channels {
		if ch.Kind == notify.KindSlackBot {
			out = append(out, ch)
		}
	}
	return out
}

func union(a, b []string) []string {
	set := map[string]bool{}
	for _, s := range slices.Concat(a, b) {
		set[s] = true
	}
	return slices.Sorted(maps.Keys(set))
}

func orNone(s []string) []string {
	if len(s) == 0 {
		return []string{"nothing changed"}
	}
	return s
}
