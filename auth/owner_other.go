//go:build !unix

package auth

import "io/fs"

// checkPrivate checks nothing on systems without unix permission bits and
// uids (on Windows the file's ACL, inherited from its directory, decides).
func checkPrivate(string, fs.FileInfo) error { return nil }
