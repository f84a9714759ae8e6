package policy

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// globKind says how a compiled pattern is matched, so that the common
// shapes (an exact name, "*", "prefix*") need no general matching.
type globKind uint8

const (
	globLiteral globKind = iota // no '*' or '?': the string itself
	globAny                     // only '*': every string
	globPrefix                  // literal text then one trailing '*'
	globGeneral                 // anything else
)

// glob is a compiled pattern. '*' matches any run of characters (including
// none, and including '/'), '?' matches exactly one character (one UTF-8
// encoded rune, or one byte that is not valid UTF-8), and every other
// character, '\' included, stands for itself. Matching is case-sensitive.
type glob struct {
	kind globKind
	// text is the whole pattern (globLiteral, globGeneral) or the text before
	// the '*' (globPrefix).
	text string
}

// compileGlob compiles pattern; every string is a pattern, checkGlob says
// which ones a configuration may not use.
func compileGlob(pattern string) glob {
	switch {
	case !strings.ContainsAny(pattern, "*?"):
		return glob{kind: globLiteral, text: pattern}
	case strings.Trim(pattern, "*") == "":
		return glob{kind: globAny}
	}
	head := strings.TrimRight(pattern, "*")
	if !strings.ContainsAny(head, "*?") {
		return glob{kind: globPrefix, text: head}
	}
	return glob{kind: globGeneral, text: pattern}
}

// match reports whether s matches g.
func (g glob) match(s string) bool {
	switch g.kind {
	case globLiteral:
		return s == g.text
	case globAny:
		return true
	case globPrefix:
		return strings.HasPrefix(s, g.text)
	default:
		return matchGlob(g.text, s)
	}
}

// matchGlob reports whether s matches pattern, with the syntax of glob. It
// backtracks only to the last '*' seen, so it takes at most
// len(pattern)*len(s) steps and never allocates.
func matchGlob(pattern, s string) bool {
	px, sx := 0, 0
	// Where to restart when the text after the last '*' fails to match:
	// the pattern just after that '*', and s one character further on.
	starPx, starSx := -1, -1
	for px < len(pattern) || sx < len(s) {
		if px < len(pattern) {
			switch c := pattern[px]; c {
			case '*':
				starPx = px
				starSx = sx + runeWidth(s, sx)
				px++
				continue
			case '?':
				if sx < len(s) {
					px++
					sx += runeWidth(s, sx)
					continue
				}
			default:
				if sx < len(s) && s[sx] == c {
					px++
					sx++
					continue
				}
			}
		}
		if starPx >= 0 && starSx <= len(s) {
			px = starPx
			sx = starSx
			continue
		}
		return false
	}
	return true
}

// runeWidth returns the length of the character at s[i:], 1 at the end of
// s or for a byte that is not valid UTF-8.
func runeWidth(s string, i int) int {
	if i >= len(s) {
		return 1
	}
	if s[i] < utf8.RuneSelf {
		return 1
	}
	_, w := utf8.DecodeRuneInString(s[i:])
	return w
}

// checkGlob returns what is wrong with pattern as a configuration value, or
// "" when nothing is: it must be non-empty valid UTF-8 without control
// characters or leading or trailing spaces (names never have them, so they
// are typing mistakes that would silently match nothing).
func checkGlob(pattern string) string {
	switch {
	case pattern == "":
		return "is empty"
	case !utf8.ValidString(pattern):
		return "is not valid UTF-8"
	case strings.TrimSpace(pattern) != pattern:
		return "has leading or trailing spaces"
	case strings.IndexFunc(pattern, unicode.IsControl) >= 0:
		return "contains a control character"
	}
	return ""
}
