package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// versionInfo is the output of the version command.
type versionInfo struct {
	Version  string `json:"version"`
	Revision string `json:"revision,omitempty"`
	Time     string `json:"time,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

// buildVersion returns the version of this binary from its build
// information: the module version (a tag, a pseudo-version, or "(devel)")
// and the VCS revision when the build recorded one.
func buildVersion() versionInfo {
	v := versionInfo{Version: "(unknown)", Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if info.Main.Version != "" {
		v.Version = info.Main.Version
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

func (a *app) version(args []string) error {
	spec := &cmdSpec{
		path:     "version",
		lines:    []string{"version"},
		about:    "Version prints the version of this program, from its build information.",
		examples: []string{"secretbroker version", "secretbroker version -o json"},
		mode:     offline,
	}
	if err := a.parseNoArgs(a.newFlags(spec), spec, args); err != nil {
		return err
	}
	v := buildVersion()
	if a.g.json() {
		return writeJSON(a.stdout, v)
	}
	var extra []string
	if v.Revision != "" {
		r := "revision " + v.Revision
		if v.Modified {
			r += " (modified)"
		}
		extra = append(extra, r)
	}
	if v.Time != "" {
		extra = append(extra, v.Time)
	}
	extra = append(extra, v.Go, v.Platform)
	fmt.Fprintf(a.stdout, "secretbroker %s, %s\n", v.Version, strings.Join(extra, ", "))
	return nil
}
