package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"
)

// Formats a report is written in.
const (
	JSON = "json"
	CSV  = "csv"
	HTML = "html"
)

// ContentType is the media type of a format.
func ContentType(format string) string {
	switch format {
	case CSV:
		return "text/csv; charset=utf-8"
	case HTML:
		return "text/html; charset=utf-8"
	}
	return "application/json"
}

// CheckFormat says what is wrong with a format name, if anything.
func CheckFormat(format string) error {
	switch format {
	case JSON, CSV, HTML:
		return nil
	}
	return fmt.Errorf("format must be json, csv or html (got %q)", format)
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

var accessHeader = []string{"directory", "group", "user", "kind", "from", "to", "state", "granted_by", "approvers", "request", "ticket", "reason", "ended", "grant"}

func (a Access) fields() []string {
	return []string{a.Directory, a.Group, a.User, a.Kind, stamp(a.From), stamp(a.To), a.State, a.GrantedBy, strings.Join(a.Approvers, " "),
		a.Request, a.Ticket, a.Reason, a.Ended, a.Grant}
}

// WriteAccess writes an access report.
func WriteAccess(w io.Writer, format, title string, rows []Access) error {
	if rows == nil {
		rows = []Access{}
	}
	var body [][]string
	for _, r := range rows {
		body = append(body, r.fields())
	}
	return writeTable(w, format, title, "", accessHeader, body, map[string]any{"title": title, "access": rows})
}

var removalHeader = []string{"grant", "directory", "group", "user", "due", "removed", "late_seconds"}

// WriteLateness writes a lateness report.
func WriteLateness(w io.Writer, format, title string, l Lateness) error {
	var body [][]string
	for _, r := range l.Removals {
		body = append(body, []string{r.Grant, r.Directory, r.Group, r.User, stamp(r.Due), stamp(r.Removed), fmt.Sprintf("%.3f", r.Late.Seconds())})
	}
	summary := fmt.Sprintf("%d expired grants removed: p50 %.3f s, p90 %.3f s, p99 %.3f s, max %.3f s; %d later than 1 s; %d overdue and not removed yet.",
		l.Count, l.P50.Seconds(), l.P90.Seconds(), l.P99.Seconds(), l.Max.Seconds(), l.Over, len(l.StillMembersOverdue))
	return writeTable(w, format, title, summary, removalHeader, body, l)
}

// writeTable writes a report's rows as CSV or printable HTML, or v as JSON.
func writeTable(w io.Writer, format, title, summary string, header []string, rows [][]string, v any) error {
	switch format {
	case CSV:
		c := csv.NewWriter(w)
		c.Write(header)
		for _, r := range rows {
			c.Write(r)
		}
		c.Flush()
		return c.Error()
	case HTML:
		return page.Execute(w, pageData{Title: title, Generated: time.Now().UTC().Format(time.RFC3339), Summary: summary, Header: header, Rows: rows})
	}
	return json.NewEncoder(w).Encode(v)
}

type pageData struct {
	Title, Generated, Summary string
	Header                    []string
	Rows                      [][]string
}

// page is a printable report: no script, no styles beyond the browser's.
var page = template.Must(template.New("report").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title></head>
<body>
<h1>{{.Title}}</h1>
<p>Made by jitd at {{.Generated}}.{{with .Summary}} {{.}}{{end}}</p>
{{if .Rows}}<table border="1" cellpadding="4" cellspacing="0">
<thead><tr>{{range .Header}}<th scope="col">{{.}}</th>{{end}}</tr></thead>
<tbody>{{range .Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</tbody></table>{{else}}<p>Nothing in this period.</p>{{end}}
</body></html>
`))
