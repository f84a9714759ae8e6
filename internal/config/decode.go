package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// yaml.v3 checks a mapping for duplicate keys by comparing every key with
// every other: a configuration with 40,000 lockers took seconds to load.
// The large mappings (lockers, the auto-login mapping) decode themselves:
// duplicates found with a Go map, each value decoded on its own, and the
// known-fields check (which Node.Decode does not do) made here.

// Lockers is the lockers section.
type Lockers map[string]*Locker

// UnmarshalYAML decodes the lockers in one pass.
func (ls *Lockers) UnmarshalYAML(n *yaml.Node) error {
	out := Lockers{}
	err := decodeMap(n, "lockers", func(key *yaml.Node, val *yaml.Node) error {
		if val.Kind == yaml.ScalarNode && val.Tag == "!!null" {
			out[key.Value] = nil
			return nil
		}
		l := &Locker{}
		if err := decodeLocker(val, l); err != nil {
			return err
		}
		out[key.Value] = l
		return nil
	})
	*ls = out
	return err
}

// decodeLocker decodes one locker by hand: it is the one block a file may
// hold tens of thousands of, and a yaml decoder per locker costs more than
// the whole parse. It reports the errors yaml.v3 would, in its words.
func decodeLocker(n *yaml.Node, l *Locker) error {
	if n.Kind != yaml.MappingNode {
		return typeErr(n.Line, "cannot unmarshal !!%s into config.Locker", kindTag(n))
	}
	var msgs []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		var err error
		switch k.Value {
		case "provider":
			err = scalarString(v, &l.Provider)
		case "prefix":
			err = scalarString(v, &l.Prefix)
		case "safe":
			err = scalarString(v, &l.Safe)
		case "username_template":
			err = scalarString(v, &l.UsernameTemplate)
		case "failover_on_not_found":
			err = scalarBool(v, &l.FailoverOnNotFound)
		case "places":
			err = v.Decode(&l.Places)
		default:
			err = typeErr(k.Line, "field %s not found in type config.Locker", k.Value)
		}
		if err != nil {
			msgs = append(msgs, typeErrors(err)...)
		}
	}
	if len(msgs) > 0 {
		return &yaml.TypeError{Errors: msgs}
	}
	return nil
}

func scalarString(n *yaml.Node, out *string) error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.ScalarNode {
		return typeErr(n.Line, "cannot unmarshal !!%s into string", kindTag(n))
	}
	if n.Tag == "!!null" {
		*out = ""
		return nil
	}
	*out = n.Value
	return nil
}

func scalarBool(n *yaml.Node, out *bool) error {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool" {
		return n.Decode(out)
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		*out = false
		return nil
	}
	return typeErr(n.Line, "cannot unmarshal !!%s `%s` into bool", kindTag(n), n.Value)
}

// UnmarshalYAML decodes a place, refusing unknown fields.
func (p *Place) UnmarshalYAML(n *yaml.Node) error {
	return strict(n, (*placeFields)(p), fieldNames(reflect.TypeOf(placeFields{})), "config.Place")
}

type placeFields Place

// Mapping is the auto-login mapping: usernames to secret names.
type Mapping map[string]string

// UnmarshalYAML decodes the mapping in one pass.
func (m *Mapping) UnmarshalYAML(n *yaml.Node) error {
	out := Mapping{}
	err := decodeMap(n, "autologin.mapping", func(key, val *yaml.Node) error {
		if val.Kind != yaml.ScalarNode {
			return typeErr(val.Line, "found %s, but text (a secret name) is expected here", kindWord(val))
		}
		out[key.Value] = val.Value
		return nil
	})
	*m = out
	return err
}

// decodeMap walks a mapping node, refusing duplicate keys, and calls each
// for every pair; every error is collected into one *yaml.TypeError.
func decodeMap(n *yaml.Node, what string, each func(key, val *yaml.Node) error) error {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return typeErr(n.Line, "found %s, but a mapping of names is expected for %s", kindWord(n), what)
	}
	var msgs []string
	seen := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if first, dup := seen[k.Value]; dup {
			msgs = append(msgs, fmt.Sprintf("line %d: %s %q is defined twice (first at line %d): remove one", k.Line, strings.TrimSuffix(what, "s"), k.Value, first))
			continue
		}
		seen[k.Value] = k.Line
		if err := each(k, v); err != nil {
			msgs = append(msgs, typeErrors(err)...)
		}
	}
	if len(msgs) > 0 {
		return &yaml.TypeError{Errors: msgs}
	}
	return nil
}

// strict decodes a mapping node into out (a pointer to a struct type whose
// own methods do not recurse here), refusing fields that out does not have,
// as yaml.Decoder.KnownFields does.
func strict(n *yaml.Node, out any, known map[string]bool, typeName string) error {
	if n.Kind != yaml.MappingNode {
		return typeErr(n.Line, "cannot unmarshal !!%s into %s", kindTag(n), typeName)
	}
	var msgs []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; !known[k.Value] {
			msgs = append(msgs, fmt.Sprintf("line %d: field %s not found in type %s", k.Line, k.Value, typeName))
		}
	}
	if err := n.Decode(out); err != nil {
		msgs = append(msgs, typeErrors(err)...)
	}
	if len(msgs) > 0 {
		return &yaml.TypeError{Errors: msgs}
	}
	return nil
}

// fieldNames returns the yaml names of a struct type's fields.
func fieldNames(t reflect.Type) map[string]bool {
	out := map[string]bool{}
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			out[name] = true
		}
	}
	return out
}

func typeErr(line int, format string, args ...any) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: ", line) + fmt.Sprintf(format, args...)}}
}

func typeErrors(err error) []string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return te.Errors
	}
	return []string{err.Error()}
}

func kindTag(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "seq"
	case yaml.MappingNode:
		return "map"
	}
	return strings.TrimPrefix(n.Tag, "!!")
}

func kindWord(n *yaml.Node) string {
	if w, ok := yamlKinds[kindTag(n)]; ok {
		return w
	}
	return kindTag(n)
}
