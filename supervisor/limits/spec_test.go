package limits

import (
	"errors"
	"math"
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
	}
	for _, s := range good {
		if err := s.Validate(); err != nil {
			t.Errorf("%+v rejected: %v", s, err)
		}
	}
	bad := []struct {
		spec  Spec
		field string
	}{
		{Spec{CPU: -1, CPUPolicy: PolicyLog}, "CPU"},
		{Spec{CPU: math.NaN(), CPUPolicy: PolicyLog}, "CPU"},
		{Spec{CPU: math.Inf(1), CPUPolicy: PolicyLog}, "CPU"},
		{Spec{Sustained: -time.Second}, "Sustained"},
		{Spec{Memory: 1}, "MemoryPolicy"},
		{Spec{Memory: 1, MemoryPolicy: "reboot"}, "MemoryPolicy"},
		{Spec{CPU: 10}, "CPUPolicy"},
		{Spec{CPU: 10, CPUPolicy: "Kill"}, "CPUPolicy"},
	}
	for _, c := range bad {
		var fe *FieldError
		err := c.spec.Validate()
		if !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("%+v: got %v, want a *FieldError for %s", c.spec, err, c.field)
		}
	}
}
