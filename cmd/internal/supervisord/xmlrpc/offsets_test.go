package xmlrpc

import (
	"math"
	"math/big"
	"os"
	"strings"
	"testing"
)

// pySlice is Python's f.seek(pos); f.read(n) on data, for n >= 0 (n < 0
// reads to the end, as Python's read(-1) does; the models never ask it).
func pySlice(data []byte, pos, n *big.Int) string {
	size := big.NewInt(int64(len(data)))
	if pos.Cmp(size) >= 0 {
		return ""
	}
	end := new(big.Int).Add(pos, n)
	if n.Sign() < 0 || end.Cmp(size) > 0 {
		end = size
	}
	return string(data[pos.Int64():end.Int64()])
}

// pyReadFile is supervisord's readFile (supervisor/options.py) on Python's
// unbounded integers, with tend's cap on what one read returns. ok is
// false where it raises BAD_ARGUMENTS.
func pyReadFile(data []byte, offset, length, most int64) (string, bool) {
	off, ln, size := big.NewInt(offset), big.NewInt(length), big.NewInt(int64(len(data)))
	var out string
	switch {
	case off.Sign() < 0:
		if ln.Sign() != 0 {
			return "", false
		}
		abs := new(big.Int).Neg(off)
		pos := new(big.Int).Sub(size, abs)
		if pos.Sign() < 0 {
			pos.SetInt64(0)
		}
		out = pySlice(data, pos, abs)
	case ln.Sign() < 0:
		return "", false
	case ln.Sign() == 0:
		out = pySlice(data, off, size)
	default:
		out = pySlice(data, off, ln)
	}
	return out[:min(int64(len(out)), most)], true
}

// pyTailFile is supervisord's tailFile, with tend's cap on length.
func pyTailFile(data []byte, offset, length, most int64) (string, int64, bool) {
	off, ln, sz := big.NewInt(offset), big.NewInt(min(length, most)), big.NewInt(int64(len(data)))
	one := big.NewInt(1)
	overflow := false
	if sz.Cmp(new(big.Int).Add(off, ln)) > 0 {
		overflow = true
		off = new(big.Int).Sub(sz, one)
	}
	if new(big.Int).Add(off, ln).Cmp(sz) > 0 {
		if off.Cmp(new(big.Int).Sub(sz, one)) > 0 {
			ln.SetInt64(0)
		}
		off = new(big.Int).Sub(sz, ln)
	}
	if off.Sign() < 0 {
		off.SetInt64(0)
	}
	if ln.Sign() < 0 {
		ln.SetInt64(0)
	}
	data2 := ""
	if ln.Sign() != 0 {
		data2 = pySlice(data, off, ln)
	}
	return data2, int64(len(data)), overflow
}

var extremes = []int64{math.MinInt64, math.MinInt64 + 1, -1 << 40, -17, -1, 0, 1, 5, 16, 17, 1 << 40, math.MaxInt64 - 1, math.MaxInt64}

// Every offset and length gets supervisord's answer (or, for an offset of
// math.MinInt64, whose magnitude int64 cannot hold, BAD_ARGUMENTS), never a
// panic, an allocation past the cap, or a read past the file.
func FuzzLogOffsets(f *testing.F) {
	for _, o := range extremes {
		for _, n := range extremes {
			f.Add([]byte("0123456789abcdef"), o, n)
		}
	}
	f.Add([]byte{}, int64(math.MinInt64), int64(0))
	fake := newFake(f)
	const most = 8
	s := NewServer(fake, Options{MaxLogRead: most})
	f.Cleanup(func() { s.Close() })
	f.Fuzz(func(t *testing.T, data []byte, offset, length int64) {
		if err := os.WriteFile(fake.logs["web"], data, 0o644); err != nil {
			t.Fatal(err)
		}
		b := s.newBudget()
		defer b.release()
		got, flt := s.readLog("web", offset, length, false, b)
		want, ok := pyReadFile(data, offset, length, most)
		switch {
		case offset == math.MinInt64:
			if flt == nil || flt.Code != faultBadArguments {
				t.Errorf("read(%d, %d) = %q, %v; want BAD_ARGUMENTS", offset, length, got, flt)
			}
		case !ok:
			if flt == nil || flt.Code != faultBadArguments {
				t.Errorf("read(%d, %d) = %q, %v; want BAD_ARGUMENTS", offset, length, got, flt)
			}
		case flt != nil || got != want:
			t.Errorf("read(%d, %d) of %q = %q, %v; want %q", offset, length, data, got, flt, want)
		}

		tv, flt := s.tailLog("web", offset, length, false, b)
		wd, wsz, wover := pyTailFile(data, offset, length, most)
		r, _ := tv.([]any)
		if flt != nil || len(r) != 3 || r[0] != wd || r[1] != wsz || r[2] != wover {
			t.Errorf("tail(%d, %d) of %q = %v, %v; want [%q %d %v]", offset, length, data, tv, flt, wd, wsz, wover)
		}
		if b.held > 2*most {
			t.Errorf("the reads held %d bytes; the cap is %d a read", b.held, most)
		}
	})
}

// A response carries at most MaxResponse bytes however its calls combine,
// and log reads in flight across responses at most MaxReading.
func TestResponseBudget(t *testing.T) {
	fake := newFake(t)
	if err := os.WriteFile(fake.logs["web"], []byte(strings.Repeat("x", 1000)+strings.Repeat("&", 1000)), 0o644); err != nil {
		t.Fatal(err)
	}
	s := NewServer(fake, Options{MaxResponse: 4000, MaxReading: 3000, MaxMulticall: 4})
	defer s.Close()
	read := func(off int) map[string]any {
		return map[string]any{"methodName": "supervisor.readProcessLog", "params": []any{"web", int64(off), int64(1000)}}
	}
	b := s.newBudget()
	v, flt := s.dispatch(t.Context(), "test", "system.multicall", []any{[]any{read(0), read(0), read(0), read(1000)}}, false, b)
	if flt != nil {
		t.Fatal(flt)
	}
	res := v.([]any)
	ok := 0
	for _, r := range res {
		if _, isFault := r.(rpcStruct); !isFault {
			ok++
		} else if !strings.Contains(r.(rpcStruct)["faultString"].(string), "response too large") {
			t.Errorf("fault: %v", r)
		}
	}
	// Three plain reads take 3,000 bytes and more of XML; the fourth (1,000
	// "&", 5,000 bytes escaped) would not fit.
	if ok != 3 || len(encodeResponse(v)) > 4000+200 {
		t.Errorf("%d calls answered, response of %d bytes", ok, len(encodeResponse(v)))
	}
	// The reads this response holds leave nothing in the pool for another.
	if _, flt := s.readLog("web", 0, 1000, false, s.newBudget()); flt == nil || !strings.Contains(flt.String, "busy") {
		t.Errorf("a read past MaxReading: %v", flt)
	}
	b.release()
	if _, flt := s.readLog("web", 0, 1000, false, s.newBudget()); flt != nil {
		t.Errorf("after release: %v", flt)
	}
	if s.reading.Load() != 1000 { // that budget was never released
		t.Errorf("reading = %d", s.reading.Load())
	}
	if _, flt := s.dispatch(t.Context(), "test", "system.multicall", []any{make([]any, 5)}, false, s.newBudget()); flt == nil || flt.Code != faultIncorrectParameters {
		t.Errorf("a multicall of 5 with MaxMulticall 4: %v", flt)
	}
}
