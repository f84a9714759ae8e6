//go:build !unix

package embedded

import "io/fs"

// checkOwner accepts every file where file ownership is not a user id.
func checkOwner(info fs.FileInfo, path, field, what string) error { return nil }
