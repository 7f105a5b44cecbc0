package report_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/jitd/jitd/core/audit"
	"github.com/jitd/jitd/core/report"
	"github.com/jitd/jitd/core/request"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/core/store/sqlite"
)

// BenchmarkAccessReportMillionEvents: a year of history as jitd records
// it — 142,858 approved requests, each with its approval, its grant and
// the seven audit events of its life (1,000,006 events in all) over 100
// groups and 2,000 people — and then "who had grp0001 between July and
// October, and why" (the CSV an auditor downloads). Beside it, in the same
// run, the bare SQL read of that group's grants: the floor any report has
// to pay.
func BenchmarkAccessReportMillionEvents(b *testing.B) {
	const (
		grants = 142_858
		groups = 100
		people = 2_000
	)
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "jitd.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	year := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(1, 2))
	events := 0
	for lo := 0; lo < grants; lo += 5_000 {
		err := st.Update(ctx, func(tx store.Tx) error {
			for i := lo; i < min(lo+5_000, grants); i++ {
				// Requests arrive in time order over 330 days; a few
				// groups are much busier than the rest.
				at := year.Add(time.Duration(i) * (330 * 24 * time.Hour / grants))
				gi := 1 + int(float64(groups)*rng.Float64()*rng.Float64())
				group, user := fmt.Sprintf("grp%04d", gi), fmt.Sprintf("user%05d", 1+rng.IntN(people))
				approver := fmt.Sprintf("user%05d", 1+rng.IntN(people))
				d := time.Duration(1+rng.IntN(8)) * time.Hour
				id, rid := fmt.Sprintf("g%07d", i), fmt.Sprintf("r%07d", i)
				g := store.Grant{ID: id, Directory: "corp", GroupID: "gid-" + group, GroupName: group, UserID: "uid-" + user, UserName: user,
					State: store.StateRevoked, Reason: "change window", CreatedBy: user, StartsAt: at, ExpiresAt: at.Add(d),
					CreatedAt: at, UpdatedAt: at.Add(d), EndedAt: at.Add(d), EndReason: "expired"}
				if err := tx.InsertGrant(g); err != nil {
					return err
				}
				r := store.Request{ID: rid, Requester: user, Directory: "corp", Group: group, Duration: d, Reason: "change window",
					Ticket: fmt.Sprintf("CHG-%d", i), State: store.RequestApproved, BreakGlass: i%50 == 0, Steps: []store.ApprovalStep{},
					GrantID: id, CreatedAt: at, UpdatedAt: at, ExpiresAt: at.Add(24 * time.Hour), DecidedAt: at, DecidedBy: approver}
				if err := tx.InsertRequest(r); err != nil {
					return err
				}
				if err := tx.InsertApproval(store.Approval{RequestID: rid, Approver: approver, Decision: "approve", At: at}); err != nil {
					return err
				}
				for k, action := range []string{request.ActionCreated, request.ActionApproval, request.ActionApproved,
					audit.GrantRequested, audit.GrantActive, audit.GrantRevoking, audit.GrantRevoked} {
					e := audit.Event{Time: at.Add(time.Duration(k) * time.Millisecond), Actor: user, Action: action, GrantID: id,
						Directory: "corp", Group: group, User: user, Detail: "bench"}
					if k < 3 {
						e.GrantID = rid
					}
					if k >= 5 {
						e.Time, e.Actor = at.Add(d), "jitd"
					}
					audit.Seal(&e)
					if _, err := tx.AppendAudit(e); err != nil {
						return err
					}
					events++
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	q := report.AccessQuery{Directory: "corp", Group: "grp0001",
		Period: report.Period{From: time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)}}
	now := year.AddDate(1, 0, 0)

	raw, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()

	var jitd, floor time.Duration
	var rows, floorRows int
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		out, err := report.AccessReport(ctx, st, q, now)
		if err != nil {
			b.Fatal(err)
		}
		if err := report.WriteAccess(io.Discard, "csv", "access", out); err != nil {
			b.Fatal(err)
		}
		jitd += time.Since(start)
		rows = len(out)

		start = time.Now()
		floorRows = bareGroupGrants(b, raw, q)
		floor += time.Since(start)
	}
	if rows == 0 || rows != floorRows {
		b.Fatalf("the report has %d rows, the bare query %d", rows, floorRows)
	}
	b.ReportMetric(float64(events), "audit_events")
	b.ReportMetric(float64(rows), "rows")
	b.ReportMetric(jitd.Seconds()/float64(b.N), "report_s")
	b.ReportMetric(floor.Seconds()/float64(b.N), "bare_sql_s")
	b.ReportMetric(float64(jitd)/float64(floor), "x_bare")
}

// bareGroupGrants reads the group's grants that overlap the period, with
// their requests and approvers, in one SQL statement: no checks, no
// rendering.
func bareGroupGrants(b *testing.B, db *sql.DB, q report.AccessQuery) int {
	rows, err := db.Query(`SELECT g.id, g.user_name, g.starts_at, g.ended_at, g.reason, r.id, r.ticket, a.approver
		FROM grants g LEFT JOIN requests r ON r.grant_id = g.id LEFT JOIN approvals a ON a.request_id = r.id
		WHERE g.directory = ? AND g.group_name = ? AND g.starts_at < ? AND g.ended_at > ?`,
		q.Directory, q.Group, q.To.UnixNano(), q.From.UnixNano())
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var id, user, reason string
		var from, to int64
		var rid, ticket, approver sql.NullString
		if err := rows.Scan(&id, &user, &from, &to, &reason, &rid, &ticket, &approver); err != nil {
			b.Fatal(err)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	return n
}
