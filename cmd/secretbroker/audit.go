package main

import (
	"errors"
	"fmt"

	"github.com/secretbroker/secretbroker/audit"
)

// auditUsage is the usage of the "audit" command group.
const auditUsage = `Usage: secretbroker audit verify [-o json] FILE...

The audit commands work offline on the daemon's audit log files, without a
daemon. Run 'secretbroker audit verify -h' for the flags and examples.`

// audit runs the "audit" command group.
func (a *app) audit(args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(a.stderr, auditUsage)
		return errUsageShown
	}
	switch args[0] {
	case "verify":
		return a.auditVerify(args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(a.stdout, auditUsage)
		return errHelp
	}
	return usagef("audit", "unknown subcommand %s: want verify", quote(args[0]))
}

// verifyResult is the JSON output of audit verify.
type verifyResult struct {
	Intact bool `json:"intact"`
	*audit.Report
}

func (a *app) auditVerify(args []string) error {
	spec := &cmdSpec{
		path:  "audit verify",
		lines: []string{"audit verify [-o json] FILE..."},
		about: `
Verify checks the hash chain of audit log files written by the daemon: that
no line was edited, inserted, deleted or reordered, and that each rotated
file follows on from the one before. Give the files oldest first, as
rotation leaves them (audit.log.2 audit.log.1 audit.log); older files may
be missing, files in the middle may not.

It prints "N lines verified, chain intact" and the seq and hash of the last
line, and exits 0; or it prints "FILE:LINE: chain broken: why" for the
first line where the chain breaks, and exits 1. Lines cut from the end of
the newest file cannot show in the chain: compare the last seq and hash
with the daemon's checkpoint. -o json prints the whole report.`,
		examples: []string{
			`secretbroker audit verify /var/log/secretbroker/audit.log.2 /var/log/secretbroker/audit.log.1 /var/log/secretbroker/audit.log`,
			`secretbroker audit verify -o json audit.log`,
		},
		mode: offline,
	}
	fs := a.newFlags(spec)
	if err := a.parse(fs, spec, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef(spec.path, "give the audit log files to verify, oldest first")
	}
	r, err := audit.Verify(fs.Args())
	var brk *audit.Break
	if err != nil && !errors.As(err, &brk) {
		return err
	}
	if a.g.json() {
		if werr := writeJSON(a.stdout, verifyResult{Intact: err == nil, Report: r}); werr != nil {
			return werr
		}
		return err
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "%d lines verified, chain intact\n", r.Lines)
	fmt.Fprintf(a.stdout, "last line: seq %d, hash %s\n", r.LastSeq, r.LastHash)
	return nil
}
