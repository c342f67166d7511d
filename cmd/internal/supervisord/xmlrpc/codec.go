package xmlrpc

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxDepth bounds how deeply arrays and structs may nest in a request; no
// supervisorctl call nests more than three deep (multicall of calls).
const maxDepth = 32

// node is an XML element as a generic tree.
type node struct {
	XMLName xml.Name
	Text    string `xml:",chardata"`
	Kids    []node `xml:",any"`
}

// call is a decoded methodCall.
type call struct {
	method string
	params []any
}

// decodeCall parses a methodCall. Values become string, int64, bool,
// float64, []byte, []any, map[string]any or nil.
func decodeCall(data []byte) (*call, error) {
	var root node
	if err := xml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("bad XML: %v", err)
	}
	if root.XMLName.Local != "methodCall" {
		return nil, fmt.Errorf("bad XML-RPC: root element is <%s>, not <methodCall>", root.XMLName.Local)
	}
	c := &call{}
	haveName := false
	for _, k := range root.Kids {
		switch k.XMLName.Local {
		case "methodName":
			c.method, haveName = strings.TrimSpace(k.Text), true
		case "params":
			for _, p := range k.Kids {
				if p.XMLName.Local != "param" {
					return nil, fmt.Errorf("bad XML-RPC: <%s> in <params>", p.XMLName.Local)
				}
				v, ok := onlyChild(p, "value")
				if !ok {
					return nil, errors.New("bad XML-RPC: <param> without one <value>")
				}
				val, err := decodeValue(v, 0)
				if err != nil {
					return nil, err
				}
				c.params = append(c.params, val)
			}
		default:
			return nil, fmt.Errorf("bad XML-RPC: <%s> in <methodCall>", k.XMLName.Local)
		}
	}
	if !haveName || c.method == "" {
		return nil, errors.New("bad XML-RPC: no <methodName>")
	}
	return c, nil
}

func onlyChild(n node, name string) (node, bool) {
	if len(n.Kids) != 1 || n.Kids[0].XMLName.Local != name {
		return node{}, false
	}
	return n.Kids[0], true
}

func decodeValue(v node, depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("bad XML-RPC: values nest more than %d deep", maxDepth)
	}
	if len(v.Kids) == 0 {
		return v.Text, nil // a <value> with no type is a string
	}
	if len(v.Kids) != 1 {
		return nil, errors.New("bad XML-RPC: <value> with more than one type")
	}
	t := v.Kids[0]
	text := t.Text
	switch t.XMLName.Local {
	case "string":
		return text, nil
	case "int", "i4", "i8":
		n, err := strconv.ParseInt(strings.TrimSpace(text), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad XML-RPC: <%s>%s</%s>", t.XMLName.Local, text, t.XMLName.Local)
		}
		return n, nil
	case "boolean":
		switch strings.TrimSpace(text) {
		case "1":
			return true, nil
		case "0":
			return false, nil
		}
		return nil, fmt.Errorf("bad XML-RPC: <boolean>%s</boolean>", text)
	case "double":
		f, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
		if err != nil {
			return nil, fmt.Errorf("bad XML-RPC: <double>%s</double>", text)
		}
		return f, nil
	case "base64":
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(text), ""))
		if err != nil {
			return nil, errors.New("bad XML-RPC: invalid <base64>")
		}
		return b, nil
	case "dateTime.iso8601":
		return strings.TrimSpace(text), nil
	case "nil":
		return nil, nil
	case "array":
		data, ok := onlyChild(t, "data")
		if !ok {
			return nil, errors.New("bad XML-RPC: <array> without one <data>")
		}
		out := make([]any, 0, len(data.Kids))
		for _, k := range data.Kids {
			if k.XMLName.Local != "value" {
				return nil, fmt.Errorf("bad XML-RPC: <%s> in <data>", k.XMLName.Local)
			}
			x, err := decodeValue(k, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, x)
		}
		return out, nil
	case "struct":
		out := make(map[string]any, len(t.Kids))
		for _, m := range t.Kids {
			if m.XMLName.Local != "member" {
				return nil, fmt.Errorf("bad XML-RPC: <%s> in <struct>", m.XMLName.Local)
			}
			var name *string
			var val *node
			for i := range m.Kids {
				switch m.Kids[i].XMLName.Local {
				case "name":
					s := m.Kids[i].Text
					name = &s
				case "value":
					val = &m.Kids[i]
				}
			}
			if name == nil || val == nil {
				return nil, errors.New("bad XML-RPC: <member> needs <name> and <value>")
			}
			x, err := decodeValue(*val, depth+1)
			if err != nil {
				return nil, err
			}
			out[*name] = x
		}
		return out, nil
	}
	return nil, fmt.Errorf("bad XML-RPC: unknown type <%s>", t.XMLName.Local)
}

