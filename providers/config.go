package providers

import (
	"errors"
	"io/fs"
)

// FileProblem describes an error from opening or reading a file in a few
// words, without the path (the ConfigError's Field already names the
// file): "no such file", "permission denied", or the operating system's
// own words ("is a directory"). Drivers use it in the Problem of a
// ConfigError about a file setting; it never quotes the file's content.
func FileProblem(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "no such file"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// JoinErrors returns nil for no errors, the one error of errs as it is, or
// all of them joined with errors.Join: a configuration check that found a
// single problem returns that *ConfigError itself.
func JoinErrors(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}
