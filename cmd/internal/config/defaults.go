package config

import (
	"syscall"
	"time"

	"github.com/tendhq/tend/cmd/internal/config/locate"
	"github.com/tendhq/tend/fsm/policy"
	"github.com/tendhq/tend/supervisor/core"
	"github.com/tendhq/tend/supervisor/limits"
)

// Defaults, in one place so the documentation and the code cannot drift.
// They are this package's: what a key left out of the file means. What the
// settings are and when they are valid is the business of the packages
// whose specs they fill (supervisor/health, supervisor/limits, fsm/policy).
const (
	DefaultStateDir       = locate.DefaultStateDir
	DefaultSocketName     = locate.DefaultSocketName // inside the state dir
	LogName               = "tend.db"                // the event log, inside the state dir
	DefaultLogLevel       = "info"
	DefaultSampleInterval = time.Second
	// DefaultLogCheckInterval bounds how far a worker's output file can
	// grow past log_max_size: by what it writes in this time.
	DefaultLogCheckInterval = time.Second

	DefaultRestart            = policy.OnFailure
	DefaultStartTimeout       = time.Second
	DefaultStopSignal         = syscall.SIGTERM
	DefaultStopTimeout        = 10 * time.Second
	DefaultBackoffInitial     = time.Second
	DefaultBackoffMax         = 30 * time.Second
	DefaultCircuitMaxRestarts = 5
	DefaultCircuitWindow      = 60 * time.Second
	DefaultCircuitCooldown    = 0
	DefaultLogMaxSize         = 10 << 20
	// MinRelayLogMaxSize is the smallest file a relay rotates at.
	MinRelayLogMaxSize = 1 << 10
	DefaultLogBackups  = 3

	DefaultHealthInterval = 10 * time.Second
	DefaultHealthTimeout  = 2 * time.Second
	DefaultHealthFailures = 3
	DefaultHealthGrace    = 0

	DefaultLimitPolicy = limits.PolicyLog

	DefaultProcessTracking = TrackingAuto
	DefaultOnLeaderExit    = core.StopRest
)
