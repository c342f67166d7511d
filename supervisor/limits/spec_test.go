package limits

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	good := []Spec{
		{},
		{Memory: 1 << 20, MemoryPolicy: PolicyKill},
		{CPU: 50, CPUPolicy: PolicyLog, Sustained: time.Second},
		{Memory: 1, CPU: 1, MemoryPolicy: PolicyRestart, CPUPolicy: PolicyStop},
		{CPUPolicy: PolicyLog}, // a policy without its limit does nothing, but is not wrong
		{MemoryMax: 64 << 20, MemoryHigh: 48 << 20, CPUMax: 150, PidsMax: 100},
		{MemoryMax: MinKernelMemory, CPUMax: 1, PidsMax: MaxPids},
	}
	for _, s := range good {
		if err := s.Validate(); err != nil {
			t.Errorf("%+v rejected: %v", s, err)
		}
	}
	bad := []struct {
		spec   Spec
		fields []string
	}{
		{Spec{CPU: -1, CPUPolicy: PolicyLog}, []string{"CPU"}},
		{Spec{CPU: math.NaN(), CPUPolicy: PolicyLog}, []string{"CPU"}},
		{Spec{CPU: math.Inf(1), CPUPolicy: PolicyLog}, []string{"CPU"}},
		{Spec{Sustained: -time.Second}, []string{"Sustained"}},
		{Spec{Memory: 1}, []string{"MemoryPolicy"}},
		{Spec{Memory: 1, MemoryPolicy: "reboot"}, []string{"MemoryPolicy"}},
		{Spec{CPU: 10}, []string{"CPUPolicy"}},
		{Spec{CPU: 10, CPUPolicy: "Kill"}, []string{"CPUPolicy"}},
		{Spec{MemoryMax: 512 << 10}, []string{"MemoryMax"}},
		{Spec{MemoryHigh: 1}, []string{"MemoryHigh"}},
		{Spec{MemoryMax: 64 << 20, MemoryHigh: 128 << 20}, []string{"MemoryHigh"}},
		{Spec{CPUMax: 0.5}, []string{"CPUMax"}},
		{Spec{CPUMax: math.NaN()}, []string{"CPUMax"}},
		{Spec{PidsMax: -1}, []string{"PidsMax"}},
		{Spec{PidsMax: MaxPids + 1}, []string{"PidsMax"}},
		// every bad field, not only the first
		{Spec{CPU: -1, Sustained: -1, Memory: 1, CPUPolicy: "nice"}, []string{"CPU", "Sustained", "MemoryPolicy", "CPUPolicy"}},
	}
	for _, c := range bad {
		err := c.spec.Validate()
		var got []string
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				var fe *FieldError
				if !errors.As(e, &fe) {
					t.Fatalf("%+v: %v is not a *FieldError", c.spec, e)
				}
				got = append(got, fe.Field)
			}
		}
		if !slices.Equal(got, c.fields) {
			t.Errorf("%+v: errors name %v, want %v (%v)", c.spec, got, c.fields, err)
		}
	}
}

// KernelControllers names each kernel-enforced limit set, with the
// controller it needs, in a fixed order.
func TestKernelControllers(t *testing.T) {
	if got := (*Spec)(nil).KernelControllers(); got != nil {
		t.Errorf("nil spec: %v", got)
	}
	s := &Spec{Memory: 1, MemoryPolicy: PolicyLog, PidsMax: 5, MemoryMax: 1 << 30, CPUMax: 50}
	want := [][2]string{{"memory_max", "memory"}, {"cpu_max", "cpu"}, {"pids_max", "pids"}}
	if got := s.KernelControllers(); !slices.Equal(got, want) {
		t.Errorf("KernelControllers = %v, want %v", got, want)
	}
}

// The reasons never repeat the value they refuse.
func TestValidateWording(t *testing.T) {
	err := Spec{Memory: 1, CPU: 10, CPUPolicy: "hunter2-secret"}.Validate()
	want := []string{
		`limits: MemoryPolicy: must be set while memory is (use one of "log", "restart", "stop", "kill")`,
		`limits: CPUPolicy: invalid value (use one of "log", "restart", "stop", "kill")`,
	}
	if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, want) {
		t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}