// rpcStruct is an XML-RPC struct whose members are written in key order, so
// responses are deterministic.
type rpcStruct map[string]any

// encodeResponse renders a methodResponse holding v.
func encodeResponse(v any) []byte {
	var b bytes.Buffer
	b.WriteString("<?xml version=\"1.0\"?>\n<methodResponse>\n<params>\n<param>\n")
	encodeValue(&b, v)
	b.WriteString("\n</param>\n</params>\n</methodResponse>\n")
	return b.Bytes()
}

// encodeFault renders a methodResponse holding a fault.
func encodeFault(f *Fault) []byte {
	var b bytes.Buffer
	b.WriteString("<?xml version=\"1.0\"?>\n<methodResponse>\n<fault>\n")
	encodeValue(&b, rpcStruct{"faultCode": f.Code, "faultString": f.String})
	b.WriteString("\n</fault>\n</methodResponse>\n")
	return b.Bytes()
}

// sink is what values are encoded into: a bytes.Buffer, or a counter that
// learns how long the encoding is without keeping it.
type sink interface {
	io.Writer
	io.ByteWriter
	io.StringWriter
	WriteRune(r rune) (int, error)
}

// counter counts what is written to it.
type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error)       { c.n += int64(len(p)); return len(p), nil }
func (c *counter) WriteString(s string) (int, error) { c.n += int64(len(s)); return len(s), nil }
func (c *counter) WriteByte(byte) error              { c.n++; return nil }
func (c *counter) WriteRune(r rune) (int, error) {
	n := utf8.RuneLen(r)
	if n < 0 {
		n = len(string(utf8.RuneError))
	}
	c.n += int64(n)
	return n, nil
}

// encodedLen is how many bytes encodeValue writes for v.
func encodedLen(v any) int64 {
	var c counter
	encodeValue(&c, v)
	return c.n
}

func encodeValue(b sink, v any) {
	b.WriteString("<value>")
	switch v := v.(type) {
	case nil:
		b.WriteString("<nil/>")
	case string:
		b.WriteString("<string>")
		escape(b, v)
		b.WriteString("</string>")
	case int:
		fmt.Fprintf(b, "<int>%d</int>", v)
	case int64:
		fmt.Fprintf(b, "<int>%d</int>", v)
	case bool:
		if v {
			b.WriteString("<boolean>1</boolean>")
		} else {
			b.WriteString("<boolean>0</boolean>")
		}
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			v = 0
		}
		fmt.Fprintf(b, "<double>%s</double>", strconv.FormatFloat(v, 'f', -1, 64))
	case []string:
		b.WriteString("<array><data>\n")
		for _, x := range v {
			encodeValue(b, x)
			b.WriteByte('\n')
		}
		b.WriteString("</data></array>")
	case []any:
		b.WriteString("<array><data>\n")
		for _, x := range v {
			encodeValue(b, x)
			b.WriteByte('\n')
		}
		b.WriteString("</data></array>")
	case []rpcStruct:
		b.WriteString("<array><data>\n")
		for _, x := range v {
			encodeValue(b, x)
			b.WriteByte('\n')
		}
		b.WriteString("</data></array>")
	case rpcStruct:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString("<struct>\n")
		for _, k := range keys {
			b.WriteString("<member><name>")
			escape(b, k)
			b.WriteString("</name>")
			encodeValue(b, v[k])
			b.WriteString("</member>\n")
		}
		b.WriteString("</struct>")
	default:
		// Only the types above are produced by this package.
		b.WriteString("<string>")
		escape(b, fmt.Sprint(v))
		b.WriteString("</string>")
	}
	b.WriteString("</value>")
}

// escape writes s as XML text. Bytes that XML 1.0 cannot carry (invalid
// UTF-8, most control characters, as log files may hold) become U+FFFD;
// supervisorctl's expat parser would otherwise reject the whole response.
func escape(b sink, s string) {
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		if r == utf8.RuneError && size == 1 {
			b.WriteString("\uFFFD")
			s = s[size:]
			continue
		}
		switch {
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '&':
			b.WriteString("&amp;")
		case r == '\r':
			b.WriteString("&#13;")
		case r == '\t' || r == '\n':
			b.WriteRune(r)
		case r < 0x20 || r == 0xFFFE || r == 0xFFFF || (r >= 0xD800 && r <= 0xDFFF):
			b.WriteString("\uFFFD")
		default:
			b.WriteString(s[:size])
		}
		s = s[size:]
	}
}
