package naming

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"
)

// Template is a parsed login-name template such as `$domain$\$username$`:
// each $field$ is replaced by that field (attribute) of the secret, field
// names compared without regard to case; everything else is literal, and
// "$$" is a literal '$'. Field names consist of letters, digits, '_', '-'
// and '.'. A Template is immutable and safe for concurrent use.
type Template struct {
	src    string
	parts  []tmplPart
	fields []string
}

// tmplPart is a literal text or, when field is true, a field name.
type tmplPart struct {
	text  string
	field bool
}

// ParseTemplate parses s as a [Template]. An empty template, invalid UTF-8, a
// '$' without its closing '$', or a field name with other characters than
// letters, digits, '_', '-' and '.' is an error wrapping [ErrInvalid] that
// gives the offset. ("$$" is always a literal '$', so a field name is never
// empty.)
func ParseTemplate(s string) (*Template, error) {
	if s == "" {
		return nil, invalidf("template is empty: write the login name, such as `$domain$\\$username$`")
	}
	if rule := utf8Rule(s); rule != "" {
		return nil, invalidf("template %s: %s", echo(s, 64), rule)
	}
	t := &Template{src: s}
	var lit strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '$' {
			j := strings.IndexByte(s[i:], '$')
			if j < 0 {
				j = len(s) - i
			}
			lit.WriteString(s[i : i+j])
			i += j
			continue
		}
		if i+1 < len(s) && s[i+1] == '$' {
			lit.WriteByte('$')
			i += 2
			continue
		}
		j := strings.IndexByte(s[i+1:], '$')
		if j < 0 {
			return nil, invalidf("template %s: the '$' at offset %d is not closed: write $field$ for a field, $$ for a literal '$'", echo(s, 64), i)
		}
		name := s[i+1 : i+1+j]
		if k, r := firstNotIn(name, isFieldRune); k >= 0 {
			return nil, invalidf("template %s: field name %s at offset %d contains %q: field names consist of letters, digits, '_', '-' and '.' (write $$ for a literal '$')",
				echo(s, 64), echo(name, maxEcho), i+1, r)
		}
		if lit.Len() > 0 {
			t.parts = append(t.parts, tmplPart{text: lit.String()})
			lit.Reset()
		}
		t.parts = append(t.parts, tmplPart{text: name, field: true})
		if !slices.ContainsFunc(t.fields, func(f string) bool { return strings.EqualFold(f, name) }) {
			t.fields = append(t.fields, name)
		}
		i += j + 2
	}
	if lit.Len() > 0 {
		t.parts = append(t.parts, tmplPart{text: lit.String()})
	}
	return t, nil
}

// isFieldRune reports whether r may appear in a field name.
func isFieldRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '-' || r == '.'
}

// String returns the source text of t, as given to [ParseTemplate].
func (t *Template) String() string { return t.src }

// Fields returns the field names of t in order of first use, each once
// (compared without regard to case), as written in the template. The caller
// may modify the returned slice.
func (t *Template) Fields() []string { return slices.Clone(t.fields) }

// Execute fills t from attrs, the fields of a secret. A field is looked up by
// its exact name first, then without regard to case. A field the secret
// lacks, or has under several keys that differ only in case, is an error
// wrapping [ErrMissingField] that names the field and lists the secret's
// field names. Errors never contain attribute values.
func (t *Template) Execute(attrs map[string]string) (string, error) {
	var b strings.Builder
	for _, p := range t.parts {
		if !p.field {
			b.WriteString(p.text)
			continue
		}
		v, err := t.lookup(attrs, p.text)
		if err != nil {
			return "", err
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

// lookup returns the value of field name in attrs.
func (t *Template) lookup(attrs map[string]string, name string) (string, error) {
	if v, ok := attrs[name]; ok {
		return v, nil
	}
	var matches []string
	for k := range attrs {
		if strings.EqualFold(k, name) {
			matches = append(matches, k)
		}
	}
	switch len(matches) {
	case 1:
		return attrs[matches[0]], nil
	case 0:
		return "", fmt.Errorf("naming: template %q: %w: the secret has no field %q (its fields: %s)",
			t.src, ErrMissingField, name, fieldList(attrs))
	}
	slices.Sort(matches)
	return "", fmt.Errorf("naming: template %q: %w: field %q is ambiguous: the secret has %d fields that differ only in case (%s)",
		t.src, ErrMissingField, name, len(matches), quoteList(matches))
}

// fieldList lists the field names (never the values) of attrs for an error.
func fieldList(attrs map[string]string) string {
	if len(attrs) == 0 {
		return "none"
	}
	return quoteList(slices.Sorted(maps.Keys(attrs)))
}

// quoteList quotes and joins at most 20 names, each cut to 32 characters.
func quoteList(names []string) string {
	const max = 20
	var b strings.Builder
	for i, n := range names {
		if i == max {
			fmt.Fprintf(&b, ", … (%d in all)", len(names))
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(echo(n, maxEcho))
	}
	return b.String()
}
