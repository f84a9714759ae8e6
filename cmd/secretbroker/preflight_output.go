package main

import (
	"fmt"
	"html/template"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// writePreflightFormat writes rep to w as a table, JSON or HTML.
func writePreflightFormat(w io.Writer, rep *preflightReport, format string) error {
	switch format {
	case "json":
		return writeJSON(w, rep)
	case "html":
		return writePreflightHTML(w, rep)
	}
	return writePreflightTable(w, rep)
}

// statusLabel returns the words for a check's status: "present", "falls
// back to system", "missing", "unreadable (CODE)".
func statusLabel(c *preflightCheck) string {
	switch c.Status {
	case statusPresent:
		return "present"
	case statusSystem:
		return "falls back to system"
	case statusMissing:
		return "missing"
	}
	if c.Code != "" {
		return "unreadable (" + plain(c.Code) + ")"
	}
	return "unreadable"
}

// cellText is the table cell of a check.
func cellText(c *preflightCheck) string {
	if c.Colliding {
		return statusLabel(c) + ", colliding"
	}
	return statusLabel(c)
}

// userProblems returns, for the user at index i of rep.Users, its flags and
// its collisions as short phrases: "whitespace in the username",
// `case with "abcd\bob" (line 4)`.
func userProblems(rep *preflightReport, i int) []string {
	u := &rep.Users[i]
	var out []string
	for _, f := range u.Flags {
		if f == flagWhitespace {
			out = append(out, "leading/trailing whitespace")
		} else {
			out = append(out, plain(f))
		}
	}
	for _, c := range rep.Collisions {
		other := -1
		switch {
		case c.Users[0] == u.Username && c.Lines[0] == u.Line:
			other = 1
		case c.Users[1] == u.Username && c.Lines[1] == u.Line:
			other = 0
		}
		if other >= 0 {
			out = append(out, fmt.Sprintf("%s with %s (line %d)", strings.ReplaceAll(c.Kind, "_", " "),
				displayUser(c.Users[other]), c.Lines[other]))
		}
	}
	return out
}

// checkName names a check in the text output: "auto-login" or
// "locker/credential".
func checkName(c *preflightCheck) string {
	if c.Locker == "" && c.Credential == "" {
		return "auto-login"
	}
	return plain(c.Locker + "/" + c.Credential)
}

// summaryLine is "3 users, 6 checks: 3 present, 1 falls back to system, ...".
func summaryLine(s preflightSummary) string {
	return fmt.Sprintf("%s, %s: %d present, %d falls back to system, %d missing, %d unreadable; %s, %s",
		plural(s.Users, "user", "users"), plural(s.Checks, "check", "checks"), s.Present, s.System, s.Missing, s.Unreadable,
		plural(s.Collisions, "collision", "collisions"), plural(s.Flagged, "flagged user", "flagged users"))
}

// writePreflightTable writes rep as a table (user, auto-login, each pair,
// collisions), then the collisions and the unreadable checks with their
// reasons, and a summary line.
func writePreflightTable(w io.Writer, rep *preflightReport) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	head := []string{"USER"}
	if rep.AutoLogin {
		head = append(head, "AUTO-LOGIN")
	}
	for _, p := range rep.Pairs {
		head = append(head, plain(p.String()))
	}
	head = append(head, "COLLISIONS")
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for i := range rep.Users {
		u := &rep.Users[i]
		row := []string{displayUser(u.Username)}
		if u.AutoLogin != nil {
			row = append(row, cellText(u.AutoLogin))
		}
		for j := range u.Credentials {
			row = append(row, cellText(&u.Credentials[j]))
		}
		probs := userProblems(rep, i)
		if len(probs) == 0 {
			probs = []string{"-"}
		}
		row = append(row, strings.Join(probs, "; "))
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(rep.Collisions) > 0 {
		fmt.Fprintln(w, "\nCollisions:")
		for _, c := range rep.Collisions {
			fmt.Fprintf(w, "  %s: line %d %s and line %d %s: %s\n", c.Kind, c.Lines[0], displayUser(c.Users[0]),
				c.Lines[1], displayUser(c.Users[1]), plain(c.Detail))
			for _, s := range c.Secrets {
				where := "provider " + plain(s.Provider) + " (" + plain(s.ProviderKind) + ")"
				if s.Safe != "" {
					where += " safe " + plain(s.Safe)
				}
				fmt.Fprintf(w, "    %s and %s in %s\n", plain(s.Names[0]), plain(s.Names[1]), where)
			}
		}
	}
	// Unreadable checks, one line per check and code: a locker the
	// daemon refuses refuses every user.
	type group struct {
		check, code, user, reason string
		n                         int
	}
	var groups []*group
	byKey := map[string]*group{}
	for i := range rep.Users {
		u := &rep.Users[i]
		for _, c := range u.checks() {
			if c.Status != statusUnreadable {
				continue
			}
			k := checkName(c) + "\x00" + c.Code
			if g, ok := byKey[k]; ok {
				g.n++
				continue
			}
			g := &group{check: checkName(c), code: plain(c.Code), user: displayUser(u.Username), reason: oneLine(c.Reason), n: 1}
			byKey[k] = g
			groups = append(groups, g)
		}
	}
	if len(groups) > 0 {
		fmt.Fprintln(w, "\nUnreadable:")
	}
	for _, g := range groups {
		if g.n == 1 {
			fmt.Fprintf(w, "  %s %s: %s: %s\n", g.user, g.check, g.code, g.reason)
		} else {
			fmt.Fprintf(w, "  %s: %s for %d users, such as %s: %s\n", g.check, g.code, g.n, g.user, g.reason)
		}
	}
	fmt.Fprintf(w, "\n%s\n", summaryLine(rep.Summary))
	return nil
}

// plural returns "1 user", "2 users".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// checks returns the checks of u: auto-login first, then the pairs.
func (u *preflightUser) checks() []*preflightCheck {
	out := make([]*preflightCheck, 0, len(u.Credentials)+1)
	if u.AutoLogin != nil {
		out = append(out, u.AutoLogin)
	}
	for i := range u.Credentials {
		out = append(out, &u.Credentials[i])
	}
	return out
}

// htmlView is what the HTML template shows.
type htmlView struct {
	Report  *preflightReport
	Time    string
	Verdict string
	Columns []htmlColumn
	Rows    []htmlRow
}

// htmlColumn is a column of the grid: auto-login or a pair, with the
// system secrets of the pair.
type htmlColumn struct {
	Title  string
	System []htmlName
}

// htmlRow is a user's row of the grid.
type htmlRow struct {
	User     string
	Escaped  bool // User is Go-quoted (see displayUser)
	Line     int
	Problems []string
	Cells    []htmlCell
}

// htmlCell is a check in the grid.
type htmlCell struct {
	Class     string // present, system, missing, unreadable
	Symbol    string
	Label     string
	Colliding bool
	Code      string // of an unreadable check
	Reason    string
	Names     []htmlName
}

// htmlName is a secret name checked, with its presence.
type htmlName struct {
	Name  string
	Mark  string // ✓ exists, ✗ NotFound, ! another code
	State string // exists, not found, CODE
	Note  string // "place 2", "safe S", "mapped"
}

// statusSymbol returns the symbol drawn before a status label.
func statusSymbol(status string) string {
	switch status {
	case statusPresent:
		return "✓"
	case statusSystem:
		return "↪"
	case statusMissing:
		return "✗"
	}
	return "!"
}

// htmlNameOf describes the secret s.
func htmlNameOf(s *preflightSecret) htmlName {
	n := htmlName{Name: s.SecretName}
	switch {
	case s.Exists:
		n.Mark, n.State = "✓", "exists"
	case s.Code == "NotFound":
		n.Mark, n.State = "✗", "not found"
	default:
		n.Mark, n.State = "!", s.Code
	}
	var notes []string
	if s.Safe != "" {
		notes = append(notes, "safe "+s.Safe)
	}
	if s.Place > 0 {
		notes = append(notes, "place "+strconv.Itoa(s.Place+1))
	}
	if s.Mapped {
		notes = append(notes, "mapped")
	}
	n.Note = strings.Join(notes, ", ")
	return n
}

// htmlCellOf describes the check c.
func htmlCellOf(c *preflightCheck) htmlCell {
	cell := htmlCell{Class: c.Status, Symbol: statusSymbol(c.Status), Label: statusLabel(c), Colliding: c.Colliding}
	if c.Status == statusUnreadable {
		cell.Label, cell.Code, cell.Reason = "unreadable", c.Code, c.Reason
	}
	for i := range c.Secrets {
		s := &c.Secrets[i]
		if s.Scope == "SYSTEM" {
			continue
		}
		cell.Names = append(cell.Names, htmlNameOf(s))
	}
	return cell
}

// newHTMLView prepares rep for the template.
func newHTMLView(rep *preflightReport) *htmlView {
	v := &htmlView{Report: rep, Time: rep.Time.UTC().Format(time.RFC3339)}
	if rep.Summary.OK {
		v.Verdict = "OK: every credential is present and nothing collides"
	} else {
		v.Verdict = "Problems: " + rep.Summary.problems()
	}
	if rep.AutoLogin {
		v.Columns = append(v.Columns, htmlColumn{Title: "auto-login"})
	}
	for j, p := range rep.Pairs {
		col := htmlColumn{Title: p.String()}
		// The system secrets are the same for every user: take them from
		// the first user whose check has them.
		for i := range rep.Users {
			if j >= len(rep.Users[i].Credentials) {
				continue
			}
			for k := range rep.Users[i].Credentials[j].Secrets {
				if s := &rep.Users[i].Credentials[j].Secrets[k]; s.Scope == "SYSTEM" {
					col.System = append(col.System, htmlNameOf(s))
				}
			}
			if len(col.System) > 0 {
				break
			}
		}
		v.Columns = append(v.Columns, col)
	}
	for i := range rep.Users {
		u := &rep.Users[i]
		d := displayUser(u.Username)
		row := htmlRow{User: d, Escaped: d != u.Username, Line: u.Line, Problems: userProblems(rep, i)}
		for _, c := range u.checks() {
			row.Cells = append(row.Cells, htmlCellOf(c))
		}
		v.Rows = append(v.Rows, row)
	}
	return v
}

// writePreflightHTML writes rep as one self-contained HTML page.
func writePreflightHTML(w io.Writer, rep *preflightReport) error {
	t, err := template.New("preflight").Funcs(template.FuncMap{"display": displayUser}).Parse(preflightHTML)
	if err != nil {
		return fmt.Errorf("preflight report template: %w", err)
	}
	if err := t.Execute(w, newHTMLView(rep)); err != nil {
		return fmt.Errorf("writing the preflight report: %w", err)
	}
	return nil
}

// preflightHTML is the report's template: inline CSS, no scripts, no
// external resources (the Content-Security-Policy forbids them too). Each
// status has a colour, a symbol, a label and a border style, so that it
// reads in black and white.
const preflightHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>secretbroker preflight {{.Time}}</title>
<style>
  :root { --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; }
  * { box-sizing: border-box; }
  body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", Arial, sans-serif; color: var(--ink); margin: 24px; }
  h1 { font-size: 22px; margin: 0 0 4px; }
  h2 { font-size: 17px; margin: 28px 0 8px; }
  code, .mono { font-family: ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12px; }
  .meta { color: var(--muted); margin: 0 0 16px; }
  .meta span { margin-right: 18px; white-space: nowrap; }
  .verdict { padding: 10px 14px; border: 2px solid; border-radius: 6px; font-weight: 600; margin-bottom: 14px; }
  .verdict.ok { background: #dafbe1; border-color: #1a7f37; color: #0f5323; }
  .verdict.bad { background: #ffebe9; border-color: #cf222e; color: #82071e; }
  .cards { display: flex; flex-wrap: wrap; gap: 10px; margin-bottom: 8px; }
  .card { border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; min-width: 110px; }
  .card b { display: block; font-size: 22px; }
  .card.present b { color: #1a7f37; } .card.system b { color: #0550ae; } .card.missing b { color: #cf222e; }
  .card.unreadable b { color: #9a6700; } .card.colliding b { color: #8250df; }
  table { border-collapse: collapse; }
  th, td { border: 1px solid var(--line); padding: 6px 8px; vertical-align: top; text-align: left; }
  th { background: #f6f8fa; }
  th .sub { display: block; font-weight: normal; color: var(--muted); }
  td.user { white-space: nowrap; }
  td.user .line, .muted { color: var(--muted); font-size: 12px; }
  .badge { display: inline-block; font-weight: 600; padding: 1px 6px; border-radius: 4px; border: 2px solid; white-space: nowrap; }
  .present .badge { background: #dafbe1; color: #0f5323; border-color: #1a7f37; border-style: solid; }
  .system .badge { background: #ddf4ff; color: #0a3069; border-color: #0550ae; border-style: dotted; }
  .missing .badge { background: #ffebe9; color: #82071e; border-color: #cf222e; border-style: dashed; }
  .unreadable .badge { background: #fff8c5; color: #4d2d00; border-color: #9a6700; border-style: double; border-width: 3px; }
  td.present { background: #f4fdf6; } td.system { background: #f3fbff; } td.missing { background: #fff5f4; } td.unreadable { background: #fffdf0; }
  .collide { display: inline-block; margin-left: 4px; font-weight: 600; padding: 1px 6px; border-radius: 4px; background: #fbefff; color: #512a97; border: 2px solid #8250df; white-space: nowrap; }
  td.colliding { outline: 3px double #8250df; outline-offset: -4px; }
  .flag { display: inline-block; margin-top: 2px; padding: 0 5px; border-radius: 4px; background: #fbefff; color: #512a97; border: 1px solid #8250df; font-size: 12px; }
  ul.names { list-style: none; margin: 4px 0 0; padding: 0; }
  ul.names li code, th .sub code { white-space: nowrap; }
  .code { margin-top: 3px; font-weight: 600; }
  .reason { color: #4d2d00; font-size: 12px; max-width: 260px; }
  .scroll { overflow-x: auto; }
  .legend td { border: none; padding: 2px 12px 2px 0; }
  footer { margin-top: 28px; color: var(--muted); font-size: 12px; }
  @media print {
    body { margin: 0; }
    * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  }
</style>
</head>
<body>
<h1>secretbroker preflight</h1>
<p class="meta">
  <span>daemon <code>{{.Report.Daemon}}</code></span>
  <span>checked {{.Time}}</span>
  <span>{{if .Report.BypassCache}}vaults asked directly (cache bypassed){{else}}daemon cache allowed{{end}}</span>
  <span>auto-login {{if .Report.AutoLogin}}checked{{else}}not checked{{end}}</span>
</p>
<div class="verdict {{if .Report.Summary.OK}}ok{{else}}bad{{end}}">{{if .Report.Summary.OK}}✓{{else}}✗{{end}} {{.Verdict}}</div>
{{with .Report.Summary}}<div class="cards">
  <div class="card"><b>{{.Users}}</b>users</div>
  <div class="card"><b>{{.Checks}}</b>checks</div>
  <div class="card present"><b>{{.Present}}</b>✓ present</div>
  <div class="card system"><b>{{.System}}</b>↪ falls back to system</div>
  <div class="card missing"><b>{{.Missing}}</b>✗ missing</div>
  <div class="card unreadable"><b>{{.Unreadable}}</b>! unreadable</div>
  <div class="card colliding"><b>{{.Collisions}}</b>⇄ collisions</div>
  <div class="card colliding"><b>{{.Flagged}}</b>flagged users</div>
</div>{{end}}

<h2>Users × credentials</h2>
<div class="scroll"><table class="grid">
<thead><tr><th>user</th>{{range .Columns}}<th>{{.Title}}{{range .System}}<span class="sub">system: {{.Mark}} <code>{{.Name}}</code> {{.State}}{{with .Note}}, {{.}}{{end}}</span>{{end}}</th>{{end}}<th>collisions</th></tr></thead>
<tbody>
{{range .Rows}}<tr>
  <td class="user"><span class="mono">{{.User}}</span>{{if .Escaped}} <span class="muted">(escaped)</span>{{end}}<br><span class="line">line {{.Line}}</span></td>
  {{range .Cells}}<td class="{{.Class}}{{if .Colliding}} colliding{{end}}"><span class="badge">{{.Symbol}} {{.Label}}</span>{{if .Colliding}}<span class="collide">⇄ colliding</span>{{end}}
    {{with .Code}}<div class="code"><code>{{.}}</code></div>{{end}}{{with .Reason}}<div class="reason">{{.}}</div>{{end}}
    {{if .Names}}<ul class="names">{{range .Names}}<li>{{.Mark}} <code>{{.Name}}</code> <span class="muted">{{.State}}{{with .Note}}, {{.}}{{end}}</span></li>{{end}}</ul>{{end}}
  </td>{{end}}
  <td>{{range .Problems}}<span class="flag">{{.}}</span><br>{{else}}<span class="muted">none</span>{{end}}</td>
</tr>
{{end}}</tbody>
</table></div>

<h2>Collisions</h2>
{{if .Report.Collisions}}<table>
<thead><tr><th>kind</th><th>users</th><th>why it matters</th><th>secret names</th></tr></thead>
<tbody>
{{range .Report.Collisions}}<tr>
  <td><span class="collide">⇄ {{.Kind}}</span></td>
  <td class="user"><span class="mono">{{display (index .Users 0)}}</span> <span class="muted">(line {{index .Lines 0}})</span><br><span class="mono">{{display (index .Users 1)}}</span> <span class="muted">(line {{index .Lines 1}})</span></td>
  <td>{{.Detail}}</td>
  <td>{{range .Secrets}}<code>{{index .Names 0}}</code> and <code>{{index .Names 1}}</code> <span class="muted">(provider {{.Provider}}, {{.ProviderKind}}{{with .Safe}}, safe {{.}}{{end}})</span><br>{{else}}<span class="muted">usernames only</span>{{end}}</td>
</tr>
{{end}}</tbody>
</table>{{else}}<p>None.</p>{{end}}

<h2>Legend</h2>
<table class="legend">
  <tr class="present"><td><span class="badge">✓ present</span></td><td>the user's own credential (or auto-login credential) exists</td></tr>
  <tr class="system"><td><span class="badge">↪ falls back to system</span></td><td>no user-defined credential; bots get the locker's system credential</td></tr>
  <tr class="missing"><td><span class="badge">✗ missing</span></td><td>neither the user's credential nor a system one exists</td></tr>
  <tr class="unreadable"><td><span class="badge">! unreadable</span></td><td>the vault or the daemon refused or failed (code shown); the daemon never falls back to system on errors</td></tr>
  <tr><td><span class="collide">⇄ colliding</span></td><td>two users' secret names name one secret (same name, or differing only in case on Azure Key Vault or CyberArk); usernames that differ only in Unicode normalisation or whitespace</td></tr>
</table>

<footer>Generated by <code>secretbroker preflight</code> (schema {{.Report.Schema}}). This report names users and secrets; it holds no secret value.</footer>
</body>
</html>
`
