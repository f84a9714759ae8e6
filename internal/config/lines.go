package config

import (
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// lineIndex maps the path of every mapping key (and sequence item) to its
// line, built in one walk so that finding a line costs a map lookup however
// large the file is.
type lineIndex struct {
	root  int
	lines map[string]int
}

func newLineIndex(root *yaml.Node) *lineIndex {
	x := &lineIndex{lines: make(map[string]int)}
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	x.root = n.Line
	var b strings.Builder
	x.walk(n, &b)
	return x
}

func (x *lineIndex) walk(n *yaml.Node, path *strings.Builder) {
	base := path.Len()
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			path.WriteByte(0)
			path.WriteString(n.Content[i].Value)
			x.lines[path.String()] = n.Content[i].Line
			x.walk(n.Content[i+1], path)
			truncate(path, base)
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			path.WriteByte(0)
			path.WriteString(strconv.Itoa(i))
			x.lines[path.String()] = item.Line
			x.walk(item, path)
			truncate(path, base)
		}
	}
}

// truncate cuts a strings.Builder back to n bytes.
func truncate(b *strings.Builder, n int) {
	s := b.String()[:n]
	b.Reset()
	b.WriteString(s)
}

// line returns the line of the deepest element of path that exists
// (sequence items by their index as a string).
func (x *lineIndex) line(path ...string) int {
	if x == nil {
		return 0
	}
	line := x.root
	key := ""
	for _, p := range path {
		key += "\x00" + p
		l, ok := x.lines[key]
		if !ok {
			break
		}
		line = l
	}
	return line
}
