package main

import (
	"bytes"
	"testing"
)

func TestEscaperSplitsNothing(t *testing.T) {
	in := "ok é ☃\t\x1b[2J\x00\r\x7f\xff\xc2\x9b\u202e end\n"
	want := "ok é ☃\t\\x1b[2J\\x00\\x0d\\x7f\\xff\\u009b\\u202e end\n"
	// Every way of cutting the input into two writes gives the same output.
	for cut := 0; cut <= len(in); cut++ {
		var b bytes.Buffer
		e := &escaper{w: &b}
		if _, err := e.Write([]byte(in[:cut])); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Write([]byte(in[cut:])); err != nil {
			t.Fatal(err)
		}
		if err := e.Flush(); err != nil {
			t.Fatal(err)
		}
		if b.String() != want {
			t.Fatalf("cut at %d: %q, want %q", cut, b.String(), want)
		}
	}
	var b bytes.Buffer
	e := &escaper{w: &b}
	_, _ = e.Write([]byte("tail \xe2\x98"))
	_ = e.Flush()
	if b.String() != `tail \xe2\x98` {
		t.Fatalf("an incomplete sequence at the end: %q", b.String())
	}
}
