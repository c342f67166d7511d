package limits

import "testing"

func TestParseStat(t *testing.T) {
	// The command name holds spaces and parentheses: only the last ')' ends it.
	line := "4242 (we ird) (name) S 1 4200 4200 0 -1 4194560 100 0 0 0 250 31 0 0 20 0 1 0 12345 1000000 777 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	st, err := parseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if st.pgid != 4200 || st.ticks != 281 || st.rss != 777 || st.zombie {
		t.Fatalf("got %+v", st)
	}
	z, err := parseStat([]byte("7 (sh) Z 1 7 7 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0 99 0 0 0"))
	if err != nil || !z.zombie || z.ticks != 7 {
		t.Fatalf("zombie: %+v %v", z, err)
	}
	for _, bad := range []string{
		"",
		"no paren at all",
		"1 (x) S 1 2", // truncated
		"1 (x) S 1 x 1 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 9 0 5",  // pgrp not a number
		"1 (x) S 1 2 2 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 9 0 -5", // negative rss
	} {
		if _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
}

func TestDirentPid(t *testing.T) {
	for name, want := range map[string]int{"1\x00": 1, "4194304\x00\x00": 4194304} {
		if pid, ok := direntPid([]byte(name)); !ok || pid != want {
			t.Errorf("%q: %d %v", name, pid, ok)
		}
	}
	for _, name := range []string{"\x00", "self\x00", "12a\x00", "12345678901\x00", "12"} {
		if _, ok := direntPid([]byte(name)); ok {
			t.Errorf("%q accepted", name)
		}
	}
}
