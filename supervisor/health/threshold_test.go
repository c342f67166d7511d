package health

import "testing"

func TestThreshold(t *testing.T) {
	// F = failure, S = success; want marks the outcomes that must be reported.
	cases := []struct {
		failures int
		seq      string
		want     string
	}{
		{1, "F", "R"},
		{1, "FFF", "R.."},
		{1, "FSFS", "RRRR"},
		{3, "FF", ".."},
		{3, "FFSFF", "....."},
		{3, "FFFFFS", "..R..R"},
		{3, "SSS", "..."},
		{2, "FFSSFF", ".RR..R"},
	}
	for _, c := range cases {
		th := threshold{failures: c.failures}
		got := make([]byte, len(c.seq))
		for i, o := range c.seq {
			got[i] = '.'
			if th.observe(o == 'S') {
				got[i] = 'R'
			}
		}
		if string(got) != c.want {
			t.Errorf("failures=%d %s: reported %s, want %s", c.failures, c.seq, got, c.want)
		}
	}
}

func TestThresholdConsecutive(t *testing.T) {
	th := threshold{failures: 3}
	for range 3 {
		th.observe(false)
	}
	if th.consecutive != 3 || !th.unhealthy {
		t.Fatalf("after 3 failures: %+v", th)
	}
	th.observe(false)
	if th.consecutive != 4 {
		t.Fatalf("count stopped at the threshold: %+v", th)
	}
	th.observe(true)
	if th.consecutive != 0 || th.unhealthy {
		t.Fatalf("after success: %+v", th)
	}
}
